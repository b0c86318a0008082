/* tierpage-kv-bench: 4 KiB pages through the memcached or redis tier,
 * beside the floor (the server's own round trip with a minimal client of the
 * same library, kv_floor.h), in one run.
 *
 * The tier is loaded with tp_plugin_load and driven through its operations
 * table, as the core drives it, on one thread: single put, single get,
 * get_batch of 32 and put_batch of 32. The floor does single sets and gets
 * and a 32-key batch get against the same server. The measurements are
 * interleaved: every round makes a few operations of each kind, the order of
 * the kinds turning from round to round, so the machine's noise falls on
 * tier and floor alike.
 *
 * Every page written has content derived from its key and its version; every
 * page read back is compared with what was last written (exit 1 when one
 * differs or an operation fails). */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "units.h"
#include "kv_floor.h"
#include "loader.h"
#include "tierpage_store.h"
#include "bench_util.h"

#define PAGE_SIZE 4096u
#define PAGE_WORDS (PAGE_SIZE / sizeof(uint64_t))
#define BATCH 32u
#define SINGLES_PER_ROUND 8u   /* single operations of each kind per round; one batch of each kind */
#define WARMUP_ROUNDS 2u       /* not recorded */
#define MAX_OPTIONS 32
#define NAMESPACE "kvbench"
#define FLOOR_PREFIX "kvfloor"

enum { EXIT_MISMATCH = 1, EXIT_USAGE = 2, EXIT_SETUP = 3 };

/* The kinds of measurement, in the order of the table. */
enum kind {
    K_TIER_PUT,
    K_FLOOR_SET,
    K_TIER_GET,
    K_FLOOR_GET,
    K_TIER_GET_BATCH,
    K_TIER_PUT_BATCH,
    K_FLOOR_GET_BATCH,
    K_COUNT
};

static const char *const kind_json[K_COUNT] = {
    "tier_put", "floor_set", "tier_get", "floor_get",
    "tier_get_batch_per_page", "tier_put_batch_per_page", "floor_get_batch_per_page",
};

static bool kind_is_batch(enum kind k)
{
    return k == K_TIER_GET_BATCH || k == K_TIER_PUT_BATCH || k == K_FLOOR_GET_BATCH;
}

struct options {
    const char *plugin;
    const char *servers;
    tierpage_store_option store_options[MAX_OPTIONS];
    size_t option_count;
    uint64_t ops;
    uint64_t keys;
    uint64_t seed;
    bool json;
};

/* Time of each operation (of each batch for batch kinds), in ns. */
struct series {
    uint64_t *ns;
    size_t n, cap;
};

struct summary {
    double p50, p99, mean; /* µs, per page for batch kinds */
    size_t samples;
};

struct bench {
    struct options opt;
    char server[300]; /* the first entry of --servers: the floor's server */
    struct tp_plugin plugin;
    const tierpage_store_ops *ops;
    void *store;
    struct kv_floor *floor;
    uint32_t *tier_version, *floor_version; /* version last written, per key */
    uint64_t tier_cursor, floor_cursor;     /* next key a put writes */
    uint64_t rng;
    unsigned char *pages[BATCH];            /* page buffers */
    unsigned char *expect;                  /* what a page must hold */
    uint64_t verified;                      /* pages read back and found right */
    struct series series[K_COUNT];
    bool record;
};

/* ------------------------------------------------------------- utilities */

static uint64_t next_random(struct bench *b)
{
    b->rng += 0x9e3779b97f4a7c15ull;
    return bench_mix64(b->rng);
}

/* The content of version `version` of page `key` on one side (0 tier, 1 floor). */
static void fill_page(void *page, unsigned side, uint64_t key, uint32_t version)
{
    uint64_t *w = page;
    uint64_t base = bench_mix64((key << 20) ^ ((uint64_t)version << 2) ^ side ^ 0x6b7662656e6368ull);
    for (size_t i = 0; i < PAGE_WORDS; i++)
        w[i] = bench_mix64(base + i);
}

