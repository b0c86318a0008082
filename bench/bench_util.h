/* Small pieces every benchmark uses: the core's monotonic clock
 * (tp_now_ns) and a 64-bit mixer. */
#ifndef TIERPAGE_BENCH_UTIL_H
#define TIERPAGE_BENCH_UTIL_H

#include <stdint.h>

#include "clock_ns.h"

/* splitmix64's finaliser */
static inline uint64_t bench_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

#endif
