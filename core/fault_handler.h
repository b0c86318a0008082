/* Threads that read the stack's userfaultfd and resolve each fault. */
#ifndef TIERPAGE_FAULT_HANDLER_H
#define TIERPAGE_FAULT_HANDLER_H

#include <linux/userfaultfd.h>

#include "stack_internal.h"

/* handler_threads: a number, or TP_HANDLERS_AUTO for one on each CPU. */
int tp_handlers_start(struct tp_stack *s, unsigned handler_threads, tierpage_error *err);
void tp_handlers_stop(struct tp_stack *s);
/* Resolve one message read from `uffd` (the stack's own, or a tierpaged
 * client's) by any thread; `ticket` is the resident set's tick taken
 * before the read (tp_resident_tick). Called without the stack lock. */
/* Read up to `max` messages from `uffd`; *newest is the tick of the first,
 * each later one's is one less. The count (0 when none was waiting), or
 * -errno. */
int tp_fault_read(struct tp_stack *s, int uffd, struct uffd_msg *msgs, size_t max, uint32_t *newest);
void tp_fault_handle(struct tp_stack *s, int uffd, const struct uffd_msg *msg, uint32_t ticket);
/* In a forked child, where the handlers were not copied: forget them and
 * their doorbell without waking anyone, so that tp_handlers_start can
 * start the child's own. */
void tp_handlers_forget(struct tp_stack *s);

#endif
