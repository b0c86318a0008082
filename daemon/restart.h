/* A clean restart of tierpaged, for an upgrade (SIGUSR2, or an operator's
 * RESTART: `tierpage daemon restart`). The daemon stops taking work, lets
 * the work in progress finish, stops the forked children's entries (a
 * restarted daemon does not take them back), then, VM by VM, stops its
 * pages moving and empties its write-back queues, so that each tier holds
 * every page the page map names there and no page is between two places.
 * Each attached client is told RESTARTING (it waits and connects again at
 * once: PROTOCOL.md), and the daemon executes its binary from disk again
 * with the same arguments, under the same pid, handing it the listening
 * socket (reexec.h): the new binary finds the state in state_dir as a
 * daemon started after a kill would (STATE.md), and takes the clients
 * back as they come. */
#ifndef TIERPAGED_RESTART_H
#define TIERPAGED_RESTART_H

#include "connection.h"

struct tpd_metrics;

/* The descriptor the main thread polls, readable once an operator asked
 * for a restart; -errno when it cannot be made. Once, at start. */
int tpd_restart_init(void);
/* An operator's RESTART, on a connection's thread: the main thread is
 * woken to restart, and `sock` gets the reply once the state is handed
 * over (just before the exec). 0, or -EALREADY while a restart is under
 * way. No lock held. */
int tpd_restart_ask(int sock, pid_t by);
/* Restart (see above), on the main thread, `why` naming what asked for it
 * (SIGUSR2, or NULL for the operator's RESTART). Returns only when no
 * binary could be executed: the state is handed over, the connections
 * are parked, and the daemon must exit non-zero (a supervisor starts it
 * again on the state, as after a kill). */
void tpd_restart(struct tpd_daemon *d, int listen_fd, const char *why);

#endif
