/* How long the commands that talk to tierpaged wait for it: --timeout,
 * and what they say when it did not answer in time. */
#ifndef TIERPAGE_REPLY_TIMEOUT_H
#define TIERPAGE_REPLY_TIMEOUT_H

#include <stdint.h>

/* A connection, and each reply, within this unless --timeout says. */
#define TP_REPLY_TIMEOUT_MS 10000u

/* --timeout's value: whole seconds (at least 1) or a duration such as
 * 90s or 2min, at most 24h. 0, or -1 after saying why on stderr as
 * `command` ("tierpage status"). */
int tp_parse_timeout(const char *command, const char *value, uint64_t *ms);

/* For a connection or call to the daemon at `socket` that failed with
 * rc: when it timed out (-ETIMEDOUT) or the daemon closed the connection
 * before it replied (-ECONNRESET), says so on stderr as `command` and
 * returns 1; `waited_for` names the long request whose progress was
 * waited for, or is NULL. Else returns 0 and says nothing. */
int tp_say_no_reply(const char *command, const char *socket, int rc, uint64_t timeout_ms, const char *waited_for);

#endif
