#include "kv_floor.h"

#include <hiredis/hiredis.h>
#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLOOR_TIMEOUT_MS 5000

enum floor_kind { FLOOR_MEMCACHED, FLOOR_REDIS };

struct kv_floor {
    enum floor_kind kind;
    memcached_st *mc;
    redisContext *redis;
};

/* host:port, [v6]:port, host or /socket -> host (or path) and port (0 for a
 * socket, `default_port` when none is given). */
static int split_server(const char *server, unsigned default_port, char *host, size_t host_len, unsigned *port)
{
    if (server[0] == '/') {
        if (strlen(server) >= host_len)
            return -1;
        snprintf(host, host_len, "%s", server);
        *port = 0;
        return 0;
    }
    const char *h = server, *colon;
    size_t n;
    if (server[0] == '[') {
        const char *close = strchr(server, ']');
        if (!close)
            return -1;
        h = server + 1;
        n = (size_t)(close - h);
        colon = close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = strrchr(server, ':');
        n = colon ? (size_t)(colon - server) : strlen(server);
    }
    if (n == 0 || n >= host_len)
        return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    *port = default_port;
    if (colon) {
        char *end;
        unsigned long p = strtoul(colon + 1, &end, 10);
        if (*end || p == 0 || p > 65535)
            return -1;
        *port = (unsigned)p;
    }
    return 0;
}

