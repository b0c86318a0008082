/* tierpage-kv-load: loads a memcached or Redis server with keys whose values
 * it can check, drives it, and reads every key back.
 *
 * Keys are "key:%012u" (redis-benchmark's `key:__rand_int__` with -r names
 * the same keys), values --value-size bytes of a pseudo-random stream of
 * (key, generation): incompressible, so zram gains nothing from a pattern,
 * and each value says which key and which write it is.
 *
 *   --load     sets every key (generation 0)
 *   --ops N    N requests from --connections threads, each on its own
 *              connection and its own share of the keys (key % C), uniform
 *              random keys, a --set-ratio share of them sets (a new
 *              generation); every get's value is checked. Reports
 *              requests/s and p50/p99/p999 latency.
 *   --verify   gets every key and checks it against the last generation
 *              written in this run (0 for a run without --ops sets)
 *
 * One JSON line on stdout with each phase's figures; exit 1 when any value
 * read back was wrong or missing, 2 on bad arguments. */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <libmemcached/memcached.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "units.h"

struct options {
    const char *kind;    /* "memcached" or "redis" */
    const char *server;  /* host:port or a unix socket path */
    uint64_t keys, value_size, ops, connections;
    double set_ratio;
    int load, verify;
    uint64_t seed;
};

static void usage(FILE *out)
{
    fprintf(out,
"usage: tierpage-kv-load --kind memcached|redis --server HOST:PORT|PATH\n"
"                        [--keys N] [--value-size BYTES] [--load]\n"
"                        [--ops N] [--connections C] [--set-ratio R]\n"
"                        [--verify] [--seed S]\n"
"\n"
"Loads a server with checkable values, drives it and reads every key back\n"
"(see the top of bench/kv_load.c). Defaults: --keys 131072, --value-size\n"
"4000, --connections 4, --set-ratio 0.1. One JSON line on stdout.\n"
"Exit status: 0 every value right, 1 a value wrong or missing or a server\n"
"error, 2 bad arguments.\n");
}

static void bad_args(const char *fmt, const char *arg)
{
    fputs("tierpage-kv-load: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (try --help)\n", stderr);
    exit(2);
}

static uint64_t number(const char *opt, const char *v, uint64_t min, uint64_t max)
{
    uint64_t n;
    if (tp_parse_uint(v, &n) != 0 || n < min || n > max) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s: expected a whole number from %" PRIu64 " to %" PRIu64 ", got '%%s'", opt,
                 min, max);
        bad_args(msg, v);
    }
    return n;
}

static void parse_args(int argc, char **argv, struct options *o)
{
    *o = (struct options){ .keys = 131072, .value_size = 4000, .connections = 4, .set_ratio = 0.1, .seed = 1 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(a, "--load") == 0) {
            o->load = 1;
            continue;
        }
        if (strcmp(a, "--verify") == 0) {
            o->verify = 1;
            continue;
        }
        if (i + 1 >= argc)
            bad_args("%s needs a value, or is unknown", a);
        const char *v = argv[++i];
        if (strcmp(a, "--kind") == 0) {
            if (strcmp(v, "memcached") != 0 && strcmp(v, "redis") != 0)
                bad_args("--kind: expected memcached or redis, got '%s'", v);
            o->kind = v;
        } else if (strcmp(a, "--server") == 0) {
            o->server = v;
        } else if (strcmp(a, "--keys") == 0) {
            o->keys = number(a, v, 1, 1000000000);
        } else if (strcmp(a, "--value-size") == 0) {
            o->value_size = number(a, v, 16, 1 << 20);
        } else if (strcmp(a, "--ops") == 0) {
            o->ops = number(a, v, 1, UINT64_MAX >> 1);
        } else if (strcmp(a, "--connections") == 0) {
            o->connections = number(a, v, 1, 256);
        } else if (strcmp(a, "--seed") == 0) {
            o->seed = number(a, v, 0, UINT64_MAX >> 1);
        } else if (strcmp(a, "--set-ratio") == 0) {
            char *end;
            o->set_ratio = strtod(v, &end);
            if (*end || end == v || o->set_ratio < 0 || o->set_ratio > 1)
                bad_args("--set-ratio: expected a number from 0 to 1, got '%s'", v);
        } else {
            bad_args("unknown argument '%s'", a);
        }
    }
    if (!o->kind || !o->server)
        bad_args("%s", "--kind and --server are required");
    if (!o->load && !o->ops && !o->verify)
        bad_args("%s", "nothing to do: give --load, --ops or --verify");
    if (o->connections > o->keys)
        bad_args("%s", "--connections must not exceed --keys");
}

