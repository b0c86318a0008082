#include "mc_ring.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t mc_hash(const void *data, size_t len)
{
    /* FNV-1a over the bytes, then the MurmurHash3 finaliser: FNV alone
     * leaves keys that differ in their last hex digit close together. */
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static int point_cmp(const void *a, const void *b)
{
    const struct mc_ring_point *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return x->server < y->server ? -1 : x->server > y->server;
}

int mc_ring_build(struct mc_ring *ring, const char *const *names, size_t count)
{
    memset(ring, 0, sizeof *ring);
    if (count == 0 || count > MC_MAX_SERVERS)
        return -EINVAL;
    ring->points = malloc(count * MC_RING_POINTS * sizeof *ring->points);
    if (!ring->points)
        return -ENOMEM;
    for (size_t s = 0; s < count; s++) {
        for (unsigned i = 0; i < MC_RING_POINTS; i++) {
            char label[512];
            int n = snprintf(label, sizeof label, "%s-%u", names[s], i);
            if (n < 0 || (size_t)n >= sizeof label)
                n = (int)sizeof label - 1;
            ring->points[s * MC_RING_POINTS + i] = (struct mc_ring_point){ mc_hash(label, (size_t)n), (uint32_t)s };
        }
    }
    ring->point_count = count * MC_RING_POINTS;
    ring->server_count = count;
    qsort(ring->points, ring->point_count, sizeof *ring->points, point_cmp);
    return 0;
}

void mc_ring_free(struct mc_ring *ring)
{
    free(ring->points);
    memset(ring, 0, sizeof *ring);
}

size_t mc_ring_order(const struct mc_ring *ring, const char *key, size_t key_len, uint32_t *order)
{
    uint64_t h = mc_hash(key, key_len);
    /* First point at or after h; past the last point the walk wraps. */
    size_t lo = 0, hi = ring->point_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ring->points[mid].hash < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    unsigned char seen[MC_MAX_SERVERS] = { 0 };
    size_t found = 0;
    for (size_t step = 0; step < ring->point_count && found < ring->server_count; step++) {
        uint32_t s = ring->points[(lo + step) % ring->point_count].server;
        if (!seen[s]) {
            seen[s] = 1;
            order[found++] = s;
        }
    }
    return found;
}

int mc_page_key(char *buf, size_t len, const char *namespace_name, uint64_t key)
{
    int n = snprintf(buf, len, "tp:%s:%016" PRIx64, namespace_name, key);
    if (n < 0 || (size_t)n >= len || n > MC_KEY_MAX)
        return -1;
    return n;
}

int mc_page_key_parse(const char *buf, size_t len, uint64_t *key)
{
    if (len < 16)
        return -1;
    uint64_t v = 0;
    for (const char *p = buf + len - 16; p < buf + len; p++) {
        int d;
        if (*p >= '0' && *p <= '9')
            d = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            d = *p - 'a' + 10;
        else
            return -1;
        v = v << 4 | (uint64_t)d;
    }
    *key = v;
    return 0;
}
