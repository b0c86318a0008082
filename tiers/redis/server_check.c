/* What open checks on every server: that it answers, accepts our AUTH, and
 * will not evict pages behind our back. A server whose maxmemory-policy is
 * anything but noeviction drops keys when memory runs short, and a dropped
 * page is data lost: refuse it, or warn, as eviction_policy_check says. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_tier.h"

#define POLICY_HINT "set eviction_policy_check: warn to use it anyway"

/* CONFIG GET <name>: the value, or NULL with the refusal in why. */
static char *config_get(redisContext *c, const char *name, char *why, size_t size)
{
    redisReply *r = redisCommand(c, "CONFIG GET %s", name);
    char *value = NULL;
    if (!r)
        snprintf(why, size, "%s", c->errstr);
    else if (r->type == REDIS_REPLY_ERROR)
        snprintf(why, size, "%s", r->str);
    else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[1]->type != REDIS_REPLY_STRING)
        snprintf(why, size, "CONFIG GET %s gave no value", name);
    else
        value = strdup(r->element[1]->str);
    if (r)
        freeReplyObject(r);
    return value;
}

/* A problem with a server's policy: an error under refuse, a warning under warn. */
static int policy_problem(struct redis_store *s, tierpage_error *err, const char *fmt, const char *server,
                          const char *detail)
{
    char msg[640];
    snprintf(msg, sizeof msg, fmt, server, detail);
    if (s->opt.policy_check == REDIS_POLICY_WARN) {
        tierpage_log(s->conn.host, TIERPAGE_LOG_WARNING, "%s; going on (eviction_policy_check: warn)", msg);
        return 0;
    }
    return tierpage_error_set(err, -EINVAL, "servers", "redis: %s; " POLICY_HINT, msg);
}

static int check_one(struct redis_store *s, struct redis_node *node, uint64_t *maxmemory, tierpage_error *err)
{
    char why[400];
    int refused;
    redisContext *c = redis_node_acquire(node, why, sizeof why, &refused);
    if (!c)
        return tierpage_error_set(err, refused ? -EACCES : -EHOSTUNREACH, refused ? "password" : "servers", "%s",
                                  why);
    /* PING first: a server that wants a password says so here. */
    redisReply *r = redisCommand(c, "PING");
    int rc = 0;
    if (!r) {
        rc = tierpage_error_set(err, -EIO, "servers", "redis: %s: %s", node->addr.name, c->errstr);
    } else if (r->type == REDIS_REPLY_ERROR) {
        int auth = strncmp(r->str, "NOAUTH", 6) == 0;
        rc = tierpage_error_set(err, auth ? -EACCES : -EIO, auth ? "servers" : "servers", "redis: %s: %s%s",
                                node->addr.name, r->str, auth ? " (set password:)" : "");
    }
    if (r)
        freeReplyObject(r);
    if (rc) {
        redis_node_release(node, c);
        return rc;
    }

    char *policy = config_get(c, "maxmemory-policy", why, sizeof why);
    if (!policy) {
        rc = policy_problem(s, err, "%s: cannot read maxmemory-policy (%s), so pages could be evicted "
                            "unseen", node->addr.name, why);
    } else if (strcmp(policy, "noeviction") != 0) {
        rc = policy_problem(s, err, "%s has maxmemory-policy %s: it may evict pages when memory runs "
                            "short; run it with noeviction", node->addr.name, policy);
    }
    free(policy);

    char *limit = rc ? NULL : config_get(c, "maxmemory", why, sizeof why);
    *maxmemory = limit ? strtoull(limit, NULL, 10) : 0;
    free(limit);
    redis_node_release(node, c);
    return rc;
}

int redis_check_servers(struct redis_store *s, tierpage_error *err)
{
    struct redis_node *nodes[CLUSTER_SLOTS < 1024 ? CLUSTER_SLOTS : 1024];
    size_t count = redis_every_master(s, nodes, sizeof nodes / sizeof nodes[0]);
    uint64_t total = 0;
    int all_limited = count > 0;
    for (size_t i = 0; i < count; i++) {
        uint64_t maxmemory = 0;
        int rc = check_one(s, nodes[i], &maxmemory, err);
        if (rc < 0)
            return rc;
        total += maxmemory;
        all_limited &= maxmemory > 0;
    }
    /* One server without a limit makes the tier's room unknown. */
    s->maxmemory = all_limited ? total : 0;
    return 0;
}
