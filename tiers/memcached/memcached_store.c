/* memcached: pages in one or more memcached servers. Gets and puts go
 * through mc_conn.h (the text protocol, pipelined); the rest through
 * libmemcached.
 *
 * Each page is an item keyed "tp:<namespace>:<instance>:<page key in hex>",
 * or "tp:<namespace>:<page key in hex>" with namespace: exclusive (mc_key.h,
 * ns_keys.h), so stacks that share servers never see each other's pages;
 * mc_lease.h holds the lease that says the instance runs, and the sweep of
 * the pages of instances that stopped without closing. The tier's own
 * ketama ring places a page on the first `replicas` servers in service that
 * its key's walk meets; a put writes every copy before it answers and the
 * page map (mc_pagemap.h) records the servers that acknowledged it; a get
 * reads those servers' copies in ring order until one has the page, a
 * delete removes every copy.
 *
 * Every put stores a generation in its copies' memcached flags, and the
 * page map keeps the generation of the page's last put. A get takes a copy
 * only when its flags are that generation: a copy with other flags is an
 * older put that a server carried out late (sent on a connection the tier
 * gave up when the server stopped answering, and read by the server once
 * it ran again, after the page was put there anew), and is treated as a
 * copy missing on that server. Generations come from one counter per open
 * store, 1 to 2^32-1 and round again (0 is never used).
 *
 * Servers leave service when their connection fails (mc_server.h) and come
 * back when they answer the prober again (mc_revive.h); a page whose
 * copies are all on servers out of service fails its get with a transient
 * error meanwhile, which the core retries. Before a server comes back, the
 * copies it holds of pages deleted or moved while it was out are deleted
 * (drop_left_behind).
 *
 * A put is acknowledged by every server it went to (no NOREPLY): the core
 * frees a page as soon as the put returns. A server that refuses a put for
 * memory (memcached -M) makes the put -ENOSPC, so the core demotes further
 * down the chain; a server that evicts instead would lose pages, so run
 * memcached with -M.
 *
 * Locking: the store's mutex guards the page map, the count of puts in
 * flight, the last generation, the stale copies' count and the pages left
 * behind; every round trip happens outside it, on a connection taken from
 * the server's pool. */
#include <errno.h>
#include <inttypes.h>
#include <libmemcached/memcached.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hash_ring.h"
#include "mc_key.h"
#include "mc_lease.h"
#include "mc_pagemap.h"
#include "mc_revive.h"
#include "ns_keys.h"
#include "mc_server.h"
#include "reply_wait.h"
#include "server_options.h"
#include "tierpage_store.h"

#define MC_DEFAULT_PORT 11211
#define MC_DEFAULT_TIMEOUT_MS 1000u
#define MC_PROBE_LIMIT_MS 600000u  /* probe_ms and probe_max_ms: at most 10 minutes */

/* Pages of which a server out of service may still hold a copy no longer
 * wanted: a delete or a move skipped it, or a put to it timed out. Their
 * keys, 8 bytes each, kept only while the server is out. */
struct left_behind {
    uint64_t *keys;
    size_t count, cap;
};

struct mc_store {
    struct ns_keys ns;
    char namespace_name[MC_NAMESPACE_MAX + 1]; /* what mc_page_key puts between "tp:" and the page: "<ns>:<instance>" */
    struct mc_lease lease;
    struct ns_heartbeat *heartbeat; /* renews the lease while open */
    struct mc_revive *revive;       /* brings servers that left service back */
    uint64_t lease_lost_reported;   /* the prober's: servers where another stack's lease was reported */
    size_t page_size;
    unsigned replicas;
    struct mc_server *servers;
    size_t server_count;
    struct hash_ring ring;
    uint64_t capacity_pages;        /* from the tier's capacity; 0 when none was given */
    uint64_t server_capacity_bytes; /* the servers' limit_maxbytes summed, over replicas; 0 when unknown */

    pthread_mutex_t lock;
    struct mc_pagemap pages;        /* pages this instance holds, their servers and generations */
    struct left_behind *left_behind; /* one a server (drop_left_behind) */
    uint64_t puts_in_flight;        /* new keys being put: room already promised to them */
    uint32_t last_gen;              /* the generation the last put took */
    uint64_t stale_copies;          /* copies found holding an older generation than their page's */
    /* Opened to recover a killed pager's stack (params->recovering), and
     * not cleared since: the servers hold its pages under this instance,
     * though the page map, the dead process's, is gone. A page the map
     * lacks is then looked for on the servers, in ring order, its copy
     * taken whatever its generation; a delete of one goes to every server.
     * Read and written under lock. */
    int recovering;
};

/* ---------------------------------------------------------------- options */

struct mc_options {
    struct server_options common;
    uint64_t lease_ms;
    uint64_t reply_spin_us;
    uint64_t probe_ms, probe_max_ms; /* the prober's back-off (mc_revive.h) */
};

static int parse_options(const tierpage_store_params *params, struct mc_options *o, tierpage_error *err)
{
    const tierpage_host *host = params->host;
    *o = (struct mc_options){ { NULL, 1, MC_DEFAULT_TIMEOUT_MS, MC_DEFAULT_TIMEOUT_MS }, NS_LEASE_DEFAULT_MS,
                              REPLY_SPIN_US_DEFAULT, MC_PROBE_DEFAULT_MS, MC_PROBE_MAX_DEFAULT_MS };
    int rc = 0;
    for (size_t i = 0; i < params->option_count && rc == 0; i++) {
        const char *key = params->options[i].key, *value = params->options[i].value;
        if ((rc = server_option(host, key, value, MC_MAX_SERVERS, &o->common, err)) != SERVER_OPTION_OTHER)
            continue;
        if (strcmp(key, "lease_ms") == 0)
            rc = host->parse_duration_ms(key, value, NS_LEASE_MIN_MS, NS_LEASE_MAX_MS, &o->lease_ms, err);
        else if (strcmp(key, "reply_spin_us") == 0)
            rc = host->parse_uint(key, value, 0, REPLY_SPIN_US_MAX, &o->reply_spin_us, err);
        else if (strcmp(key, "probe_ms") == 0)
            rc = host->parse_duration_ms(key, value, 1, MC_PROBE_LIMIT_MS, &o->probe_ms, err);
        else if (strcmp(key, "probe_max_ms") == 0)
            rc = host->parse_duration_ms(key, value, 1, MC_PROBE_LIMIT_MS, &o->probe_max_ms, err);
        else
            rc = tierpage_error_set(err, -EINVAL, key,
                                    "memcached: unknown option '%s' (memcached takes servers, replicas, "
                                    "connect_timeout_ms, io_timeout_ms, reply_spin_us, lease_ms, probe_ms, "
                                    "probe_max_ms and capacity)", key);
    }
    if (rc == 0 && o->probe_max_ms < o->probe_ms)
        rc = tierpage_error_set(err, -EINVAL, "probe_max_ms", "memcached: probe_max_ms (%" PRIu64 " ms) is less "
                                "than probe_ms (%" PRIu64 " ms): the wait between probes only grows",
                                o->probe_max_ms, o->probe_ms);
    if (rc == 0 && !o->common.servers)
        rc = tierpage_error_set(err, -EINVAL, "servers",
                                "memcached: servers is required: a list of host:port or unix socket paths");
    return rc;
}

