/* redis: pages in Redis servers, sharded over plain servers by a
 * consistent-hash ring (with replicas), or spread by a Redis Cluster's own
 * slot map (cluster: true).
 *
 * Every operation is a list of single-key commands (GET, SET, DEL on
 * "tp:<namespace>:<instance>:<key in hex>", ns_keys.h) run by redis_run, which pipelines the
 * commands of each server on one pooled connection and, with a cluster,
 * follows redirections. Single-page calls are batches of one.
 *
 * Replicas (plain servers): a page goes to the first `replicas` distinct
 * servers of its arc on the ring. A put succeeds when at least one copy was
 * written (so the tier keeps working with a server down); a get asks the
 * copies in ring order and returns the first page found whose version is
 * the one last written; a delete removes every copy it can reach. A page
 * with fewer good copies than `replicas` is marked in the key set, and the
 * refiller (redis_replicas.c) writes its copies again.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_tier.h"

/* Commands kept on the stack for small calls; bigger batches allocate. */
#define LOCAL_CMDS 8

static struct redis_cmd *cmds_alloc(size_t n, struct redis_cmd *local)
{
    struct redis_cmd *cmds = n <= LOCAL_CMDS ? local : malloc(n * sizeof *cmds);
    if (cmds)
        memset(cmds, 0, n * sizeof *cmds);
    return cmds;
}

static void cmds_free(struct redis_cmd *cmds, size_t n, struct redis_cmd *local)
{
    if (!cmds)
        return;
    for (size_t i = 0; i < n; i++)
        if (cmds[i].reply)
            freeReplyObject(cmds[i].reply);
    if (cmds != local)
        free(cmds);
}

/* The result of a finished command that got an error reply or none. */
static int cmd_failure(const struct redis_store *s, const struct redis_cmd *cmd, char *why, size_t size)
{
    if (!cmd->reply) {
        snprintf(why, size, "%s", cmd->why[0] ? cmd->why : "redis: no reply");
        return cmd->failure ? cmd->failure : -EIO;
    }
    const redisReply *r = cmd->reply;
    if (r->type != REDIS_REPLY_ERROR) {
        snprintf(why, size, "redis: %s: %s %s: unexpected reply of type %d", cmd->node->addr.name, cmd->name,
                 cmd->key, r->type);
        return -EPROTO;
    }
    if (strncmp(r->str, "OOM", 3) == 0) {
        snprintf(why, size, "redis: %s: tier full: %s", cmd->node->addr.name, r->str);
        return -ENOSPC;
    }
    if (cmd->why[0]) {
        snprintf(why, size, "%s", cmd->why);
        return -EIO;
    }
    int code = strncmp(r->str, "NOAUTH", 6) == 0 || strncmp(r->str, "NOPERM", 6) == 0 ? -EACCES : -EIO;
    const char *hint = !s->cluster && (strncmp(r->str, "MOVED", 5) == 0 || strncmp(r->str, "ASK", 3) == 0)
                           ? " (the server is part of a Redis Cluster: use cluster: true)"
                           : "";
    snprintf(why, size, "redis: %s: %s %s: %s%s", cmd->node->addr.name, cmd->name, cmd->key, r->str, hint);
    return code;
}

/* Records a page's failure; the call returns the first one with its message. */
static void note_failure(int *first, int rc, const char *why, tierpage_error *err)
{
    if (*first == 0 && rc != 0) {
        *first = rc;
        if (rc != -ENOENT)
            tierpage_error_set(err, rc, NULL, "%s", why);
    }
}

/* A batch on a store whose lease is lost: every page fails so. */
static int lease_refuses(struct redis_store *s, size_t count, int *results, tierpage_error *err)
{
    int held = redis_lease_check(s, err);
    for (size_t i = 0; held < 0 && i < count; i++)
        results[i] = held;
    return held;
}

/* ------------------------------------------------------------------- get */

