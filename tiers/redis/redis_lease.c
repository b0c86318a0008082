/* The lease of a running stack (tiers/common/ns_keys.h): "tpl:<namespace>:
 * <instance>", or "tpl:<namespace>" for namespace: exclusive, whose value
 * is this instance. SET NX PX takes it, a script that checks the value
 * renews (PEXPIRE) or releases (DEL) it, so a stack never renews or drops
 * a lease another stack took after its own ran out. Plain servers each
 * hold a copy, so that a later open can tell a running instance's pages
 * from a dead one's on the server that holds them; a cluster holds one.
 *
 * What the stack may count on is kept by its own clock (lease_clock.h):
 * a lease that ran out while the stack still used it, or that another
 * stack holds now, is lost, and the store is used no more. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock_ms.h"
#include "redis_tier.h"

static const char renew_script[] =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0";
static const char release_script[] =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";

/* One command about `key` on a plain server, or on the cluster master of
 * its slot (node NULL), following a moved slot by reloading the map. The
 * reply, or NULL with the failure in why. */
static redisReply *lease_command(struct redis_store *s, struct redis_node *node, const char *key, int argc,
                                 const char **argv, char *why, size_t size, const char **where)
{
    size_t len[8];
    for (int i = 0; i < argc; i++)
        len[i] = strlen(argv[i]);
    for (unsigned attempt = 0; attempt < REDIS_MAX_REDIRECTS; attempt++) {
        struct redis_node *target = node;
        if (!target) {
            target = cluster_map_lookup(s->cluster, cluster_key_slot(key, strlen(key)));
            if (!target) {
                cluster_map_refresh(s->cluster, why, size);
                continue;
            }
        }
        *where = target->addr.name;
        int refused;
        redisContext *c = redis_node_acquire(target, why, size, &refused);
        if (!c) {
            if (node)
                return NULL;
            cluster_map_refresh(s->cluster, why, size);
            continue;
        }
        redisReply *r = redisCommandArgv(c, argc, argv, len);
        if (!r)
            snprintf(why, size, "redis: %s: %s %s: %s", target->addr.name, argv[0], key, c->errstr);
        redis_node_release(target, c);
        if (!node && r && r->type == REDIS_REPLY_ERROR &&
            (strncmp(r->str, "MOVED", 5) == 0 || strncmp(r->str, "ASK", 3) == 0 ||
             strncmp(r->str, "TRYAGAIN", 8) == 0 || strncmp(r->str, "CLUSTERDOWN", 11) == 0)) {
            freeReplyObject(r);
            struct timespec pause = {0, 10 * 1000000L};
            nanosleep(&pause, NULL);
            cluster_map_refresh(s->cluster, why, size);
            continue;
        }
        if (r && r->type == REDIS_REPLY_ERROR) {
            snprintf(why, size, "redis: %s: %s %s: %s", target->addr.name, argv[0], key, r->str);
            freeReplyObject(r);
            return NULL;
        }
        return r;
    }
    snprintf(why, size, "redis: %s %s: the cluster kept redirecting", argv[0], key);
    return NULL;
}

/* The places that hold the lease: every plain server, or the cluster. */
static size_t lease_nodes(struct redis_store *s, struct redis_node **nodes)
{
    if (s->cluster) {
        nodes[0] = NULL;
        return 1;
    }
    memcpy(nodes, s->servers, s->opt.server_count * sizeof nodes[0]);
    return s->opt.server_count;
}

/* SET NX PX on one place: 1 taken, 0 held by another, negative errno. */
static int take_one(struct redis_store *s, struct redis_node *node, char *why, size_t size, const char **where)
{
    char ms[16];
    snprintf(ms, sizeof ms, "%u", s->opt.lease_ms);
    const char *argv[] = {"SET", s->ns.lease, s->ns.instance, "NX", "PX", ms};
    redisReply *r = lease_command(s, node, s->ns.lease, 6, argv, why, size, where);
    if (!r)
        return -EIO;
    int taken = r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    return taken;
}

/* Recovering a killed pager's stack under its instance: a lease held under
 * this very instance id is the dead pager's, renewed and this open's from
 * now on. 1 when taken over so. */
static int take_over(struct redis_store *s, struct redis_node *node, char *why, size_t size, const char **where)
{
    char ms[16];
    snprintf(ms, sizeof ms, "%u", s->opt.lease_ms);
    const char *argv[] = {"EVAL", renew_script, "1", s->ns.lease, s->ns.instance, ms};
    redisReply *r = lease_command(s, node, s->ns.lease, 6, argv, why, size, where);
    int renewed = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    if (r)
        freeReplyObject(r);
    return renewed;
}

