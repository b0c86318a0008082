/* A page could not be served: report it and end the program, because
 * continuing would show it wrong data. */
#ifndef TIERPAGE_FATAL_H
#define TIERPAGE_FATAL_H

void tp_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