static int redis_get_batch(void *store, size_t count, const uint64_t *keys, void *const *pages, int *results,
                           tierpage_error *err)
{
    struct redis_store *s = store;
    unsigned copies = s->cluster ? 1 : s->opt.replicas;
    int held = lease_refuses(s, count, results, err);
    if (held < 0)
        return held;
    struct redis_cmd local[LOCAL_CMDS];
    struct redis_cmd *cmds = cmds_alloc(count, local);
    if (!cmds)
        return tierpage_error_set(err, -ENOMEM, NULL, "redis: out of memory");
    /* results[i]: 1 while unresolved; seen_error[i]: the first failure other
     * than a missing key, for the page's later replicas. */
    int first = 0;
    char why[400] = "";
    for (size_t i = 0; i < count; i++)
        results[i] = 1;
    int *seen_error = calloc(count, sizeof *seen_error);
    uint64_t *want = malloc(count * sizeof *want);
    if (!seen_error || !want) {
        free(seen_error);
        free(want);
        cmds_free(cmds, count, local);
        return tierpage_error_set(err, -ENOMEM, NULL, "redis: out of memory");
    }
    /* A page this instance never wrote (or deleted) is missing at once,
     * unless the instance is a killed pager's, being recovered: then its
     * copy is looked for, any version taken (want 0). */
    int recovering = __atomic_load_n(&s->recovering, __ATOMIC_RELAXED);
    for (size_t i = 0; i < count; i++) {
        want[i] = 0; /* never a version: they count from 1 */
        if (!key_set_get(&s->keys, keys[i], &want[i]) && !recovering)
            results[i] = -ENOENT;
        want[i] &= KEY_SET_VERSION_MASK;
    }
    for (unsigned replica = 0; replica < copies; replica++) {
        size_t n = 0;
        for (size_t i = 0; i < count; i++) {
            if (results[i] != 1)
                continue;
            if (cmds[n].reply)
                freeReplyObject(cmds[n].reply);
            memset(&cmds[n], 0, sizeof cmds[n]);
            cmds[n].name = "GET";
            cmds[n].index = i;
            redis_route_key(s, &cmds[n], keys[i], replica);
            n++;
        }
        if (n == 0)
            break;
        redis_run(s, cmds, n);
        int last = replica + 1 == copies;
        for (size_t j = 0; j < n; j++) {
            struct redis_cmd *cmd = &cmds[j];
            size_t i = cmd->index;
            const redisReply *r = cmd->reply;
            int stale = 0;
            if (r && r->type == REDIS_REPLY_STRING) {
                if (r->len != s->page_size + REDIS_VERSION_BYTES) {
                    results[i] = -EIO;
                    snprintf(why, sizeof why, "redis: %s: key %.*s holds %zu bytes, not a page of %zu and its version",
                             cmd->node->addr.name, (int)cmd->key_len, cmd->key, (size_t)r->len, s->page_size);
                    note_failure(&first, results[i], why, err);
                    continue;
                }
                stale = want[i] && redis_version_get((const unsigned char *)r->str + s->page_size) != want[i];
            }
            if (r && r->type == REDIS_REPLY_STRING && !stale) {
                memcpy(pages[i], r->str, s->page_size);
                results[i] = 0;
                if (replica > 0) {
                    uint64_t k = __atomic_add_fetch(&s->counters.fallbacks, 1, __ATOMIC_RELAXED);
                    if (s->debug && redis_debug_due(k))
                        tierpage_log(s->conn.host, TIERPAGE_LOG_DEBUG, "%s read from replica %u on %s (%" PRIu64
                                     " so far)", cmd->key, replica + 1, cmd->node->addr.name, k);
                }
                continue;
            }
            /* An older copy, or none, where this one should be: the
             * refiller writes it again. */
            if ((stale || (r && r->type == REDIS_REPLY_NIL)) && copies > 1)
                key_set_mark_degraded(&s->keys, keys[i]);
            int rc = stale || (r && r->type == REDIS_REPLY_NIL) ? -ENOENT : cmd_failure(s, cmd, why, sizeof why);
            if (rc != -ENOENT && !seen_error[i])
                seen_error[i] = rc;
            if (!last)
                continue;
            /* A copy missing from every server that answered, while another
             * could not be asked, is a failure to read, not a missing page. */
            if (rc == -ENOENT && seen_error[i]) {
                rc = seen_error[i];
                snprintf(why, sizeof why, "redis: %.*s: no server that answered holds it, and a server "
                         "holding a copy could not be read", (int)cmd->key_len, cmd->key);
            }
            results[i] = rc;
            note_failure(&first, rc, why, err);
        }
    }
    /* A page this instance wrote and no server holds: when the lease ran
     * out meanwhile (this process was stalled while the GET was on its
     * way), another stack may have removed it; say that, not "missing". */
    int missing = 0;
    for (size_t i = 0; i < count; i++)
        missing |= results[i] == -ENOENT && want[i];
    if (missing && lease_refuses(s, 0, results, err) < 0)
        for (size_t i = 0; i < count; i++)
            results[i] = results[i] == -ENOENT ? -ESTALE : results[i];
    /* Report failures in page order: the first page that failed. */
    first = 0;
    for (size_t i = 0; i < count && !first; i++)
        first = results[i];
    free(seen_error);
    free(want);
    cmds_free(cmds, count, local);
    return first;
}

