#include "cluster_map.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint16_t cluster_crc16(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int bit = 0; bit < 8; bit++)
            crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

uint16_t cluster_key_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open) {
        const char *start = open + 1;
        const char *close = memchr(start, '}', len - (size_t)(start - key));
        if (close && close > start)
            return cluster_crc16(start, (size_t)(close - start)) & (CLUSTER_SLOTS - 1);
    }
    return cluster_crc16(key, len) & (CLUSTER_SLOTS - 1);
}

/* Write lock held. */
static struct redis_node *add_node(struct cluster_map *map, const struct redis_address *addr)
{
    for (size_t i = 0; i < map->node_count; i++)
        if (strcmp(map->nodes[i]->addr.name, addr->name) == 0)
            return map->nodes[i];
    if (map->node_count == map->node_cap) {
        size_t cap = map->node_cap ? map->node_cap * 2 : 8;
        struct redis_node **grown = realloc(map->nodes, cap * sizeof *grown);
        if (!grown)
            return NULL;
        map->nodes = grown;
        map->node_cap = cap;
    }
    struct redis_node *node = redis_node_new(addr, map->settings);
    if (node)
        map->nodes[map->node_count++] = node;
    return node;
}

struct cluster_map *cluster_map_new(const struct redis_address *seeds, size_t seed_count,
                                    const struct redis_conn_settings *settings)
{
    struct cluster_map *map = calloc(1, sizeof *map);
    if (!map)
        return NULL;
    pthread_rwlock_init(&map->lock, NULL);
    map->settings = settings;
    for (size_t i = 0; i < seed_count; i++) {
        if (!add_node(map, &seeds[i])) {
            cluster_map_free(map);
            return NULL;
        }
    }
    map->seed_count = map->node_count;
    return map;
}

void cluster_map_free(struct cluster_map *map)
{
    if (!map)
        return;
    for (size_t i = 0; i < map->node_count; i++)
        redis_node_free(map->nodes[i]);
    free(map->nodes);
    pthread_rwlock_destroy(&map->lock);
    free(map);
}

struct redis_node *cluster_map_node(struct cluster_map *map, const char *endpoint)
{
    struct redis_address addr;
    if (redis_address_parse(endpoint, strlen(endpoint), &addr) < 0)
        return NULL;
    pthread_rwlock_wrlock(&map->lock);
    struct redis_node *node = add_node(map, &addr);
    pthread_rwlock_unlock(&map->lock);
    return node;
}

struct redis_node *cluster_map_lookup(struct cluster_map *map, uint16_t slot)
{
    pthread_rwlock_rdlock(&map->lock);
    struct redis_node *node = map->slots[slot & (CLUSTER_SLOTS - 1)];
    pthread_rwlock_unlock(&map->lock);
    return node;
}

void cluster_map_set_slot(struct cluster_map *map, uint16_t slot, struct redis_node *node)
{
    pthread_rwlock_wrlock(&map->lock);
    map->slots[slot & (CLUSTER_SLOTS - 1)] = node;
    pthread_rwlock_unlock(&map->lock);
}

size_t cluster_map_masters(struct cluster_map *map, struct redis_node **out, size_t max)
{
    size_t n = 0;
    pthread_rwlock_rdlock(&map->lock);
    for (size_t s = 0; s < CLUSTER_SLOTS; s++) {
        struct redis_node *node = map->slots[s];
        if (!node)
            continue;
        size_t j = 0;
        while (j < n && out[j] != node)
            j++;
        if (j == n && n < max)
            out[n++] = node;
    }
    pthread_rwlock_unlock(&map->lock);
    return n;
}

size_t cluster_map_uncovered(struct cluster_map *map)
{
    size_t n = 0;
    pthread_rwlock_rdlock(&map->lock);
    for (size_t s = 0; s < CLUSTER_SLOTS; s++)
        n += map->slots[s] == NULL;
    pthread_rwlock_unlock(&map->lock);
    return n;
}

/* One entry of CLUSTER SLOTS: [start, end, [host, port, id, ...], replicas...].
 * A master announced with an empty or unknown host is at the host we asked.
 * Write lock held. */
