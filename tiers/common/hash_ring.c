#include "hash_ring.h"
#include "key_hash.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a, then MurmurHash3's finaliser so that short, similar names
 * ("host:6379-1", "host:6379-2") spread over the whole ring. */
uint64_t hash_ring_hash(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return tier_fmix64(h);
}

static int point_cmp(const void *a, const void *b)
{
    const struct hash_ring_point *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return x->server < y->server ? -1 : x->server > y->server;
}

int hash_ring_build(struct hash_ring *ring, const char *const *names, size_t count)
{
    memset(ring, 0, sizeof *ring);
    ring->points = calloc(count * HASH_RING_POINTS, sizeof *ring->points);
    if (!ring->points && count)
        return -ENOMEM;
    for (size_t s = 0; s < count; s++) {
        for (unsigned i = 0; i < HASH_RING_POINTS; i++) {
            char label[600];
            int n = snprintf(label, sizeof label, "%s-%u", names[s], i);
            struct hash_ring_point *pt = &ring->points[s * HASH_RING_POINTS + i];
            pt->hash = hash_ring_hash(label, (size_t)n);
            pt->server = (uint32_t)s;
        }
    }
    ring->point_count = count * HASH_RING_POINTS;
    ring->server_count = count;
    qsort(ring->points, ring->point_count, sizeof *ring->points, point_cmp);
    return 0;
}

void hash_ring_free(struct hash_ring *ring)
{
    free(ring->points);
    memset(ring, 0, sizeof *ring);
}

size_t hash_ring_lookup(const struct hash_ring *ring, uint64_t key_hash, uint32_t *out, size_t want)
{
    if (ring->point_count == 0)
        return 0;
    if (want > ring->server_count)
        want = ring->server_count;
    /* First point whose hash is >= key_hash; past the end wraps to 0. */
    size_t lo = 0, hi = ring->point_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ring->points[mid].hash < key_hash)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t found = 0;
    for (size_t step = 0; step < ring->point_count && found < want; step++) {
        uint32_t server = ring->points[(lo + step) % ring->point_count].server;
        int taken = 0;
        for (size_t j = 0; j < found; j++)
            taken |= out[j] == server;
        if (!taken)
            out[found++] = server;
    }
    return found;
}