static void check_page(struct bench *b, const void *page, unsigned side, uint64_t key)
{
    uint32_t version = side ? b->floor_version[key] : b->tier_version[key];
    fill_page(b->expect, side, key, version);
    if (memcmp(page, b->expect, PAGE_SIZE) != 0) {
        const unsigned char *got = page;
        size_t at = 0;
        while (got[at] == b->expect[at])
            at++;
        fprintf(stderr, "tierpage-kv-bench: %s page %" PRIu64 " (version %" PRIu32 ") read back wrong from byte %zu\n",
                side ? "floor" : "tier", key, version, at);
        exit(EXIT_MISMATCH);
    }
    b->verified++;
}

static void record(struct bench *b, enum kind k, uint64_t ns)
{
    if (!b->record)
        return;
    struct series *s = &b->series[k];
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        uint64_t *grown = realloc(s->ns, cap * sizeof *grown);
        if (!grown) {
            fprintf(stderr, "tierpage-kv-bench: out of memory\n");
            exit(EXIT_SETUP);
        }
        s->ns = grown;
        s->cap = cap;
    }
    s->ns[s->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static struct summary summarise(struct series *s, unsigned pages_per_sample)
{
    struct summary r = { 0, 0, 0, s->n };
    if (s->n == 0)
        return r;
    qsort(s->ns, s->n, sizeof *s->ns, cmp_u64);
    double total = 0;
    for (size_t i = 0; i < s->n; i++)
        total += (double)s->ns[i];
    size_t i99 = (s->n * 99 + 99) / 100; /* ceil(0.99 n), 1-based */
    double scale = 1000.0 * pages_per_sample;
    r.p50 = (double)s->ns[(s->n - 1) / 2] / scale;
    r.p99 = (double)s->ns[(i99 ? i99 : 1) - 1] / scale;
    r.mean = total / (double)s->n / scale;
    return r;
}

static void floor_key(char *buf, size_t len, uint64_t key)
{
    snprintf(buf, len, FLOOR_PREFIX ":%016" PRIx64, key);
}

static void fail_op(const char *what, uint64_t key, const char *why)
{
    fprintf(stderr, "tierpage-kv-bench: %s of page %" PRIu64 " failed: %s\n", what, key, why);
    exit(EXIT_MISMATCH);
}

/* ---------------------------------------------------------- the operations */

static void tier_put(struct bench *b)
{
    uint64_t key = b->tier_cursor++ % b->opt.keys;
    fill_page(b->pages[0], 0, key, ++b->tier_version[key]);
    tierpage_error err = { { 0 }, { 0 } };
    uint64_t t0 = tp_now_ns();
    int rc = b->ops->put(b->store, key, b->pages[0], &err);
    uint64_t t1 = tp_now_ns();
    if (rc)
        fail_op("tier put", key, err.message);
    record(b, K_TIER_PUT, t1 - t0);
}

static void tier_get(struct bench *b)
{
    uint64_t key = next_random(b) % b->opt.keys;
    tierpage_error err = { { 0 }, { 0 } };
    uint64_t t0 = tp_now_ns();
    int rc = b->ops->get(b->store, key, b->pages[0], &err);
    uint64_t t1 = tp_now_ns();
    if (rc)
        fail_op("tier get", key, err.message);
    record(b, K_TIER_GET, t1 - t0);
    check_page(b, b->pages[0], 0, key);
}

/* BATCH consecutive keys from a random one, wrapping. */
static void batch_keys(struct bench *b, uint64_t *keys)
{
    uint64_t start = next_random(b) % b->opt.keys;
    for (unsigned i = 0; i < BATCH; i++)
        keys[i] = (start + i) % b->opt.keys;
}

static void tier_get_batch(struct bench *b)
{
    uint64_t keys[BATCH];
    int results[BATCH];
    batch_keys(b, keys);
    tierpage_error err = { { 0 }, { 0 } };
    uint64_t t0 = tp_now_ns();
    int rc = b->ops->get_batch(b->store, BATCH, keys, (void *const *)b->pages, results, &err);
    uint64_t t1 = tp_now_ns();
    for (unsigned i = 0; i < BATCH; i++)
        if (rc || results[i])
            fail_op("tier get_batch", keys[i], err.message);
    record(b, K_TIER_GET_BATCH, t1 - t0);
    for (unsigned i = 0; i < BATCH; i++)
        check_page(b, b->pages[i], 0, keys[i]);
}

static void tier_put_batch(struct bench *b)
{
    uint64_t keys[BATCH];
    int results[BATCH];
    for (unsigned i = 0; i < BATCH; i++) {
        keys[i] = b->tier_cursor++ % b->opt.keys;
        fill_page(b->pages[i], 0, keys[i], ++b->tier_version[keys[i]]);
    }
    tierpage_error err = { { 0 }, { 0 } };
    uint64_t t0 = tp_now_ns();
    int rc = b->ops->put_batch(b->store, BATCH, keys, (const void *const *)b->pages, results, &err);
    uint64_t t1 = tp_now_ns();
    for (unsigned i = 0; i < BATCH; i++)
        if (rc || results[i])
            fail_op("tier put_batch", keys[i], err.message);
    record(b, K_TIER_PUT_BATCH, t1 - t0);
}

static void floor_set(struct bench *b)
{
    uint64_t key = b->floor_cursor++ % b->opt.keys;
    char name[64], why[256];
    floor_key(name, sizeof name, key);
    fill_page(b->pages[0], 1, key, ++b->floor_version[key]);
    uint64_t t0 = tp_now_ns();
    int rc = kv_floor_set(b->floor, name, b->pages[0], PAGE_SIZE, why, sizeof why);
    uint64_t t1 = tp_now_ns();
    if (rc)
        fail_op("floor set", key, why);
    record(b, K_FLOOR_SET, t1 - t0);
}

static void floor_get(struct bench *b)
{
    uint64_t key = next_random(b) % b->opt.keys;
    char name[64], why[256];
    floor_key(name, sizeof name, key);
    uint64_t t0 = tp_now_ns();
    int rc = kv_floor_get(b->floor, name, b->pages[0], PAGE_SIZE, why, sizeof why);
    uint64_t t1 = tp_now_ns();
    if (rc)
        fail_op("floor get", key, why);
    record(b, K_FLOOR_GET, t1 - t0);
    check_page(b, b->pages[0], 1, key);
}

static void floor_get_batch(struct bench *b)
{
    uint64_t keys[BATCH];
    char names[BATCH][64], why[256];
    const char *name_ptrs[BATCH];
    batch_keys(b, keys);
    for (unsigned i = 0; i < BATCH; i++) {
        floor_key(names[i], sizeof names[i], keys[i]);
        name_ptrs[i] = names[i];
    }
    uint64_t t0 = tp_now_ns();
    int rc = kv_floor_get_batch(b->floor, BATCH, name_ptrs, (void *const *)b->pages, PAGE_SIZE, why, sizeof why);
    uint64_t t1 = tp_now_ns();
    if (rc)
        fail_op("floor batch get", keys[0], why);
    record(b, K_FLOOR_GET_BATCH, t1 - t0);
    for (unsigned i = 0; i < BATCH; i++)
        check_page(b, b->pages[i], 1, keys[i]);
}

/* One round: SINGLES_PER_ROUND operations of each single kind and one batch
 * of each batch kind, starting at a kind that turns with the round. */
static void run_round(struct bench *b, uint64_t round, unsigned singles)
{
    for (unsigned j = 0; j < K_COUNT; j++) {
        enum kind k = (enum kind)((round + j) % K_COUNT);
        unsigned n = kind_is_batch(k) ? 1 : singles;
        for (unsigned i = 0; i < n; i++) {
            switch (k) {
            case K_TIER_PUT: tier_put(b); break;
            case K_FLOOR_SET: floor_set(b); break;
            case K_TIER_GET: tier_get(b); break;
            case K_FLOOR_GET: floor_get(b); break;
            case K_TIER_GET_BATCH: tier_get_batch(b); break;
            case K_TIER_PUT_BATCH: tier_put_batch(b); break;
            case K_FLOOR_GET_BATCH: floor_get_batch(b); break;
            case K_COUNT: break;
            }
        }
    }
}

/* ------------------------------------------------------------ setup, report */

static void usage(FILE *to)
{
    fprintf(to,
            "usage: tierpage-kv-bench --plugin memcached|redis --servers LIST [OPTIONS]\n"
            "\n"
            "Measures 4 KiB page put, get, get_batch of %u and put_batch of %u through the\n"
            "tier (loaded like the core loads it; namespace \"" NAMESPACE "\"), beside the\n"
            "server's own round trip for a 4 KiB set and get with a minimal client of the\n"
            "same library against the first server of LIST (the floor), interleaved in\n"
            "rounds. Prints p50/p99/mean us, the ratios to the floor and the batch\n"
            "speed-up; checks every page read back.\n"
            "\n"
            "  --plugin NAME      memcached or redis (or a path to a plugin of either kind)\n"
            "  --servers LIST     the tier's servers option: host:port or socket paths,\n"
            "                     separated by ','\n"
            "  --option K=V       another option for the tier (repeatable)\n"
            "  --ops N            single operations of each kind (default 10000); each\n"
            "                     batch kind makes N/%u batches\n"
            "  --keys N           distinct pages on each side, at least %u (default 1024)\n"
            "  --seed S           random seed (default 1)\n"
            "  --json             one JSON line of results instead of the table\n"
            "  --help             this text\n"
            "\n"
            "Exit status: 0 success, 1 a page read back wrong or an operation failed,\n"
            "2 bad arguments, 3 the plugin or a server could not be opened.\n",
            BATCH, BATCH, SINGLES_PER_ROUND, BATCH);
}

static int parse_count(const char *text, uint64_t min, uint64_t *out)
{
    uint64_t v;
    if (tp_parse_uint(text, &v) != 0 || v < min)
        return -1;
    *out = v;
    return 0;
}

static void parse_args(int argc, char **argv, struct options *o)
{
    *o = (struct options){ .ops = 10000, .keys = 1024, .seed = 1 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = true;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
            takes = false;
        } else if (!v) {
            fprintf(stderr, "tierpage-kv-bench: %s needs a value (try --help)\n", a);
            exit(EXIT_USAGE);
        } else if (strcmp(a, "--plugin") == 0) {
            o->plugin = v;
        } else if (strcmp(a, "--servers") == 0) {
            o->servers = v;
        } else if (strcmp(a, "--option") == 0) {
            const char *eq = strchr(v, '=');
            if (!eq || eq == v || o->option_count == MAX_OPTIONS) {
                fprintf(stderr, "tierpage-kv-bench: --option: expected KEY=VALUE (at most %d), got '%s'\n",
                        MAX_OPTIONS, v);
                exit(EXIT_USAGE);
            }
            char *key = strndup(v, (size_t)(eq - v));
            if (!key)
                exit(EXIT_SETUP);
            if (strcmp(key, "servers") == 0) {
                fprintf(stderr, "tierpage-kv-bench: give the servers with --servers\n");
                exit(EXIT_USAGE);
            }
            o->store_options[o->option_count++] = (tierpage_store_option){ key, eq + 1 };
        } else if (strcmp(a, "--ops") == 0) {
            if (parse_count(v, 1, &o->ops)) {
                fprintf(stderr, "tierpage-kv-bench: --ops: expected a positive whole number, got '%s'\n", v);
                exit(EXIT_USAGE);
            }
        } else if (strcmp(a, "--keys") == 0) {
            if (parse_count(v, BATCH, &o->keys) || o->keys > (1u << 24)) {
                fprintf(stderr, "tierpage-kv-bench: --keys: expected a whole number from %u to %u, got '%s'\n",
                        BATCH, 1u << 24, v);
                exit(EXIT_USAGE);
            }
        } else if (strcmp(a, "--seed") == 0) {
            if (parse_count(v, 0, &o->seed)) {
                fprintf(stderr, "tierpage-kv-bench: --seed: expected a whole number, got '%s'\n", v);
                exit(EXIT_USAGE);
            }
        } else {
            fprintf(stderr, "tierpage-kv-bench: unknown argument '%s' (try --help)\n", a);
            exit(EXIT_USAGE);
        }
        i += takes;
    }
    if (!o->plugin || !o->servers || !o->servers[0]) {
        fprintf(stderr, "tierpage-kv-bench: --plugin and --servers are required (try --help)\n");
        exit(EXIT_USAGE);
    }
}

