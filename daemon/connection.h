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

#endif