/* One mc_server per entry of the servers option. */
static int parse_servers(struct mc_store *s, const tierpage_host *host, const struct mc_options *o,
                         tierpage_error *err)
{
    tierpage_server *list = calloc(MC_MAX_SERVERS, sizeof *list);
    size_t count = 0;
    if (!list)
        return tierpage_error_set(err, -ENOMEM, NULL, "memcached: out of memory");
    int rc = host->parse_servers("servers", o->common.servers, MC_DEFAULT_PORT, TIERPAGE_SERVERS_UNIX, list,
                                 MC_MAX_SERVERS, &count, err);
    if (rc == 0 && !(s->servers = calloc(count, sizeof *s->servers)))
        rc = tierpage_error_set(err, -ENOMEM, NULL, "memcached: out of memory");
    for (size_t i = 0; rc == 0 && i < count; i++) {
        mc_server_init(&s->servers[i], &list[i], (unsigned)o->common.connect_timeout_ms,
                       (unsigned)o->common.io_timeout_ms, (unsigned)o->reply_spin_us, host);
        s->server_count++;
    }
    free(list);
    return rc;
}

/* ------------------------------------------------------------ open, close */

static void drop_own_pages(struct mc_store *s);

static void mc_close(void *store)
{
    struct mc_store *s = store;
    if (!s)
        return;
    /* The prober first: a server it took back now would get the lease the
     * close releases. */
    mc_revive_stop(s->revive);
    if (s->heartbeat) {
        ns_heartbeat_stop(s->heartbeat);
        /* A lost lease leaves the keys alone: with namespace: exclusive
         * they are the next holder's now. */
        if (!__atomic_load_n(&s->lease.clock.lost, __ATOMIC_ACQUIRE))
            drop_own_pages(s);
        mc_lease_release(&s->lease);
    }
    for (size_t i = 0; i < s->server_count; i++)
        mc_server_destroy(&s->servers[i]);
    free(s->servers);
    hash_ring_free(&s->ring);
    mc_pagemap_free(&s->pages);
    for (size_t i = 0; s->left_behind && i < s->server_count; i++)
        free(s->left_behind[i].keys);
    free(s->left_behind);
    pthread_mutex_destroy(&s->lock);
    lease_clock_destroy(&s->lease.clock);
    free(s);
}

static int drop_left_behind(struct mc_store *s, struct mc_server *srv);

/* The prober's last step before a server goes back into service: this
 * instance's lease on it, which may have run out meanwhile, then the
 * copies it holds that are no longer wanted. A server where another stack
 * took the namespace stays out (its pages there may be gone, and with
 * namespace: exclusive the other stack writes the same keys). */
static int lease_again(void *store, struct mc_server *srv)
{
    struct mc_store *s = store;
    pthread_mutex_lock(&s->lease.clock.lock);
    int rc = mc_lease_claim(&s->lease, srv);
    pthread_mutex_unlock(&s->lease.clock.lock);
    uint64_t bit = 1ull << (srv - s->servers);
    if (rc == -EBUSY && !(s->lease_lost_reported & bit))
        tierpage_log(s->lease.host, TIERPAGE_LOG_WARNING, "memcached: %s answers again, but another stack holds "
                     "namespace '%s' there now: it stays out of service", srv->name, s->ns.name);
    s->lease_lost_reported = rc == -EBUSY ? s->lease_lost_reported | bit : s->lease_lost_reported & ~bit;
    return rc ? rc : drop_left_behind(s, srv);
}

static int mc_open(const tierpage_store_params *params, void **store, tierpage_error *err)
{
    *store = NULL;
    if (!TIERPAGE_HOST_HAS(params->host, parse_servers))
        return tierpage_error_set(err, -EPROTO, NULL, "memcached: the host gave no option parsers");
    struct mc_options o;
    int rc = parse_options(params, &o, err);
    if (rc)
        return rc;
    if (params->page_size == 0)
        return tierpage_error_set(err, -EINVAL, NULL, "memcached: page size must be greater than 0");

    struct mc_store *s = calloc(1, sizeof *s);
    if (!s)
        return tierpage_error_set(err, -ENOMEM, NULL, "memcached: out of memory");
    pthread_mutex_init(&s->lock, NULL);
    mc_pagemap_init(&s->pages);
    s->recovering = params->host->version >= 4 && params->recovering;
    lease_clock_init(&s->lease.clock, (unsigned)o.lease_ms, MC_MAX_SERVERS, 0);
    if ((rc = ns_keys_init(&s->ns, params, "memcached", err)))
        goto fail;
    if (s->ns.exclusive)
        snprintf(s->namespace_name, sizeof s->namespace_name, "%s", s->ns.name);
    else
        snprintf(s->namespace_name, sizeof s->namespace_name, "%s:%s", s->ns.name, s->ns.instance);
    s->page_size = params->page_size;
    s->replicas = (unsigned)o.common.replicas;
    s->capacity_pages = params->capacity / params->page_size;
    if (params->capacity && s->capacity_pages == 0) {
        rc = tierpage_error_set(err, -EINVAL, "capacity", "memcached: capacity %" PRIu64
                                " bytes is less than one page of %zu bytes", params->capacity, params->page_size);
        goto fail;
    }

    if ((rc = parse_servers(s, params->host, &o, err)))
        goto fail;
    if (!(s->left_behind = calloc(s->server_count, sizeof *s->left_behind))) {
        rc = tierpage_error_set(err, -ENOMEM, NULL, "memcached: out of memory");
        goto fail;
    }
    if (s->replicas > s->server_count) {
        rc = tierpage_error_set(err, -EINVAL, "replicas", "memcached: replicas: %u copies of each page need at "
                                "least %u servers, and servers lists %zu", s->replicas, s->replicas, s->server_count);
        goto fail;
    }

    const char *names[MC_MAX_SERVERS];
    for (size_t i = 0; i < s->server_count; i++)
        names[i] = s->servers[i].name;
    if ((rc = hash_ring_build(&s->ring, names, s->server_count))) {
        tierpage_error_set(err, rc, NULL, "memcached: cannot build the hash ring");
        goto fail;
    }

    /* Every server must answer now: a stack that starts on a dead server
     * would fail at its first put instead, far from the cause. */
    uint64_t limit_sum = 0;
    int limits_known = 1;
    for (size_t i = 0; i < s->server_count; i++) {
        uint64_t limit;
        if ((rc = mc_server_probe(&s->servers[i], &limit, err)))
            goto fail;
        limit_sum += limit;
        limits_known &= limit > 0;
    }
    s->server_capacity_bytes = limits_known ? limit_sum / s->replicas : 0;

    s->lease.servers = s->servers;
    s->lease.server_count = s->server_count;
    s->lease.ns = &s->ns;
    s->lease.lease_ms = (unsigned)o.lease_ms;
    s->lease.host = params->host;
    if ((rc = mc_lease_take(&s->lease, s->recovering, err)))
        goto fail;
    if (!(s->heartbeat = ns_heartbeat_start(params->host, (unsigned)o.lease_ms / 3, mc_lease_renew, &s->lease))) {
        mc_lease_release(&s->lease);
        rc = tierpage_error_set(err, -ENOMEM, NULL, "memcached: cannot start the thread that renews the lease");
        goto fail;
    }
    struct mc_revive_params revive = { .host = params->host, .servers = s->servers, .server_count = s->server_count,
                                       .first_ms = (unsigned)o.probe_ms, .max_ms = (unsigned)o.probe_max_ms,
                                       .before_return = lease_again, .arg = s };
    if (!(s->revive = mc_revive_start(&revive))) {
        rc = tierpage_error_set(err, -ENOMEM, NULL, "memcached: cannot start the thread that probes failed servers");
        goto fail;
    }
    *store = s;
    return 0;
fail:
    mc_close(s);
    return rc;
}