int redis_lease_take(struct redis_store *s, tierpage_error *err)
{
    struct redis_node *nodes[REDIS_MAX_SERVERS];
    size_t count = lease_nodes(s, nodes);
    char why[400];
    for (size_t i = 0; i < count; i++) {
        const char *where = "";
        uint64_t sent = tier_now_ms();
        int rc = take_one(s, nodes[i], why, sizeof why, &where);
        if (rc == 0 && s->recovering)
            rc = take_over(s, nodes[i], why, sizeof why, &where);
        if (rc == 1) {
            lease_clock_confirmed(&s->lease, i, sent);
            continue;
        }
        if (rc < 0) {
            redis_lease_release(s);
            return tierpage_error_set(err, rc, "servers", "cannot take the namespace's lease: %s", why);
        }
        /* Held: who holds it, and for how long yet. */
        char holder[NS_ID_LEN + 1] = "?";
        long long ttl = -1;
        const char *get[] = {"GET", s->ns.lease}, *pttl[] = {"PTTL", s->ns.lease};
        redisReply *r = lease_command(s, nodes[i], s->ns.lease, 2, get, why, sizeof why, &where);
        if (r && r->type == REDIS_REPLY_STRING)
            snprintf(holder, sizeof holder, "%s", r->str);
        if (r)
            freeReplyObject(r);
        if ((r = lease_command(s, nodes[i], s->ns.lease, 2, pttl, why, sizeof why, &where))) {
            if (r->type == REDIS_REPLY_INTEGER)
                ttl = r->integer;
            freeReplyObject(r);
        }
        redis_lease_release(s);
        if (!s->ns.exclusive)
            return tierpage_error_set(err, -EEXIST, NULL, "redis: %s: instance %s of namespace '%s' is already "
                                      "open", where, s->ns.instance, s->ns.name);
        return tierpage_error_set(err, -EBUSY, NULL, "redis: %s: namespace '%s' is in use by another running "
                                  "stack (namespace: exclusive; lease %s held by instance %s for %lld ms more)",
                                  where, s->ns.name, s->ns.lease, holder, ttl);
    }
    return 0;
}

/* One renewal pass over the places (lease lock held). */
static void renew_locked(void *store)
{
    struct redis_store *s = store;
    struct redis_node *nodes[REDIS_MAX_SERVERS];
    size_t count = lease_nodes(s, nodes);
    char ms[16], why[400];
    snprintf(ms, sizeof ms, "%u", s->opt.lease_ms);
    for (size_t i = 0; i < count && !__atomic_load_n(&s->lease.lost, __ATOMIC_ACQUIRE); i++) {
        const char *where = "";
        const char *argv[] = {"EVAL", renew_script, "1", s->ns.lease, s->ns.instance, ms};
        uint64_t sent = tier_now_ms();
        redisReply *r = lease_command(s, nodes[i], s->ns.lease, 6, argv, why, sizeof why, &where);
        if (!r) {
            /* A plain server that is down has no lease to keep (taken
             * again when it is back); a cluster's one lease that cannot be
             * renewed in time is one the stack cannot count on. */
            lease_clock_unreached(&s->lease, i);
            if (s->cluster && !lease_clock_valid(&s->lease, i, tier_now_ms()))
                lease_clock_lose(&s->lease, s->conn.host, "redis: lost the lease on namespace '%s': not renewed "
                                 "within lease_ms (%u ms): %s; another stack may have taken its pages",
                                 s->ns.name, s->opt.lease_ms, why);
            continue;
        }
        int renewed = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
        freeReplyObject(r);
        if (renewed) {
            lease_clock_confirmed(&s->lease, i, sent);
            continue;
        }
        if (lease_clock_ran_out(&s->lease, i, sent)) {
            lease_clock_lose(&s->lease, s->conn.host, "redis: %s: lost the lease on namespace '%s': it ran out, "
                             "not renewed within lease_ms (%u ms; a stall of this process or of the server); "
                             "another stack may have taken its pages", where, s->ns.name, s->opt.lease_ms);
            return;
        }
        /* Gone while it was still good (a server restarted or flushed, or
         * one that was down): take it again, unless another stack has it. */
        sent = tier_now_ms();
        int rc = take_one(s, nodes[i], why, sizeof why, &where);
        if (rc == 1)
            lease_clock_confirmed(&s->lease, i, sent);
        else if (rc == 0)
            lease_clock_lose(&s->lease, s->conn.host, "redis: %s: lost the lease on namespace '%s' to another "
                             "stack", where, s->ns.name);
        else
            lease_clock_unreached(&s->lease, i);
    }
}

void redis_lease_renew(void *store)
{
    struct redis_store *s = store;
    lease_clock_renew(&s->lease, renew_locked, s);
}

int redis_lease_check(struct redis_store *s, tierpage_error *err)
{
    return lease_clock_hold(&s->lease, renew_locked, s, err);
}

void redis_lease_release(struct redis_store *s)
{
    struct redis_node *nodes[REDIS_MAX_SERVERS];
    size_t count = lease_nodes(s, nodes);
    char why[400];
    for (size_t i = 0; i < count; i++) {
        const char *where = "";
        const char *argv[] = {"EVAL", release_script, "1", s->ns.lease, s->ns.instance};
        redisReply *r = lease_command(s, nodes[i], s->ns.lease, 5, argv, why, sizeof why, &where);
        if (r)
            freeReplyObject(r);
    }
}

void redis_lease_drop(struct redis_store *s, const char *instance)
{
    struct redis_node *nodes[REDIS_MAX_SERVERS];
    size_t count = lease_nodes(s, nodes);
    char key[NS_PREFIX_MAX + 2], why[400];
    ns_lease_key_of(&s->ns, instance, key, sizeof key);
    for (size_t i = 0; i < count; i++) {
        const char *where = "";
        const char *argv[] = {"DEL", key};
        redisReply *r = lease_command(s, nodes[i], key, 2, argv, why, sizeof why, &where);
        if (r)
            freeReplyObject(r);
    }
}

int redis_lease_alive(struct redis_store *s, struct redis_node *node, const char *instance)
{
    char key[NS_PREFIX_MAX + 2], why[400];
    ns_lease_key_of(&s->ns, instance, key, sizeof key);
    const char *where = "";
    const char *argv[] = {"EXISTS", key};
    redisReply *r = lease_command(s, s->cluster ? NULL : node, key, 2, argv, why, sizeof why, &where);
    if (!r)
        return -EIO;
    int alive = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
    freeReplyObject(r);
    return alive;
}
