/* rdma: pages in other machines' memory, read and written with one-sided
 * RDMA (tierpage-memserver hands out the memory a slab at a time).
 *
 * A page's place is decided here and kept here (rdma_placement.h): a new
 * page takes a free slot in a slab of the next server in turn, asking that
 * server for another slab when its slabs are full; with replicas: 2 a
 * second copy goes to another server. get is an RDMA READ of the slot into
 * the connection's registered bounce buffer and one copy out; put is one
 * copy in and an RDMA WRITE; both wait for their completion. Batches post
 * up to queue_depth work requests per server as one chain and poll their
 * completions together.
 *
 * A forked child (TIERPAGE_STORE_FORK_APART) opens the tier afresh: a
 * session of its own on every server, with slabs of its own, into which
 * the core copies the parent's pages. Nothing needs removing when the
 * child ends: its connections go with the process (exit, _exit, a
 * signal, exec: every descriptor is close-on-exec), and a memserver frees
 * a session's slabs when its connection drops (or --grace seconds later).
 *
 * Locking: the store lock guards the placement (index, slabs, counters)
 * and is never held across a network round trip; each connection has its
 * own lock (rdma_conn.h). The order is connection, then store. The ABI never
 * issues two calls for the same key at once, so a slot looked up under the
 * store lock stays the page's while its data moves.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "clock_ms.h"
#include "memserver_proto.h"
#include "rdma_conn.h"
#include "rdma_placement.h"
#include "server_options.h"
#include "tierpage_store.h"

#define RDMA_FULL_RETRY_MS 2000u /* ask a server that said FULL again after this long */

struct rdma_store {
    pthread_mutex_t lock;
    size_t page_size;
    unsigned replicas;
    uint64_t capacity_pages;     /* 0: as much as the servers give */
    uint64_t reserved;           /* new pages being written */
    uint64_t server_capacity_bytes;
    unsigned server_count;
    unsigned next_server;
    uint64_t full_until_ms[RP_MAX_SERVERS];
    struct rdma_conn *conns;
    struct rp_placement place;
    struct tpm_key *key;         /* key_file's, or NULL */
};

struct rdma_options {
    struct server_options common;
    uint64_t queue_depth;
    const char *key_file;
};

static int parse_options(const tierpage_store_params *params, struct rdma_options *o, tierpage_error *err)
{
    const tierpage_host *host = params->host;
    *o = (struct rdma_options){ { NULL, 1, 2000, 5000 }, 16, NULL };
    int rc = 0;
    for (size_t i = 0; i < params->option_count && rc == 0; i++) {
        const char *key = params->options[i].key, *value = params->options[i].value;
        if ((rc = server_option(host, key, value, RP_MAX_REPLICAS, &o->common, err)) != SERVER_OPTION_OTHER)
            continue;
        if (strcmp(key, "queue_depth") == 0)
            rc = host->parse_uint(key, value, 1, 256, &o->queue_depth, err);
        else if (strcmp(key, "key_file") == 0)
            rc = (o->key_file = value) ? 0 : tierpage_error_set(err, -EINVAL, key, "rdma: key_file: expected a path");
        else
            rc = tierpage_error_set(err, -EINVAL, key, "rdma: unknown option '%s' (rdma takes servers, replicas, "
                                    "connect_timeout_ms, io_timeout_ms, queue_depth, key_file and capacity)", key);
    }
    if (rc == 0 && !o->common.servers)
        rc = tierpage_error_set(err, -EINVAL, "servers", "rdma: servers is required: a list of memservers "
                                "such as [10.0.0.2:7471, 10.0.0.3:7471]");
    return rc;
}

static void rdma_close(void *store)
{
    struct rdma_store *s = store;
    if (!s)
        return;
    for (unsigned i = 0; i < s->server_count; i++)
        rdma_conn_close(&s->conns[i]);
    free(s->conns);
    rp_destroy(&s->place);
    pthread_mutex_destroy(&s->lock);
    if (s->key) {
        tpm_key_wipe(s->key);
        free(s->key);
    }
    free(s);
}

