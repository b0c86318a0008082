/* Threads that read the stack's userfaultfd and resolve each fault. */
#ifndef TIERPAGE_FAULT_HANDLER_H
#define TIERPAGE_FAULT_HANDLER_H

#include "stack_internal.h"

int tp_handlers_start(struct tp_stack *s, tierpage_error *err);
void tp_handlers_stop(struct tp_stack *s);

/* Marks the calling thread as part of the pager: the preload shim then
 * never serves that thread's own allocations, which could fault into it. */
extern __thread int tp_pager_thread;

#endif
