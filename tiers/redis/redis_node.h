/* One Redis server and its pool of connections. Threads take a connection
 * from the free list (or open a new one), use it alone, and give it back;
 * a broken connection is closed instead. A server that could not be reached
 * is marked down for a moment, so that calls fail fast rather than each
 * waiting for a connect to time out. */
#ifndef TP_REDIS_NODE_H
#define TP_REDIS_NODE_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdint.h>

#include "redis_options.h"

/* How to connect: shared by every node of a store. */
struct redis_conn_settings {
    int connect_timeout_ms;
    int io_timeout_ms;
    unsigned reply_spin_us; /* a wait for replies spins this long, then blocks (reply_wait.h) */
    const char *user;     /* NULL for AUTH with the password alone */
    const char *password; /* NULL for no AUTH */
    int report_changes;   /* log when a server goes away or comes back */
    const tierpage_host *host; /* the core's services: the log */
};

struct redis_node {
    struct redis_address addr;
    const struct redis_conn_settings *settings;
    pthread_mutex_t lock;
    redisContext **idle;
    size_t idle_count, idle_cap;
    uint64_t down_until_ms; /* monotonic; 0 when up */
    int unreachable;        /* the last connect failed (reported once) */
    char last_error[160];
};

struct redis_node *redis_node_new(const struct redis_address *addr, const struct redis_conn_settings *settings);
void redis_node_free(struct redis_node *node);

/* A connection ready for commands (connected, timeouts set, AUTH done), or
 * NULL with a message naming the server in why (why_size bytes). *refused
 * is set when the server answered but refused the connection (AUTH). */
redisContext *redis_node_acquire(struct redis_node *node, char *why, size_t why_size, int *refused);
/* Gives a connection back; one whose err is set is closed. */
void redis_node_release(struct redis_node *node, redisContext *c);

#endif
