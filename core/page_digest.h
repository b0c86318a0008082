/* A page's digest: a 128-bit XXH3 of its content under a seed drawn per
 * stack. A page fetched from a tier that is not local is mapped writable
 * at once, its digest kept, and at eviction compared with the digest of
 * what it holds then: equal, it is dropped as clean (its tier's copy is
 * the same), with no write fault ever taken to learn it was unwritten. */
#ifndef TIERPAGE_PAGE_DIGEST_H
#define TIERPAGE_PAGE_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tp_page_digest {
    uint64_t low, high; /* both zero: none recorded */
};

/* Never the all-zero "none". */
struct tp_page_digest tp_page_digest(uint64_t seed, const void *page, size_t size);

/* A seed no program can predict (getrandom), so that no content can be
 * made to match another's digest on purpose. */
uint64_t tp_page_digest_seed(void);

static inline bool tp_page_digest_known(struct tp_page_digest d)
{
    return (d.low | d.high) != 0;
}

/* Same content (to 2^-128), when both are known. */
static inline bool tp_page_digest_same(struct tp_page_digest a, struct tp_page_digest b)
{
    return tp_page_digest_known(a) && a.low == b.low && a.high == b.high;
}

#endif
