/* Fuzz target: what the redis tier makes of the replies Redis sends. The
 * bytes are RESP, read into reply trees by hiredis's own reader as they
 * would be off a socket; each reply is then taken as a CLUSTER SLOTS
 * answer (the slot map) and, when it is an error, as a MOVED or ASK
 * redirection. A slot map that loads names a node for exactly the slots
 * the reply listed; one that does not leaves the map as it was. */
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_map.h"
#include "redis_tier.h"

#define CHECK(cond) ((cond) ? (void)0 : abort())
#define ASKED_HOST "10.0.0.1"

static const struct redis_conn_settings settings = {.connect_timeout_ms = 100, .io_timeout_ms = 100};

static void check_map(struct cluster_map *map)
{
    for (size_t i = 0; i < map->node_count; i++)
        CHECK(map->nodes[i]->addr.name[0] != '\0');
    const struct redis_node *known = NULL;
    for (size_t s = 0; s < CLUSTER_SLOTS; s++) {
        const struct redis_node *node = map->slots[s];
        if (!node || node == known)
            continue;
        known = node;
        size_t i = 0;
        while (i < map->node_count && map->nodes[i] != node)
            i++;
        CHECK(i < map->node_count);
    }
}

/* The endpoint a well-formed CLUSTER SLOTS entry names for its master. */
static void entry_endpoint(const redisReply *e, char *out, size_t size)
{
    const redisReply *master = e->element[2];
    const char *host = master->element[0]->str;
    if (!host[0] || strcmp(host, "?") == 0)
        host = ASKED_HOST;
    snprintf(out, size, strchr(host, ':') ? "[%s]:%lld" : "%s:%lld", host, master->element[1]->integer);
}

/* Every entry's first slot is served by the master it names, unless a
 * later entry gave that slot to another. */
static void check_slots_follow_reply(struct cluster_map *map, const redisReply *reply)
{
    for (size_t i = 0; i < reply->elements; i++) {
        long long start = reply->element[i]->element[0]->integer;
        int overridden = 0;
        for (size_t j = i + 1; j < reply->elements && !overridden; j++)
            overridden = reply->element[j]->element[0]->integer <= start &&
                         start <= reply->element[j]->element[1]->integer;
        if (overridden)
            continue;
        char endpoint[REDIS_HOST_MAX + 32];
        entry_endpoint(reply->element[i], endpoint, sizeof endpoint);
        CHECK(map->slots[start] && strcmp(map->slots[start]->addr.name, endpoint) == 0);
    }
}

static void take_slots(struct cluster_map *map, const redisReply *reply)
{
    struct redis_node *before[8];
    for (size_t i = 0; i < 8; i++)
        before[i] = map->slots[i * (CLUSTER_SLOTS / 8)];
    uint64_t refreshes = map->refreshes;
    if (cluster_map_load_slots(map, reply, ASKED_HOST) != 0) {
        CHECK(map->refreshes == refreshes);
        for (size_t i = 0; i < 8; i++)
            CHECK(map->slots[i * (CLUSTER_SLOTS / 8)] == before[i]);
        return;
    }
    CHECK(map->refreshes == refreshes + 1);
    check_map(map);
    check_slots_follow_reply(map, reply);
}

static void take_redirect(struct cluster_map *map, const redisReply *reply)
{
    static const char *const kinds[] = {"MOVED", "ASK"};
    for (size_t k = 0; k < 2; k++) {
        char endpoint[REDIS_HOST_MAX + 16];
        long slot;
        if (!redis_parse_redirect(reply->str, kinds[k], &slot, endpoint, sizeof endpoint))
            continue;
        CHECK(slot >= 0 && slot < CLUSTER_SLOTS && endpoint[0] != '\0');
        struct redis_node *node = cluster_map_node(map, endpoint);
        if (node)
            cluster_map_set_slot(map, (uint16_t)slot, node);
        check_map(map);
    }
}

/* hiredis 0.14 allocates a multi-bulk's elements as soon as it reads the
 * count, with no limit (1.0 added maxelements): a count far beyond what
 * the input can hold only measures the allocator. */
static int announces_huge_array(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        if (data[i] != '*')
            continue;
        unsigned long long n = 0;
        for (size_t j = i + 1; j < size && data[j] >= '0' && data[j] <= '9' && n <= size; j++)
            n = n * 10 + (data[j] - '0');
        if (n > size)
            return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (announces_huge_array(data, size))
        return 0;
    struct redis_address seed;
    if (redis_address_parse("127.0.0.1:7000", 14, &seed) != 0)
        abort();
    struct cluster_map *map = cluster_map_new(&seed, 1, &settings);
    redisReader *reader = redisReaderCreate();
    if (!map || !reader)
        abort();
    redisReaderFeed(reader, (const char *)data, size);
    void *reply;
    /* A few replies an input: each load of the map costs as much as many
     * small replies, and one reply can already say everything. */
    for (int n = 0; n < 16 && redisReaderGetReply(reader, &reply) == REDIS_OK && reply; n++) {
        const redisReply *r = reply;
        take_slots(map, r);
        if (r->type == REDIS_REPLY_ERROR || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING)
            take_redirect(map, r);
        freeReplyObject(reply);
    }
    redisReaderFree(reader);
    cluster_map_free(map);
    return 0;
}