/* Every server of the store (bit i: servers[i]). */
static uint64_t all_servers(const struct mc_store *s)
{
    return s->server_count >= 64 ? ~0ull : (1ull << s->server_count) - 1;
}

/* ------------------------------------------------------------------- gets */

struct get_job {
    uint64_t key;
    char mkey[MC_KEY_MAX + 1];
    size_t mkey_len;
    uint64_t held;       /* the servers that hold its copies (mc_pagemap.h) */
    uint32_t gen;        /* the generation of its last put: what a current copy's flags hold */
    uint64_t stale_on;   /* servers whose copy held another generation */
    uint32_t order[MC_MAX_SERVERS]; /* those servers, in the order its ring walk meets them */
    size_t order_len;
    size_t pos;          /* next server of order to ask */
    unsigned asked;      /* servers in service asked so far */
    int skipped;         /* first server out of service that holds a copy, or -1 */
    int failure;         /* first failure of a server asked, 0 when none */
    int next;            /* server asked this round, or -1 */
};

#define GET_PENDING 1

/* What a get's replies are matched against: the jobs asked of one server. */
struct get_round {
    struct mc_store *store;
    struct mc_server *srv;
    struct get_job *jobs;
    const size_t *index;  /* the jobs asked, in the order asked */
    size_t n;
    void *const *pages;
    int *results;
    tierpage_error *first_err;
    size_t expect; /* where in `index` the next reply is looked for first */
};

static void got_item(void *ctx, const char *rkey, size_t rkey_len, uint32_t flags, const void *value,
                     size_t value_len)
{
    struct get_round *g = ctx;
    uint64_t key;
    if (mc_page_key_parse(rkey, rkey_len, &key))
        return;
    /* The server answers in the order asked, skipping misses: the search
     * starts after the last reply's job, so a batch is matched in one pass.
     * A key asked twice is answered twice, each reply for one job. */
    for (size_t j = 0; j < g->n; j++) {
        size_t k = (g->expect + j) % g->n;
        struct get_job *job = &g->jobs[g->index[k]];
        if (job->key != key || g->results[g->index[k]] != GET_PENDING || job->mkey_len != rkey_len ||
            memcmp(job->mkey, rkey, rkey_len) != 0)
            continue;
        g->expect = k + 1;
        if (value_len != g->store->page_size) {
            tierpage_error err;
            job->failure = tierpage_error_set(&err, -EIO, NULL, "memcached: %s: page %016" PRIx64
                                              " came back with %zu bytes, expected %zu", g->srv->name, key,
                                              value_len, g->store->page_size);
            if (!g->first_err->message[0])
                *g->first_err = err;
            return;
        }
        if (job->gen && flags != job->gen) {
            /* An older put, stored late: as if the server had no copy. */
            job->stale_on |= 1ull << (g->srv - g->store->servers);
            return;
        }
        memcpy(g->pages[g->index[k]], value, value_len);
        g->results[g->index[k]] = 0;
        if (!job->gen) { /* found while recovering: the map knows it from now on */
            struct mc_store *st = g->store;
            pthread_mutex_lock(&st->lock);
            /* Room for it beside the puts in flight, whose room is promised. */
            if (mc_pagemap_reserve(&st->pages, (size_t)(st->pages.count + st->puts_in_flight) + 1) == 0)
                mc_pagemap_set(&st->pages, key, 1ull << (g->srv - st->servers), flags);
            pthread_mutex_unlock(&st->lock);
        }
        return;
    }
}

/* Asks one server for the pages of the jobs whose `next` is `server`. */
static void get_from_server(struct mc_store *s, uint32_t server, struct get_job *jobs, size_t count,
                            void *const *pages, int *results, tierpage_error *first_err)
{
    struct mc_server *srv = &s->servers[server];
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        n += results[i] == GET_PENDING && jobs[i].next == (int)server;
    /* A fault asks for one page: no allocation for it. */
    const char *one_key[1];
    size_t one_len[1], one_index[1];
    const char **keys = n == 1 ? one_key : malloc(n * sizeof *keys);
    size_t *lens = n == 1 ? one_len : malloc(n * sizeof *lens);
    size_t *index = n == 1 ? one_index : malloc(n * sizeof *index);
    tierpage_error err = { { 0 }, { 0 } };
    struct mc_conn *conn = NULL;
    int rc = 0;
    int failure = 0;

    if (!keys || !lens || !index) {
        failure = tierpage_error_set(&err, -ENOMEM, NULL, "memcached: out of memory");
        goto out;
    }
    n = 0;
    for (size_t i = 0; i < count; i++) {
        if (results[i] == GET_PENDING && jobs[i].next == (int)server) {
            keys[n] = jobs[i].mkey;
            lens[n] = jobs[i].mkey_len;
            index[n++] = i;
        }
    }
    if ((failure = mc_server_take_conn(srv, "get", &conn, &err)))
        goto out;
    struct get_round round = { s, srv, jobs, index, n, pages, results, first_err, 0 };
    rc = mc_conn_get(conn, n, keys, lens, got_item, &round);
    if (rc < 0)
        failure = mc_server_fail_conn(srv, conn, rc, "get", &err);
out:
    if (conn)
        mc_server_give_conn(srv, conn, rc);
    /* Pages this server did not return: the next copy's server is asked.
     * Found again by their server, since `index` may be the allocation that failed. */
    for (size_t i = 0; i < count; i++) {
        struct get_job *job = &jobs[i];
        if (results[i] != GET_PENDING || job->next != (int)server)
            continue;
        job->pos++;
        job->asked++;
        if (failure && !job->failure)
            job->failure = failure;
    }
    if (failure && !first_err->message[0])
        *first_err = err;
    if (keys != one_key) {
        free(keys);
        free(lens);
        free(index);
    }
}

/* The first server of `servers` (bit i: servers[i]). */
static const char *first_server_name(const struct mc_store *s, uint64_t servers)
{
    return s->servers[__builtin_ctzll(servers)].name;
}

/* A page no server in service returned: the error to give for it. A
 * server's failure has its message in the batch's first error already. */
static int get_missing(struct mc_store *s, struct get_job *job, tierpage_error *err)
{
    if (job->failure)
        return job->failure;
    if (job->skipped >= 0)
        return tierpage_error_set(err, -EIO, NULL, "memcached: page %016" PRIx64 " is on no server in service; "
                                  "a copy is on %s, out of service since it failed (probed until it answers)",
                                  job->key, s->servers[job->skipped].name);
    if (job->stale_on)
        return tierpage_error_set(err, -ENOENT, NULL, "memcached: page %016" PRIx64 " has no current copy: "
                                  "generation %" PRIu32 " is on none of the %u server(s) that should hold it; %d "
                                  "of them (%s first) hold an older one, a write that timed out and was carried "
                                  "out late", job->key, job->gen, job->asked, __builtin_popcountll(job->stale_on),
                                  first_server_name(s, job->stale_on));
    return tierpage_error_set(err, -ENOENT, NULL, "memcached: page %016" PRIx64 " is on none of the %u server(s) "
                              "that should hold it (did a server restart or evict it? run memcached with -M)",
                              job->key, job->asked);
}