static int open_memcached(struct kv_floor *f, const char *host, unsigned port, char *why, size_t why_len)
{
    f->mc = memcached_create(NULL);
    if (!f->mc) {
        snprintf(why, why_len, "memcached_create failed");
        return -1;
    }
    memcached_return_t rc = port ? memcached_server_add(f->mc, host, (in_port_t)port)
                                 : memcached_server_add_unix_socket(f->mc, host);
    if (rc == MEMCACHED_SUCCESS) {
        memcached_behavior_set(f->mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
        memcached_behavior_set(f->mc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, FLOOR_TIMEOUT_MS);
        memcached_behavior_set(f->mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, FLOOR_TIMEOUT_MS);
        rc = memcached_version(f->mc); /* connects, so a dead server shows here */
    }
    if (rc != MEMCACHED_SUCCESS) {
        snprintf(why, why_len, "%s", memcached_last_error_message(f->mc));
        return -1;
    }
    return 0;
}

static int open_redis(struct kv_floor *f, const char *host, unsigned port, char *why, size_t why_len)
{
    struct timeval tv = { FLOOR_TIMEOUT_MS / 1000, (FLOOR_TIMEOUT_MS % 1000) * 1000 };
    f->redis = port ? redisConnectWithTimeout(host, (int)port, tv) : redisConnectUnixWithTimeout(host, tv);
    if (!f->redis || f->redis->err) {
        snprintf(why, why_len, "%s", f->redis ? f->redis->errstr : "out of memory");
        return -1;
    }
    redisSetTimeout(f->redis, tv);
    return 0;
}

int kv_floor_open(const char *kind, const char *server, struct kv_floor **out, char *why, size_t why_len)
{
    *out = NULL;
    struct kv_floor *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    f->kind = strcmp(kind, "redis") == 0 ? FLOOR_REDIS : FLOOR_MEMCACHED;
    char host[256];
    unsigned port;
    if (split_server(server, f->kind == FLOOR_REDIS ? 6379 : 11211, host, sizeof host, &port)) {
        snprintf(why, why_len, "'%s': expected host:port, [address]:port or a socket path", server);
        free(f);
        return -1;
    }
    int rc = f->kind == FLOOR_REDIS ? open_redis(f, host, port, why, why_len)
                                    : open_memcached(f, host, port, why, why_len);
    if (rc) {
        kv_floor_close(f);
        return -1;
    }
    *out = f;
    return 0;
}

void kv_floor_close(struct kv_floor *f)
{
    if (!f)
        return;
    if (f->mc)
        memcached_free(f->mc);
    if (f->redis)
        redisFree(f->redis);
    free(f);
}

const char *kv_floor_set_name(const struct kv_floor *f)
{
    return f->kind == FLOOR_REDIS ? "redisCommand SET" : "memcached_set";
}

const char *kv_floor_get_name(const struct kv_floor *f)
{
    return f->kind == FLOOR_REDIS ? "redisCommand GET" : "memcached_get";
}

const char *kv_floor_batch_name(const struct kv_floor *f)
{
    return f->kind == FLOOR_REDIS ? "pipelined GETs" : "memcached_mget";
}

/* ---------------------------------------------------------------- memcached */

static int mc_set(struct kv_floor *f, const char *key, const void *value, size_t len, char *why, size_t why_len)
{
    memcached_return_t rc = memcached_set(f->mc, key, strlen(key), value, len, 0, 0);
    if (rc == MEMCACHED_SUCCESS)
        return 0;
    snprintf(why, why_len, "memcached_set %s: %s", key, memcached_last_error_message(f->mc));
    return -1;
}

static int mc_get(struct kv_floor *f, const char *key, void *out, size_t len, char *why, size_t why_len)
{
    size_t got = 0;
    uint32_t flags;
    memcached_return_t rc;
    char *value = memcached_get(f->mc, key, strlen(key), &got, &flags, &rc);
    if (!value || rc != MEMCACHED_SUCCESS || got != len) {
        snprintf(why, why_len, "memcached_get %s: %s", key,
                 !value || rc != MEMCACHED_SUCCESS ? memcached_strerror(f->mc, rc) : "wrong length");
        free(value);
        return -1;
    }
    memcpy(out, value, len);
    free(value);
    return 0;
}

static int mc_get_batch(struct kv_floor *f, size_t count, const char *const *keys, void *const *outs, size_t len,
                        char *why, size_t why_len)
{
    size_t lens[KV_FLOOR_BATCH_MAX];
    unsigned char found[KV_FLOOR_BATCH_MAX];
    if (count == 0 || count > KV_FLOOR_BATCH_MAX) {
        snprintf(why, why_len, "memcached_mget: a batch is 1 to %d keys", KV_FLOOR_BATCH_MAX);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        lens[i] = strlen(keys[i]);
        found[i] = 0;
    }
    memcached_return_t rc = memcached_mget(f->mc, keys, lens, count);
    if (rc != MEMCACHED_SUCCESS) {
        snprintf(why, why_len, "memcached_mget: %s", memcached_last_error_message(f->mc));
        return -1;
    }
    memcached_result_st result;
    memcached_result_create(f->mc, &result);
    size_t got = 0;
    while (memcached_fetch_result(f->mc, &result, &rc)) {
        const char *k = memcached_result_key_value(&result);
        size_t klen = memcached_result_key_length(&result);
        for (size_t i = 0; i < count; i++) {
            if (!found[i] && klen == lens[i] && memcmp(k, keys[i], klen) == 0 &&
                memcached_result_length(&result) == len) {
                memcpy(outs[i], memcached_result_value(&result), len);
                found[i] = 1;
                got++;
                break;
            }
        }
    }
    memcached_result_free(&result);
    if (got != count) {
        snprintf(why, why_len, "memcached_mget: %zu of %zu keys came back", got, count);
        return -1;
    }
    return 0;
}

/* -------------------------------------------------------------------- redis */

static int redis_set(struct kv_floor *f, const char *key, const void *value, size_t len, char *why, size_t why_len)
{
    redisReply *r = redisCommand(f->redis, "SET %s %b", key, value, len);
    int ok = r && r->type == REDIS_REPLY_STATUS;
    if (!ok)
        snprintf(why, why_len, "SET %s: %s", key, r ? (r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply")
                                                    : f->redis->errstr);
    if (r)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

/* Takes a GET reply: copies the value out, frees the reply. */
static int redis_take_value(struct kv_floor *f, redisReply *r, const char *key, void *out, size_t len, char *why,
                            size_t why_len)
{
    int ok = r && r->type == REDIS_REPLY_STRING && (size_t)r->len == len;
    if (ok)
        memcpy(out, r->str, len);
    else
        snprintf(why, why_len, "GET %s: %s", key, !r ? f->redis->errstr : r->type == REDIS_REPLY_NIL ? "not found"
                                                                     : r->type == REDIS_REPLY_ERROR ? r->str
                                                                     : "unexpected reply");
    if (r)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

static int redis_get(struct kv_floor *f, const char *key, void *out, size_t len, char *why, size_t why_len)
{
    return redis_take_value(f, redisCommand(f->redis, "GET %s", key), key, out, len, why, why_len);
}

static int redis_get_batch(struct kv_floor *f, size_t count, const char *const *keys, void *const *outs, size_t len,
                           char *why, size_t why_len)
{
    for (size_t i = 0; i < count; i++) {
        if (redisAppendCommand(f->redis, "GET %s", keys[i]) != REDIS_OK) {
            snprintf(why, why_len, "redisAppendCommand: %s", f->redis->errstr);
            return -1;
        }
    }
    int rc = 0;
    for (size_t i = 0; i < count; i++) {
        void *reply = NULL;
        if (redisGetReply(f->redis, &reply) != REDIS_OK) {
            snprintf(why, why_len, "redisGetReply: %s", f->redis->errstr);
            return -1; /* the connection is broken: nothing more to read */
        }
        if (redis_take_value(f, reply, keys[i], outs[i], len, why, why_len))
            rc = -1;
    }
    return rc;
}

/* ------------------------------------------------------------------ common */

int kv_floor_set(struct kv_floor *f, const char *key, const void *value, size_t len, char *why, size_t why_len)
{
    return f->kind == FLOOR_REDIS ? redis_set(f, key, value, len, why, why_len)
                                  : mc_set(f, key, value, len, why, why_len);
}

int kv_floor_get(struct kv_floor *f, const char *key, void *out, size_t len, char *why, size_t why_len)
{
    return f->kind == FLOOR_REDIS ? redis_get(f, key, out, len, why, why_len)
                                  : mc_get(f, key, out, len, why, why_len);
}

int kv_floor_get_batch(struct kv_floor *f, size_t count, const char *const *keys, void *const *outs, size_t len,
                       char *why, size_t why_len)
{
    return f->kind == FLOOR_REDIS ? redis_get_batch(f, count, keys, outs, len, why, why_len)
                                  : mc_get_batch(f, count, keys, outs, len, why, why_len);
}

int kv_floor_del(struct kv_floor *f, const char *key)
{
    if (f->kind == FLOOR_MEMCACHED)
        return memcached_delete(f->mc, key, strlen(key), 0) == MEMCACHED_SUCCESS ? 0 : -1;
    redisReply *r = redisCommand(f->redis, "DEL %s", key);
    int ok = r && r->type == REDIS_REPLY_INTEGER;
    if (r)
        freeReplyObject(r);
    return ok ? 0 : -1;
}