static int parse_entry(struct cluster_map *map, const redisReply *e, const char *asked_host,
                       struct redis_node **slots)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 || e->element[0]->type != REDIS_REPLY_INTEGER ||
        e->element[1]->type != REDIS_REPLY_INTEGER || e->element[2]->type != REDIS_REPLY_ARRAY ||
        e->element[2]->elements < 2)
        return -EPROTO;
    long long start = e->element[0]->integer, end = e->element[1]->integer;
    const redisReply *master = e->element[2];
    if (start < 0 || end >= CLUSTER_SLOTS || start > end || master->element[0]->type != REDIS_REPLY_STRING ||
        master->element[1]->type != REDIS_REPLY_INTEGER)
        return -EPROTO;
    const char *host = master->element[0]->str;
    if (!host[0] || strcmp(host, "?") == 0)
        host = asked_host;
    char endpoint[REDIS_HOST_MAX + 16];
    if (strchr(host, ':'))
        snprintf(endpoint, sizeof endpoint, "[%s]:%lld", host, master->element[1]->integer);
    else
        snprintf(endpoint, sizeof endpoint, "%s:%lld", host, master->element[1]->integer);
    struct redis_address addr;
    if (redis_address_parse(endpoint, strlen(endpoint), &addr) < 0)
        return -EPROTO;
    struct redis_node *node = add_node(map, &addr);
    if (!node)
        return -ENOMEM;
    for (long long s = start; s <= end; s++)
        slots[s] = node;
    return 0;
}

int cluster_map_load_slots(struct cluster_map *map, const redisReply *reply, const char *asked_host)
{
    if (reply->type != REDIS_REPLY_ARRAY)
        return -EPROTO;
    /* A node that serves no slot, and knows of none, is new or was reset:
     * its empty map is not the cluster's. */
    if (reply->elements == 0)
        return -ENOENT;
    struct redis_node **slots = calloc(CLUSTER_SLOTS, sizeof *slots);
    if (!slots)
        return -ENOMEM;
    int rc = 0;
    pthread_rwlock_wrlock(&map->lock);
    for (size_t i = 0; i < reply->elements && rc == 0; i++)
        rc = parse_entry(map, reply->element[i], asked_host, slots);
    if (rc == 0) {
        memcpy(map->slots, slots, sizeof map->slots);
        map->refreshes++;
    }
    pthread_rwlock_unlock(&map->lock);
    free(slots);
    return rc;
}

static int refresh_from(struct cluster_map *map, struct redis_node *node, char *why, size_t why_size)
{
    int refused;
    redisContext *c = redis_node_acquire(node, why, why_size, &refused);
    if (!c)
        return refused ? -EACCES : -EIO;
    redisReply *r = redisCommand(c, "CLUSTER SLOTS");
    int rc = 0;
    if (!r) {
        snprintf(why, why_size, "redis: %s: CLUSTER SLOTS: %s", node->addr.name, c->errstr);
        rc = -EIO;
    } else if (r->type == REDIS_REPLY_ERROR) {
        if (strstr(r->str, "cluster support disabled"))
            snprintf(why, why_size, "redis: %s is not a cluster node (cluster support disabled): use cluster: "
                     "false for plain servers", node->addr.name);
        else
            snprintf(why, why_size, "redis: %s: CLUSTER SLOTS refused: %s", node->addr.name, r->str);
        rc = -EINVAL;
    } else if (r->type != REDIS_REPLY_ARRAY) {
        snprintf(why, why_size, "redis: %s: CLUSTER SLOTS gave an unexpected reply", node->addr.name);
        rc = -EPROTO;
    } else {
        rc = cluster_map_load_slots(map, r, node->addr.host);
        if (rc == -ENOENT)
            snprintf(why, why_size, "redis: %s knows of no slot (a new or reset cluster node)", node->addr.name);
        else if (rc)
            snprintf(why, why_size, "redis: %s: cannot read the CLUSTER SLOTS reply", node->addr.name);
    }
    if (r)
        freeReplyObject(r);
    redis_node_release(node, c);
    return rc;
}

int cluster_map_refresh(struct cluster_map *map, char *why, size_t why_size)
{
    int rc = -EIO;
    char first_why[400] = "";
    for (size_t i = 0;; i++) {
        pthread_rwlock_rdlock(&map->lock);
        struct redis_node *node = i < map->node_count ? map->nodes[i] : NULL;
        pthread_rwlock_unlock(&map->lock);
        if (!node)
            break;
        rc = refresh_from(map, node, why, why_size);
        if (rc == 0)
            return 0;
        if (!first_why[0])
            snprintf(first_why, sizeof first_why, "%s", why);
        /* A node that answered but is not in a cluster, or refused us,
         * will not get better by asking the others. */
        if (rc == -EINVAL || rc == -EACCES)
            break;
    }
    snprintf(why, why_size, "%s", first_why);
    return rc;
}
