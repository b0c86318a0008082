#include "redis_node.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock_ms.h"

/* How long a server that could not be reached is skipped. */
#define REDIS_DOWN_MS 500
/* Idle connections kept per server; more are closed on release. */
#define REDIS_IDLE_MAX 32

static struct timeval ms_to_timeval(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

struct redis_node *redis_node_new(const struct redis_address *addr, const struct redis_conn_settings *settings)
{
    struct redis_node *node = calloc(1, sizeof *node);
    if (!node)
        return NULL;
    node->addr = *addr;
    node->settings = settings;
    pthread_mutex_init(&node->lock, NULL);
    return node;
}

void redis_node_free(struct redis_node *node)
{
    if (!node)
        return;
    for (size_t i = 0; i < node->idle_count; i++)
        redisFree(node->idle[i]);
    free(node->idle);
    pthread_mutex_destroy(&node->lock);
    free(node);
}

static int authenticate(struct redis_node *node, redisContext *c, char *why, size_t why_size)
{
    const struct redis_conn_settings *st = node->settings;
    if (!st->password)
        return 0;
    redisReply *r;
    if (st->user)
        r = redisCommand(c, "AUTH %s %s", st->user, st->password);
    else
        r = redisCommand(c, "AUTH %s", st->password);
    if (!r) {
        snprintf(why, why_size, "redis: %s: AUTH failed: %s", node->addr.name, c->errstr);
        return -EIO;
    }
    int rc = 0;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(why, why_size, "redis: %s: AUTH refused: %s", node->addr.name, r->str);
        rc = -EACCES;
    }
    freeReplyObject(r);
    return rc;
}

redisContext *redis_node_acquire(struct redis_node *node, char *why, size_t why_size, int *refused)
{
    *refused = 0;
    pthread_mutex_lock(&node->lock);
    if (node->idle_count > 0) {
        redisContext *c = node->idle[--node->idle_count];
        pthread_mutex_unlock(&node->lock);
        return c;
    }
    if (node->down_until_ms && tier_now_ms() < node->down_until_ms) {
        snprintf(why, why_size, "redis: %s: server unreachable: %s", node->addr.name, node->last_error);
        pthread_mutex_unlock(&node->lock);
        return NULL;
    }
    pthread_mutex_unlock(&node->lock);

    const struct redis_conn_settings *st = node->settings;
    struct timeval connect_tv = ms_to_timeval(st->connect_timeout_ms);
    redisContext *c = node->addr.port ? redisConnectWithTimeout(node->addr.host, node->addr.port, connect_tv)
                                      : redisConnectUnixWithTimeout(node->addr.host, connect_tv);
    if (!c || c->err) {
        char reason[128];
        snprintf(reason, sizeof reason, "%s", c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        snprintf(why, why_size, "redis: %s: cannot connect: %s", node->addr.name, reason);
        pthread_mutex_lock(&node->lock);
        snprintf(node->last_error, sizeof node->last_error, "cannot connect: %s", reason);
        node->down_until_ms = tier_now_ms() + REDIS_DOWN_MS;
        int news = !node->unreachable;
        node->unreachable = 1;
        pthread_mutex_unlock(&node->lock);
        if (news && st->report_changes)
            tierpage_log(st->host, TIERPAGE_LOG_WARNING, "%s is unreachable: %s", node->addr.name, reason);
        return NULL;
    }
    if (redisSetTimeout(c, ms_to_timeval(st->io_timeout_ms)) != REDIS_OK) {
        snprintf(why, why_size, "redis: %s: cannot set the I/O timeout", node->addr.name);
        redisFree(c);
        return NULL;
    }
    int rc = authenticate(node, c, why, why_size);
    if (rc < 0) {
        *refused = rc == -EACCES;
        redisFree(c);
        return NULL;
    }
    pthread_mutex_lock(&node->lock);
    node->down_until_ms = 0;
    int back = node->unreachable;
    node->unreachable = 0;
    pthread_mutex_unlock(&node->lock);
    if (back && st->report_changes)
        tierpage_log(st->host, TIERPAGE_LOG_INFO, "%s is reachable again", node->addr.name);
    return c;
}

void redis_node_release(struct redis_node *node, redisContext *c)
{
    if (!c)
        return;
    if (c->err) {
        /* The connection broke mid-command: it may have been the server
         * going away, so let the next caller find out quickly. */
        pthread_mutex_lock(&node->lock);
        snprintf(node->last_error, sizeof node->last_error, "%s", c->errstr);
        pthread_mutex_unlock(&node->lock);
        redisFree(c);
        return;
    }
    pthread_mutex_lock(&node->lock);
    if (node->idle_count == node->idle_cap && node->idle_cap < REDIS_IDLE_MAX) {
        size_t cap = node->idle_cap ? node->idle_cap * 2 : 4;
        redisContext **grown = realloc(node->idle, cap * sizeof *grown);
        if (grown) {
            node->idle = grown;
            node->idle_cap = cap;
        }
    }
    if (node->idle_count < node->idle_cap) {
        node->idle[node->idle_count++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&node->lock);
    if (c)
        redisFree(c);
}
