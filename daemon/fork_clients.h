/* fork of a client (FORK_PREPARE, FORK_ATTACH, FORK_COPY, FORK_DONE;
 * daemon/PROTOCOL.md): the child becomes a client of its own, served by
 * an entry NAME/PID with a stack of its own, and gets a copy of every page
 * of its parent as it was at the fork, made while the parent's pages are
 * frozen. Each request function replies and returns 0, or returns -EPROTO
 * with `why` for a request that does not fit the fork in progress (the
 * caller replies and closes the connection). */
#ifndef TIERPAGED_FORK_CLIENTS_H
#define TIERPAGED_FORK_CLIENTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "vm_table.h"

/* The parent, attached to `vm`: freeze its pages, name the fork. */
int tpd_fork_prepare(int sock, struct tpd_vm *vm, char *why, size_t len);
/* The child of fork `token`, not attached yet: its entry opened and its
 * userfaultfd (taken) served; *child on success. */
int tpd_fork_attach(struct tpd_vms *vms, int sock, const struct ucred *peer, uint64_t token, int uffd,
                    struct tpd_vm **child, char *why, size_t len);
/* The child, attached to `child`, its regions added: the copy. */
int tpd_fork_copy(struct tpd_vms *vms, int sock, struct tpd_vm *child, uint64_t token, char *why, size_t len);
/* The parent, once its child has its copy or is gone: thaw. */
int tpd_fork_done(int sock, struct tpd_vm *vm, uint64_t token, char *why, size_t len);
/* The client of `vm` goes: a fork of it in progress ends (a copy being
 * made is waited for) and its pages thaw. No lock held. */
void tpd_fork_end(struct tpd_vm *vm);

#endif
