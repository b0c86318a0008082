/* tp_stack_metrics: what tierpaged's metrics endpoint shows beyond the
 * stats: the fault latency histogram and the write-back queues' depth. */
#include <string.h>

#include "stack_internal.h"
#include "tierpage_daemon.h"
#include "writeback.h"

void tp_stack_metrics(tp_stack *s, struct tp_stack_metrics *out)
{
    memset(out, 0, sizeof *out);
    tp_fault_latency_read(&s->fault_latency, out->latency_counts, &out->latency_sum_ns);
    /* A tier's queue is set at open and stopped at close: no stack lock. */
    for (size_t i = 0; i < s->tier_count; i++) {
        if (!s->tiers[i].writeback)
            continue;
        struct tp_writeback_stats w;
        tp_writeback_stats(s->tiers[i].writeback, &w);
        out->queue_pages[i] = w.depth_pages;
        out->queue_capacity_pages[i] = w.capacity_pages;
    }
}