static int rdma_open(const tierpage_store_params *params, void **store, tierpage_error *err)
{
    *store = NULL;
    if (!TIERPAGE_HOST_HAS(params->host, parse_servers))
        return tierpage_error_set(err, -EPROTO, NULL, "rdma: the host gave no option parsers");
    struct rdma_options o;
    int rc = parse_options(params, &o, err);
    if (rc)
        return rc;
    if (params->page_size == 0)
        return tierpage_error_set(err, -EINVAL, NULL, "rdma: page size must be greater than 0");

    /* The server list first: its length sizes everything else. */
    tierpage_server *list = calloc(RP_MAX_SERVERS, sizeof *list);
    size_t count = 0;
    if (!list)
        return tierpage_error_set(err, -ENOMEM, NULL, "rdma: out of memory");
    rc = params->host->parse_servers("servers", o.common.servers, TPM_DEFAULT_PORT, 0, list, RP_MAX_SERVERS, &count, err);
    if (rc) {
        free(list);
        return rc;
    }
    if (o.common.replicas > count) {
        free(list);
        return tierpage_error_set(err, -EINVAL, "replicas", "rdma: replicas: %u copies of each page need at least "
                                  "%u servers, and servers lists %zu", (unsigned)o.common.replicas, (unsigned)o.common.replicas,
                                  count);
    }

    struct rdma_store *s = calloc(1, sizeof *s);
    if (!s || !(s->conns = calloc(count, sizeof *s->conns)) || rp_init(&s->place, count, params->page_size)) {
        free(list);
        if (s)
            free(s->conns);
        free(s);
        return tierpage_error_set(err, -ENOMEM, NULL, "rdma: out of memory");
    }
    pthread_mutex_init(&s->lock, NULL);
    s->page_size = params->page_size;
    if (o.key_file) {
        char why[300];
        s->key = malloc(sizeof *s->key);
        rc = !s->key ? -ENOMEM : tpm_key_load(o.key_file, s->key, why, sizeof why);
        if (rc) {
            free(list);
            rdma_close(s);
            return tierpage_error_set(err, rc, "key_file", "rdma: %s", rc == -ENOMEM ? "out of memory" : why);
        }
    }
    s->replicas = (unsigned)o.common.replicas;
    s->capacity_pages = params->capacity / params->page_size;
    if (params->capacity && s->capacity_pages == 0) {
        free(list);
        rdma_close(s);
        return tierpage_error_set(err, -EINVAL, "capacity", "rdma: capacity is less than one page");
    }
    /* A random session: a server keeping our slabs for a reconnect gives
     * them back only to this instance. */
    uint64_t session;
    if (getrandom(&session, sizeof session, 0) != sizeof session)
        session = (uint64_t)getpid() << 32 ^ tier_now_ms();
    struct rdma_conn_config cfg = { .namespace_name = params->namespace_name ? params->namespace_name : "default",
                                    .exclusive = params->exclusive || !params->instance, .session = session,
                                    .page_size = params->page_size, .queue_depth = (unsigned)o.queue_depth,
                                    .connect_timeout_ms = (unsigned)o.common.connect_timeout_ms,
                                    .io_timeout_ms = (unsigned)o.common.io_timeout_ms, .host = params->host,
                                    .key = s->key };
    uint64_t pools = 0;
    for (unsigned i = 0; i < count; i++) {
        rc = rdma_conn_init(&s->conns[i], &list[i], &cfg, err);
        if (!rc)
            s->server_count = i + 1; /* close() closes what was initialised */
        if (!rc && (rc = rdma_conn_open(&s->conns[i], err)) != 0)
            snprintf(err->key, sizeof err->key, "servers");
        if (rc) {
            free(list);
            rdma_close(s);
            return rc;
        }
        pools += s->conns[i].pool_bytes;
    }
    free(list);
    s->server_capacity_bytes = pools / s->replicas;
    *store = s;
    return 0;
}

/* Takes a slot on one server, asking it for a slab when its slabs are
 * full. 0, -ENOSPC when the server is full, or another error. */
