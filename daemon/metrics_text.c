#include "metrics_text.h"

#include <stdlib.h>
#include <string.h>

#include "tierpage_daemon.h"
#include "vm_stack.h"

/* One VM (or forked child's entry) as read for one scrape. */
struct vm_sample {
    char name[TPD_NAME_MAX];
    int attached;
    struct tp_stats st;
    struct tp_stack_metrics m;
};

struct family {
    const char *name, *type, *help;
};

/* A label value: backslash, double quote and line feed escaped. */
static void put_label(FILE *out, const char *key, const char *value, int first)
{
    fprintf(out, "%s%s=\"", first ? "" : ",", key);
    for (const char *c = value; *c; c++) {
        if (*c == '\\' || *c == '"')
            fputc('\\', out);
        if (*c == '\n')
            fputs("\\n", out);
        else
            fputc(*c, out);
    }
    fputc('"', out);
}

static void put_head(FILE *out, const struct family *f)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, f->type);
}

static void put_vm_value(FILE *out, const char *name, const struct vm_sample *v, unsigned long long value)
{
    fprintf(out, "%s{", name);
    put_label(out, "vm", v->name, 1);
    fprintf(out, "} %llu\n", value);
}

static void put_tier_value(FILE *out, const char *name, const struct vm_sample *v, size_t t, unsigned long long value)
{
    fprintf(out, "%s{", name);
    put_label(out, "vm", v->name, 1);
    put_label(out, "tier", v->st.tiers[t].name, 0);
    put_label(out, "plugin", v->st.tiers[t].plugin, 0);
    fprintf(out, "} %llu\n", value);
}

enum vm_field { VM_ATTACHED, VM_RESIDENT, VM_CAP, VM_PEAK, VM_FAULTS, VM_ZERO, VM_MINOR, VM_WRITE, VM_EVICT, VM_WB,
                VM_CLEAN, VM_PREFETCHED, VM_PREFETCH_HITS, VM_FIELDS };

static const struct family vm_families[VM_FIELDS] = {
    [VM_ATTACHED] = {"tierpage_vm_client_attached", "gauge", "1 while a client program is attached to the VM"},
    [VM_RESIDENT] = {"tierpage_vm_resident_bytes", "gauge", "Bytes of the VM's pages in local memory"},
    [VM_CAP] = {"tierpage_vm_resident_cap_bytes", "gauge", "The VM's resident cap in bytes"},
    [VM_PEAK] = {"tierpage_vm_peak_resident_bytes", "gauge", "The most bytes the VM has had resident"},
    [VM_FAULTS] = {"tierpage_vm_faults_total", "counter", "Missing-page faults served"},
    [VM_ZERO] = {"tierpage_vm_zero_fills_total", "counter", "First touches answered with a zero page"},
    [VM_MINOR] = {"tierpage_vm_minor_faults_total", "counter", "Minor faults (reference checks of the clock policy)"},
    [VM_WRITE] = {"tierpage_vm_write_faults_total", "counter", "First writes to clean pages"},
    [VM_EVICT] = {"tierpage_vm_evictions_total", "counter", "Pages taken out of the resident set"},
    [VM_WB] = {"tierpage_vm_writebacks_total", "counter", "Evictions that wrote the page to a tier"},
    [VM_CLEAN] = {"tierpage_vm_clean_drops_total", "counter", "Evictions that dropped a clean page a tier still held"},
    [VM_PREFETCHED] = {"tierpage_vm_prefetched_pages_total", "counter", "Pages brought in ahead of a fault"},
    [VM_PREFETCH_HITS] = {"tierpage_vm_prefetch_hits_total", "counter", "Prefetched pages used before eviction"},
};

static unsigned long long vm_value(const struct vm_sample *v, enum vm_field f)
{
    switch (f) {
    case VM_ATTACHED: return (unsigned long long)v->attached;
    case VM_RESIDENT: return v->st.resident_bytes;
    case VM_CAP: return v->st.resident_cap_bytes;
    case VM_PEAK: return v->st.peak_resident_bytes;
    case VM_FAULTS: return v->st.faults;
    case VM_ZERO: return v->st.zero_fills;
    case VM_MINOR: return v->st.minor_faults;
    case VM_WRITE: return v->st.write_faults;
    case VM_EVICT: return v->st.evictions;
    case VM_WB: return v->st.writebacks;
    case VM_CLEAN: return v->st.clean_drops;
    case VM_PREFETCHED: return v->st.prefetched_pages;
    case VM_PREFETCH_HITS: return v->st.prefetch_hits;
    default: return 0;
    }
}

enum tier_field { T_PAGES, T_CAPACITY, T_HITS, T_PUTS, T_DEMOTIONS, T_IN, T_OUT, T_FULL, T_UNDER, T_QUEUE,
                  T_QUEUE_CAP, TIER_FIELDS };

