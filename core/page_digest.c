#include "page_digest.h"

#include <sys/random.h>
#include <time.h>

/* xxHash (Debian's libxxhash-dev), inlined: the pager is loaded into
 * programs by the preload shim, which then needs no library of its own
 * for it. XXH3 reads a page in well under a microsecond here. */
#define XXH_INLINE_ALL
#include <xxhash.h>

struct tp_page_digest tp_page_digest(uint64_t seed, const void *page, size_t size)
{
    XXH128_hash_t h = XXH3_128bits_withSeed(page, size, seed);
    struct tp_page_digest d = {h.low64, h.high64};
    if (!tp_page_digest_known(d))
        d.low = 1;
    return d;
}

uint64_t tp_page_digest_seed(void)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed)
        return seed;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)ts.tv_sec;
}