static int redis_get(void *store, uint64_t key, void *page, tierpage_error *err)
{
    int result;
    void *pages[1] = {page};
    return redis_get_batch(store, 1, &key, pages, &result, err);
}

/* ------------------------------------------------------------------- put */

static int redis_put_batch(void *store, size_t count, const uint64_t *keys, const void *const *pages,
                           int *results, tierpage_error *err)
{
    struct redis_store *s = store;
    unsigned copies = s->cluster ? 1 : s->opt.replicas;
    int held = lease_refuses(s, count, results, err);
    if (held < 0)
        return held;
    size_t total = count * copies;
    struct redis_cmd local[LOCAL_CMDS];
    struct redis_cmd *cmds = cmds_alloc(total, local);
    if (!cmds)
        return tierpage_error_set(err, -ENOMEM, NULL, "redis: out of memory");
    char why[400] = "";
    int first = 0;
    size_t n = 0;
    uint64_t room = UINT64_MAX;
    size_t value_len = s->page_size + REDIS_VERSION_BYTES;
    unsigned char *values = malloc(count * value_len);
    uint64_t *versions = malloc(count * sizeof *versions);
    if (!values || !versions) {
        free(values);
        free(versions);
        cmds_free(cmds, total, local);
        return tierpage_error_set(err, -ENOMEM, NULL, "redis: out of memory");
    }
    if (s->capacity_pages) {
        uint64_t held = key_set_count(&s->keys);
        room = held < s->capacity_pages ? s->capacity_pages - held : 0;
    }
    for (size_t i = 0; i < count; i++) {
        results[i] = 0;
        if (s->capacity_pages && !key_set_contains(&s->keys, keys[i])) {
            if (room == 0)
                results[i] = -ENOSPC;
            else
                room--;
        }
    }
    /* The refiller may be copying a page's older version: wait for it. */
    key_set_claim_all(&s->keys, count, keys, results);
    for (size_t i = 0; i < count; i++) {
        if (results[i])
            continue;
        versions[i] = __atomic_add_fetch(&s->last_version, 1, __ATOMIC_RELAXED);
        unsigned char *value = values + i * value_len;
        memcpy(value, pages[i], s->page_size);
        redis_version_put(value + s->page_size, versions[i]);
        for (unsigned replica = 0; replica < copies; replica++, n++) {
            cmds[n].name = "SET";
            cmds[n].value = value;
            cmds[n].value_len = value_len;
            cmds[n].index = i;
            redis_route_key(s, &cmds[n], keys[i], replica);
        }
    }
    redis_run(s, cmds, n);

    /* Per page: written when any copy was; otherwise "full" when a server
     * refused for memory, else the first failure. */
    for (size_t j = 0; j < n;) {
        size_t i = cmds[j].index;
        int full = 0, failed = 0;
        unsigned written = 0;
        char page_why[400] = "";
        for (unsigned replica = 0; replica < copies; replica++, j++) {
            struct redis_cmd *cmd = &cmds[j];
            if (cmd->reply && cmd->reply->type == REDIS_REPLY_STATUS) {
                written++;
                continue;
            }
            char one[400];
            int rc = cmd_failure(s, cmd, one, sizeof one);
            if (rc == -ENOSPC)
                full = 1;
            if (!failed || rc == -ENOSPC)
                snprintf(page_why, sizeof page_why, "%s", one);
            if (!failed)
                failed = rc;
        }
        if (written) {
            /* Fewer copies than asked: the refiller writes the others. */
            uint64_t value = versions[i] | (written < copies ? KEY_SET_DEGRADED : 0);
            if (key_set_settle(&s->keys, keys[i], value) < 0) {
                results[i] = -ENOMEM;
                snprintf(page_why, sizeof page_why, "redis: out of memory");
            }
        } else {
            /* The copies written before still hold the version on record. */
            key_set_unclaim(&s->keys, keys[i]);
            results[i] = full ? -ENOSPC : failed;
        }
        if (results[i] && !first)
            snprintf(why, sizeof why, "%s", page_why);
        note_failure(&first, results[i], why, err);
    }
    first = 0;
    for (size_t i = 0; i < count && !first; i++)
        first = results[i];
    if (first == -ENOSPC && !why[0])
        tierpage_error_set(err, -ENOSPC, NULL, "redis: tier full (capacity of %" PRIu64 " pages)", s->capacity_pages);
    free(values);
    free(versions);
    cmds_free(cmds, total, local);
    return first;
}