static int take_slot_on(struct rdma_store *s, unsigned server, rp_loc *loc, tierpage_error *err)
{
    struct rdma_conn *c = &s->conns[server];
    for (int attempt = 0; attempt < 4; attempt++) {
        uint32_t gen = atomic_load(&c->generation);
        pthread_mutex_lock(&s->lock);
        int rc = rp_take_slot(&s->place, server, gen, loc);
        int full = tier_now_ms() < s->full_until_ms[server];
        pthread_mutex_unlock(&s->lock);
        if (rc == 0)
            return 0;
        if (full)
            return -ENOSPC;
        struct rdma_slab_grant g;
        rc = rdma_conn_alloc_slab(c, &g, err);
        if (rc == -ENOSPC) {
            pthread_mutex_lock(&s->lock);
            s->full_until_ms[server] = tier_now_ms() + RDMA_FULL_RETRY_MS;
            pthread_mutex_unlock(&s->lock);
            return -ENOSPC;
        }
        if (rc)
            return rc;
        pthread_mutex_lock(&s->lock);
        int n = rp_add_slab(&s->place, server, g.generation, g.addr, g.rkey, g.server_slab, g.length);
        pthread_mutex_unlock(&s->lock);
        if (n < 0) {
            rdma_conn_free_slab(c, g.server_slab, g.generation, NULL);
            return tierpage_error_set(err, -ENOMEM, NULL, "rdma: out of memory for a slab's slots");
        }
        /* Loop: another thread may take the new slab's slots first. */
    }
    return -ENOSPC;
}

/* Gives back one copy's slot; frees its slab on the server when the slab
 * became empty and the server has room elsewhere. */
