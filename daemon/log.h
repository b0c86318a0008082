/* tierpaged's log: one line per event on stderr. Plain,
 * "tierpaged: 2026-12-01T10:00:00Z LEVEL: text"; or, when stderr is the
 * journal's stream (systemd sets JOURNAL_STREAM to its device and inode),
 * "<PRIORITY>text": the sd-daemon prefix by which the journal takes each
 * line's priority, and which adds time and name itself. */
#ifndef TIERPAGED_LOG_H
#define TIERPAGED_LOG_H

/* Decide the format once, at start: whether stderr is the journal. */
void tpd_log_init(void);
/* level: "error", "warning", "info" or "debug". */
void tpd_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A sink for tp_set_store_log: the stores' messages, in the same log. */
void tpd_log_store(void *arg, int level, const char *tier, const char *message);

#endif
