/* The fault stream of one region, as prefetch sees it: the last few
 * faults' page ids, the stride most of them moved by (a vote over their
 * deltas, as Leap takes), whether the next step is likely to take it, and
 * how far ahead to fetch. It knows no lock: its region's owner (the stack
 * lock) guards it. */
#ifndef TIERPAGE_PREFETCH_STREAM_H
#define TIERPAGE_PREFETCH_STREAM_H

#include <stdint.h>

#define TP_STREAM_HISTORY 8   /* faults remembered; their 7 deltas vote */
#define TP_STREAM_MIN_VOTES 3 /* a trend needs at least this many deltas in favour */

struct tp_prefetch_stream {
    uint32_t recent[TP_STREAM_HISTORY]; /* page ids, a ring */
    uint8_t count, next;
    uint32_t window;      /* pages fetched ahead now; 0 before the first trend */
    uint32_t used;        /* prefetched pages used since the window last grew */
    int64_t stride;       /* of the last prefetch: the pages it mapped ahead lie along it */
};

/* Record a fault (or the first use of a prefetched page) on page `id`. */
void tp_stream_note(struct tp_prefetch_stream *st, uint32_t id);
/* The stride most of the recent deltas agree on (at least
 * TP_STREAM_MIN_VOTES of them), if the steps after earlier deltas like the
 * last one mostly took it (or, with fewer than two such, if more than half
 * of all agree); 0 when there is none. *run, when given, is the most pages
 * worth fetching along it (the longest run of it in the history, where
 * the last step was a jump off it and it is taken up again), or 0 for no
 * bound. */
int64_t tp_stream_trend(const struct tp_prefetch_stream *st, uint32_t *run);
/* The window to use now, bounded by `max`: it starts at 2 pages. */
uint32_t tp_stream_window(struct tp_prefetch_stream *st, uint32_t max);
/* A prefetched page was used: once half a window's worth were, the window
 * doubles, up to `max`. */
void tp_stream_used(struct tp_prefetch_stream *st, uint32_t max);
/* A prefetched page was evicted unused: the window halves (at least 1). */
void tp_stream_wasted(struct tp_prefetch_stream *st);

#endif
