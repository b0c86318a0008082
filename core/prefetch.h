/* Prefetch: on a fault that continues a sequential or strided stream in
 * its region, bring in the next pages along the stride that the same tier
 * holds, with one batch get, before the program asks for them. They come
 * in unused, with the turn of the clock hand a faulted page gets
 * (page_state.h).
 *
 * With `prefetch_map_ahead: on` (the default) all but one page of each
 * batch are mapped in the program at once, write-protected (AHEAD): their
 * use costs no fault. The page left unmapped, the first of the batch's
 * second quarter, is a marker: its first use is a minor fault that fetches
 * the next batch. A page mapped ahead counts as used when it is seen
 * written (a write fault, or the kernel's record read at eviction), when
 * a minor fault finds it (the clock hand unmaps it at its first pass, as
 * it does to check any mapped page), or when the program faults further
 * along its stream: it went past it. One evicted with none of these counts
 * as wasted. With `off`, no page is mapped until its first
 * use, a minor fault, which tells prefetch it was right. */
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

/* How a page mapped ahead was found used without a fault of its own. */
enum tp_ahead_use {
    TP_AHEAD_WRITE_FAULT,   /* its first write faulted (write tracking by faults) */
    TP_AHEAD_FOUND_WRITTEN, /* the kernel recorded a write (read at eviction or a fork) */
    TP_AHEAD_PASSED,        /* the program faulted further along its stream */
};

/* Called with the stack lock held, page `id` resident: when it was mapped
 * ahead and not used yet, it is used now (counted, its stream's window
 * grows) and 1 is returned; otherwise 0, nothing changed. */
int tp_prefetch_used_ahead(struct tp_stack *s, uint32_t id, enum tp_ahead_use how);

/* Called with the stack lock held: prefetched page `id` left the resident
 * set unused; its region's window shrinks. */
void tp_prefetch_wasted(struct tp_stack *s, uint32_t id);

#endif
