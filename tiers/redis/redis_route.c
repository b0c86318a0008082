/* Where commands go, and what happens when the cluster says elsewhere. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redis_tier.h"

void redis_format_key(const struct redis_store *s, struct redis_cmd *cmd, uint64_t key)
{
    cmd->key_len = ns_page_key(&s->ns, key, cmd->key, sizeof cmd->key);
}

void redis_route_key(struct redis_store *s, struct redis_cmd *cmd, uint64_t key, unsigned replica)
{
    redis_format_key(s, cmd, key);
    cmd->state = REDIS_CMD_PENDING;
    cmd->asking = 0;
    cmd->retries = 0;
    if (s->cluster) {
        cmd->node = cluster_map_lookup(s->cluster, cluster_key_slot(cmd->key, cmd->key_len));
        return;
    }
    uint32_t order[REDIS_MAX_SERVERS];
    size_t n = hash_ring_lookup(&s->ring, hash_ring_hash(cmd->key, cmd->key_len), order, replica + 1);
    cmd->node = s->servers[order[n - 1]];
}

int redis_parse_redirect(const char *msg, const char *kind, long *slot, char *endpoint, size_t size)
{
    size_t kl = strlen(kind);
    if (strncmp(msg, kind, kl) != 0 || msg[kl] != ' ')
        return 0;
    char *end;
    *slot = strtol(msg + kl + 1, &end, 10);
    if (*end != ' ' || *slot < 0 || *slot >= CLUSTER_SLOTS)
        return 0;
    snprintf(endpoint, size, "%s", end + 1);
    return endpoint[0] != '\0';
}

static int is_error(const struct redis_cmd *cmd, const char *prefix)
{
    return cmd->reply && cmd->reply->type == REDIS_REPLY_ERROR &&
           strncmp(cmd->reply->str, prefix, strlen(prefix)) == 0;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Looks at one finished command; 1 when it must be sent again. */
static int redirect(struct redis_store *s, struct redis_cmd *cmd, int *refresh)
{
    char endpoint[REDIS_HOST_MAX + 16];
    long slot;
    struct redis_node *target;
    if (cmd->reply && cmd->reply->type == REDIS_REPLY_ERROR &&
        redis_parse_redirect(cmd->reply->str, "MOVED", &slot, endpoint, sizeof endpoint)) {
        target = cluster_map_node(s->cluster, endpoint);
        if (!target)
            return 0;
        cluster_map_set_slot(s->cluster, (uint16_t)slot, target);
        uint64_t n = __atomic_add_fetch(&s->counters.moved, 1, __ATOMIC_RELAXED);
        if (s->debug && redis_debug_due(n))
            tierpage_log(s->conn.host, TIERPAGE_LOG_DEBUG, "MOVED slot %ld to %s (%" PRIu64 " so far)", slot,
                         endpoint, n);
        cmd->node = target;
        cmd->asking = 0;
        return 1;
    }
    if (cmd->reply && cmd->reply->type == REDIS_REPLY_ERROR &&
        redis_parse_redirect(cmd->reply->str, "ASK", &slot, endpoint, sizeof endpoint)) {
        target = cluster_map_node(s->cluster, endpoint);
        if (!target)
            return 0;
        uint64_t n = __atomic_add_fetch(&s->counters.ask, 1, __ATOMIC_RELAXED);
        if (s->debug && redis_debug_due(n))
            tierpage_log(s->conn.host, TIERPAGE_LOG_DEBUG, "ASK slot %ld at %s (%" PRIu64 " so far)", slot,
                         endpoint, n);
        /* The map stays: only this command goes to the importing node. */
        cmd->node = target;
        cmd->asking = 1;
        return 1;
    }
    if (is_error(cmd, "TRYAGAIN") || is_error(cmd, "CLUSTERDOWN")) {
        cmd->asking = 0;
        *refresh = 1;
        return 1;
    }
    if (!cmd->reply && !cmd->refused) {
        /* The node may have gone or lost its slots: ask the cluster again. */
        cmd->asking = 0;
        *refresh = 1;
        return 1;
    }
    return 0;
}

void redis_run(struct redis_store *s, struct redis_cmd *cmds, size_t count)
{
    if (!s->cluster) {
        redis_exec(cmds, count);
        return;
    }
    for (unsigned round = 0;; round++) {
        /* A slot no node serves (map not known yet): reload the map once. */
        int unrouted = 0;
        for (size_t i = 0; i < count; i++)
            unrouted |= cmds[i].state == REDIS_CMD_PENDING && !cmds[i].node;
        if (unrouted) {
            char why[400];
            cluster_map_refresh(s->cluster, why, sizeof why);
            for (size_t i = 0; i < count; i++) {
                struct redis_cmd *cmd = &cmds[i];
                if (cmd->state != REDIS_CMD_PENDING || cmd->node)
                    continue;
                cmd->node = cluster_map_lookup(s->cluster, cluster_key_slot(cmd->key, cmd->key_len));
                if (!cmd->node) {
                    cmd->state = REDIS_CMD_DONE;
                    cmd->failure = -EIO;
                    snprintf(cmd->why, sizeof cmd->why, "redis: no cluster node serves slot %u of key %s",
                             cluster_key_slot(cmd->key, cmd->key_len), cmd->key);
                }
            }
        }
        redis_exec(cmds, count);

        int again = 0, refresh = 0;
        for (size_t i = 0; i < count; i++) {
            struct redis_cmd *cmd = &cmds[i];
            if (cmd->state != REDIS_CMD_DONE || cmd->retries >= REDIS_MAX_REDIRECTS)
                continue;
            int was_transport = !cmd->reply;
            if (!redirect(s, cmd, &refresh))
                continue;
            cmd->retries++;
            if (cmd->retries >= REDIS_MAX_REDIRECTS) {
                /* Keep the last answer, and say why it was given up. */
                if (cmd->reply)
                    snprintf(cmd->why, sizeof cmd->why, "redis: %s: gave up after %d redirections: %s",
                             cmd->node->addr.name, REDIS_MAX_REDIRECTS, cmd->reply->str);
                continue;
            }
            struct redis_node *node = cmd->node;
            int asking = cmd->asking;
            redis_cmd_reset(cmd);
            cmd->node = was_transport ? NULL : node;
            cmd->asking = asking;
            again = 1;
        }
        if (!again)
            return;
        if (refresh) {
            char why[400];
            if (round > 0)
                pause_ms(round < 5 ? 10L * round : 100);
            if (cluster_map_refresh(s->cluster, why, sizeof why) == 0) {
                uint64_t n = __atomic_add_fetch(&s->counters.refreshes, 1, __ATOMIC_RELAXED);
                if (s->debug && redis_debug_due(n))
                    tierpage_log(s->conn.host, TIERPAGE_LOG_DEBUG, "slot map reloaded (%" PRIu64 " so far)", n);
            }
            for (size_t i = 0; i < count; i++) {
                if (cmds[i].state == REDIS_CMD_PENDING && !cmds[i].asking)
                    cmds[i].node = cluster_map_lookup(s->cluster, cluster_key_slot(cmds[i].key, cmds[i].key_len));
            }
        }
    }
}
