/* clear: a stack starts with no pages, but a run that died may have left
 * some under its namespace. SCAN each server (each master of a cluster) for
 * "tp:<namespace>:*" and UNLINK what it finds, one pipeline per SCAN page. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_tier.h"

/* The prefix as a glob with '*' at the end; glob specials are escaped. */
static void scan_pattern(const struct redis_store *s, char *out, size_t size)
{
    size_t n = 0;
    for (const char *p = s->prefix; *p && n + 3 < size; p++) {
        if (strchr("*?[]\\", *p))
            out[n++] = '\\';
        out[n++] = *p;
    }
    out[n++] = '*';
    out[n] = '\0';
}

static int unlink_keys(redisContext *c, const redisReply *keys, const char *server, tierpage_error *err)
{
    for (size_t i = 0; i < keys->elements; i++) {
        const redisReply *k = keys->element[i];
        const char *argv[2] = {"UNLINK", k->str};
        size_t len[2] = {6, (size_t)k->len};
        if (k->type != REDIS_REPLY_STRING || redisAppendCommandArgv(c, 2, argv, len) != REDIS_OK)
            return tierpage_error_set(err, -EIO, NULL, "redis: %s: cannot send UNLINK", server);
    }
    for (size_t i = 0; i < keys->elements; i++) {
        void *reply = NULL;
        if (redisGetReply(c, &reply) != REDIS_OK)
            return tierpage_error_set(err, -EIO, NULL, "redis: %s: UNLINK: %s", server, c->errstr);
        redisReply *r = reply;
        int bad = r->type == REDIS_REPLY_ERROR;
        if (bad)
            tierpage_error_set(err, -EIO, NULL, "redis: %s: UNLINK: %s", server, r->str);
        freeReplyObject(r);
        if (bad)
            return -EIO;
    }
    return 0;
}

static int clear_node(struct redis_store *s, struct redis_node *node, const char *pattern, tierpage_error *err)
{
    char why[400];
    int refused;
    redisContext *c = redis_node_acquire(node, why, sizeof why, &refused);
    if (!c)
        return tierpage_error_set(err, refused ? -EACCES : -EIO, NULL, "%s", why);
    char cursor[32] = "0";
    int rc = 0;
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (!r) {
            rc = tierpage_error_set(err, -EIO, NULL, "redis: %s: SCAN: %s", node->addr.name, c->errstr);
            break;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            rc = tierpage_error_set(err, -EIO, NULL, "redis: %s: SCAN: %s", node->addr.name,
                                    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
            freeReplyObject(r);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        rc = unlink_keys(c, r->element[1], node->addr.name, err);
        freeReplyObject(r);
    } while (rc == 0 && strcmp(cursor, "0") != 0);
    redis_node_release(node, c);
    (void)s;
    return rc;
}

int redis_clear_namespace(struct redis_store *s, tierpage_error *err)
{
    char pattern[REDIS_KEY_MAX * 2];
    scan_pattern(s, pattern, sizeof pattern);
    struct redis_node *nodes[1024];
    size_t count;
    if (s->cluster) {
        count = cluster_map_masters(s->cluster, nodes, sizeof nodes / sizeof nodes[0]);
    } else {
        count = s->opt.server_count;
        memcpy(nodes, s->servers, count * sizeof nodes[0]);
    }
    for (size_t i = 0; i < count; i++) {
        int rc = clear_node(s, nodes[i], pattern, err);
        if (rc < 0)
            return rc;
    }
    key_set_clear(&s->keys);
    return 0;
}
