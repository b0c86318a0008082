/* What tierpaged needs of the core: serving memory that another process
 * maps. The process (a client) keeps its memory: each region is a memfd it
 * maps where its program sees it, registered with its own userfaultfd. The
 * stack maps the memfd too and serves the faults of that userfaultfd on the
 * same path as its own regions'. One client per stack at a time: regions
 * are kept by the client's addresses. Internal to tierpage (not exported
 * by libtierpage.so): tierpaged links tierpage_internal. */
#ifndef TIERPAGE_DAEMON_H
#define TIERPAGE_DAEMON_H

#include <stdint.h>

#include "tierpage.h"

struct tp_remote;

/* Serve the faults read from `uffd` (a client's userfaultfd) on a thread of
 * the stack's. Takes uffd on success. */
int tp_remote_attach(tp_stack *stack, int uffd, struct tp_remote **out, tierpage_error *err);
/* Serve [addr, addr+length) of the client, backed by `memfd` from offset 0
 * (taken on success). */
int tp_remote_add_region(struct tp_remote *client, int memfd, uint64_t addr, uint64_t length,
                        tierpage_error *err);
/* The client unmaps [addr, addr+length) (discard 0) or forgets its content
 * (discard 1): its pages are forgotten in every tier. */
int tp_remote_release(struct tp_remote *client, uint64_t addr, uint64_t length, int discard,
                      tierpage_error *err);
/* mlock (lock 1) or munlock of [addr, addr+length) of the client, as
 * tp_lock. */
int tp_remote_lock(struct tp_remote *client, uint64_t addr, uint64_t length, int lock, tierpage_error *err);
/* The client went away: its fault thread stops and every page of its
 * regions is released in every tier. Frees client. */
void tp_remote_detach(struct tp_remote *client);

#endif
