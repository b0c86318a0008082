/* Page placement for the memcached tier: the key a page is stored under,
 * and the consistent-hashing ring that says which servers hold it.
 *
 * The ring is ketama-style: every server owns MC_RING_POINTS points on a
 * 64-bit circle, placed by hashing "<server name>-<i>". A key is hashed to a
 * point and walks the circle clockwise; the distinct servers it meets, in
 * order, are its placement. The first `replicas` servers of the placement
 * that are still in service hold the page. Adding or removing a server only
 * moves the keys whose walk meets it. */
#ifndef TIERPAGE_MC_RING_H
#define TIERPAGE_MC_RING_H

#include <stddef.h>
#include <stdint.h>

#define MC_RING_POINTS 160
#define MC_MAX_SERVERS 64
/* "tp:" + namespace + ":" + 16 hex digits; memcached keys are at most 250. */
#define MC_KEY_MAX 250
#define MC_NAMESPACE_MAX (MC_KEY_MAX - 20)

struct mc_ring_point {
    uint64_t hash;
    uint32_t server;
};

struct mc_ring {
    struct mc_ring_point *points; /* sorted by hash */
    size_t point_count;
    size_t server_count;
};

/* The 64-bit hash used for ring points and keys. */
uint64_t mc_hash(const void *data, size_t len);

/* Builds the ring of `count` servers named names[0..count-1]. 0, or -ENOMEM
 * or -EINVAL (no servers, or more than MC_MAX_SERVERS). */
int mc_ring_build(struct mc_ring *ring, const char *const *names, size_t count);
void mc_ring_free(struct mc_ring *ring);

/* Fills order[] with every server, in the order the key's walk meets them;
 * returns ring->server_count. order has room for MC_MAX_SERVERS. */
size_t mc_ring_order(const struct mc_ring *ring, const char *key, size_t key_len, uint32_t *order);

/* Writes the page's memcached key, "tp:<namespace>:<key as 16 hex digits>",
 * and returns its length; -1 when it would not fit in MC_KEY_MAX. */
int mc_page_key(char *buf, size_t len, const char *namespace_name, uint64_t key);

/* Parses a key written by mc_page_key back to the page key: the last 16
 * characters. 0 on success, -1 when they are not 16 hex digits. */
int mc_page_key_parse(const char *buf, size_t len, uint64_t *key);

#endif
