/* Threads that read the stack's userfaultfd and resolve each fault. */
#ifndef TIERPAGE_FAULT_HANDLER_H
#define TIERPAGE_FAULT_HANDLER_H

#include "stack_internal.h"

/* handler_threads: a number, or TP_HANDLERS_AUTO for one on each CPU. */
int tp_handlers_start(struct tp_stack *s, unsigned handler_threads, tierpage_error *err);
void tp_handlers_stop(struct tp_stack *s);

#endif
