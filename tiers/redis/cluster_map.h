/* A Redis Cluster's slot map: which master serves each of the 16384 hash
 * slots, read with CLUSTER SLOTS and patched by MOVED redirections. Nodes
 * are created as the map names them and live until the map is freed, so a
 * node pointer taken under the lock stays valid after it is released. */
#ifndef TP_CLUSTER_MAP_H
#define TP_CLUSTER_MAP_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "redis_node.h"

#define CLUSTER_SLOTS 16384

struct cluster_map {
    pthread_rwlock_t lock;
    const struct redis_conn_settings *settings;
    struct redis_node **nodes; /* seeds first, then nodes the cluster named */
    size_t node_count, node_cap, seed_count;
    struct redis_node *slots[CLUSTER_SLOTS];
    uint64_t refreshes;
};

/* CRC16 (XMODEM) of the key, or of its {hash tag} when it has a non-empty one. */
uint16_t cluster_key_slot(const char *key, size_t len);
uint16_t cluster_crc16(const void *data, size_t len);

struct cluster_map *cluster_map_new(const struct redis_address *seeds, size_t seed_count,
                                    const struct redis_conn_settings *settings);
void cluster_map_free(struct cluster_map *map);

/* Reads the slot map from the first node that answers CLUSTER SLOTS (seeds
 * first). 0, or a negative errno with a message in why. */
int cluster_map_refresh(struct cluster_map *map, char *why, size_t why_size);

/* Replaces the slot map with a CLUSTER SLOTS reply (from the node at
 * asked_host, where masters announced without a host are). 0, or -EPROTO
 * for a reply of another shape, -ENOENT for one that names no slot (the
 * map then stays as it was), or -ENOMEM. */
int cluster_map_load_slots(struct cluster_map *map, const redisReply *reply, const char *asked_host);

/* The master of `slot`, NULL when no node serves it. */
struct redis_node *cluster_map_lookup(struct cluster_map *map, uint16_t slot);

/* The node called "host:port", created when new; NULL on a bad address or
 * out of memory. */
struct redis_node *cluster_map_node(struct cluster_map *map, const char *endpoint);

/* MOVED: slot now lives at node. */
void cluster_map_set_slot(struct cluster_map *map, uint16_t slot, struct redis_node *node);

/* Every distinct master the map names, up to max; returns the count. */
size_t cluster_map_masters(struct cluster_map *map, struct redis_node **out, size_t max);

/* Slots no node serves. */
size_t cluster_map_uncovered(struct cluster_map *map);

#endif
