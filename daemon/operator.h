/* The operator requests: STATUS, STATS, RESIZE, DEMOTE, PROMOTE, FLUSH,
 * DAEMON_INFO, RESTART. Each answers with one REPLY on sock (RESTART's
 * comes from the main thread, once the state is handed over). */
#ifndef TIERPAGED_OPERATOR_H
#define TIERPAGED_OPERATOR_H

#include "connection.h"
#include "wire.h"

/* `m` is a request of an operator type, of its size, from process `peer`.
 * With `progress` (the peer's HELLO asked), a long one (RESIZE, DEMOTE,
 * FLUSH, PROMOTE_WAIT) sends PROGRESS while it runs (progress.h). */
void tpd_operator_request(struct tpd_daemon *d, int sock, int progress, const struct tpd_message *m, pid_t peer);
/* Whether a peer of uid/gid may give operator requests. */
int tpd_is_operator(const struct tpd_daemon *d, uid_t uid, gid_t gid);

#endif