/* Every server, in the order the item key's walk round the ring meets them. */
static size_t ring_order(const struct mc_store *s, const char *mkey, size_t mkey_len, uint32_t *order)
{
    return hash_ring_lookup(&s->ring, hash_ring_hash(mkey, mkey_len), order, MC_MAX_SERVERS);
}

/* The servers of `held` (bit i: servers[i]), in the order the item key's
 * walk meets them. */
static size_t held_order(const struct mc_store *s, const char *mkey, size_t mkey_len, uint64_t held,
                         uint32_t *order)
{
    uint32_t all[MC_MAX_SERVERS];
    size_t n = ring_order(s, mkey, mkey_len, all), found = 0;
    for (size_t i = 0; i < n; i++)
        if (held & (1ull << all[i]))
            order[found++] = all[i];
    return found;
}

/* A batch on a store whose lease is lost: every page fails so. */
static int lease_refuses(struct mc_store *s, size_t count, int *results, tierpage_error *err)
{
    int held = mc_lease_check(&s->lease, err);
    for (size_t i = 0; held < 0 && i < count; i++)
        results[i] = held;
    return held;
}

/* The log says where a get found an older copy of the page. When another
 * server had the current one, the servers of the older copies are no
 * longer asked for the page (until its next put), so each is logged once;
 * a page with no current copy keeps them, for the message of its next get. */
static void report_stale_copies(struct mc_store *s, const struct get_job *job, int found)
{
    pthread_mutex_lock(&s->lock);
    if (found)
        mc_pagemap_forget_copies(&s->pages, job->key, job->gen, job->stale_on);
    s->stale_copies += (uint64_t)__builtin_popcountll(job->stale_on);
    uint64_t seen = s->stale_copies;
    pthread_mutex_unlock(&s->lock);
    for (uint64_t left = job->stale_on; left; left &= left - 1)
        tierpage_log(s->lease.host, TIERPAGE_LOG_WARNING, "memcached: %s: page %016" PRIx64 ": the copy there is "
                     "older than generation %" PRIu32 ", the page's last put (a write that timed out, carried out "
                     "late): not read (%" PRIu64 " stale copies found so far)",
                     first_server_name(s, left), job->key, job->gen, seen);
}

static int mc_get_batch(void *store, size_t count, const uint64_t *keys, void *const *pages, int *results,
                        tierpage_error *err)
{
    struct mc_store *s = store;
    tierpage_error first_err = { { 0 }, { 0 } };
    int first = 0;
    if (count == 0)
        return 0;
    if ((first = lease_refuses(s, count, results, err)) < 0)
        return first;
    struct get_job *jobs = malloc(count * sizeof *jobs);
    if (!jobs) {
        for (size_t i = 0; i < count; i++)
            results[i] = -ENOMEM;
        return tierpage_error_set(err, -ENOMEM, NULL, "memcached: out of memory");
    }

    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < count; i++) {
        jobs[i].held = 0;
        jobs[i].gen = 0;
        results[i] = mc_pagemap_get(&s->pages, keys[i], &jobs[i].held, &jobs[i].gen) ? GET_PENDING : -ENOENT;
        if (results[i] != GET_PENDING && s->recovering) {
            jobs[i].held = all_servers(s); /* generation 0: any copy found is taken */
            results[i] = GET_PENDING;
        }
    }
    pthread_mutex_unlock(&s->lock);
    for (size_t i = 0; i < count; i++) {
        struct get_job *job = &jobs[i];
        job->key = keys[i];
        job->pos = job->asked = 0;
        job->skipped = -1;
        job->failure = 0;
        job->stale_on = 0;
        if (results[i] != GET_PENDING) {
            if (!first_err.message[0])
                tierpage_error_set(&first_err, -ENOENT, NULL, "memcached: page %016" PRIx64 " is not in this tier",
                                   keys[i]);
            continue;
        }
        job->mkey_len = (size_t)mc_page_key(job->mkey, sizeof job->mkey, s->namespace_name, keys[i]);
        job->order_len = held_order(s, job->mkey, job->mkey_len, job->held, job->order);
    }

    /* Rounds: each pending page names the next server in service that
     * holds a copy; each server is asked once per round, for all its pages
     * at once. */
    for (;;) {
        int any = 0;
        for (size_t i = 0; i < count; i++) {
            struct get_job *job = &jobs[i];
            if (results[i] != GET_PENDING)
                continue;
            job->next = -1;
            while (job->pos < job->order_len) {
                uint32_t srv = job->order[job->pos];
                if (mc_server_in_service(&s->servers[srv])) {
                    job->next = (int)srv;
                    break;
                }
                if (job->skipped < 0)
                    job->skipped = (int)srv;
                job->pos++;
            }
            if (job->next < 0) {
                tierpage_error e = { { 0 }, { 0 } };
                results[i] = get_missing(s, job, &e);
                if (!first_err.message[0])
                    first_err = e;
            } else
                any = 1;
        }
        if (!any)
            break;
        unsigned char asked[MC_MAX_SERVERS] = { 0 };
        for (size_t i = 0; i < count; i++) {
            if (results[i] != GET_PENDING || asked[jobs[i].next])
                continue;
            asked[jobs[i].next] = 1;
            get_from_server(s, (uint32_t)jobs[i].next, jobs, count, pages, results, &first_err);
        }
    }
    /* A page this instance put and no server holds: when the lease ran
     * out meanwhile (this process was stalled while the get was on its
     * way), another stack may have removed it; say that, not "missing". */
    int missing = 0;
    for (size_t i = 0; i < count; i++)
        missing |= results[i] == -ENOENT && jobs[i].held;
    if (missing && lease_refuses(s, 0, results, &first_err) < 0)
        for (size_t i = 0; i < count; i++)
            results[i] = results[i] == -ENOENT && jobs[i].held ? -ESTALE : results[i];
    for (size_t i = 0; i < count; i++) {
        if (jobs[i].stale_on)
            report_stale_copies(s, &jobs[i], results[i] == 0);
        if (results[i] && !first) {
            first = results[i];
            if (err)
                *err = first_err;
        }
    }
    free(jobs);
    return first;
}

static int mc_get(void *store, uint64_t key, void *page, tierpage_error *err)
{
    int result;
    void *const pages[1] = { page };
    return mc_get_batch(store, 1, &key, pages, &result, err);
}

/* ------------------------------------------------------------ puts, deletes */

/* The generation of a put about to be written: one more than the last,
 * after 2^32-1 round to 1 (0 is never used: no put stored a copy with no
 * flags). A stale copy could pass for the current one only if it was put
 * exactly a multiple of 2^32-1 puts of this store before the page's
 * current put, and stored late after it. Called with s->lock held. */
static uint32_t next_generation(struct mc_store *s)
{
    if (++s->last_gen == 0)
        s->last_gen = 1;
    return s->last_gen;
}

/* The servers where a put places the page's copies: the first `replicas`
 * in service of its walk. */
static size_t copy_servers(struct mc_store *s, const char *mkey, size_t mkey_len, uint32_t *out)
{
    uint32_t order[MC_MAX_SERVERS];
    size_t n = ring_order(s, mkey, mkey_len, order), found = 0;
    for (size_t i = 0; i < n && found < s->replicas; i++)
        if (mc_server_in_service(&s->servers[order[i]]))
            out[found++] = order[i];
    return found;
}