static void release_loc(struct rdma_store *s, rp_loc loc)
{
    if (loc == RP_NONE)
        return;
    unsigned server = rp_loc_server(loc);
    uint32_t slab_no = rp_loc_slab(loc);
    struct rdma_conn *c = &s->conns[server];
    uint32_t gen = atomic_load(&c->generation);
    uint32_t server_slab = 0;
    int give_back = 0;
    pthread_mutex_lock(&s->lock);
    struct rp_slab *slab = rp_slab_of(&s->place, loc);
    if (slab && rp_release_slot(&s->place, loc)) {
        if (slab->generation != gen) {
            rp_drop_slab(&s->place, server, slab_no);       /* lost with its server: nothing to free */
        } else if (slab->state == RP_SLAB_ACTIVE && rp_free_slots(&s->place, server, gen) > slab->slots) {
            slab->state = RP_SLAB_RETIRING;                 /* no new pages go into it */
            server_slab = slab->server_slab;
            give_back = 1;
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (!give_back)
        return;
    tierpage_error err;
    rdma_conn_free_slab(c, server_slab, gen, &err);
    pthread_mutex_lock(&s->lock);
    rp_drop_slab(&s->place, server, slab_no);
    s->full_until_ms[server] = 0;
    pthread_mutex_unlock(&s->lock);
}

/* Places the copies of a new page: `replicas` servers in turn. A server
 * that is down is passed over (the page then has fewer copies); a full one
 * makes the put fail with -ENOSPC, so a page never silently loses its
 * second copy for lack of room. */
static int place_new(struct rdma_store *s, rp_loc loc[RP_MAX_REPLICAS], tierpage_error *err)
{
    loc[0] = loc[1] = RP_NONE;
    pthread_mutex_lock(&s->lock);
    if (s->capacity_pages && s->place.pages + s->reserved >= s->capacity_pages) {
        pthread_mutex_unlock(&s->lock);
        return -ENOSPC;
    }
    s->reserved++;
    unsigned start = s->next_server++ % s->server_count;
    pthread_mutex_unlock(&s->lock);

    unsigned placed = 0, full = 0;
    int last_error = 0;
    tierpage_error why = { { 0 }, { 0 } };
    for (unsigned k = 0; k < s->server_count && placed < s->replicas; k++) {
        unsigned server = (start + k) % s->server_count;
        if (!rdma_conn_usable(&s->conns[server])) {
            last_error = tierpage_error_set(&why, -EHOSTDOWN, NULL, "rdma: server %s is down: %s",
                                            s->conns[server].name, s->conns[server].last_error);
            continue;
        }
        int rc = take_slot_on(s, server, &loc[placed], &why);
        if (rc == 0)
            placed++;
        else if (rc == -ENOSPC)
            full++;
        else
            last_error = rc;
    }
    if (placed == s->replicas || (placed > 0 && full == 0))
        return 0;
    for (unsigned i = 0; i < placed; i++)
        release_loc(s, loc[i]);
    loc[0] = loc[1] = RP_NONE;
    pthread_mutex_lock(&s->lock);
    s->reserved--;
    pthread_mutex_unlock(&s->lock);
    if (full)
        return -ENOSPC; /* the core demotes to the next tier */
    if (err)
        *err = why;
    return last_error ? last_error : -EIO;
}

/* Fills io for one copy under the store lock. */
static void io_for(struct rdma_store *s, rp_loc loc, int write, void *page, struct rdma_io *io)
{
    struct rp_slab *slab = rp_slab_of(&s->place, loc);
    *io = (struct rdma_io){ .write = write, .page = page, .result = -EIO };
    if (!slab || slab->state == RP_SLAB_UNUSED) {
        io->generation = UINT32_MAX; /* never current: fails as lost */
        return;
    }
    io->remote_addr = slab->remote_addr + (uint64_t)rp_loc_slot(loc) * s->page_size;
    io->rkey = slab->rkey;
    io->generation = slab->generation;
}

/* Runs the given ios grouped by server: one rdma_conn_io call per server. */
static void run_ios(struct rdma_store *s, struct rdma_io *io, const unsigned *server_of, size_t n, tierpage_error *err)
{
    struct rdma_io *group = malloc((n ? n : 1) * sizeof *group);
    size_t *back = malloc((n ? n : 1) * sizeof *back);
    if (!group || !back) {
        for (size_t i = 0; i < n; i++)
            io[i].result = -ENOMEM;
        free(group);
        free(back);
        return;
    }
    for (unsigned server = 0; server < s->server_count; server++) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (server_of[i] == server) {
                group[k] = io[i];
                back[k++] = i;
            }
        if (!k)
            continue;
        tierpage_error e = { { 0 }, { 0 } };
        if (rdma_conn_io(&s->conns[server], group, k, &e) && err && !err->message[0])
            *err = e;
        for (size_t j = 0; j < k; j++)
            io[back[j]].result = group[j].result;
    }
    free(group);
    free(back);
}

static int rdma_put_batch(void *store, size_t count, const uint64_t *keys, const void *const *pages, int *results,
                          tierpage_error *err)
{
    struct rdma_store *s = store;
    if (err)
        err->message[0] = '\0';
    rp_loc (*loc)[RP_MAX_REPLICAS] = malloc((count ? count : 1) * sizeof *loc);
    unsigned char *is_new = calloc(count ? count : 1, 1);
    struct rdma_io *io = malloc((count ? count : 1) * RP_MAX_REPLICAS * sizeof *io);
    unsigned *server_of = calloc((count ? count : 1) * RP_MAX_REPLICAS, sizeof *server_of);
    size_t *job_of = malloc((count ? count : 1) * RP_MAX_REPLICAS * sizeof *job_of);
    int first = 0;
    if (!loc || !is_new || !io || !server_of || !job_of) {
        first = tierpage_error_set(err, -ENOMEM, NULL, "rdma: out of memory");
        for (size_t i = 0; i < count; i++)
            results[i] = first;
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        results[i] = 0;
        pthread_mutex_lock(&s->lock);
        struct rp_entry *e = rp_find(&s->place, keys[i]);
        if (e) {
            loc[i][0] = e->loc[0];
            loc[i][1] = e->loc[1];
        }
        pthread_mutex_unlock(&s->lock);
        if (!e) {
            is_new[i] = 1;
            tierpage_error why = { { 0 }, { 0 } };
            results[i] = place_new(s, loc[i], &why);
            if (results[i] && results[i] != -ENOSPC && err && !err->message[0])
                *err = why;
        }
    }
    size_t n = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < count; i++) {
        if (results[i])
            continue;
        for (int r = 0; r < RP_MAX_REPLICAS; r++) {
            if (loc[i][r] == RP_NONE)
                continue;
            io_for(s, loc[i][r], 1, (void *)pages[i], &io[n]);
            server_of[n] = rp_loc_server(loc[i][r]);
            job_of[n++] = i * RP_MAX_REPLICAS + (size_t)r;
        }
    }
    pthread_mutex_unlock(&s->lock);
    run_ios(s, io, server_of, n, err);

    /* A page is stored when at least one copy was written. */
    for (size_t i = 0; i < count; i++) {
        if (results[i])
            continue;
        int ok = 0, fail = 0;
        for (size_t k = 0; k < n; k++) {
            if (job_of[k] / RP_MAX_REPLICAS != i)
                continue;
            if (io[k].result == 0)
                ok = 1;
            else
                fail = io[k].result;
            if (io[k].result && is_new[i]) {
                /* A new page keeps only the copies that were written. */
                release_loc(s, loc[i][job_of[k] % RP_MAX_REPLICAS]);
                loc[i][job_of[k] % RP_MAX_REPLICAS] = RP_NONE;
            }
        }
        if (!ok) {
            results[i] = fail ? fail : -EIO;
        } else if (is_new[i]) {
            pthread_mutex_lock(&s->lock);
            if (!rp_insert(&s->place, keys[i], loc[i]))
                results[i] = tierpage_error_set(err, -ENOMEM, NULL, "rdma: out of memory for the page index");
            pthread_mutex_unlock(&s->lock);
        }
        if (is_new[i]) {
            if (results[i] && ok) {
                release_loc(s, loc[i][0]);
                release_loc(s, loc[i][1]);
            }
            pthread_mutex_lock(&s->lock);
            s->reserved--;
            pthread_mutex_unlock(&s->lock);
        }
    }
    for (size_t i = 0; i < count && !first; i++)
        first = results[i];
    if (first && first != -ENOSPC && err && !err->message[0])
        tierpage_error_set(err, first, NULL, "rdma: put failed: %s", strerror(-first));
out:
    free(loc);
    free(is_new);
    free(io);
    free(server_of);
    free(job_of);
    return first;
}