static int redis_put(void *store, uint64_t key, const void *page, tierpage_error *err)
{
    int result;
    const void *pages[1] = {page};
    return redis_put_batch(store, 1, &key, pages, &result, err);
}

/* ---------------------------------------------------------------- delete */

/* Each page's copies deleted, all the batch's commands pipelined (one
 * round trip per server, not one per key). A page's result: 0 when some
 * copy was removed, -ENOENT when none was there, a failure when no server
 * holding it answered. */
static int redis_del_batch(void *store, size_t count, const uint64_t *keys, int *results, tierpage_error *err)
{
    struct redis_store *s = store;
    unsigned copies = s->cluster ? 1 : s->opt.replicas;
    int held = lease_refuses(s, count, results, err);
    if (held < 0)
        return held;
    size_t total = count * copies;
    struct redis_cmd local[LOCAL_CMDS];
    struct redis_cmd *cmds = cmds_alloc(total, local);
    if (!cmds) {
        for (size_t i = 0; i < count; i++)
            results[i] = -ENOMEM;
        return tierpage_error_set(err, -ENOMEM, NULL, "redis: out of memory");
    }
    for (size_t i = 0; i < count; i++)
        results[i] = 0;
    key_set_claim_all(&s->keys, count, keys, results); /* not while the refiller copies them */
    for (size_t i = 0, n = 0; i < count; i++) {
        for (unsigned replica = 0; replica < copies; replica++, n++) {
            cmds[n].name = "DEL";
            cmds[n].index = i;
            redis_route_key(s, &cmds[n], keys[i], replica);
        }
    }
    redis_run(s, cmds, total);
    int first = 0;
    for (size_t i = 0, n = 0; i < count; i++) {
        long long removed = 0;
        unsigned answered = 0;
        int failed = 0;
        char why[400] = "";
        for (unsigned replica = 0; replica < copies; replica++, n++) {
            struct redis_cmd *cmd = &cmds[n];
            if (cmd->reply && cmd->reply->type == REDIS_REPLY_INTEGER) {
                removed += cmd->reply->integer;
                answered++;
            } else if (!failed) {
                failed = cmd_failure(s, cmd, why, sizeof why);
            }
        }
        key_set_remove(&s->keys, keys[i]);
        /* A copy on a server that is gone is gone with it (servers run
         * without persistence); the delete fails only when no server
         * answered. */
        if (answered == 0) {
            results[i] = failed ? failed : -EIO;
            if (!first) {
                first = results[i];
                tierpage_error_set(err, first, NULL, "%s", why);
            }
        } else {
            results[i] = removed > 0 ? 0 : -ENOENT;
        }
    }
    cmds_free(cmds, total, local);
    return first;
}

static int redis_del(void *store, uint64_t key, tierpage_error *err)
{
    int result;
    int rc = redis_del_batch(store, 1, &key, &result, err);
    return rc < 0 ? rc : result;
}

