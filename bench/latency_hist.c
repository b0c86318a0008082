#include "latency_hist.h"

#include <errno.h>
#include <string.h>

/* Values below 2^(SUB_BITS + 1) have a bucket each. Above, a value whose
 * highest set bit is m falls in group m - SUB_BITS, and the SUB_BITS bits
 * under bit m pick one of the group's 64 buckets. */
unsigned lat_bucket(uint64_t ns)
{
    if (ns >> (LAT_MAX_BIT + 1))
        return LAT_BUCKETS - 1;
    if (ns < (2ull << LAT_SUB_BITS))
        return (unsigned)ns;
    unsigned m = 63u - (unsigned)__builtin_clzll(ns);
    unsigned sub = (unsigned)(ns >> (m - LAT_SUB_BITS)) & ((1u << LAT_SUB_BITS) - 1);
    return ((m - LAT_SUB_BITS + 1) << LAT_SUB_BITS) + sub;
}

uint64_t lat_bucket_top(unsigned b)
{
    if (b < (2u << LAT_SUB_BITS))
        return b;
    unsigned m = (b >> LAT_SUB_BITS) + LAT_SUB_BITS - 1;
    uint64_t sub = b & ((1u << LAT_SUB_BITS) - 1);
    uint64_t width = 1ull << (m - LAT_SUB_BITS);
    return (1ull << m) + sub * width + width - 1;
}

void lat_merge(struct latency_hist *into, const struct latency_hist *from)
{
    for (unsigned b = 0; b < LAT_BUCKETS; b++)
        into->count[b] += from->count[b];
    into->total += from->total;
    if (from->max_ns > into->max_ns)
        into->max_ns = from->max_ns;
}

uint64_t lat_quantile_ns(const struct latency_hist *h, double q)
{
    if (h->total == 0)
        return 0;
    if (q >= 1.0)
        return h->max_ns;
    uint64_t rank = (uint64_t)(q * (double)h->total);
    if ((double)rank < q * (double)h->total)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < LAT_BUCKETS; b++) {
        seen += h->count[b];
        if (seen >= rank) {
            uint64_t top = lat_bucket_top(b);
            return top < h->max_ns ? top : h->max_ns;
        }
    }
    return h->max_ns;
}

int lat_write_cdf(const struct latency_hist *h, FILE *out, const char *about)
{
    fprintf(out, "# %s\n# %llu values; columns: bucket top (us), count, fraction at or below\n", about,
            (unsigned long long)h->total);
    uint64_t seen = 0;
    for (unsigned b = 0; b < LAT_BUCKETS; b++) {
        if (!h->count[b])
            continue;
        seen += h->count[b];
        uint64_t top = lat_bucket_top(b);
        if (top > h->max_ns)
            top = h->max_ns;
        fprintf(out, "%.3f %llu %.9f\n", (double)top / 1e3, (unsigned long long)h->count[b],
                (double)seen / (double)h->total);
    }
    if (fflush(out) != 0 || ferror(out))
        return errno ? -errno : -EIO;
    return 0;
}
