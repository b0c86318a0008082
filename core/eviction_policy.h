/* Which resident page to evict next. Clock: a page used since the hand
 * last passed gets a second chance, and is unmapped so that its next use
 * shows (as a minor fault that marks it REFERENCED again). A page seen used
 * again that way is hot: the hand passes it over TP_HEAT_MAX times before
 * checking it again. Fifo: the hand takes pages in the order they came in. */
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

/* The next page to evict, moving the hand past it; TP_NIL when every
 * resident page is BUSY. Called with the lock that guards the resident set
 * and the page map held; never drops it. */
uint32_t tp_pick_victim(struct tp_resident_set *r, struct tp_page_map *m, enum tp_eviction_policy policy,
                        tp_unmap_to_check_fn *unmap_to_check, void *ctx);

#endif