/* The floor's kind: the plugin's name ("memcached" or "redis"). */
static const char *floor_kind(const struct bench *b)
{
    return strcmp(b->ops->name, "redis") == 0 ? "redis" : "memcached";
}

static void setup(struct bench *b)
{
    tierpage_error err = { { 0 }, { 0 } };
    if (tp_plugin_load(b->opt.plugin, &b->plugin, &err)) {
        fprintf(stderr, "tierpage-kv-bench: %s\n", err.message);
        exit(EXIT_SETUP);
    }
    b->ops = b->plugin.ops;
    if (strcmp(b->ops->name, "memcached") != 0 && strcmp(b->ops->name, "redis") != 0) {
        fprintf(stderr, "tierpage-kv-bench: %s is the '%s' store; this measures memcached and redis\n",
                b->plugin.path, b->ops->name);
        exit(EXIT_USAGE);
    }
    if (!b->ops->get_batch || !b->ops->put_batch) {
        fprintf(stderr, "tierpage-kv-bench: the %s store has no batch operations\n", b->ops->name);
        exit(EXIT_SETUP);
    }

    /* The tier's options: --servers first, then every --option. */
    tierpage_store_option options[MAX_OPTIONS + 1];
    options[0] = (tierpage_store_option){ "servers", b->opt.servers };
    memcpy(options + 1, b->opt.store_options, b->opt.option_count * sizeof *options);
    tierpage_store_params params = {
        .namespace_name = NAMESPACE,
        .page_size = PAGE_SIZE,
        .capacity = 0,
        .options = options,
        .option_count = b->opt.option_count + 1,
        .host = tp_plugin_host(&b->plugin, b->ops->name),
    };
    if (b->ops->open(&params, &b->store, &err)) {
        fprintf(stderr, "tierpage-kv-bench: %s: open: %s\n", b->ops->name, err.message);
        exit(EXIT_SETUP);
    }
    /* As the core does: a stack starts with no pages. */
    if (b->ops->clear && b->ops->clear(b->store, &err)) {
        fprintf(stderr, "tierpage-kv-bench: %s: clear: %s\n", b->ops->name, err.message);
        exit(EXIT_SETUP);
    }

    size_t len = strcspn(b->opt.servers, ",");
    while (len > 0 && (b->opt.servers[len - 1] == ' ' || b->opt.servers[len - 1] == '\t'))
        len--;
    const char *first = b->opt.servers;
    while (*first == ' ' || *first == '\t')
        first++, len--;
    snprintf(b->server, sizeof b->server, "%.*s", (int)len, first);
    char why[256];
    if (kv_floor_open(floor_kind(b), b->server, &b->floor, why, sizeof why)) {
        fprintf(stderr, "tierpage-kv-bench: floor client for %s: %s\n", b->server, why);
        exit(EXIT_SETUP);
    }

    b->tier_version = calloc(b->opt.keys, sizeof *b->tier_version);
    b->floor_version = calloc(b->opt.keys, sizeof *b->floor_version);
    b->expect = aligned_alloc(PAGE_SIZE, PAGE_SIZE);
    for (unsigned i = 0; i < BATCH; i++)
        b->pages[i] = aligned_alloc(PAGE_SIZE, PAGE_SIZE);
    if (!b->tier_version || !b->floor_version || !b->expect || !b->pages[BATCH - 1]) {
        fprintf(stderr, "tierpage-kv-bench: out of memory\n");
        exit(EXIT_SETUP);
    }
    b->rng = b->opt.seed;

    /* Every key holds a page on both sides before anything is timed. */
    for (uint64_t k = 0; k < b->opt.keys; k++) {
        tier_put(b);
        floor_set(b);
    }
}

