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

/* The next page to evict, moving the hand past it; TP_NIL when every
 * resident page is BUSY. Called with the lock that guards the resident set
 * and the page map held; never drops it. */
uint32_t tp_pick_victim(struct tp_resident_set *r, struct tp_page_map *m, enum tp_eviction_policy policy,
                        tp_unmap_to_check_fn *unmap_to_check, void *ctx);

#endif
