#include "fault_latency.h"

/* From the floor of a userfaultfd round trip (~10 µs here) to a remote
 * store that is retrying (hundreds of ms). */
const uint64_t tp_latency_bounds_ns[TP_LATENCY_BUCKETS] = {
    5000,     10000,    25000,    50000,     100000,    250000,    500000,
    1000000,  2500000,  5000000,  10000000,  25000000,  100000000, 500000000,
};

void tp_fault_latency_note(struct tp_fault_latency *h, uint64_t ns)
{
    size_t b = 0;
    while (b < TP_LATENCY_BUCKETS && ns > tp_latency_bounds_ns[b])
        b++;
    atomic_fetch_add_explicit(&h->counts[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
}

void tp_fault_latency_read(struct tp_fault_latency *h, uint64_t counts[TP_LATENCY_BUCKETS + 1], uint64_t *sum_ns)
{
    for (size_t b = 0; b <= TP_LATENCY_BUCKETS; b++)
        counts[b] = atomic_load_explicit(&h->counts[b], memory_order_relaxed);
    *sum_ns = atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
}
