/* A log-linear histogram of latencies in nanoseconds: every access counted,
 * in buckets exact below 128 ns and 1/64 of their value wide above (the
 * top 7 bits of a value pick its bucket), up to 2^41 ns (36 minutes);
 * longer ones count in the last bucket. 2,304 buckets of 8 bytes: one for
 * each thread, merged at the end. No allocation, no locks. */
#ifndef TIERPAGE_LATENCY_HIST_H
#define TIERPAGE_LATENCY_HIST_H

#include <stdint.h>
#include <stdio.h>

#define LAT_SUB_BITS 6u                      /* 64 buckets per power of two */
#define LAT_MAX_BIT 40u                      /* values up to 2^41 - 1 ns */
#define LAT_BUCKETS ((LAT_MAX_BIT - LAT_SUB_BITS + 2u) << LAT_SUB_BITS)

struct latency_hist {
    uint64_t count[LAT_BUCKETS];
    uint64_t total;
    uint64_t max_ns;
};

/* The bucket that counts `ns`. */
unsigned lat_bucket(uint64_t ns);
/* The largest value bucket `b` counts (every value in it is at most this). */
uint64_t lat_bucket_top(unsigned b);

static inline void lat_record(struct latency_hist *h, uint64_t ns)
{
    h->count[lat_bucket(ns)]++;
    h->total++;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

/* into += from */
void lat_merge(struct latency_hist *into, const struct latency_hist *from);
/* The q-quantile (0 < q <= 1) in ns: the top of the bucket holding the
 * ceil(q * total)-th smallest value, so that at least a fraction q of the
 * values are at most the result, which exceeds the true quantile by less
 * than 1/64 of it (not at all below 128 ns). The maximum for q = 1; 0 for
 * an empty histogram. */
uint64_t lat_quantile_ns(const struct latency_hist *h, double q);
/* The CDF, one line per non-empty bucket: its top in µs, its count and
 * the fraction of all values up to its top; `#` lines first. -errno. */
int lat_write_cdf(const struct latency_hist *h, FILE *out, const char *about);

#endif