/* ------------------------------------------------------------- the values */

static void value_of(uint64_t key, uint32_t gen, unsigned char *out, size_t len)
{
    uint64_t state = bench_mix64(key * 0x9e3779b97f4a7c15ull + gen + 1);
    for (size_t i = 0; i < len; i += 8) {
        state += 0x9e3779b97f4a7c15ull;
        uint64_t w = bench_mix64(state);
        memcpy(out + i, &w, len - i < 8 ? len - i : 8);
    }
}

static int key_name(char *buf, size_t len, uint64_t key)
{
    return snprintf(buf, len, "key:%012" PRIu64, key);
}

/* ------------------------------------------------------------ connections */

struct conn {
    memcached_st *mc;
    redisContext *redis;
    char why[256];
};

static int conn_open(const struct options *o, struct conn *c)
{
    memset(c, 0, sizeof *c);
    const char *s = o->server;
    char host[256];
    int port = 0;
    if (s[0] != '/') {
        snprintf(host, sizeof host, "%s", s);
        char *colon = strrchr(host, ':');
        if (!colon || !(port = atoi(colon + 1))) {
            snprintf(c->why, sizeof c->why, "--server: expected host:port or a socket path, got '%s'", s);
            return -1;
        }
        *colon = '\0';
    }
    if (strcmp(o->kind, "memcached") == 0) {
        c->mc = memcached_create(NULL);
        memcached_return_t rc = port ? memcached_server_add(c->mc, host, (in_port_t)port)
                                     : memcached_server_add_unix_socket(c->mc, s);
        memcached_behavior_set(c->mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
        memcached_behavior_set(c->mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, 30000);
        if (rc != MEMCACHED_SUCCESS) {
            snprintf(c->why, sizeof c->why, "memcached %s: %s", s, memcached_strerror(c->mc, rc));
            return -1;
        }
        return 0;
    }
    c->redis = port ? redisConnect(host, port) : redisConnectUnix(s);
    if (!c->redis || c->redis->err) {
        snprintf(c->why, sizeof c->why, "redis %s: %s", s, c->redis ? c->redis->errstr : "out of memory");
        return -1;
    }
    return 0;
}

static void conn_close(struct conn *c)
{
    if (c->mc)
        memcached_free(c->mc);
    if (c->redis)
        redisFree(c->redis);
}

static int conn_set(struct conn *c, const char *key, size_t key_len, const void *value, size_t len)
{
    if (c->mc) {
        memcached_return_t rc = memcached_set(c->mc, key, key_len, value, len, 0, 0);
        if (rc == MEMCACHED_SUCCESS)
            return 0;
        snprintf(c->why, sizeof c->why, "set %s: %s", key, memcached_last_error_message(c->mc));
        return -1;
    }
    redisReply *r = redisCommand(c->redis, "SET %b %b", key, key_len, value, len);
    int ok = r && r->type == REDIS_REPLY_STATUS;
    if (!ok)
        snprintf(c->why, sizeof c->why, "SET %s: %s", key, r ? (r->str ? r->str : "unexpected reply") : c->redis->errstr);
    if (r)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

/* 0 when the value is `want`, 1 when it differs or is missing, -1 when the
 * request failed. */
static int conn_check(struct conn *c, const char *key, size_t key_len, const unsigned char *want, size_t len)
{
    if (c->mc) {
        size_t got_len;
        uint32_t flags;
        memcached_return_t rc;
        char *got = memcached_get(c->mc, key, key_len, &got_len, &flags, &rc);
        if (rc != MEMCACHED_SUCCESS && rc != MEMCACHED_NOTFOUND) {
            snprintf(c->why, sizeof c->why, "get %s: %s", key, memcached_last_error_message(c->mc));
            free(got);
            return -1;
        }
        int bad = !got || got_len != len || memcmp(got, want, len) != 0;
        free(got);
        return bad;
    }
    redisReply *r = redisCommand(c->redis, "GET %b", key, key_len);
    if (!r) {
        snprintf(c->why, sizeof c->why, "GET %s: %s", key, c->redis->errstr);
        return -1;
    }
    int bad = r->type != REDIS_REPLY_STRING || r->len != len || memcmp(r->str, want, len) != 0;
    freeReplyObject(r);
    return bad;
}

/* ---------------------------------------------------------------- phases */

struct worker {
    const struct options *o;
    unsigned index;
    uint32_t *gens;          /* per key: the generation last written */
    uint64_t ops;            /* this worker's share */
    uint64_t *lat_ns;        /* one per op (run phase) */
    uint64_t done, wrong, sets;
    int failed;
    char why[256];
    enum { PHASE_LOAD, PHASE_RUN, PHASE_VERIFY } phase;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    const struct options *o = w->o;
    struct conn c;
    unsigned char *value = malloc(o->value_size);
    if (!value || conn_open(o, &c) < 0) {
        snprintf(w->why, sizeof w->why, "%s", value ? c.why : "out of memory");
        w->failed = 1;
        free(value);
        return NULL;
    }
    char key[64];
    uint64_t n_own = (o->keys - w->index + o->connections - 1) / o->connections;
    uint64_t rng = o->seed * 1000003u + w->index;
    uint64_t count = w->phase == PHASE_RUN ? w->ops : n_own;
    for (uint64_t i = 0; i < count && !w->failed; i++) {
        uint64_t k;
        if (w->phase == PHASE_RUN) {
            rng += 0x9e3779b97f4a7c15ull;
            k = w->index + (bench_mix64(rng) % n_own) * o->connections;
        } else {
            k = w->index + i * o->connections;
        }
        int klen = key_name(key, sizeof key, k);
        int is_set = w->phase == PHASE_LOAD ||
                     (w->phase == PHASE_RUN && (double)(bench_mix64(rng ^ 0x5bd1e995u) >> 11) / 9007199254740992.0 <
                                                   o->set_ratio);
        uint64_t t0 = tp_now_ns();
        int rc;
        if (is_set) {
            uint32_t gen = w->phase == PHASE_LOAD ? 0 : w->gens[k] + 1;
            value_of(k, gen, value, o->value_size);
            rc = conn_set(&c, key, (size_t)klen, value, o->value_size);
            if (rc == 0)
                w->gens[k] = gen;
            w->sets++;
        } else {
            value_of(k, w->gens[k], value, o->value_size);
            rc = conn_check(&c, key, (size_t)klen, value, o->value_size);
            if (rc == 1) {
                if (w->wrong++ == 0)
                    snprintf(w->why, sizeof w->why, "%s: wrong or missing value", key);
                rc = 0;
            }
        }
        if (w->lat_ns)
            w->lat_ns[i] = tp_now_ns() - t0;
        if (rc < 0) {
            snprintf(w->why, sizeof w->why, "%s", c.why);
            w->failed = 1;
        }
        w->done++;
    }
    conn_close(&c);
    free(value);
    return NULL;
}

struct phase_result {
    double seconds, per_second, p50_us, p99_us, p999_us;
    uint64_t done, wrong, sets;
    int failed;
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static double percentile_us(const uint64_t *sorted, uint64_t n, double p)
{
    return n ? (double)sorted[(uint64_t)(p * (double)(n - 1) + 0.5)] / 1e3 : 0;
}

static int run_phase(const struct options *o, int phase, uint32_t *gens, struct phase_result *r)
{
    unsigned n = (unsigned)o->connections;
    struct worker *w = calloc(n, sizeof *w);
    pthread_t *t = calloc(n, sizeof *t);
    uint64_t *lat = phase == PHASE_RUN ? malloc(o->ops * sizeof *lat) : NULL;
    if (!w || !t || (phase == PHASE_RUN && !lat)) {
        fprintf(stderr, "tierpage-kv-load: out of memory\n");
        return -1;
    }
    uint64_t given = 0;
    for (unsigned i = 0; i < n; i++) {
        w[i] = (struct worker){ .o = o, .index = i, .gens = gens, .phase = phase };
        if (phase == PHASE_RUN) {
            w[i].ops = o->ops / n + (i < o->ops % n);
            w[i].lat_ns = lat + given;
            given += w[i].ops;
        }
    }
    uint64_t t0 = tp_now_ns();
    for (unsigned i = 0; i < n; i++)
        pthread_create(&t[i], NULL, worker_main, &w[i]);
    for (unsigned i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    memset(r, 0, sizeof *r);
    r->seconds = (double)(tp_now_ns() - t0) / 1e9;
    uint64_t timed = 0;
    for (unsigned i = 0; i < n; i++) {
        r->done += w[i].done;
        r->wrong += w[i].wrong;
        r->sets += w[i].sets;
        if (w[i].failed || w[i].wrong)
            fprintf(stderr, "tierpage-kv-load: connection %u: %s\n", i, w[i].why);
        r->failed |= w[i].failed;
        if (lat) /* each worker's samples are at the front of its slice */
            memmove(lat + timed, w[i].lat_ns, w[i].done * sizeof *lat), timed += w[i].done;
    }
    r->per_second = r->seconds > 0 ? (double)r->done / r->seconds : 0;
    if (lat) {
        qsort(lat, timed, sizeof *lat, cmp_u64);
        r->p50_us = percentile_us(lat, timed, 0.50);
        r->p99_us = percentile_us(lat, timed, 0.99);
        r->p999_us = percentile_us(lat, timed, 0.999);
    }
    free(lat);
    free(w);
    free(t);
    return 0;
}

static void print_phase(const char *name, const struct phase_result *r, int timed)
{
    printf(",\"%s\":{\"requests\":%" PRIu64 ",\"sets\":%" PRIu64 ",\"seconds\":%.3f,\"requests_per_second\":%.1f",
           name, r->done, r->sets, r->seconds, r->per_second);
    if (timed)
        printf(",\"p50_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f", r->p50_us, r->p99_us, r->p999_us);
    printf(",\"wrong\":%" PRIu64 ",\"failed\":%s}", r->wrong, r->failed ? "true" : "false");
}

int main(int argc, char **argv)
{
    struct options o;
    parse_args(argc, argv, &o);
    uint32_t *gens = calloc(o.keys, sizeof *gens);
    if (!gens) {
        fprintf(stderr, "tierpage-kv-load: out of memory for %" PRIu64 " keys\n", o.keys);
        return 1;
    }
    struct phase_result load = { 0 }, run = { 0 }, verify = { 0 };
    int bad = 0;
    if (o.load && (run_phase(&o, PHASE_LOAD, gens, &load) < 0 || load.failed))
        bad = 1;
    if (!bad && o.ops && (run_phase(&o, PHASE_RUN, gens, &run) < 0 || run.failed || run.wrong))
        bad = 1;
    if (!bad && o.verify && (run_phase(&o, PHASE_VERIFY, gens, &verify) < 0 || verify.failed || verify.wrong))
        bad = 1;
    printf("{\"kind\":\"%s\",\"keys\":%" PRIu64 ",\"value_size\":%" PRIu64 ",\"connections\":%" PRIu64, o.kind, o.keys,
           o.value_size, o.connections);
    if (o.load)
        print_phase("load", &load, 0);
    if (o.ops)
        print_phase("run", &run, 1);
    if (o.verify)
        print_phase("readback", &verify, 0);
    printf(",\"verify\":\"%s\"}\n", bad ? "failed" : o.verify ? "ok" : "skipped");
    free(gens);
    return bad;
}
