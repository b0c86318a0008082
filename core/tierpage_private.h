/* Private to tierpage's own preload shim (shim/), which links the core's
 * objects in rather than loading libtierpage.so: nothing here is exported
 * by libtierpage.so, and nothing here is a promise to anyone else. The
 * names say so. */
#ifndef TIERPAGE_PRIVATE_H
#define TIERPAGE_PRIVATE_H

#include "tierpage.h"

/* Pager code is about to run on the calling (program) thread, or has
 * finished: while entered, the thread counts as one of the pager's, so the
 * shim sends its allocations to the real allocator instead of serving them
 * (serving them could fault into the pager itself). Calls nest. */
void tp_private_pager_enter(void);
void tp_private_pager_leave(void);
/* True on the pager's own threads (fault handlers, evictor, write-back
 * senders) and on a program thread between enter and leave. */
int tp_private_in_pager(void);

/* Fork safety: prepare takes the stack lock, so that a child never starts
 * with it held by a thread it does not have; done releases it (in the
 * parent and in the child). For pthread_atfork. */
void tp_private_stack_fork_prepare(tp_stack *stack);
void tp_private_stack_fork_done(tp_stack *stack);

#endif