/* ----------------------------------------------------------------- usage */

size_t redis_every_master(struct redis_store *s, struct redis_node **nodes, size_t max)
{
    if (s->cluster)
        return cluster_map_masters(s->cluster, nodes, max);
    size_t count = s->opt.server_count < max ? s->opt.server_count : max;
    memcpy(nodes, s->servers, count * sizeof nodes[0]);
    return count;
}

static int redis_usage(void *store, tierpage_store_usage *usage, tierpage_error *err)
{
    (void)err;
    struct redis_store *s = store;
    uint64_t pages = key_set_count(&s->keys);
    unsigned copies = s->cluster ? 1 : s->opt.replicas;
    usage->capacity_bytes = s->capacity_pages ? s->capacity_pages * s->page_size : s->maxmemory / copies;
    usage->used_bytes = pages * s->page_size;
    usage->pages = pages;
    /* Only a copy the tier made itself can be missing: a cluster's own
     * replicas are the cluster's business. */
    usage->under_replicated_pages = s->cluster || s->opt.replicas < 2 ? 0 : key_set_degraded(&s->keys);
    return 0;
}

static int redis_clear(void *store, tierpage_error *err)
{
    __atomic_store_n(&((struct redis_store *)store)->recovering, 0, __ATOMIC_RELAXED);
    return redis_clear_namespace(store, err);
}

/* ------------------------------------------------------------ open/close */

static void redis_close(void *store)
{
    struct redis_store *s = store;
    if (!s)
        return;
    if (s->refiller)
        ns_heartbeat_stop(s->refiller);
    if (s->heartbeat) {
        ns_heartbeat_stop(s->heartbeat);
        /* A lost lease leaves the keys alone: with namespace: exclusive
         * they are the next holder's now. */
        if (!__atomic_load_n(&s->lease.lost, __ATOMIC_ACQUIRE))
            redis_drop_own_pages(s);
        redis_lease_release(s);
    }
    if (s->debug)
        tierpage_log(s->conn.host, TIERPAGE_LOG_DEBUG, "%" PRIu64 " MOVED and %" PRIu64 " ASK redirections "
                     "followed, %" PRIu64 " slot map reloads, %" PRIu64 " gets from a later replica, %" PRIu64
                     " pages under-replicated", s->counters.moved, s->counters.ask, s->counters.refreshes,
                     s->counters.fallbacks, key_set_degraded(&s->keys));
    for (size_t i = 0; i < REDIS_MAX_SERVERS; i++)
        redis_node_free(s->servers[i]);
    hash_ring_free(&s->ring);
    cluster_map_free(s->cluster);
    key_set_destroy(&s->keys);
    lease_clock_destroy(&s->lease);
    free(s);
}

static int open_plain(struct redis_store *s, tierpage_error *err)
{
    const char *names[REDIS_MAX_SERVERS];
    for (size_t i = 0; i < s->opt.server_count; i++) {
        s->servers[i] = redis_node_new(&s->opt.servers[i], &s->conn);
        if (!s->servers[i])
            return tierpage_error_set(err, -ENOMEM, NULL, "redis: out of memory");
        names[i] = s->opt.servers[i].name;
    }
    if (hash_ring_build(&s->ring, names, s->opt.server_count) < 0)
        return tierpage_error_set(err, -ENOMEM, NULL, "redis: out of memory");
    return 0;
}

static int open_cluster(struct redis_store *s, tierpage_error *err)
{
    s->cluster = cluster_map_new(s->opt.servers, s->opt.server_count, &s->conn);
    if (!s->cluster)
        return tierpage_error_set(err, -ENOMEM, NULL, "redis: out of memory");
    char why[400];
    int rc = cluster_map_refresh(s->cluster, why, sizeof why);
    if (rc < 0)
        return tierpage_error_set(err, rc, "servers", "%s", why);
    size_t uncovered = cluster_map_uncovered(s->cluster);
    if (uncovered)
        return tierpage_error_set(err, -EINVAL, "servers", "redis: the cluster at %s leaves %zu of %d slots "
                                  "unserved", s->opt.servers[0].name, uncovered, CLUSTER_SLOTS);
    return 0;
}

