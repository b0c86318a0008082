/* Eviction: taking a page out of the resident set, into tier 0 when it was
 * written, or dropping it when its copy is still held below (or it is all
 * zeros). The background thread that calls this is evictor_thread.c. */
#ifndef TIERPAGE_EVICTION_H
#define TIERPAGE_EVICTION_H

#include "stack_internal.h"

/* Victims taken together at most: their writes (with the kernel's write
 * tracking) are stopped and read in runs of consecutive pages, one
 * madvise and one PAGEMAP_SCAN for each run. */
#define TP_EVICT_BATCH 32

/* Evict up to `max` pages chosen by the policy (at most TP_EVICT_BATCH),
 * taken together. Called and returns with the stack lock held; drops it
 * around store I/O. -EAGAIN when no page can be taken now (all are being
 * moved, or a fork is copying the pages). */
int tp_evict_some(struct tp_stack *s, size_t max, tierpage_error *err);
/* Evict this resident, idle page. Called with the stack lock held, it
 * drops it around store I/O and holds it again on return. */
int tp_evict_page(struct tp_stack *s, uint32_t id, tierpage_error *err);
/* Evict until fewer than cap - reserve pages are resident. Same locking
 * as tp_evict_page. */
int tp_make_room(struct tp_stack *s, uint64_t reserve, tierpage_error *err);
/* The same for pages fetched ahead, stopping short (returning 0) rather
 * than evict a prefetched page the program has not used yet. */
int tp_make_room_for_prefetch(struct tp_stack *s, uint64_t reserve, tierpage_error *err);

#endif
