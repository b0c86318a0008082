/* Redundancy restored, not only used (plain servers, replicas > 1): a
 * thread of the store watches the servers and writes again the copies a
 * server lacks.
 *
 * A server that comes back (reachable after it was not, or another run_id:
 * it restarted, empty or from an older snapshot) may lack any page, or hold
 * an older version of it: every page is marked to check. Pages a put or a
 * get found short of copies are marked too. Each pass takes a batch of
 * marked pages it can claim without waiting (a put or delete of the page
 * holds it meanwhile), reads every copy, and where a server answered
 * without the page's current version, writes the good copy there. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock_ms.h"
#include "redis_tier.h"

#define REFILL_BATCH 64
#define REFILL_BUDGET_MS 150 /* of each pass */

/* Looks at each server; 1 when one came back since the last look. */
static int a_server_came_back(struct redis_store *s)
{
    int back = 0;
    for (size_t i = 0; i < s->opt.server_count; i++) {
        char why[400];
        int refused;
        redisContext *c = redis_node_acquire(s->servers[i], why, sizeof why, &refused);
        redisReply *r = c ? redisCommand(c, "INFO server") : NULL;
        const char *at = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, "run_id:") : NULL;
        if (!at) {
            s->server_down[i] = 1;
        } else {
            char run_id[sizeof s->run_id[i]];
            size_t len = strcspn(at + 7, "\r\n");
            snprintf(run_id, sizeof run_id, "%.*s", (int)len, at + 7);
            if (s->server_down[i] || (s->run_id[i][0] && strcmp(run_id, s->run_id[i]) != 0)) {
                back = 1;
                if (s->conn.report_changes)
                    tierpage_log(s->conn.host, TIERPAGE_LOG_INFO, "%s is back%s: checking its copies of every page",
                                 s->servers[i]->addr.name,
                                 s->run_id[i][0] && strcmp(run_id, s->run_id[i]) != 0 ? " (restarted)" : "");
            }
            memcpy(s->run_id[i], run_id, sizeof run_id);
            s->server_down[i] = 0;
        }
        if (r)
            freeReplyObject(r);
        if (c)
            redis_node_release(s->servers[i], c);
    }
    return back;
}

/* The copy of a page a GET returned is its current version. */
static int is_good(const struct redis_store *s, const struct redis_cmd *cmd, uint64_t version)
{
    const redisReply *r = cmd->reply;
    return r && r->type == REDIS_REPLY_STRING && r->len == s->page_size + REDIS_VERSION_BYTES &&
           redis_version_get((const unsigned char *)r->str + s->page_size) == version;
}

/* One batch of marked pages; returns how many were looked at. */
static size_t refill_batch(struct redis_store *s)
{
    unsigned copies = s->opt.replicas;
    uint64_t keys[REFILL_BATCH], versions[REFILL_BATCH];
    size_t listed = key_set_list_degraded(&s->keys, keys, REFILL_BATCH, &s->refill_cursor);
    size_t n = 0;
    for (size_t k = 0; k < listed; k++)
        if (key_set_try_claim(&s->keys, keys[k], &versions[n]))
            keys[n++] = keys[k];
    if (n == 0)
        return listed;
    struct redis_cmd *gets = calloc(n * copies, sizeof *gets);
    struct redis_cmd *sets = calloc(n * copies, sizeof *sets);
    if (!gets || !sets) {
        for (size_t k = 0; k < n; k++)
            key_set_unclaim(&s->keys, keys[k]);
        free(gets);
        free(sets);
        return listed;
    }
    for (size_t k = 0; k < n; k++) {
        versions[k] &= KEY_SET_VERSION_MASK;
        for (unsigned r = 0; r < copies; r++) {
            struct redis_cmd *cmd = &gets[k * copies + r];
            cmd->name = "GET";
            cmd->index = k;
            redis_route_key(s, cmd, keys[k], r);
        }
    }
    redis_run(s, gets, n * copies);

    /* Where a server answered without the current version, write it there. */
    size_t m = 0;
    int *short_of = calloc(n, sizeof *short_of);
    for (size_t k = 0; k < n && short_of; k++) {
        const struct redis_cmd *good = NULL;
        for (unsigned r = 0; r < copies && !good; r++)
            if (is_good(s, &gets[k * copies + r], versions[k]))
                good = &gets[k * copies + r];
        for (unsigned r = 0; r < copies; r++) {
            struct redis_cmd *cmd = &gets[k * copies + r];
            if (is_good(s, cmd, versions[k]))
                continue;
            int answered = cmd->reply && (cmd->reply->type == REDIS_REPLY_NIL || cmd->reply->type == REDIS_REPLY_STRING);
            if (!good || !answered) {
                short_of[k] = 1; /* no good copy to copy, or the server is away: later */
                continue;
            }
            struct redis_cmd *set = &sets[m++];
            set->name = "SET";
            set->index = k;
            set->value = good->reply->str;
            set->value_len = good->reply->len;
            redis_route_key(s, set, keys[k], r);
        }
    }
    if (m)
        redis_run(s, sets, m);
    for (size_t j = 0; j < m && short_of; j++)
        if (!sets[j].reply || sets[j].reply->type != REDIS_REPLY_STATUS)
            short_of[sets[j].index] = 1;
    for (size_t k = 0; k < n; k++)
        key_set_settle(&s->keys, keys[k], versions[k] | (!short_of || short_of[k] ? KEY_SET_DEGRADED : 0));
    for (size_t j = 0; j < n * copies; j++)
        if (gets[j].reply)
            freeReplyObject(gets[j].reply);
    for (size_t j = 0; j < m; j++)
        if (sets[j].reply)
            freeReplyObject(sets[j].reply);
    free(short_of);
    free(gets);
    free(sets);
    return listed;
}

void redis_refill_pass(void *store)
{
    struct redis_store *s = store;
    if (__atomic_load_n(&s->lease.lost, __ATOMIC_ACQUIRE))
        return; /* the keys may be another stack's now */
    if (a_server_came_back(s))
        key_set_degrade_all(&s->keys);
    uint64_t start = tier_now_ms();
    uint64_t degraded = key_set_degraded(&s->keys);
    if (degraded && !s->reported_degraded && s->conn.report_changes)
        tierpage_log(s->conn.host, TIERPAGE_LOG_WARNING, "%" PRIu64 " pages may have fewer than %u copies: refilling",
                     degraded, s->opt.replicas);
    if (degraded)
        s->reported_degraded = 1;
    while (degraded && tier_now_ms() - start < REFILL_BUDGET_MS) {
        if (refill_batch(s) == 0 && s->refill_cursor == 0)
            break;
        degraded = key_set_degraded(&s->keys);
    }
    if (!degraded && s->reported_degraded) {
        s->reported_degraded = 0;
        if (s->conn.report_changes)
            tierpage_log(s->conn.host, TIERPAGE_LOG_INFO, "every page has its %u copies again", s->opt.replicas);
    }
}