static int redis_open(const tierpage_store_params *params, void **store, tierpage_error *err)
{
    *store = NULL;
    if (params->page_size == 0)
        return tierpage_error_set(err, -EINVAL, NULL, "redis: page size must be greater than 0");
    struct redis_store *s = calloc(1, sizeof *s);
    if (!s)
        return tierpage_error_set(err, -ENOMEM, NULL, "redis: out of memory");
    int rc = ns_keys_init(&s->ns, params, "redis", err);
    if (rc == 0)
        rc = redis_options_parse(params, &s->opt, err);
    if (rc < 0) {
        free(s);
        return rc;
    }
    if (key_set_init(&s->keys) < 0) {
        free(s);
        return tierpage_error_set(err, -ENOMEM, NULL, "redis: out of memory");
    }
    /* Versions start where the instance id says: two stacks that write one
     * key (namespace: exclusive, the second after the first's lease ran
     * out) do not give it the same version, so neither reads the other's. */
    s->last_version = strtoull(s->ns.instance, NULL, 16) & (KEY_SET_VERSION_MASK >> 1);
    s->recovering = params->host && params->host->version >= 4 && params->recovering;
    s->page_size = params->page_size;
    s->capacity_pages = params->capacity / params->page_size;
    s->conn = (struct redis_conn_settings){
        .connect_timeout_ms = s->opt.connect_timeout_ms,
        .io_timeout_ms = s->opt.io_timeout_ms,
        .reply_spin_us = s->opt.reply_spin_us,
        .user = s->opt.user[0] ? s->opt.user : NULL,
        .password = s->opt.has_password ? s->opt.password : NULL,
        .host = params->host,
    };
    const char *debug = getenv("TIERPAGE_REDIS_DEBUG");
    s->debug = debug && debug[0] && strcmp(debug, "0") != 0;
    lease_clock_init(&s->lease, s->opt.lease_ms, s->opt.cluster ? 1 : s->opt.server_count, s->opt.cluster);

    rc = s->opt.cluster ? open_cluster(s, err) : open_plain(s, err);
    if (rc == 0)
        rc = redis_check_servers(s, err);
    if (rc == 0)
        rc = redis_lease_take(s, err);
    if (rc == 0 && !(s->heartbeat = ns_heartbeat_start(params->host, s->opt.lease_ms / 3, redis_lease_renew, s))) {
        redis_lease_release(s);
        rc = tierpage_error_set(err, -ENOMEM, NULL, "redis: cannot start the thread that renews the lease");
    }
    if (rc == 0 && !s->cluster && s->opt.replicas > 1 &&
        !(s->refiller = ns_heartbeat_start(params->host, REDIS_REFILL_PERIOD_MS, redis_refill_pass, s)))
        rc = tierpage_error_set(err, -ENOMEM, NULL, "redis: cannot start the thread that refills replicas");
    if (rc < 0) {
        redis_close(s);
        return rc;
    }
    /* From here on a server that goes away is news; at open it is an error. */
    s->conn.report_changes = 1;
    *store = s;
    return 0;
}

/* A forked child of this instance ended: its pages and lease go. */
static int redis_drop_child_op(void *store, const char *child_instance, tierpage_error *err)
{
    return redis_drop_child(store, child_instance, err);
}

static const tierpage_store_ops redis_ops = {
    .abi_version = TIERPAGE_STORE_ABI_VERSION,
    .struct_size = sizeof(tierpage_store_ops),
    .name = "redis",
    .description = "pages in Redis servers: sharded with replicas, or a Redis Cluster",
    .flags = TIERPAGE_STORE_REMOTE | TIERPAGE_STORE_FORK_APART,
    .open = redis_open,
    .close = redis_close,
    .get = redis_get,
    .put = redis_put,
    .del = redis_del,
    .usage = redis_usage,
    .get_batch = redis_get_batch,
    .put_batch = redis_put_batch,
    .clear = redis_clear,
    .drop_child = redis_drop_child_op,
    .del_batch = redis_del_batch,
};

const tierpage_store_ops *tierpage_store_entry(void)
{
    return &redis_ops;
}
