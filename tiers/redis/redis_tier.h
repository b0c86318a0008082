/* The redis tier's store instance, shared by the files of the plugin. */
#ifndef TP_REDIS_TIER_H
#define TP_REDIS_TIER_H

#include <stdint.h>

#include "cluster_map.h"
#include "hash_ring.h"
#include "key_set.h"
#include "lease_clock.h"
#include "redis_exec.h"
#include "redis_options.h"

/* Redirections and retries a command may take before it fails. */
#define REDIS_MAX_REDIRECTS 16

struct redis_counters {
    uint64_t moved;      /* MOVED redirections followed */
    uint64_t ask;        /* ASK redirections followed */
    uint64_t refreshes;  /* slot map reloads after a connection error */
    uint64_t fallbacks;  /* gets answered by a later replica */
};

struct redis_store {
    struct redis_options opt;
    struct redis_conn_settings conn;
    struct ns_keys ns;       /* key names: this instance's pages and lease */
    size_t page_size;
    uint64_t capacity_pages; /* the stack file's capacity, 0 for none */
    uint64_t maxmemory;      /* summed over the servers, 0 when any has none */
    int debug;               /* TIERPAGE_REDIS_DEBUG: log redirections */

    /* Plain servers (cluster: false), sharded by the ring. */
    struct redis_node *servers[REDIS_MAX_SERVERS];
    struct hash_ring ring;

    /* cluster: true */
    struct cluster_map *cluster;

    struct key_set keys;
    struct redis_counters counters; /* updated with atomics */
    struct ns_heartbeat *heartbeat; /* renews the lease while open */
    struct lease_clock lease;       /* what this stack may count on of its lease */

    uint64_t last_version;          /* of the last page written (atomic) */
    /* Opened to recover a killed pager's stack (params->recovering), and
     * not cleared since (atomic): the servers hold its pages under this
     * instance, though the key set, the dead process's, is gone. A get of
     * a page the key set lacks then takes the copy found, whatever its
     * version; the lease the dead pager held under this instance is taken
     * over. */
    int recovering;
    /* replicas > 1: the thread that watches the servers and refills the
     * copies a server lacks (redis_replicas.c); its own state below. */
    struct ns_heartbeat *refiller;
    char run_id[REDIS_MAX_SERVERS][48]; /* each server's, "" until known */
    int server_down[REDIS_MAX_SERVERS];
    uint64_t refill_cursor, reported_degraded;
};

/* Every value is the page followed by its version, 8 bytes big-endian. A
 * server that lost writes (restarted from an older snapshot, a replica
 * promoted before it caught up) holds older versions: they are never
 * returned, and count as missing. */
#define REDIS_VERSION_BYTES 8

static inline void redis_version_put(unsigned char *at, uint64_t version)
{
    for (int i = 7; i >= 0; i--, version >>= 8)
        at[i] = (unsigned char)version;
}

static inline uint64_t redis_version_get(const unsigned char *at)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | at[i];
    return v;
}

/* The refiller's call, every REDIS_REFILL_PERIOD_MS: notices a server that
 * came back (reachable again, or restarted: another run_id) and then
 * checks every page's copies; copies missing or older than the page's
 * version are written again from a good one. */
#define REDIS_REFILL_PERIOD_MS 200
void redis_refill_pass(void *store);

/* Debug lines for counters that may grow fast: the first ten, then at
 * every power of two. */
static inline int redis_debug_due(uint64_t n)
{
    return n <= 10 || (n & (n - 1)) == 0;
}

/* Routes a single-key command to its node: a ring lookup picks replica
 * `replica` (plain servers) or the slot map picks the master (cluster). */
void redis_route_key(struct redis_store *s, struct redis_cmd *cmd, uint64_t key, unsigned replica);

/* Runs the PENDING commands: pipelined per node; with a cluster, follows
 * MOVED and ASK and reloads the slot map after connection errors, up to
 * REDIS_MAX_REDIRECTS times per command. */
void redis_run(struct redis_store *s, struct redis_cmd *cmds, size_t count);

/* A redirection error, "MOVED 3999 127.0.0.1:6381" or "ASK 3999 ..." when
 * kind is "MOVED" or "ASK": 1 with the slot and the endpoint, else 0. */
int redis_parse_redirect(const char *msg, const char *kind, long *slot, char *endpoint, size_t size);

/* Fills cmd->key with the page's key (ns_keys.h). */
void redis_format_key(const struct redis_store *s, struct redis_cmd *cmd, uint64_t key);

/* Checks every server at open: reachable, AUTH accepted, an eviction policy
 * that cannot drop pages (per eviction_policy_check), and sums maxmemory. */
int redis_check_servers(struct redis_store *s, tierpage_error *err);

/* clear: on every server or master, UNLINK the pages of instances of the
 * namespace whose lease is gone (stacks that stopped without closing), this
 * instance's own, and with namespace: exclusive the namespace's fixed keys
 * (SCAN MATCH "tp:<namespace>:*"). Never a running instance's pages. */
int redis_clear_namespace(struct redis_store *s, tierpage_error *err);

/* close: UNLINK this instance's pages. */
void redis_drop_own_pages(struct redis_store *s);
/* Every page of a forked child's instance that ended, on every server or
 * master, and its lease (tierpage_store_ops.drop_child). */
int redis_drop_child(struct redis_store *s, const char *child_instance, tierpage_error *err);

/* redis_lease.c: the lease of a running stack (ns_keys.h), on every plain
 * server or on the cluster. Taking it fails with -EBUSY and a message naming
 * the server and the namespace when exclusive and another stack holds it. */
int redis_lease_take(struct redis_store *s, tierpage_error *err);
void redis_lease_renew(void *store); /* the heartbeat's call */
/* Before a get, put or delete: 0 when the store may be used; -ESTALE with
 * err set once the lease is lost (lease_clock.h). Renews the lease itself
 * when the heartbeat is late. No lock held by the caller. */
int redis_lease_check(struct redis_store *s, tierpage_error *err);
void redis_lease_release(struct redis_store *s);
/* Deletes the lease of another instance of the namespace, one that can
 * renew it no more (a forked child that ended). */
void redis_lease_drop(struct redis_store *s, const char *instance);
/* 1 when the instance's lease is on the node (plain) or the cluster (node
 * NULL), 0 when it is gone, negative errno when it could not be asked. */
int redis_lease_alive(struct redis_store *s, struct redis_node *node, const char *instance);

/* The nodes that hold the store's keys: every master of the cluster, or
 * the plain servers; at most `max`. Returns how many. */
size_t redis_every_master(struct redis_store *s, struct redis_node **nodes, size_t max);

#endif