/* Adds the page to the server's left_behind, best effort: a key it cannot
 * hold leaves a copy on the server (memory, never read as data). Called
 * with s->lock held. */
static void left_behind_add(struct mc_store *s, size_t server, uint64_t key)
{
    struct left_behind *lb = &s->left_behind[server];
    if (lb->count == lb->cap) {
        size_t cap = lb->cap ? lb->cap * 2 : 64;
        uint64_t *grown = realloc(lb->keys, cap * sizeof *grown);
        if (!grown)
            return;
        lb->keys = grown;
        lb->cap = cap;
    }
    lb->keys[lb->count++] = key;
}

/* A copy of the page on a server out of service cannot be deleted now: it
 * is, once the server comes back. */
static void leave_behind(struct mc_store *s, size_t server, uint64_t key)
{
    pthread_mutex_lock(&s->lock);
    left_behind_add(s, server, key);
    pthread_mutex_unlock(&s->lock);
}

/* Deletes the copies on the servers of `servers` (bit i: servers[i]) that
 * are in service; those out of service delete theirs when they come back
 * (drop_left_behind). 0 when none failed, whether or not any was there; a
 * server that fails here leaves service, and since the page map no longer
 * names it for the page, its copy is never read: only other failures
 * count. */
static int delete_copies(struct mc_store *s, uint64_t key, const char *mkey, size_t mkey_len, uint64_t servers,
                         tierpage_error *err)
{
    int rc = 0;
    for (size_t i = 0; i < s->server_count; i++) {
        struct mc_server *srv = &s->servers[i];
        if (!(servers & (1ull << i)))
            continue;
        if (!mc_server_in_service(srv)) {
            leave_behind(s, i, key);
            continue;
        }
        tierpage_error e;
        memcached_st *m = mc_server_take(srv, &e);
        if (!m) {
            if (!rc)
                rc = -ENOMEM, *err = e;
            continue;
        }
        memcached_return_t mrc = memcached_delete(m, mkey, mkey_len, 0);
        if (mrc != MEMCACHED_SUCCESS && mrc != MEMCACHED_NOTFOUND) {
            int code = mc_server_fail(srv, m, mrc, "delete", &e);
            if (mc_server_in_service(srv) && !rc)
                rc = code, *err = e;
            else if (!mc_server_in_service(srv))
                leave_behind(s, i, key);
        }
        mc_server_give(srv, m, mrc);
    }
    return rc;
}

/* After a put acknowledged on `held`: the copies left on the servers of
 * `prior` that no longer hold the page (it moved while one of its servers
 * was out of service, or back) go, best effort: the page map no longer
 * names them, so a copy left behind is never read. */
static void drop_moved_copies(struct mc_store *s, uint64_t key, const char *mkey, size_t mkey_len, uint64_t prior,
                              uint64_t held)
{
    tierpage_error ignored;
    if (prior & ~held)
        delete_copies(s, key, mkey, mkey_len, prior & ~held, &ignored);
}

/* Writes every copy; on success *held says which servers acknowledged one.
 * `prior` names the servers that may hold an older copy (the page map's,
 * and those a batch wrote before it failed): copies left there are
 * deleted once the new ones are written. An overwrite uses replace,
 * because memcached drops the old item when it refuses a set for memory
 * but keeps it when it refuses a replace; a copy missing on its server
 * (one that took another's place) is then set. On failure *intact says
 * whether the tier still holds the page as before: when no copy was
 * written and no server of `prior` failed under the write, nothing
 * changed; otherwise every copy that can be reached is deleted, so that no
 * server serves a page its replicas lack. Each copy carries `gen` in its
 * flags. */
static int put_copies(struct mc_store *s, uint64_t key, const void *page, uint32_t gen, uint64_t prior,
                      uint64_t *held, int *intact, tierpage_error *err)
{
    char mkey[MC_KEY_MAX + 1];
    size_t mkey_len = (size_t)mc_page_key(mkey, sizeof mkey, s->namespace_name, key);
    uint32_t order[MC_MAX_SERVERS];
    size_t n = ring_order(s, mkey, mkey_len, order);
    unsigned copies = 0;
    uint64_t written = 0;
    int prior_failed = 0;
    int rc = 0;
    tierpage_error last = { { 0 }, { 0 } };

    for (size_t i = 0; i < n && copies < s->replicas; i++) {
        struct mc_server *srv = &s->servers[order[i]];
        if (!mc_server_in_service(srv))
            continue;
        memcached_st *m = mc_server_take(srv, &last);
        if (!m) {
            rc = -ENOMEM;
            break;
        }
        memcached_return_t mrc = MEMCACHED_NOTSTORED;
        if (prior)
            mrc = memcached_replace(m, mkey, mkey_len, page, s->page_size, 0, gen);
        if (mrc == MEMCACHED_NOTSTORED)
            mrc = memcached_set(m, mkey, mkey_len, page, s->page_size, 0, gen);
        if (mrc == MEMCACHED_SUCCESS) {
            copies++;
            written |= 1ull << order[i];
        } else {
            int code = mc_server_fail(srv, m, mrc, prior ? "replace" : "set", &last);
            /* A server whose connection failed is out of service now: the
             * next server of the walk takes its place. Its old copy may
             * have been overwritten or not. */
            if (mc_server_in_service(srv)) {
                rc = code;
            } else {
                leave_behind(s, order[i], key); /* the timed-out write may still land */
                prior_failed |= (prior & (1ull << order[i])) != 0;
            }
        }
        mc_server_give(srv, m, mrc);
        if (rc)
            break;
    }
    if (rc == 0 && copies == 0) {
        /* The message quotes the last failure (from a copy, not from
         * itself), or names the first server of the walk, out of service
         * since an earlier call. */
        char cause[sizeof last.message + 128];
        if (last.message[0])
            snprintf(cause, sizeof cause, "; last failure: %s", last.message);
        else
            snprintf(cause, sizeof cause, "; %s is out of service since it failed (probed until it answers)",
                     n > 0 ? s->servers[order[0]].name : "every server");
        rc = tierpage_error_set(&last, -EHOSTDOWN, NULL, "memcached: no server in service to store page %016"
                                PRIx64 "%s", key, cause);
    }
    if (rc == 0) {
        *held = written;
        drop_moved_copies(s, key, mkey, mkey_len, prior, written);
        return 0;
    }
    *intact = copies == 0 && !prior_failed;
    if (!*intact) {
        tierpage_error ignored;
        delete_copies(s, key, mkey, mkey_len, prior | written, &ignored);
    }
    if (err)
        *err = last;
    return rc;
}

