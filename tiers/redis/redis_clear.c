/* clear and close: which of the namespace's keys go.
 *
 * clear (at open): SCAN each server (each master of a cluster) for
 * "tp:<namespace>:*" and UNLINK, one pipeline per SCAN page, the keys of
 * instances whose lease is gone (ns_keys.h: stacks that stopped without
 * closing), this instance's own, and with namespace: exclusive the
 * namespace's fixed keys, which this stack's lease now covers. A running
 * instance's pages stay. close: SCAN this instance's prefix and UNLINK.
 * drop_child: the same for a forked child's instance that ended, then
 * its lease. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_tier.h"

/* Instances whose lease was looked up during one clear. */
#define LIVENESS_CACHE 64

struct liveness {
    struct redis_node *node; /* where the lease was asked: the server, or NULL on a cluster */
    char instance[NS_ID_LEN + 1];
    int alive;
};

struct sweep {
    struct redis_store *s;
    struct redis_node *node;
    int own_only;            /* close: this instance's pages, nothing else */
    const char *child;       /* drop_child: that instance's pages, nothing else */
    struct liveness cache[LIVENESS_CACHE];
    size_t cached;
    tierpage_error *err;
    int failure;
    uint64_t removed;        /* keys unlinked */
};

/* 1 when the key is to go, 0 to keep it, negative errno when a lease
 * could not be asked (then nothing is removed on a guess). */
static int doomed(struct sweep *w, const char *key, size_t len)
{
    char instance[NS_ID_LEN + 1];
    enum ns_key_kind kind = ns_key_classify(&w->s->ns, key, len, instance);
    if (kind == NS_KEY_EXCLUSIVE)
        return w->s->ns.exclusive;
    if (kind != NS_KEY_INSTANCE)
        return 0;
    if (w->child)
        return strcmp(instance, w->child) == 0;
    if (!w->s->ns.exclusive && strcmp(instance, w->s->ns.instance) == 0)
        return 1;
    if (w->own_only)
        return 0;
    struct redis_node *where = w->s->cluster ? NULL : w->node;
    for (size_t i = 0; i < w->cached; i++)
        if (w->cache[i].node == where && strcmp(w->cache[i].instance, instance) == 0)
            return !w->cache[i].alive;
    int alive = redis_lease_alive(w->s, where, instance);
    if (alive < 0)
        return alive;
    if (w->cached < LIVENESS_CACHE) {
        struct liveness *l = &w->cache[w->cached++];
        l->node = where;
        memcpy(l->instance, instance, sizeof l->instance);
        l->alive = alive;
    }
    return !alive;
}

static int unlink_keys(struct sweep *w, redisContext *c, const redisReply *keys)
{
    const char *server = w->node->addr.name;
    size_t sent = 0;
    for (size_t i = 0; i < keys->elements; i++) {
        const redisReply *k = keys->element[i];
        if (k->type != REDIS_REPLY_STRING)
            continue;
        int rc = doomed(w, k->str, (size_t)k->len);
        if (rc < 0)
            return tierpage_error_set(w->err, rc, NULL, "redis: %s: cannot tell whether the instance owning %s "
                                      "is running", server, k->str);
        if (!rc)
            continue;
        const char *argv[2] = {"UNLINK", k->str};
        size_t len[2] = {6, (size_t)k->len};
        if (redisAppendCommandArgv(c, 2, argv, len) != REDIS_OK)
            return tierpage_error_set(w->err, -EIO, NULL, "redis: %s: cannot send UNLINK", server);
        sent++;
    }
    w->removed += sent;
    for (size_t i = 0; i < sent; i++) {
        void *reply = NULL;
        if (redisGetReply(c, &reply) != REDIS_OK)
            return tierpage_error_set(w->err, -EIO, NULL, "redis: %s: UNLINK: %s", server, c->errstr);
        redisReply *r = reply;
        int bad = r->type == REDIS_REPLY_ERROR;
        if (bad)
            tierpage_error_set(w->err, -EIO, NULL, "redis: %s: UNLINK: %s", server, r->str);
        freeReplyObject(r);
        if (bad)
            return -EIO;
    }
    return 0;
}

static int sweep_node(struct sweep *w, const char *pattern)
{
    struct redis_node *node = w->node;
    char why[400];
    int refused;
    redisContext *c = redis_node_acquire(node, why, sizeof why, &refused);
    if (!c)
        return tierpage_error_set(w->err, refused ? -EACCES : -EIO, NULL, "%s", why);
    char cursor[32] = "0";
    int rc = 0;
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (!r) {
            rc = tierpage_error_set(w->err, -EIO, NULL, "redis: %s: SCAN: %s", node->addr.name, c->errstr);
            break;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            rc = tierpage_error_set(w->err, -EIO, NULL, "redis: %s: SCAN: %s", node->addr.name,
                                    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
            freeReplyObject(r);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        rc = unlink_keys(w, c, r->element[1]);
        freeReplyObject(r);
    } while (rc == 0 && strcmp(cursor, "0") != 0);
    redis_node_release(node, c);
    return rc;
}

/* SCAN pattern over every server or master; the namespace's characters
 * hold no glob specials (ns_keys_init refuses them). */
static int sweep(struct redis_store *s, int own_only, const char *child, uint64_t *removed, tierpage_error *err)
{
    char pattern[NS_PREFIX_MAX + NS_ID_LEN + 4];
    if (child)
        snprintf(pattern, sizeof pattern, "%s%s:*", s->ns.ns_prefix, child);
    else
        snprintf(pattern, sizeof pattern, "%s*", own_only ? s->ns.page_prefix : s->ns.ns_prefix);
    struct redis_node *nodes[1024];
    size_t count = redis_every_master(s, nodes, sizeof nodes / sizeof nodes[0]);
    struct sweep *w = calloc(1, sizeof *w);
    if (!w)
        return tierpage_error_set(err, -ENOMEM, NULL, "redis: out of memory");
    w->s = s;
    w->own_only = own_only;
    w->child = child;
    w->err = err;
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        w->node = nodes[i];
        rc = sweep_node(w, pattern);
    }
    if (removed)
        *removed = w->removed;
    free(w);
    return rc;
}

int redis_clear_namespace(struct redis_store *s, tierpage_error *err)
{
    int rc = sweep(s, 0, NULL, NULL, err);
    if (rc == 0)
        key_set_clear(&s->keys);
    return rc;
}

void redis_drop_own_pages(struct redis_store *s)
{
    tierpage_error err = {{0}, {0}};
    if (key_set_count(&s->keys) == 0)
        return;
    if (sweep(s, 1, NULL, NULL, &err) < 0)
        tierpage_log(s->conn.host, TIERPAGE_LOG_WARNING, "at close, cannot remove this stack's pages: %s",
                     err.message);
}

/* Passes of a child's sweep at most. */
#define CHILD_SWEEPS 4

int redis_drop_child(struct redis_store *s, const char *child_instance, tierpage_error *err)
{
    char instance[NS_ID_LEN + 1];
    snprintf(instance, sizeof instance, "%s", child_instance);
    /* A SET the child sent just before it ended may still wait in a
     * server's input when SCAN passes, and SCAN lists only keys there for
     * its whole run: sweep again until a pass finds nothing. */
    uint64_t removed = 1;
    int rc = 0;
    for (int pass = 0; pass < CHILD_SWEEPS && removed && rc == 0; pass++)
        rc = sweep(s, 0, instance, &removed, err);
    if (rc == 0)
        redis_lease_drop(s, instance);
    return rc;
}
