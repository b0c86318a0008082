/* The client side of daemon mode: a stack whose regions tierpaged serves.
 * Each region this process maps is handed to the daemon (its memfd), and
 * every range it stops serving or discards is released there first.
 *
 * A daemon that goes away (killed, crashed: its connection closes without
 * a STOP) may come back within daemon_timeout: the link keeps what it
 * handed over (the userfaultfd; each served range's memfd, address, length
 * and offset in the memfd),
 * connects again with back-off and hands it all over again (RESUME,
 * daemon/PROTOCOL.md). Meanwhile the program's faults wait in the kernel,
 * and its requests wait for the new connection, then are sent again (or,
 * a REGION_ADD, handed over with the rest). A daemon that stays away past
 * the timeout, or comes back without this VM's state, stops the program
 * (exit 125) with the reason. */
#ifndef TIERPAGE_DAEMON_LINK_H
#define TIERPAGE_DAEMON_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "tierpage.h"

struct tp_daemon_link;

/* Connect to the daemon at `socket`, attach to VM `vm` and hand it `uffd`
 * (kept open by the caller while the link lives); *malloc_threshold is the
 * VM's stack's. A daemon that goes away is waited for up to `timeout_ms`
 * (0: the program stops at once). */
int tp_daemon_link_open(const char *socket, const char *vm, uint64_t timeout_ms, int uffd,
                        struct tp_daemon_link **out, uint64_t *malloc_threshold, tierpage_error *err);
/* The daemon serves [addr, addr+length) from `memfd` (the region's, open
 * while any of the range is served: it is handed over again from there). */
int tp_daemon_link_add(struct tp_daemon_link *link, int memfd, void *addr, size_t length, tierpage_error *err);
int tp_daemon_link_release(struct tp_daemon_link *link, void *addr, size_t length, int discard,
                           tierpage_error *err);
int tp_daemon_link_lock(struct tp_daemon_link *link, void *addr, size_t length, int lock, tierpage_error *err);
/* fork (daemon_fork.c). In the forking thread before fork(): the daemon
 * freezes the VM's pages, and *token names the fork; the link's lock is
 * kept (no other request of this process goes out) until
 * tp_daemon_link_fork_done, or released on failure. */
int tp_daemon_link_fork_prepare(struct tp_daemon_link *link, uint64_t *token, tierpage_error *err);
/* In the parent, once the child has its copy or is gone: the daemon thaws
 * the pages; the lock is released. */
int tp_daemon_link_fork_done(struct tp_daemon_link *link, uint64_t token, tierpage_error *err);
/* In a forked child: the parent's link is let go of in this process (its
 * connection stays the parent's). */
void tp_daemon_link_forget(struct tp_daemon_link *link);
/* In the child: the parent's link is let go of here (its connection stays
 * the parent's), and a connection of the child's own attaches it as the
 * child of fork `token`, handing `uffd`. A daemon keeps no forked child
 * across its restart: when the child's connection is lost, it stops. */
int tp_daemon_link_fork_child(struct tp_daemon_link *parent, uint64_t token, int uffd, struct tp_daemon_link **out,
                              uint64_t *malloc_threshold, tierpage_error *err);
/* In the child, its regions added: the daemon copies the parent's pages
 * into them before it replies. */
int tp_daemon_link_fork_copy(struct tp_daemon_link *link, uint64_t token, tierpage_error *err);
/* Detach: returns once the daemon has released every page of this
 * process, so that a process this one execs may attach at once. */
void tp_daemon_link_close(struct tp_daemon_link *link);

#endif