static int mc_put(void *store, uint64_t key, const void *page, tierpage_error *err)
{
    struct mc_store *s = store;
    uint64_t prior = 0;
    int leased = mc_lease_check(&s->lease, err);
    if (leased < 0)
        return leased;
    pthread_mutex_lock(&s->lock);
    int had = mc_pagemap_get(&s->pages, key, &prior, NULL);
    if (!had) {
        uint64_t promised = s->pages.count + s->puts_in_flight;
        if (s->capacity_pages && promised >= s->capacity_pages) {
            pthread_mutex_unlock(&s->lock);
            return tierpage_error_set(err, -ENOSPC, NULL, "memcached: the tier's capacity of %" PRIu64
                                      " pages is used", s->capacity_pages);
        }
        /* Room in the page map now, so that recording the put cannot fail. */
        if (mc_pagemap_reserve(&s->pages, (size_t)promised + 1)) {
            pthread_mutex_unlock(&s->lock);
            return tierpage_error_set(err, -ENOMEM, NULL, "memcached: out of memory for the page map");
        }
        s->puts_in_flight++;
    }
    uint32_t gen = next_generation(s);
    pthread_mutex_unlock(&s->lock);

    int intact = 1;
    uint64_t held = 0;
    int rc = put_copies(s, key, page, gen, prior, &held, &intact, err);

    pthread_mutex_lock(&s->lock);
    if (!had)
        s->puts_in_flight--;
    if (rc == 0)
        mc_pagemap_set(&s->pages, key, held, gen);
    else if (!intact)
        mc_pagemap_remove(&s->pages, key); /* a failed overwrite took the old copies with it */
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* One page of a pipelined batch of puts. */
struct put_job {
    uint64_t key;
    char mkey[MC_KEY_MAX + 1];
    size_t mkey_len;
    uint32_t servers[MC_MAX_SERVERS]; /* where its copies go */
    size_t server_count;
    unsigned written;   /* copies acknowledged */
    uint64_t written_on; /* their servers (bit i: servers[i]) */
    uint64_t prior;     /* the servers of its older copies (mc_pagemap.h), 0 for a new page */
    uint32_t gen;       /* the generation its copies carry */
    int refused;        /* a server's refusal (full, too large), 0 when none */
    int lost_server;    /* a server failed at the connection: the page takes the single-page path */
    int reserved;       /* a new key counted in puts_in_flight */
    tierpage_error why; /* the refusal's message */
};

/* Sends one server every copy it is to hold, pipelined (mc_conn_store). A
 * replace that finds no item is sent again as a set, pipelined too. */
static void put_to_server(struct mc_store *s, uint32_t server, struct put_job *jobs, size_t count,
                          const int *had, const void *const *pages, const int *results)
{
    struct mc_server *srv = &s->servers[server];
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        for (size_t k = 0; k < jobs[i].server_count && results[i] == 0; k++)
            n += jobs[i].servers[k] == server;
    if (n == 0)
        return;
    const char **verbs = malloc(n * sizeof *verbs), **keys = malloc(n * sizeof *keys);
    const void **values = malloc(n * sizeof *values);
    size_t *lens = malloc(n * sizeof *lens), *index = malloc(n * sizeof *index);
    uint32_t *gens = malloc(n * sizeof *gens);
    int *replies = malloc(n * sizeof *replies);
    struct mc_conn *conn = NULL;
    tierpage_error err = { { 0 }, { 0 } };
    int rc;
    if (!verbs || !keys || !values || !lens || !index || !gens || !replies) {
        rc = tierpage_error_set(&err, -ENOMEM, NULL, "memcached: out of memory");
        goto failed;
    }
    n = 0;
    for (size_t i = 0; i < count; i++) {
        for (size_t k = 0; k < jobs[i].server_count && results[i] == 0; k++) {
            if (jobs[i].servers[k] != server)
                continue;
            verbs[n] = had[i] ? "replace" : "set";
            keys[n] = jobs[i].mkey;
            lens[n] = jobs[i].mkey_len;
            gens[n] = jobs[i].gen;
            values[n] = pages[i];
            index[n++] = i;
        }
    }
    if ((rc = mc_server_take_conn(srv, "set", &conn, &err)))
        goto failed;
    if ((rc = mc_conn_store(conn, n, verbs, keys, lens, gens, values, s->page_size, replies)) == 0) {
        /* Replaces of items the server lacks (it took another's place): set them. */
        size_t again = 0;
        for (size_t j = 0; j < n; j++) {
            if (replies[j] != MC_NOT_STORED)
                continue;
            verbs[again] = "set";
            keys[again] = keys[j];
            lens[again] = lens[j];
            gens[again] = gens[j];
            values[again] = values[j];
            index[again++] = index[j];
        }
        int *first = malloc((again ? again : 1) * sizeof *first);
        if (again && !first) {
            rc = tierpage_error_set(&err, -ENOMEM, NULL, "memcached: out of memory");
        } else if (again) {
            rc = mc_conn_store(conn, again, verbs, keys, lens, gens, values, s->page_size, first);
            size_t k = 0;
            for (size_t j = 0; j < n && rc == 0; j++)
                if (replies[j] == MC_NOT_STORED)
                    replies[j] = first[k++];
        }
        free(first);
        if (again) {
            /* index[] was reused for the second round: build it again. */
            size_t m = 0;
            for (size_t i = 0; i < count; i++)
                for (size_t k = 0; k < jobs[i].server_count && results[i] == 0; k++)
                    if (jobs[i].servers[k] == server)
                        index[m++] = i;
        }
    }
    if (rc < 0 && rc != -ENOMEM)
        rc = mc_server_fail_conn(srv, conn, rc, "set", &err);
    mc_server_give_conn(srv, conn, rc);
    conn = NULL;
    if (rc < 0)
        goto failed;
    for (size_t j = 0; j < n; j++) {
        struct put_job *job = &jobs[index[j]];
        if (replies[j] == 0) {
            job->written++;
            job->written_on |= 1ull << server;
        } else if (!job->refused) {
            job->refused = replies[j] == MC_NOT_STORED ? -EIO : replies[j];
            if (job->refused == -ENOSPC)
                tierpage_error_set(&job->why, -ENOSPC, NULL, "memcached: %s: set: server out of memory (tier full)",
                                   srv->name);
            else if (job->refused == -E2BIG)
                tierpage_error_set(&job->why, -E2BIG, NULL, "memcached: %s: set: the page is larger than the "
                                   "server's item size limit (memcached -I)", srv->name);
            else
                tierpage_error_set(&job->why, -EIO, NULL, "memcached: %s: set: refused", srv->name);
        }
    }
    goto out;
failed:
    /* Nothing of this server's is known to be written: every page with a
     * copy here takes the single-page path (which skips the server now out
     * of service), or fails with the error when it was not the connection. */
    for (size_t i = 0; i < count; i++) {
        for (size_t k = 0; k < jobs[i].server_count && results[i] == 0; k++) {
            if (jobs[i].servers[k] != server)
                continue;
            if (!mc_server_in_service(srv)) {
                jobs[i].lost_server = 1;
                leave_behind(s, server, jobs[i].key); /* the timed-out write may still land */
            } else if (!jobs[i].refused) {
                jobs[i].refused = rc;
                jobs[i].why = err;
            }
        }
    }
out:
    free(verbs);
    free(keys);
    free(values);
    free(lens);
    free(index);
    free(gens);
    free(replies);
}

/* Pages go to their servers pipelined, one round trip per server and 64
 * pages (mc_conn_store; again for replaces that find their item missing)
 * instead of one per page. */
static int mc_put_batch(void *store, size_t count, const uint64_t *keys, const void *const *pages, int *results,
                        tierpage_error *err)
{
    struct mc_store *s = store;
    tierpage_error first_err = { { 0 }, { 0 } };
    int held = lease_refuses(s, count, results, err);
    if (held < 0)
        return held;
    struct put_job *jobs = calloc(count, sizeof *jobs);
    int *had = calloc(count, sizeof *had);
    if (!jobs || !had) {
        free(jobs);
        free(had);
        for (size_t i = 0; i < count; i++)
            results[i] = -ENOMEM;
        return tierpage_error_set(err, -ENOMEM, NULL, "memcached: out of memory");
    }

    /* Room for every new key first, as mc_put makes it; the servers of
     * every page already held. */
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < count; i++) {
        results[i] = 0;
        jobs[i].gen = next_generation(s);
        had[i] = mc_pagemap_get(&s->pages, keys[i], &jobs[i].prior, NULL);
        if (had[i])
            continue;
        uint64_t promised = s->pages.count + s->puts_in_flight;
        if (s->capacity_pages && promised >= s->capacity_pages)
            results[i] = tierpage_error_set(&jobs[i].why, -ENOSPC, NULL, "memcached: the tier's capacity of %"
                                            PRIu64 " pages is used", s->capacity_pages);
        else if (mc_pagemap_reserve(&s->pages, (size_t)promised + 1))
            results[i] = tierpage_error_set(&jobs[i].why, -ENOMEM, NULL, "memcached: out of memory for the page map");
        else
            s->puts_in_flight++, jobs[i].reserved = 1;
    }
    pthread_mutex_unlock(&s->lock);

    unsigned char used[MC_MAX_SERVERS] = { 0 };
    for (size_t i = 0; i < count; i++) {
        if (results[i])
            continue;
        struct put_job *job = &jobs[i];
        job->key = keys[i];
        job->mkey_len = (size_t)mc_page_key(job->mkey, sizeof job->mkey, s->namespace_name, keys[i]);
        job->server_count = copy_servers(s, job->mkey, job->mkey_len, job->servers);
        for (size_t k = 0; k < job->server_count; k++)
            used[job->servers[k]] = 1;
        if (job->server_count == 0)
            job->lost_server = 1; /* the single-page path gives the message */
    }
    for (uint32_t srv = 0; srv < s->server_count; srv++)
        if (used[srv])
            put_to_server(s, srv, jobs, count, had, pages, results);

    for (size_t i = 0; i < count; i++) {
        struct put_job *job = &jobs[i];
        int intact = 1;
        uint64_t held = 0;
        if (results[i] == 0 && job->refused) {
            results[i] = job->refused;
            intact = job->written == 0;
            if (!intact) {
                tierpage_error ignored;
                delete_copies(s, keys[i], job->mkey, job->mkey_len, job->prior | job->written_on, &ignored);
            }
        } else if (results[i] == 0 && (job->lost_server || job->written < job->server_count)) {
            /* The same generation again: a copy of this batch's that a
             * server stores late holds these very bytes. */
            results[i] = put_copies(s, keys[i], pages[i], job->gen, job->prior | job->written_on, &held, &intact,
                                    &job->why);
        } else if (results[i] == 0) {
            held = job->written_on;
            drop_moved_copies(s, keys[i], job->mkey, job->mkey_len, job->prior, held);
        }
        if (results[i] && !first_err.message[0])
            first_err = job->why;
        pthread_mutex_lock(&s->lock);
        if (job->reserved)
            s->puts_in_flight--;
        if (results[i] == 0)
            mc_pagemap_set(&s->pages, keys[i], held, job->gen);
        else if (!intact)
            mc_pagemap_remove(&s->pages, keys[i]);
        pthread_mutex_unlock(&s->lock);
    }
    free(jobs);
    free(had);
    int first = 0;
    for (size_t i = 0; i < count && !first; i++)
        first = results[i];
    if (first && err)
        *err = first_err;
    return first;
}

