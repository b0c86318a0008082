/* How long faults take to serve: a histogram with fixed bucket bounds, from
 * the moment a handler takes a missing-page fault to the page mapped. Counted
 * with relaxed atomics, so that handlers never wait on one another to count
 * and a reader never holds up a fault; a reader may see a fault in a bucket
 * before it sees it in the sum. */
#ifndef TIERPAGE_FAULT_LATENCY_H
#define TIERPAGE_FAULT_LATENCY_H

#include <stdatomic.h>
#include <stdint.h>

#include "tierpage_daemon.h"

struct tp_fault_latency {
    _Atomic uint64_t counts[TP_LATENCY_BUCKETS + 1]; /* the last: above every bound */
    _Atomic uint64_t sum_ns;
};

/* One fault served in `ns` nanoseconds. */
void tp_fault_latency_note(struct tp_fault_latency *h, uint64_t ns);
/* Copy the counts (per bucket, not cumulative) and the sum. */
void tp_fault_latency_read(struct tp_fault_latency *h, uint64_t counts[TP_LATENCY_BUCKETS + 1], uint64_t *sum_ns);

#endif
