/* Which resident page to evict next. Clock: a page used since the hand
 * last passed gets a second chance, and is unmapped so that its next use
 * shows (as a minor fault that marks it REFERENCED again). A page seen used
 * again that way is hot: the hand passes it over TP_HEAT_MAX times before
 * checking it again. A prefetched page not used yet is passed over once
 * (page_state.h): the same turn of the hand a page a fault brought in gets
 * before it may go, and no more. Fifo: the hand takes pages in the order
 * they came in. */
#ifndef TIERPAGE_EVICTION_POLICY_H
#define TIERPAGE_EVICTION_POLICY_H

#include <stdint.h>

#include "page_map.h"
#include "resident_set.h"
#include "stack_config.h"

/* Unmap the page from the program, keeping its content, so that its next
 * use is seen. */
typedef void tp_unmap_to_check_fn(void *ctx, uint32_t id);

/* Clock: what checking the references of a page beside one the hand
 * checks may do with it, so that one unmapping checks a run of pages. */
enum tp_neighbour_check {
    TP_NEIGHBOUR_UNMAPPED, /* not mapped in the program: unmapping it again costs nothing */
    TP_NEIGHBOUR_CHECKED,  /* due for a check, as the hand would make it: now no longer
                              REFERENCED, to be unmapped, and passed over once more */
    TP_NEIGHBOUR_KEEP,     /* mapped and not due (hot, BUSY, locked): must stay mapped */
};

/* p: a page beside one the hand checks, or NULL when never touched. Called
 * with the lock that guards the page map held. */
enum tp_neighbour_check tp_check_neighbour(struct tp_page *p);

/* Who the victim makes room for. */
enum tp_victim_for {
    TP_VICTIM_FOR_ANY,      /* a fault, the evictor, a resize: any page due */
    TP_VICTIM_FOR_PREFETCH, /* pages fetched ahead: never one fetched ahead and unused */
};

/* The next page to evict, moving the hand past it; TP_NIL when every
 * resident page is BUSY or, for a prefetch, when the hand stops at a
 * prefetched page not used yet (it stays under the hand, the next victim
 * for anyone else): pages fetched ahead must not push out the ones fetched
 * before them, which the program has yet to reach. Called with the lock
 * that guards the resident set and the page map held; never drops it. */
uint32_t tp_pick_victim(struct tp_resident_set *r, struct tp_page_map *m, enum tp_eviction_policy policy,
                        enum tp_victim_for victim_for, tp_unmap_to_check_fn *unmap_to_check, void *ctx);

#endif
