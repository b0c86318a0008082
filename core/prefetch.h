/* Prefetch: on a fault that continues a sequential or strided stream in
 * its region, bring in the next pages along the stride that the same tier
 * holds, with one batch get, before the program asks for them. They come
 * in unused and unmapped, with the turn of the clock hand a faulted page
 * gets (page_state.h): the program's first use of one is a minor fault,
 * which tells prefetch it was right. */
#ifndef TIERPAGE_PREFETCH_H
#define TIERPAGE_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

#include "stack_internal.h"

/* The most pages a stack fetches ahead (`prefetch_window:`). */
#define TP_PREFETCH_MAX_WINDOW TP_CONF_MAX_PREFETCH_WINDOW

/* After a fault on page `id` was answered: a missing fault served from tier
 * `tier`, or (`first_use`, tier TP_NO_TIER) the first use of a prefetched
 * page. Notes it in the region's stream and, on a trend, prefetches.
 * Called without the stack lock; takes and drops it. Never blocks on a
 * page another thread is moving: such pages are passed over. */
void tp_prefetch_after_fault(struct tp_stack *s, uint32_t id, size_t tier, int first_use);

/* Called with the stack lock held: prefetched page `id` left the resident
 * set unused; its region's window shrinks. */
void tp_prefetch_wasted(struct tp_stack *s, uint32_t id);

#endif