static int mc_del(void *store, uint64_t key, tierpage_error *err)
{
    struct mc_store *s = store;
    uint64_t held = 0;
    int leased = mc_lease_check(&s->lease, err);
    if (leased < 0)
        return leased;
    pthread_mutex_lock(&s->lock);
    int had = mc_pagemap_get(&s->pages, key, &held, NULL);
    if (!had && s->recovering)
        had = 1, held = all_servers(s); /* a copy a killed pager put may be anywhere */
    pthread_mutex_unlock(&s->lock);
    if (!had)
        return -ENOENT;
    char mkey[MC_KEY_MAX + 1];
    size_t mkey_len = (size_t)mc_page_key(mkey, sizeof mkey, s->namespace_name, key);
    int rc = delete_copies(s, key, mkey, mkey_len, held, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&s->lock);
    mc_pagemap_remove(&s->pages, key);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

/* One key of a batch of deletes. */
struct del_job {
    char mkey[MC_KEY_MAX + 1];
    size_t mkey_len;
    uint64_t held;      /* the servers of its copies (mc_pagemap.h) */
    int failure;        /* a server in service that failed to delete its copy, 0 when none */
    tierpage_error why; /* and its message */
};

/* Deletes, pipelined (mc_conn_delete), the copies one server holds of the
 * jobs' pages, as delete_copies does one page's: a server out of service,
 * or one whose connection fails here, deletes them when it comes back
 * (left_behind), and since the page map then no longer names it for the
 * page, its copy is never read: only a server still in service that
 * refuses a delete fails the key. */
static void delete_on_server(struct mc_store *s, uint32_t server, const uint64_t *keys, struct del_job *jobs,
                             size_t count)
{
    struct mc_server *srv = &s->servers[server];
    uint64_t bit = 1ull << server;
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        n += (jobs[i].held & bit) != 0;
    const char **mkeys = malloc(n * sizeof *mkeys);
    size_t *lens = malloc(n * sizeof *lens);
    int *replies = malloc(n * sizeof *replies);
    struct mc_conn *conn = NULL;
    tierpage_error err = { { 0 }, { 0 } };
    int rc = 0, asked = 0;
    if (!mkeys || !lens || !replies)
        rc = tierpage_error_set(&err, -ENOMEM, NULL, "memcached: out of memory");
    else if (!mc_server_in_service(srv)) /* every copy left behind below */
        rc = tierpage_error_set(&err, -EHOSTDOWN, NULL, "memcached: %s: delete: out of service", srv->name);
    else
        rc = mc_server_take_conn(srv, "delete", &conn, &err);
    if (rc == 0) {
        n = 0;
        for (size_t i = 0; i < count; i++) {
            if (jobs[i].held & bit) {
                mkeys[n] = jobs[i].mkey;
                lens[n++] = jobs[i].mkey_len;
            }
        }
        rc = mc_conn_delete(conn, n, mkeys, lens, replies);
        if (rc == -EIO) /* refused, the connection still in step: the replies say which */
            rc = 0;
        else if (rc < 0 && rc != -ENOMEM)
            rc = mc_server_fail_conn(srv, conn, rc, "delete", &err);
        mc_server_give_conn(srv, conn, rc);
        asked = rc == 0;
    }
    for (size_t i = 0, j = 0; i < count; i++) {
        if (!(jobs[i].held & bit))
            continue;
        int result = asked ? replies[j++] : rc;
        if (result == 0)
            continue;
        if (!mc_server_in_service(srv)) {
            leave_behind(s, server, keys[i]);
        } else if (!jobs[i].failure) {
            jobs[i].failure = result;
            if (asked)
                tierpage_error_set(&jobs[i].why, result, NULL, "memcached: %s: delete: refused", srv->name);
            else
                jobs[i].why = err;
        }
    }
    free(mkeys);
    free(lens);
    free(replies);
}

/* The deletes of a batch go to each server pipelined, one round trip per
 * server and 64 keys, instead of one per copy. */
static int mc_del_batch(void *store, size_t count, const uint64_t *keys, int *results, tierpage_error *err)
{
    struct mc_store *s = store;
    int leased = lease_refuses(s, count, results, err);
    if (leased < 0)
        return leased;
    struct del_job *jobs = calloc(count, sizeof *jobs);
    if (!jobs) {
        for (size_t i = 0; i < count; i++)
            results[i] = -ENOMEM;
        return tierpage_error_set(err, -ENOMEM, NULL, "memcached: out of memory");
    }
    uint64_t used = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < count; i++) {
        int had = mc_pagemap_get(&s->pages, keys[i], &jobs[i].held, NULL);
        if (!had && s->recovering)
            had = 1, jobs[i].held = all_servers(s); /* a copy a killed pager put may be anywhere */
        results[i] = had ? 0 : -ENOENT;
        used |= jobs[i].held;
    }
    pthread_mutex_unlock(&s->lock);
    for (size_t i = 0; i < count; i++)
        if (jobs[i].held)
            jobs[i].mkey_len = (size_t)mc_page_key(jobs[i].mkey, sizeof jobs[i].mkey, s->namespace_name, keys[i]);
    for (uint32_t srv = 0; srv < s->server_count; srv++)
        if (used & (1ull << srv))
            delete_on_server(s, srv, keys, jobs, count);

    int first = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < count; i++) {
        if (results[i] == 0 && jobs[i].failure)
            results[i] = jobs[i].failure;
        else if (results[i] == 0)
            mc_pagemap_remove(&s->pages, keys[i]);
        if (!first && results[i] && results[i] != -ENOENT) {
            first = results[i];
            if (err)
                *err = jobs[i].why;
        }
    }
    pthread_mutex_unlock(&s->lock);
    free(jobs);
    return first;
}