static int rdma_put(void *store, uint64_t key, const void *page, tierpage_error *err)
{
    int result;
    const void *pages[1] = { page };
    return rdma_put_batch(store, 1, &key, pages, &result, err);
}

/* Reads each page from its first copy, and from its second where the first
 * failed. A page no copy could be read of is an error naming the page and
 * its servers; never a page of zeros. */
static int rdma_get_batch(void *store, size_t count, const uint64_t *keys, void *const *pages, int *results,
                          tierpage_error *err)
{
    struct rdma_store *s = store;
    if (err)
        err->message[0] = '\0';
    rp_loc (*loc)[RP_MAX_REPLICAS] = malloc((count ? count : 1) * sizeof *loc);
    struct rdma_io *io = malloc((count ? count : 1) * sizeof *io);
    unsigned *server_of = calloc(count ? count : 1, sizeof *server_of);
    size_t *job_of = malloc((count ? count : 1) * sizeof *job_of);
    char (*why)[200] = calloc(count ? count : 1, sizeof *why);
    int first = 0;
    if (!loc || !io || !server_of || !job_of || !why) {
        first = tierpage_error_set(err, -ENOMEM, NULL, "rdma: out of memory");
        for (size_t i = 0; i < count; i++)
            results[i] = first;
        goto out;
    }
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < count; i++) {
        struct rp_entry *e = rp_find(&s->place, keys[i]);
        loc[i][0] = e ? e->loc[0] : RP_NONE;
        loc[i][1] = e ? e->loc[1] : RP_NONE;
        results[i] = e ? -EIO : -ENOENT;
    }
    pthread_mutex_unlock(&s->lock);

    for (int r = 0; r < RP_MAX_REPLICAS; r++) {
        size_t n = 0;
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < count; i++) {
            /* Still to read: found, and no copy read yet. */
            if (results[i] == 0 || results[i] == -ENOENT || loc[i][r] == RP_NONE)
                continue;
            io_for(s, loc[i][r], 0, pages[i], &io[n]);
            server_of[n] = rp_loc_server(loc[i][r]);
            job_of[n++] = i;
        }
        pthread_mutex_unlock(&s->lock);
        if (!n)
            continue;
        tierpage_error e = { { 0 }, { 0 } };
        run_ios(s, io, server_of, n, &e);
        for (size_t k = 0; k < n; k++) {
            size_t i = job_of[k];
            results[i] = io[k].result;
            if (io[k].result) {
                size_t len = strlen(why[i]);
                snprintf(why[i] + len, sizeof why[i] - len, "%s%s", len ? "; then " : "",
                         e.message[0] ? e.message : "rdma: read failed");
            }
        }
    }
    for (size_t i = 0; i < count; i++) {
        if (results[i] == 0 || results[i] == -ENOENT)
            continue;
        if (!first) {
            first = results[i];
            tierpage_error_set(err, first, NULL, "rdma: page %" PRIu64 " cannot be read: %s", keys[i],
                               why[i][0] ? why[i] : strerror(-first));
        }
    }
    if (!first)
        for (size_t i = 0; i < count && !first; i++)
            first = results[i];