static const struct family tier_families[TIER_FIELDS] = {
    [T_PAGES] = {"tierpage_tier_pages", "gauge", "Pages of the VM the tier holds"},
    [T_CAPACITY] = {"tierpage_tier_capacity_bytes", "gauge", "Bytes the tier may hold (0: the store decides)"},
    [T_HITS] = {"tierpage_tier_hits_total", "counter", "Faults served from the tier"},
    [T_PUTS] = {"tierpage_tier_puts_total", "counter", "Pages written into the tier"},
    [T_DEMOTIONS] = {"tierpage_tier_demotions_total", "counter", "Pages moved from the tier to a slower one"},
    [T_IN] = {"tierpage_tier_bytes_in_total", "counter", "Bytes written into the tier"},
    [T_OUT] = {"tierpage_tier_bytes_out_total", "counter", "Bytes read from the tier"},
    [T_FULL] = {"tierpage_tier_full_events_total", "counter", "Puts the tier refused as full"},
    [T_UNDER] = {"tierpage_tier_under_replicated_pages", "gauge", "Pages with fewer copies than the tier keeps"},
    [T_QUEUE] = {"tierpage_tier_writeback_queue_pages", "gauge",
                 "Pages waiting in the tier's write-back queue (queue depth)"},
    [T_QUEUE_CAP] = {"tierpage_tier_writeback_queue_capacity_pages", "gauge",
                     "Size of the tier's write-back queue in pages (0: none)"},
};

static unsigned long long tier_value(const struct vm_sample *v, size_t t, enum tier_field f)
{
    const struct tp_tier_stats *s = &v->st.tiers[t];
    switch (f) {
    case T_PAGES: return s->pages;
    case T_CAPACITY: return s->capacity_bytes;
    case T_HITS: return s->hits;
    case T_PUTS: return s->puts;
    case T_DEMOTIONS: return s->demotions;
    case T_IN: return s->bytes_in;
    case T_OUT: return s->bytes_out;
    case T_FULL: return s->full_events;
    case T_UNDER: return s->under_replicated_pages;
    case T_QUEUE: return v->m.queue_pages[t];
    case T_QUEUE_CAP: return v->m.queue_capacity_pages[t];
    default: return 0;
    }
}

static void put_latency(FILE *out, const struct vm_sample *v)
{
    static const char name[] = "tierpage_vm_fault_latency_seconds";
    unsigned long long cumulative = 0;
    for (size_t b = 0; b <= TP_LATENCY_BUCKETS; b++) {
        cumulative += v->m.latency_counts[b];
        char le[32];
        if (b < TP_LATENCY_BUCKETS)
            snprintf(le, sizeof le, "%g", (double)tp_latency_bounds_ns[b] / 1e9);
        else
            snprintf(le, sizeof le, "+Inf");
        fprintf(out, "%s_bucket{", name);
        put_label(out, "vm", v->name, 1);
        put_label(out, "le", le, 0);
        fprintf(out, "} %llu\n", cumulative);
    }
    fprintf(out, "%s_sum{", name);
    put_label(out, "vm", v->name, 1);
    fprintf(out, "} %.9f\n", (double)v->m.latency_sum_ns / 1e9);
    put_vm_value(out, "tierpage_vm_fault_latency_seconds_count", v, cumulative);
}

/* Read one VM or forked child's entry. No lock held. */
static void take_sample(struct vm_sample *v, struct tpd_vm *vm)
{
    memcpy(v->name, vm->name, sizeof v->name);
    pthread_mutex_lock(&vm->lock);
    v->attached = vm->client != NULL;
    pthread_mutex_unlock(&vm->lock);
    tp_stack *stack = tpd_vm_stack_get(vm);
    tp_stack_stats(stack, &v->st);
    tp_stack_metrics(stack, &v->m);
    tpd_vm_stack_put(vm);
}

void tpd_metrics_write(FILE *out, struct tpd_daemon *d)
{
    pthread_mutex_lock(&d->vms.lock);
    struct tpd_vm *head = d->vms.head;
    pthread_mutex_unlock(&d->vms.lock);
    /* VMs are never freed before exit, and only appended. */
    size_t vm_count = 0;
    for (struct tpd_vm *vm = head; vm; vm = vm->next)
        vm_count++;
    /* Forked clients' entries have series of their own, vm="NAME/PID". */
    size_t forked;
    struct tpd_vm **children = tpd_vm_pin_children(&d->vms, &forked);
    size_t n = vm_count + forked;
    struct vm_sample *v = calloc(n ? n : 1, sizeof *v);
    if (!v) {
        tpd_vm_unpin_children(&d->vms, children, forked);
        return;
    }
    size_t i = 0;
    for (struct tpd_vm *vm = head; vm && i < vm_count; vm = vm->next)
        take_sample(&v[i++], vm);
    for (size_t k = 0; k < forked; k++)
        take_sample(&v[i++], children[k]);
    tpd_vm_unpin_children(&d->vms, children, forked);
    n = i;
    static const struct family vms = {"tierpage_vms", "gauge", "VMs the daemon serves (stack files loaded)"};
    put_head(out, &vms);
    fprintf(out, "tierpage_vms %zu\n", vm_count);
    for (int f = 0; f < VM_FIELDS; f++) {
        put_head(out, &vm_families[f]);
        for (i = 0; i < n; i++)
            put_vm_value(out, vm_families[f].name, &v[i], vm_value(&v[i], (enum vm_field)f));
    }
    static const struct family latency = {"tierpage_vm_fault_latency_seconds", "histogram",
                                          "Time from a handler taking a missing-page fault to the page mapped"};
    put_head(out, &latency);
    for (i = 0; i < n; i++)
        put_latency(out, &v[i]);
    for (int f = 0; f < TIER_FIELDS; f++) {
        put_head(out, &tier_families[f]);
        for (i = 0; i < n; i++)
            for (size_t t = 0; t < v[i].st.tier_count; t++)
                put_tier_value(out, tier_families[f].name, &v[i], t, tier_value(&v[i], t, (enum tier_field)f));
    }
    free(v);
}
