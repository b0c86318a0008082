/* One connection to a memcached server for the data path: gets and stores
 * in memcached's text protocol, pipelined, on a socket of its own.
 *
 * libmemcached (mc_server.h) still does everything else (probe, stats,
 * deletes, leases, metadump). The data path speaks the protocol itself for
 * two things libmemcached cannot give: stores pipelined with a reply for
 * each (its buffered mode reads the replies only to throw them away), and a
 * wait for a get's reply that spins before it blocks (reply_wait.h), which
 * needs the socket; a store's reply is awaited blocking. A connection is
 * used by one thread at a time. */
#ifndef TIERPAGE_MC_CONN_H
#define TIERPAGE_MC_CONN_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

struct mc_conn;

/* A connection to host:port, or to the unix socket `host` when port is 0.
 * NULL with *sys_err set (a positive errno, ETIMEDOUT for the timeout) and
 * `why` filled when it cannot be made. */
struct mc_conn *mc_conn_open(const char *host, in_port_t port, unsigned connect_timeout_ms, unsigned io_timeout_ms,
                             unsigned spin_us, int *sys_err, char *why, size_t why_len);
void mc_conn_close(struct mc_conn *c);

/* The connection's last failure, in words. */
const char *mc_conn_why(const struct mc_conn *c);

/* A store refused because the item is missing (replace) is MC_NOT_STORED. */
#define MC_NOT_STORED 1

/* Sends `verbs[i] keys[i] flags[i] 0 value_len` with values[i] for every i < n,
 * pipelined in chunks of 64 (one round trip each), and reads the n
 * replies: results[i] is 0
 * (STORED), MC_NOT_STORED, -ENOSPC (the server is out of memory), -E2BIG
 * (the item is over the server's size limit) or -EIO (another refusal).
 * Returns 0, or a negative errno when the connection failed (the results
 * not read are that errno; the connection is then not to be reused). */
int mc_conn_store(struct mc_conn *c, size_t n, const char *const *verbs, const char *const *keys,
                  const size_t *key_lens, const uint32_t *flags, const void *const *values, size_t value_len,
                  int *results);

/* Sends `delete keys[i]` for every i < n, pipelined in chunks of 64, and
 * reads the replies. 0 when each key was deleted or not there; -EIO when
 * the server refused one (the others are still deleted); another negative
 * errno when the connection failed (the connection is then not to be
 * reused). results, when not NULL, gets each key's: 0 (deleted or not
 * there), -EIO (refused), or the connection's failure for the keys whose
 * reply was not read. */
int mc_conn_delete(struct mc_conn *c, size_t n, const char *const *keys, const size_t *key_lens, int *results);

/* Called for each item a get returns, with the flags it was stored with;
 * value points into the connection's buffer, valid until the call
 * returns. */
typedef void mc_conn_item_fn(void *ctx, const char *key, size_t key_len, uint32_t flags, const void *value,
                             size_t value_len);

/* Gets the n keys in as few requests as the protocol allows, pipelined,
 * calling `item` for each one found. 0, or a negative errno when the
 * connection failed or the server refused the request. */
int mc_conn_get(struct mc_conn *c, size_t n, const char *const *keys, const size_t *key_lens, mc_conn_item_fn *item,
                void *ctx);

#endif
