/* A page could not be served. In a program's own pager: report it and end
 * the program, because continuing would show it wrong data. In tierpaged,
 * where one process serves many programs: stop the one program whose page
 * it was, and go on serving the others. */
#ifndef TIERPAGE_FATAL_H
#define TIERPAGE_FATAL_H

#include <stdarg.h>

struct tp_stack;

void tp_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A failure while serving the stack's pages. Without a failure handler
 * (tp_stack_set_failure_handler) this is tp_fatal and does not return.
 * With one, the stack is marked failed and the handler is told why (once,
 * until tp_stack_failure_clear); then the caller backs out, leaving no
 * page BUSY, and serves no more faults of the stack's client. Called with
 * no lock of the stack held. */
void tp_stack_fail(struct tp_stack *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tp_stack_vfail(struct tp_stack *s, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Whether tp_stack_fail was called since the last tp_stack_failure_clear.
 * No lock needed. */
int tp_stack_failed(const struct tp_stack *s);

#endif