out:
    free(loc);
    free(io);
    free(server_of);
    free(job_of);
    free(why);
    return first;
}

static int rdma_get(void *store, uint64_t key, void *page, tierpage_error *err)
{
    int result;
    void *pages[1] = { page };
    return rdma_get_batch(store, 1, &key, pages, &result, err);
}

static int rdma_del(void *store, uint64_t key, tierpage_error *err)
{
    (void)err;
    struct rdma_store *s = store;
    rp_loc loc[RP_MAX_REPLICAS];
    pthread_mutex_lock(&s->lock);
    int rc = rp_remove(&s->place, key, loc);
    pthread_mutex_unlock(&s->lock);
    if (rc)
        return rc;
    release_loc(s, loc[0]);
    release_loc(s, loc[1]);
    return 0;
}

static int rdma_usage(void *store, tierpage_store_usage *usage, tierpage_error *err)
{
    (void)err;
    struct rdma_store *s = store;
    pthread_mutex_lock(&s->lock);
    usage->pages = s->place.pages;
    usage->used_bytes = s->place.pages * s->page_size;
    usage->capacity_bytes = s->capacity_pages ? s->capacity_pages * s->page_size : s->server_capacity_bytes;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static void release_entry(struct rp_entry *e, void *arg)
{
    struct rdma_store *s = arg;
    for (int r = 0; r < RP_MAX_REPLICAS; r++)
        if (e->loc[r] != RP_NONE)
            rp_release_slot(&s->place, e->loc[r]);
}

/* Drops every page, and gives every slab back to its server. */
static int rdma_clear(void *store, tierpage_error *err)
{
    struct rdma_store *s = store;
    int first = 0;
    pthread_mutex_lock(&s->lock);
    rp_for_each(&s->place, release_entry, s);
    rp_clear_index(&s->place);
    pthread_mutex_unlock(&s->lock);
    for (unsigned server = 0; server < s->server_count; server++) {
        struct rp_server *sv = &s->place.servers[server];
        for (uint32_t n = 0; n < sv->count; n++) {
            struct rp_slab *slab = &sv->slabs[n];
            if (slab->state == RP_SLAB_UNUSED)
                continue;
            int rc = rdma_conn_free_slab(&s->conns[server], slab->server_slab, slab->generation, err);
            if (rc && !first)
                first = rc;
            rp_drop_slab(&s->place, server, n);
        }
        s->full_until_ms[server] = 0;
    }
    return first;
}

/* In a forked child, on its copy of the parent's store: the child opened
 * a store of its own (a session of its own on every server), and lets go
 * of the parent's connections without a word on them. */
static void rdma_forget(void *store)
{
    struct rdma_store *s = store;
    for (unsigned i = 0; i < s->server_count; i++)
        rdma_conn_forget(&s->conns[i]);
}

static const tierpage_store_ops rdma_ops = {
    .abi_version = TIERPAGE_STORE_ABI_VERSION,
    .struct_size = sizeof(tierpage_store_ops),
    .name = "rdma",
    .description = "pages in remote memory over one-sided RDMA (tierpage-memserver)",
    .flags = TIERPAGE_STORE_REMOTE | TIERPAGE_STORE_FORK_APART,
    .open = rdma_open,
    .close = rdma_close,
    .get = rdma_get,
    .put = rdma_put,
    .del = rdma_del,
    .usage = rdma_usage,
    .get_batch = rdma_get_batch,
    .put_batch = rdma_put_batch,
    .clear = rdma_clear,
    .forget = rdma_forget,
};

const tierpage_store_ops *tierpage_store_entry(void)
{
    return &rdma_ops;
}
