/* The 64-bit finaliser of MurmurHash3, shared by the tiers: page keys are
 * often dense numbers, and this spreads them over buckets and servers. */
#ifndef TIERPAGE_KEY_HASH_H
#define TIERPAGE_KEY_HASH_H

#include <stdint.h>

static inline uint64_t tier_fmix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

#endif
