/* One connection to a tierpage-memserver: its queue pair, a registered
 * bounce buffer of queue_depth pages, and the control requests.
 *
 * Every call takes the connection's lock for its whole length, so calls on
 * one server are serialised and calls on different servers run in
 * parallel. A call on a connection that is down first reconnects and says
 * HELLO again with the same session: a server started with --grace gives
 * the slabs back. For io_timeout_ms after the connection broke, a READ or
 * WRITE that fails for want of it keeps reconnecting (every 100 ms) and
 * retrying, unless the server refuses the connection; after that a call
 * tries at most once per second and in between fails at once. Nothing is
 * sent while the device's port is down (see lose() in rdma_conn.c).
 * When the server cannot give them back (it restarted, or the grace period
 * ran out) the generation moves on, and slabs of the older generation are
 * lost. */
#ifndef RDMA_CONN_H
#define RDMA_CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "tierpage_store.h"
#include "tpm_auth.h"

struct rdma_conn_config {
    const char *namespace_name;
    int exclusive;              /* namespace: exclusive: HELLO asks the server for it alone */
    uint64_t session;
    size_t page_size;
    unsigned queue_depth;
    unsigned connect_timeout_ms;
    unsigned io_timeout_ms;
    const tierpage_host *host; /* the core's services: the log */
    const struct tpm_key *key; /* key_file: prove it to each server, and have it proved; NULL: none */
};

/* One page to move: a read of the slot into `page`, or a write of `page`. */
struct rdma_io {
    int write;
    uint64_t remote_addr;
    uint32_t rkey;
    uint32_t generation;  /* of the slab; a stale one fails with -EIO */
    void *page;
    int result;           /* 0 or a negative errno value */
};

struct rdma_slab_grant {
    uint64_t addr, length;
    uint32_t rkey, server_slab, generation;
};

struct rdma_conn_state; /* the verbs objects of one connection */

struct rdma_conn {
    char name[128];       /* host:port as written */
    char host[112], port[8];
    struct rdma_conn_config cfg;
    pthread_mutex_t lock;
    struct rdma_conn_state *st;   /* NULL while down */
    _Atomic uint32_t generation;
    int ever_connected;
    uint64_t instance;
    uint32_t slabs_held;
    uint64_t pool_bytes, slab_bytes;
    uint64_t next_attempt_ms;
    uint64_t attempt_ms;          /* when the last connection attempt began */
    uint64_t lost_ms;             /* when the connection broke; 0 while up */
    int last_connect_rc;          /* how the last attempt ended: 0 or its error */
    unsigned char *bounce;        /* queue_depth pages */
    char last_error[160];
};

/* A connection to one entry of the servers option, as the host's
 * parse_servers gave it. */
int rdma_conn_init(struct rdma_conn *c, const tierpage_server *where, const struct rdma_conn_config *cfg,
                   tierpage_error *err);
/* Connects now; a failure names the server. */
int rdma_conn_open(struct rdma_conn *c, tierpage_error *err);
/* Frees the session's slabs on the server (BYE), disconnects, frees everything. */
void rdma_conn_close(struct rdma_conn *c);

/* Moves count pages; each io->result says how its page went. Returns 0 when
 * every page moved, else the first failure (err says which server and why). */
int rdma_conn_io(struct rdma_conn *c, struct rdma_io *io, size_t count, tierpage_error *err);
/* A slab from the server: 0, -ENOSPC when it is full, or another error. */
int rdma_conn_alloc_slab(struct rdma_conn *c, struct rdma_slab_grant *grant, tierpage_error *err);
/* Returns a slab (only if it is of the current generation). */
int rdma_conn_free_slab(struct rdma_conn *c, uint32_t server_slab, uint32_t generation, tierpage_error *err);
/* In a forked child, on its copy of the parent's connection: closes the
 * child's copies of the connection's descriptors, so that the connection
 * goes when the parent does, and touches nothing else. */
void rdma_conn_forget(struct rdma_conn *c);
/* Whether a call now would try the server (up, or due for a reconnect). */
int rdma_conn_usable(struct rdma_conn *c);

#endif
