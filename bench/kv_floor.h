/* The floor of tierpage-kv-bench: the server's own round trip, measured with
 * the smallest client of the same library the tier uses, on one connection.
 *
 *   memcached  libmemcached: memcached_set / memcached_get on one
 *              memcached_st (TCP_NODELAY, as the tier sets it); a batch is
 *              memcached_mget + memcached_fetch_result.
 *   redis      hiredis: redisCommand SET / GET on one redisContext; a batch
 *              is redisAppendCommand for every key, then redisGetReply for
 *              every reply.
 *
 * Every call is one request and its reply; nothing is cached. */
#ifndef TIERPAGE_KV_FLOOR_H
#define TIERPAGE_KV_FLOOR_H

#include <stddef.h>

struct kv_floor;

/* `kind` is "memcached" or "redis"; `server` is host:port, [v6]:port, host
 * (the library's default port) or the absolute path of a unix socket.
 * 0, or -1 with a reason in `why`. */
int kv_floor_open(const char *kind, const char *server, struct kv_floor **out, char *why, size_t why_len);
void kv_floor_close(struct kv_floor *f);

/* The library's name for what one call does, for the table. */
const char *kv_floor_set_name(const struct kv_floor *f);
const char *kv_floor_get_name(const struct kv_floor *f);
const char *kv_floor_batch_name(const struct kv_floor *f);

/* 0 on success, -1 with a reason in `why`. A get succeeds only when the
 * value is exactly `len` bytes; it copies it to `out`. */
int kv_floor_set(struct kv_floor *f, const char *key, const void *value, size_t len, char *why, size_t why_len);
int kv_floor_get(struct kv_floor *f, const char *key, void *out, size_t len, char *why, size_t why_len);
/* Gets `count` keys (1 to KV_FLOOR_BATCH_MAX) in one round trip; every key
 * must be found. */
#define KV_FLOOR_BATCH_MAX 256
int kv_floor_get_batch(struct kv_floor *f, size_t count, const char *const *keys, void *const *outs, size_t len,
                       char *why, size_t why_len);
int kv_floor_del(struct kv_floor *f, const char *key);

#endif
