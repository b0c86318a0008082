/* Fork safety for the preload shim: hold the stack lock across fork so a
 * child never starts with it taken by a thread it does not have. */
#ifndef TIERPAGE_STACK_FORK_H
#define TIERPAGE_STACK_FORK_H

#include "tierpage.h"

void tp_stack_fork_prepare(tp_stack *stack);
void tp_stack_fork_done(tp_stack *stack);

#endif
