/* The resident set: which pages are mapped in the program, its cap, and the
 * choice of the next page to evict. */
#ifndef TIERPAGE_RESIDENT_SET_H
#define TIERPAGE_RESIDENT_SET_H

#include "stack_internal.h"

int tp_resident_init(struct tp_stack *s, uint64_t cap_pages);
void tp_resident_destroy(struct tp_stack *s);
/* stack lock held for all below */
void tp_resident_add(struct tp_stack *s, uint32_t id);
void tp_resident_remove(struct tp_stack *s, uint32_t id);
int tp_resident_resize(struct tp_stack *s, uint64_t cap_pages);

/* Evict one page chosen by the policy. Called and returns with the stack
 * lock held; drops it around store I/O. -EAGAIN when no page can be taken
 * now (all are being moved). */
int tp_evict_one(struct tp_stack *s, tierpage_error *err);
/* Evict this resident, idle page. Same locking as tp_evict_one. */
int tp_evict_page(struct tp_stack *s, uint32_t id, tierpage_error *err);
/* Evict until fewer than cap - reserve pages are resident. */
int tp_make_room(struct tp_stack *s, uint64_t reserve, tierpage_error *err);

#endif
