/* One connection to tierpaged: a thread reads its requests, one at a time,
 * and answers each; a malformed one ends the connection, never the daemon. */
#ifndef TIERPAGED_CONNECTION_H
#define TIERPAGED_CONNECTION_H

#include <sys/types.h>

#include "vm_table.h"

struct tpd_budget;

struct tpd_daemon {
    struct tpd_vms vms;
    int has_group;       /* operators: root, the daemon's uid, and this group */
    gid_t group;
    struct tpd_budget *budget; /* resident_budget:, or NULL */
};

/* Start serving `sock` (taken) on a thread of its own. */
int tpd_connection_start(struct tpd_daemon *d, int sock);
/* Close every connection and wait for their threads. */
void tpd_connections_stop(void);

/* A restart (restart.h), from the main thread. No work starts from now
 * on: a client's request that comes is left unanswered (the client asks
 * the daemon that takes over again), an operator's is refused (EAGAIN);
 * the work in progress (requests, the release of a client that went)
 * finishes. Returns how much was still in progress after timeout_ms
 * (then cut, as by a kill, when the daemon executes its binary again). */
int tpd_connections_drain(unsigned timeout_ms);
/* Once drained with nothing left in progress: each forked child's entry
 * (not kept across a restart) gets a STOP with `why`, and its pages are
 * released. Returns how many. */
size_t tpd_connections_stop_children(const char *why);
/* Once drained: each attached client gets a RESTARTING with `why`; its
 * connection stays open until the daemon executes its binary again.
 * Returns how many. */
size_t tpd_connections_restarting(const char *why);

#endif
