/* The operator requests: STATUS, STATS, RESIZE, DEMOTE, PROMOTE, FLUSH.
 * Each answers with one REPLY on sock. */
#ifndef TIERPAGED_OPERATOR_H
#define TIERPAGED_OPERATOR_H

#include "connection.h"
#include "wire.h"

/* `m` is a request of an operator type, of its size. */
void tpd_operator_request(struct tpd_daemon *d, int sock, const struct tpd_message *m);
/* Whether a peer of uid/gid may give operator requests. */
int tpd_is_operator(const struct tpd_daemon *d, uid_t uid, gid_t gid);

#endif