static void teardown(struct bench *b)
{
    tierpage_error err;
    char name[64];
    for (uint64_t k = 0; k < b->opt.keys; k++) {
        b->ops->del(b->store, k, &err);
        floor_key(name, sizeof name, k);
        kv_floor_del(b->floor, name);
    }
    b->ops->close(b->store);
    tp_plugin_unload(&b->plugin);
    kv_floor_close(b->floor);
    for (unsigned k = 0; k < K_COUNT; k++)
        free(b->series[k].ns);
    for (unsigned i = 0; i < BATCH; i++)
        free(b->pages[i]);
    free(b->expect);
    free(b->tier_version);
    free(b->floor_version);
    for (size_t i = 0; i < b->opt.option_count; i++)
        free((char *)b->opt.store_options[i].key);
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

static void report(struct bench *b, uint64_t rounds, uint64_t batches)
{
    struct summary s[K_COUNT];
    for (unsigned k = 0; k < K_COUNT; k++)
        s[k] = summarise(&b->series[k], kind_is_batch((enum kind)k) ? BATCH : 1);
    /* The floor each tier row is compared with. */
    static const enum kind floor_of[K_COUNT] = {
        [K_TIER_PUT] = K_FLOOR_SET, [K_FLOOR_SET] = K_FLOOR_SET, [K_TIER_GET] = K_FLOOR_GET,
        [K_FLOOR_GET] = K_FLOOR_GET, [K_TIER_GET_BATCH] = K_FLOOR_GET, [K_TIER_PUT_BATCH] = K_FLOOR_SET,
        [K_FLOOR_GET_BATCH] = K_FLOOR_GET,
    };
    double put_p50 = ratio(s[K_TIER_PUT].p50, s[K_FLOOR_SET].p50);
    double get_p50 = ratio(s[K_TIER_GET].p50, s[K_FLOOR_GET].p50);
    double put_mean = ratio(s[K_TIER_PUT].mean, s[K_FLOOR_SET].mean);
    double get_mean = ratio(s[K_TIER_GET].mean, s[K_FLOOR_GET].mean);
    double speedup_p50 = ratio(s[K_TIER_GET].p50, s[K_TIER_GET_BATCH].p50);
    double speedup_mean = ratio(s[K_TIER_GET].mean, s[K_TIER_GET_BATCH].mean);
    double floor_speedup_p50 = ratio(s[K_FLOOR_GET].p50, s[K_FLOOR_GET_BATCH].p50);

    if (b->opt.json) {
        printf("{\"plugin\":\"%s\",\"server\":\"%s\",\"servers\":\"%s\",\"page_size\":%u,\"batch\":%u,"
               "\"ops\":%" PRIu64 ",\"batches\":%" PRIu64 ",\"rounds\":%" PRIu64 ",\"keys\":%" PRIu64,
               b->ops->name, b->server, b->opt.servers, PAGE_SIZE, BATCH, b->opt.ops, batches, rounds,
               b->opt.keys);
        for (unsigned k = 0; k < K_COUNT; k++)
            printf(",\"%s\":{\"p50_us\":%.3f,\"p99_us\":%.3f,\"mean_us\":%.3f,\"samples\":%zu}", kind_json[k],
                   s[k].p50, s[k].p99, s[k].mean, s[k].samples);
        printf(",\"put_ratio_p50\":%.4f,\"get_ratio_p50\":%.4f,\"put_ratio_mean\":%.4f,\"get_ratio_mean\":%.4f,"
               "\"batch_speedup_p50\":%.4f,\"batch_speedup_mean\":%.4f,\"floor_batch_speedup_p50\":%.4f,"
               "\"verified_pages\":%" PRIu64 "}\n",
               put_p50, get_p50, put_mean, get_mean, speedup_p50, speedup_mean, floor_speedup_p50, b->verified);
        return;
    }

    char labels[K_COUNT][64];
    snprintf(labels[K_TIER_PUT], 64, "tier put");
    snprintf(labels[K_FLOOR_SET], 64, "floor %s", kv_floor_set_name(b->floor));
    snprintf(labels[K_TIER_GET], 64, "tier get");
    snprintf(labels[K_FLOOR_GET], 64, "floor %s", kv_floor_get_name(b->floor));
    snprintf(labels[K_TIER_GET_BATCH], 64, "tier get_batch %u, per page", BATCH);
    snprintf(labels[K_TIER_PUT_BATCH], 64, "tier put_batch %u, per page", BATCH);
    snprintf(labels[K_FLOOR_GET_BATCH], 64, "floor %s %u, per page", kv_floor_batch_name(b->floor), BATCH);
    printf("tierpage-kv-bench: %s tier (%s) beside the floor on %s, %u-byte pages\n", b->ops->name, b->opt.servers,
           b->server, PAGE_SIZE);
    printf("%" PRIu64 " single operations and %" PRIu64 " batches of %u of each kind, interleaved in %" PRIu64
           " rounds; %" PRIu64 " pages a side\n\n",
           b->opt.ops, batches, BATCH, rounds, b->opt.keys);
    printf("%-34s %9s %9s %9s %9s %10s  %s\n", "operation", "p50 us", "p99 us", "mean us", "x floor", "x floor",
           "floor");
    printf("%-34s %9s %9s %9s %9s %10s\n", "", "", "", "", "(p50)", "(mean)");
    for (unsigned k = 0; k < K_COUNT; k++) {
        enum kind f = floor_of[k];
        printf("%-34s %9.2f %9.2f %9.2f", labels[k], s[k].p50, s[k].p99, s[k].mean);
        if ((enum kind)k == f)
            printf("\n");
        else
            printf(" %9.2f %10.2f  %s\n", ratio(s[k].p50, s[f].p50), ratio(s[k].mean, s[f].mean), labels[f]);
    }
    printf("\nsingle pages, tier / floor: put %.2fx, get %.2fx (p50); put %.2fx, get %.2fx (mean); "
           "goal <= 1.2x: %s\n",
           put_p50, get_p50, put_mean, get_mean, put_p50 <= 1.2 && get_p50 <= 1.2 ? "met" : "not met");
    printf("batch speed-up, tier get / tier get_batch per page: %.1fx (p50), %.1fx (mean); goal >= 5x: %s\n",
           speedup_p50, speedup_mean, speedup_p50 >= 5 ? "met" : "not met");
    printf("the floor's own speed-up, %s / %s %u per page: %.1fx (p50)\n", kv_floor_get_name(b->floor),
           kv_floor_batch_name(b->floor), BATCH, floor_speedup_p50);
    printf("verified: %" PRIu64 " pages read back, every byte as written\n", b->verified);
}

int main(int argc, char **argv)
{
    static struct bench b;
    parse_args(argc, argv, &b.opt);
    setup(&b);

    uint64_t rounds = (b.opt.ops + SINGLES_PER_ROUND - 1) / SINGLES_PER_ROUND;
    for (uint64_t r = 0; r < WARMUP_ROUNDS; r++)
        run_round(&b, r, SINGLES_PER_ROUND);
    b.record = true;
    uint64_t left = b.opt.ops;
    for (uint64_t r = 0; r < rounds; r++) {
        unsigned singles = left < SINGLES_PER_ROUND ? (unsigned)left : SINGLES_PER_ROUND;
        run_round(&b, r, singles);
        left -= singles;
    }
    b.record = false;

    report(&b, rounds, rounds);
    teardown(&b);
    return 0;
}
