/* A consistent-hash ring, shared by the tiers that shard pages over
 * servers (memcached, redis). Each server owns HASH_RING_POINTS points,
 * placed by hashing "<server name>-<i>"; a key
 * belongs to the servers owning the first points at or after its hash,
 * walking clockwise and skipping servers already taken. Adding or removing
 * a server moves only the keys of its own arcs. */
#ifndef TP_HASH_RING_H
#define TP_HASH_RING_H

#include <stddef.h>
#include <stdint.h>

#define HASH_RING_POINTS 160

struct hash_ring_point {
    uint64_t hash;
    uint32_t server;
};

struct hash_ring {
    struct hash_ring_point *points;
    size_t point_count;
    size_t server_count;
};

uint64_t hash_ring_hash(const void *data, size_t len);

/* Builds the ring of `count` servers known by `names`. 0 or -ENOMEM. */
int hash_ring_build(struct hash_ring *ring, const char *const *names, size_t count);
void hash_ring_free(struct hash_ring *ring);

/* Writes the first `want` distinct servers for `key_hash` to out[], in
 * order of preference; returns how many (less than `want` only when the
 * ring has fewer servers). */
size_t hash_ring_lookup(const struct hash_ring *ring, uint64_t key_hash, uint32_t *out, size_t want);

#endif
