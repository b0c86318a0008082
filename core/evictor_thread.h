/* A background thread that keeps some of the resident cap free, so that
 * most faults find room without evicting on their own path. */
#ifndef TIERPAGE_EVICTOR_THREAD_H
#define TIERPAGE_EVICTOR_THREAD_H

#include "stack_internal.h"

int tp_evictor_start(struct tp_stack *s, tierpage_error *err);
void tp_evictor_stop(struct tp_stack *s);
/* In a forked child, where the evictor was not copied: forget it, so that
 * tp_evictor_start can start the child's own. */
void tp_evictor_forget(struct tp_stack *s);
/* Stack lock held: wake the evictor when free room fell below its mark. */
void tp_evictor_poke(struct tp_stack *s);
/* Stack lock held: recompute the marks after the cap changed. */
void tp_evictor_set_marks(struct tp_stack *s);

#endif
