/* The client side of daemon mode: a stack whose regions tierpaged serves.
 * Each region this process maps is handed to the daemon (its memfd), and
 * every range it stops serving or discards is released there first. */
#ifndef TIERPAGE_DAEMON_LINK_H
#define TIERPAGE_DAEMON_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "tierpage.h"

struct tp_daemon_link;

/* Connect to the daemon at `socket`, attach to VM `vm` and hand it `uffd`;
 * *malloc_threshold is the VM's stack's. */
int tp_daemon_link_open(const char *socket, const char *vm, int uffd, struct tp_daemon_link **out,
                        uint64_t *malloc_threshold, tierpage_error *err);
int tp_daemon_link_add(struct tp_daemon_link *link, int memfd, void *addr, size_t length, tierpage_error *err);
int tp_daemon_link_release(struct tp_daemon_link *link, void *addr, size_t length, int discard,
                           tierpage_error *err);
int tp_daemon_link_lock(struct tp_daemon_link *link, void *addr, size_t length, int lock, tierpage_error *err);
/* Detach: returns once the daemon has released every page of this
 * process, so that a process this one execs may attach at once. */
void tp_daemon_link_close(struct tp_daemon_link *link);

#endif
