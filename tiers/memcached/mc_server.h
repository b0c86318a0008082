/* One memcached server of a tier: its address, a pool of connections to
 * it, and whether it is still in service.
 *
 * Each connection is a libmemcached handle holding this one server only, so
 * placement stays with the tier's own ring. A handle is used by one thread
 * at a time: calls take one from the free list (or make one) and give it
 * back. A handle whose connection failed is freed rather than reused.
 *
 * A server that fails at the connection level (refused, reset, timed out)
 * is taken out of service: placement then skips it, so new pages go to the
 * next servers on the ring, and the tier's prober (mc_revive.h) asks it on
 * a fresh connection, with back-off, until it answers; then it is put back
 * in service. Copies it may hold of pages rewritten or deleted meanwhile
 * are never read: a get asks only the servers the page map
 * (mc_pagemap.h) records for the page's last put; the tier deletes them
 * before the server is back in service. */
#ifndef TIERPAGE_MC_SERVER_H
#define TIERPAGE_MC_SERVER_H

#include <libmemcached/memcached.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "mc_conn.h"
#include "tierpage_store.h"

struct mc_server {
    char name[TIERPAGE_SERVER_TEXT_MAX]; /* as the servers option gave it, for messages and the ring */
    char host[TIERPAGE_SERVER_TEXT_MAX]; /* host name or address, or the socket path */
    in_port_t port;        /* 0 for a unix socket */
    unsigned connect_timeout_ms, io_timeout_ms;
    unsigned reply_spin_us; /* the data path's wait for a reply spins this long, then blocks */

    pthread_mutex_t lock;  /* guards the free lists */
    memcached_st **idle;
    size_t idle_count, idle_cap;
    struct mc_conn **idle_conns; /* the data path's connections (mc_conn.h) */
    size_t idle_conn_count, idle_conn_cap;

    atomic_int out_of_service;
    const tierpage_host *log_host; /* where leaving service is reported; NULL for nowhere */
    /* Called (with no lock held) each time the server leaves service: wakes
     * the prober. NULL until it runs. */
    void (*left_service)(void *arg);
    void *left_service_arg;
};

/* One entry of the servers option, as the host's parse_servers gave it. */
void mc_server_init(struct mc_server *s, const tierpage_server *where, unsigned connect_timeout_ms,
                    unsigned io_timeout_ms, unsigned reply_spin_us, const tierpage_host *log_host);
void mc_server_destroy(struct mc_server *s);

/* Checks that the server answers (version, then stats) and reads its
 * limit_maxbytes, 0 when it gives none. */
int mc_server_probe(struct mc_server *s, uint64_t *limit_maxbytes, tierpage_error *err);

/* A connection for one call; NULL (-ENOMEM in err) when none can be made. */
memcached_st *mc_server_take(struct mc_server *s, tierpage_error *err);
/* Gives a connection back after a call that ended with `rc`. */
void mc_server_give(struct mc_server *s, memcached_st *m, memcached_return_t rc);

/* A data-path connection for one call in *out, made when none is idle; a
 * negative errno with err set (and the server taken out of service unless
 * it was -ENOMEM) when none can be made. */
int mc_server_take_conn(struct mc_server *s, const char *what, struct mc_conn **out, tierpage_error *err);
/* Gives it back after a call that returned `rc`: a connection that failed
 * (rc < 0) is closed rather than reused. */
void mc_server_give_conn(struct mc_server *s, struct mc_conn *c, int rc);
/* A data-path call failed on its connection with `code`: fills err naming
 * the server and `what` was being done, takes the server out of service,
 * and returns the code. */
int mc_server_fail_conn(struct mc_server *s, struct mc_conn *c, int code, const char *what, tierpage_error *err);

int mc_server_in_service(const struct mc_server *s);

/* Whether the server answers `version` on a connection of its own, made
 * for the question (never one of the pools, which may hold connections
 * that died with the server): 0, or a negative errno with err naming the
 * server and the reason. */
int mc_server_answers(struct mc_server *s, tierpage_error *err);
/* Closes the idle connections of both pools: made before the server left
 * service, they may have died with it. */
void mc_server_close_idle(struct mc_server *s);
/* Puts a server that left service back: the idle connections are closed
 * (mc_server_close_idle), then placement and gets use it again. */
void mc_server_return_to_service(struct mc_server *s);

/* Turns a failed call's `rc` into a negative errno, fills err with a
 * message naming the server and `what` was being done, and takes the
 * server out of service when the failure was its connection's.
 * MEMCACHED_NOTFOUND is -ENOENT and a refusal for memory -ENOSPC. */
int mc_server_fail(struct mc_server *s, memcached_st *m, memcached_return_t rc, const char *what,
                   tierpage_error *err);

#endif
