/* The memcached tier's item keys: "tp:<namespace>:<page key in hex>", so
 * that stacks sharing servers never see each other's pages. Placement is
 * the shared consistent-hash ring (tiers/common/hash_ring.h). */
#ifndef TIERPAGE_MC_KEY_H
#define TIERPAGE_MC_KEY_H

#include <stddef.h>
#include <stdint.h>

#define MC_MAX_SERVERS 64
/* "tp:" + namespace + ":" + 16 hex digits; memcached keys are at most 250. */
#define MC_KEY_MAX 250
#define MC_NAMESPACE_MAX (MC_KEY_MAX - 20)

/* Writes the page's memcached key, "tp:<namespace>:<key as 16 hex digits>",
 * and returns its length; -1 when it would not fit in MC_KEY_MAX. */
int mc_page_key(char *buf, size_t len, const char *namespace_name, uint64_t key);

/* Parses a key written by mc_page_key back to the page key: the last 16
 * characters. 0 on success, -1 when they are not 16 hex digits. */
int mc_page_key_parse(const char *buf, size_t len, uint64_t *key);

#endif