static int mc_usage(void *store, tierpage_store_usage *usage, tierpage_error *err)
{
    (void)err;
    struct mc_store *s = store;
    pthread_mutex_lock(&s->lock);
    usage->pages = s->pages.count;
    pthread_mutex_unlock(&s->lock);
    usage->used_bytes = usage->pages * s->page_size;
    usage->capacity_bytes = s->capacity_pages ? s->capacity_pages * s->page_size : s->server_capacity_bytes;
    return 0;
}

/* Deletes every page of the page map from the servers. A copy a server
 * refuses to delete stays, its instance's lease gone with the close: a
 * later open's sweep takes it. */
static void drop_own_page(void *store, uint64_t key, uint64_t servers)
{
    struct mc_store *s = store;
    char mkey[MC_KEY_MAX + 1];
    size_t mkey_len = (size_t)mc_page_key(mkey, sizeof mkey, s->namespace_name, key);
    tierpage_error ignored;
    delete_copies(s, key, mkey, mkey_len, servers, &ignored);
}

static void drop_own_pages(struct mc_store *s)
{
    mc_pagemap_each(&s->pages, drop_own_page, s);
    mc_pagemap_free(&s->pages);
    mc_pagemap_init(&s->pages);
}

/* On the prober's thread, before a server goes back into service: the
 * copies it may still hold of pages deleted, moved elsewhere or written in
 * vain while it was out (left_behind) are deleted, pipelined, 256 keys a
 * round trip. No put reaches the server meanwhile (it is out of service),
 * and a page the page map names it for is left alone. 0, or a negative
 * errno that keeps it out until the next probe, which deletes the keys
 * left. */
static int drop_left_behind(struct mc_store *s, struct mc_server *srv)
{
    enum { CHUNK = 256 };
    size_t server = (size_t)(srv - s->servers);
    pthread_mutex_lock(&s->lock);
    struct left_behind list = s->left_behind[server];
    s->left_behind[server] = (struct left_behind){ NULL, 0, 0 };
    size_t n = 0;
    for (size_t k = 0; k < list.count; k++) {
        uint64_t held = 0;
        if (!mc_pagemap_get(&s->pages, list.keys[k], &held, NULL) || !(held & (1ull << server)))
            list.keys[n++] = list.keys[k];
    }
    pthread_mutex_unlock(&s->lock);

    int rc = 0;
    size_t done = 0;
    char (*mkeys)[MC_KEY_MAX + 1] = n ? malloc(CHUNK * sizeof *mkeys) : NULL;
    struct mc_conn *conn = NULL;
    tierpage_error err = { { 0 }, { 0 } };
    if (n && !mkeys)
        rc = -ENOMEM;
    else if (n)
        rc = mc_server_take_conn(srv, "delete", &conn, &err);
    while (rc == 0 && done < n) {
        const char *keys[CHUNK];
        size_t lens[CHUNK], k = n - done < CHUNK ? n - done : CHUNK;
        for (size_t j = 0; j < k; j++) {
            lens[j] = (size_t)mc_page_key(mkeys[j], sizeof mkeys[j], s->namespace_name, list.keys[done + j]);
            keys[j] = mkeys[j];
        }
        rc = mc_conn_delete(conn, k, keys, lens, NULL);
        if (rc == -EIO)
            rc = 0; /* a copy the server refused to delete stays: memory, never read */
        if (rc == 0)
            done += k;
    }
    if (conn)
        mc_server_give_conn(srv, conn, rc);
    free(mkeys);
    if (rc == 0 && n)
        tierpage_log(s->lease.host, TIERPAGE_LOG_INFO, "memcached: %s: deleted the %zu cop%s it held of pages "
                     "deleted or written elsewhere while it was out of service", srv->name, n, n == 1 ? "y" : "ies");
    if (rc) {
        pthread_mutex_lock(&s->lock);
        for (size_t k = done; k < n; k++)
            left_behind_add(s, server, list.keys[k]);
        pthread_mutex_unlock(&s->lock);
    }
    free(list.keys);
    return rc;
}

/* A stack starts with no pages: this instance's own go, and so do those
 * that stopped stacks of the namespace left (mc_sweep_namespace). */
static int mc_clear(void *store, tierpage_error *err)
{
    struct mc_store *s = store;
    pthread_mutex_lock(&s->lock);
    s->recovering = 0;
    pthread_mutex_unlock(&s->lock);
    drop_own_pages(s);
    return mc_sweep_namespace(&s->lease, err);
}

/* A forked child of this instance ended: its pages and lease go. */
static int mc_drop_child(void *store, const char *child_instance, tierpage_error *err)
{
    struct mc_store *s = store;
    return mc_sweep_instance(&s->lease, child_instance, err);
}

static const tierpage_store_ops mc_ops = {
    .abi_version = TIERPAGE_STORE_ABI_VERSION,
    .struct_size = sizeof(tierpage_store_ops),
    .name = "memcached",
    .description = "pages in memcached servers, sharded by consistent hashing, optionally replicated",
    .flags = TIERPAGE_STORE_REMOTE | TIERPAGE_STORE_FORK_APART,
    .open = mc_open,
    .close = mc_close,
    .get = mc_get,
    .put = mc_put,
    .del = mc_del,
    .usage = mc_usage,
    .get_batch = mc_get_batch,
    .put_batch = mc_put_batch,
    .clear = mc_clear,
    .drop_child = mc_drop_child,
    .del_batch = mc_del_batch,
};

const tierpage_store_ops *tierpage_store_entry(void)
{
    return &mc_ops;
}
