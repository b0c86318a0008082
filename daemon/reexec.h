/* How tierpaged runs its binary again when it restarts (restart.h): from
 * the path on disk it was started from, so that a binary upgraded there
 * takes over, with the same arguments, under the same pid. What one run
 * hands to the next goes through the environment (TIERPAGED_*, removed
 * again at start): the listening control socket, the binary's path, the
 * count of restarts and when the restart was asked for. A binary that
 * cannot be executed there (removed, not executable, not a program) is
 * replaced by a copy of the running one, made in memory: the version that
 * ran carries on, from the state it handed over. */
#ifndef TIERPAGED_REEXEC_H
#define TIERPAGED_REEXEC_H

#include <stddef.h>
#include <stdint.h>

/* At start, before anything else: the binary's path and the arguments
 * (argv stays), and what a run before this one handed over. */
void tpd_reexec_init(char **argv);
/* The binary's path on disk: what the next restart executes. */
const char *tpd_reexec_binary(void);
/* Restarts since the daemon was started (0 for a daemon started afresh). */
unsigned tpd_reexec_restarts(void);
/* When the restart that executed this run was asked for (CLOCK_MONOTONIC
 * ns), or 0. */
uint64_t tpd_reexec_asked_ns(void);
/* The control socket the run before this one listened on, handed over
 * (close-on-exec again): its descriptor, or -1. */
int tpd_reexec_listener(void);
/* Execute the binary again, handing `listen_fd` over; every other
 * descriptor is closed by the exec. `asked_ns` is when the restart was
 * asked for. Returns only when neither the binary on disk nor a copy of
 * the running one could be executed, with both reasons in why. Called by
 * the main thread, the daemon's state handed over (restart.h). */
void tpd_reexec(int listen_fd, uint64_t asked_ns, char *why, size_t len);

#endif
