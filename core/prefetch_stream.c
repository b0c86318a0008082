#include "prefetch_stream.h"

void tp_stream_note(struct tp_prefetch_stream *st, uint32_t id)
{
    st->recent[st->next] = id;
    st->next = (uint8_t)((st->next + 1) % TP_STREAM_HISTORY);
    if (st->count < TP_STREAM_HISTORY)
        st->count++;
}

int64_t tp_stream_trend(const struct tp_prefetch_stream *st, uint32_t *run)
{
    if (run)
        *run = 0;
    if (st->count < TP_STREAM_MIN_VOTES + 1)
        return 0;
    int64_t deltas[TP_STREAM_HISTORY - 1];
    unsigned n = 0;
    unsigned oldest = (st->next + TP_STREAM_HISTORY - st->count) % TP_STREAM_HISTORY;
    for (unsigned i = 1; i < st->count; i++) {
        uint32_t a = st->recent[(oldest + i - 1) % TP_STREAM_HISTORY];
        uint32_t b = st->recent[(oldest + i) % TP_STREAM_HISTORY];
        deltas[n++] = (int64_t)b - (int64_t)a;
    }
    /* The delta most of them share (a plurality: there are only 7). */
    int64_t candidate = 0;
    unsigned votes = 0;
    for (unsigned i = 0; i < n; i++) {
        unsigned same = 0;
        for (unsigned j = 0; j < n; j++)
            same += deltas[j] == deltas[i];
        if (same > votes) {
            candidate = deltas[i];
            votes = same;
        }
    }
    if (candidate == 0 || votes < TP_STREAM_MIN_VOTES)
        return 0;
    /* What came after the earlier steps like the last one (the trend's,
     * or a jump off it) says whether the next is the trend's. Pages read
     * in pairs (a value of 4 KiB and its header span two pages; the next
     * pair lies elsewhere) vote for a stride of 1 that only the first page
     * of each pair is followed by. */
    int last_on_trend = deltas[n - 1] == candidate;
    unsigned alike = 0, then_trend = 0, longest = 0;
    for (unsigned i = 0, length = 0; i < n; i++) {
        length = deltas[i] == candidate ? length + 1 : 0;
        longest = length > longest ? length : longest;
        if (i + 1 == n || (deltas[i] == candidate) != last_on_trend)
            continue;
        alike++;
        then_trend += deltas[i + 1] == candidate;
    }
    if (alike < 2)
        return votes * 2 > n ? candidate : 0;
    if (then_trend * 2 <= alike)
        return 0;
    /* Back on the trend after a jump: it has gone on for no more than its
     * longest run before (one step, for pairs). */
    if (run && !last_on_trend)
        *run = longest;
    return candidate;
}

uint32_t tp_stream_window(struct tp_prefetch_stream *st, uint32_t max)
{
    if (st->window == 0)
        st->window = 2;
    if (st->window > max)
        st->window = max;
    return st->window;
}

void tp_stream_used(struct tp_prefetch_stream *st, uint32_t max)
{
    if (++st->used * 2 < st->window)
        return;
    st->used = 0;
    st->window = st->window * 2 < max ? st->window * 2 : max;
}

void tp_stream_wasted(struct tp_prefetch_stream *st)
{
    st->used = 0;
    st->window = st->window > 1 ? st->window / 2 : 1;
}
