/* tierpaged's log: one plain line per event on stderr,
 * "tierpaged: 2026-12-01T10:00:00Z LEVEL: text". */
#ifndef TIERPAGED_LOG_H
#define TIERPAGED_LOG_H

void tpd_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
