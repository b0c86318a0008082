/* tierpage-fault-bench: fault service through the library, beside the floor.
 *
 * Through tierpage.h it times, per fault:
 *   zero fill      the first touch (a write) of a page never written, with the
 *                  resident cap above the region so no fault evicts;
 *   dram hit       a read of a page that was evicted to the dram tier, with
 *                  the cap raised again first so no fault evicts;
 *   dram hit, cap  a write to a page in the dram tier with the resident set
 *                  at its cap, so each fault also evicts a dirty page: the
 *                  steady state of tierpage-bench's random workload.
 * In the same run it times the minimal userfaultfd handler (one thread,
 * UFFDIO_COPY; see uffd_floor_core.c) on anonymous and on shmem memory, and
 * the kernel's own first-touch fault, and prints the ratios to the floor.
 *
 * With --memcached SERVER the tier is that memcached server instead (no
 * dram tier): the hit passes are misses served by the server, and a third
 * floor is the minimal handler fetching each page with one GET of 4 KiB
 * from the same server (libmemcached, as tierpage-kv-bench's floor) before
 * its UFFDIO_COPY: the least a fault served from the server can cost. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "units.h"
#include "tierpage.h"
#include "uffd_floor_core.h"
#include "bench_util.h"
#include "kv_floor.h"

#define PAGE 4096u

struct options {
    size_t pages;
    size_t resident_pages;
    const char *stack_file;
    const char *memcached;   /* the server of the memcached mode, or NULL */
    enum floor_cpu cpu;
    uint64_t seed;
    int json;
};

static void usage(FILE *out)
{
    fprintf(out,
"usage: tierpage-fault-bench [--pages N] [--resident-pages R] [--stack FILE]\n"
"                            [--memcached SERVER] [--same-cpu | --cross-cpu]\n"
"                            [--seed S] [--json]\n"
"\n"
"Times tierpage's fault service per fault through the library API: a\n"
"first-touch zero fill, a dram-tier hit (no eviction on the fault path) and a\n"
"dram-tier hit at the resident cap (each fault also evicts a dirty page).\n"
"In the same run it times a minimal userfaultfd handler (one thread,\n"
"UFFDIO_COPY) on anonymous and on shmem memory as the floor, and the kernel's\n"
"own first-touch fault, and prints p50/p99/mean in microseconds and each\n"
"median's ratio to the floors'. Needs userfaultfd (root).\n"
"\n"
"  --pages N           pages mapped and timed (default 4096)\n"
"  --resident-pages R  the resident cap while pages spill (default 64)\n"
"  --stack FILE        a stack file to use instead of the built-in one\n"
"                      (resident R pages, a dram tier of 1GiB); its\n"
"                      resident: is overridden through tp_set_resident\n"
"  --memcached SERVER  the tier is this memcached (host:port or a socket\n"
"                      path; resident R pages, no dram tier), and a third\n"
"                      floor fetches each page with one GET from it; with\n"
"                      --stack too, the stack's tiers are used (its\n"
"                      memcached should be SERVER)\n"
"  --same-cpu          run every thread, tierpage's handlers too, on CPU 0\n"
"  --cross-cpu         tierpage's handler threads and the floor's handler on\n"
"                      CPU 1, the faulting thread on CPU 0 (default: unpinned)\n"
"  --seed S            order of the re-touches (default 1)\n"
"  --json              one JSON line on stdout instead of the table\n"
"  --help              this text\n"
"\n"
"Exit status: 0 success, 1 a measurement failed or a page read back wrong,\n"
"2 bad arguments.\n");
}

static void bad_args(const char *fmt, const char *arg)
{
    fputs("tierpage-fault-bench: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n(try --help)\n", stderr);
    exit(2);
}

static size_t parse_count(const char *opt, const char *v, size_t max)
{
    uint64_t n;
    if (tp_parse_uint(v, &n) != 0 || n == 0 || n > max)
        bad_args(opt, v);
    return (size_t)n;
}

static void parse_args(int argc, char **argv, struct options *o)
{
    *o = (struct options){ .pages = 4096, .resident_pages = 64, .cpu = FLOOR_CPU_ANY, .seed = 1 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int needs_value = strcmp(a, "--pages") == 0 || strcmp(a, "--resident-pages") == 0 ||
                          strcmp(a, "--stack") == 0 || strcmp(a, "--seed") == 0 || strcmp(a, "--memcached") == 0;
        if (needs_value && i + 1 >= argc)
            bad_args("%s needs a value", a);
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--pages") == 0) {
            o->pages = parse_count("--pages: expected a whole number from 2 to 16777216, got '%s'",
                                   argv[++i], 1u << 24);
        } else if (strcmp(a, "--resident-pages") == 0) {
            o->resident_pages = parse_count("--resident-pages: expected a positive whole number, got '%s'",
                                            argv[++i], 1u << 24);
        } else if (strcmp(a, "--stack") == 0) {
            o->stack_file = argv[++i];
        } else if (strcmp(a, "--memcached") == 0) {
            o->memcached = argv[++i];
        } else if (strcmp(a, "--seed") == 0) {
            o->seed = parse_count("--seed: expected a positive whole number, got '%s'", argv[++i],
                                  SIZE_MAX);
        } else if (strcmp(a, "--same-cpu") == 0) {
            o->cpu = FLOOR_CPU_SAME;
        } else if (strcmp(a, "--cross-cpu") == 0) {
            o->cpu = FLOOR_CPU_CROSS;
        } else if (strcmp(a, "--json") == 0) {
            o->json = 1;
        } else {
            bad_args("unknown argument '%s'", a);
        }
    }
    if (o->pages < 2)
        bad_args("--pages: %s", "at least 2");
    if (o->resident_pages >= o->pages)
        bad_args("--resident-pages must be below --pages so that pages spill%s", "");
}

static void shuffle(size_t *order, size_t n, uint64_t *state)
{
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = n; i > 1; i--) {
        *state += 0x9e3779b97f4a7c15ull;
        size_t j = (size_t)(bench_mix64(*state) % i);
        size_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
}

/* What a page's first word holds after pass `pass` wrote it. */
static uint64_t stamp(size_t page, unsigned pass)
{
    return bench_mix64((uint64_t)page * 4 + pass);
}

struct phase_stats {
    uint64_t faults, zero_fills, evictions, writebacks, clean_drops, tier0_hits;
};

static void stats_now(tp_stack *s, struct tp_stats *st)
{
    memset(st, 0, sizeof *st);
    tp_stack_stats(s, st);
}

static void stats_delta(const struct tp_stats *a, const struct tp_stats *b, struct phase_stats *d)
{
    d->faults = b->faults - a->faults;
    d->zero_fills = b->zero_fills - a->zero_fills;
    d->evictions = b->evictions - a->evictions;
    d->writebacks = b->writebacks - a->writebacks;
    d->clean_drops = b->clean_drops - a->clean_drops;
    d->tier0_hits = (a->tier_count && b->tier_count) ? b->tiers[0].hits - a->tiers[0].hits : 0;
}

static int set_resident(tp_stack *s, size_t pages)
{
    tierpage_error err = { 0 };
    if (tp_set_resident(s, (uint64_t)pages * PAGE, &err) < 0) {
        fprintf(stderr, "tierpage-fault-bench: tp_set_resident(%zu pages): %s\n", pages, err.message);
        return -1;
    }
    return 0;
}

struct measured {
    struct latency zero_fill, hit, hit_at_cap;
    struct phase_stats zero_fill_stats, hit_stats, hit_at_cap_stats;
    size_t skipped_resident; /* pages still resident when the hit pass began */
    size_t bad_pages;
};

static int run_tierpage(const struct options *o, uint64_t *lat, size_t *order, struct measured *m)
{
    tierpage_error err = { 0 };
    tp_stack *s;

    /* Handler threads inherit the affinity of the thread that starts them. */
    if (o->cpu == FLOOR_CPU_SAME)
        floor_pin_self(0);
    else if (o->cpu == FLOOR_CPU_CROSS)
        floor_pin_self(1);

    if (o->stack_file) {
        s = tp_stack_open_file(o->stack_file, &err);
    } else {
        char yaml[1024];
        if (o->memcached)
            snprintf(yaml, sizeof yaml,
                     "name: fault-bench\n"
                     "resident: %zuKiB\n"
                     "tiers:\n"
                     "  - plugin: memcached\n"
                     "    servers: ['%s']\n",
                     o->resident_pages * (PAGE / 1024), o->memcached);
        else
            snprintf(yaml, sizeof yaml,
                     "name: fault-bench\n"
                     "resident: %zuKiB\n"
                     "tiers:\n"
                     "  - plugin: dram\n"
                     "    capacity: 1GiB\n",
                     o->resident_pages * (PAGE / 1024));
        s = tp_stack_open_string(yaml, "tierpage-fault-bench", &err);
    }
    if (!s) {
        fprintf(stderr, "tierpage-fault-bench: open stack: %s\n", err.message);
        return -1;
    }
    int rc = -1;
    unsigned char *base = NULL;
    size_t len = o->pages * PAGE;
    /* No fault of the zero-fill pass may evict: a cap of twice the region
     * also keeps any background evictor, which frees room near the cap, idle. */
    if (set_resident(s, 2 * o->pages) < 0)
        goto out;
    base = tp_map(s, NULL, len, &err);
    if (!base) {
        fprintf(stderr, "tierpage-fault-bench: tp_map %zu bytes: %s\n", len, err.message);
        goto out;
    }
    if (o->cpu == FLOOR_CPU_CROSS)
        floor_pin_self(0);

    struct tp_stats a, b;
    uint64_t rng = o->seed;

    /* 1. zero fill: the first write of every page, in address order */
    stats_now(s, &a);
    for (size_t i = 0; i < o->pages; i++) {
        volatile uint64_t *w = (volatile uint64_t *)(void *)(base + i * PAGE);
        uint64_t t0 = tp_now_ns();
        *w = stamp(i, 0);
        lat[i] = tp_now_ns() - t0;
    }
    stats_now(s, &b);
    stats_delta(&a, &b, &m->zero_fill_stats);
    latency_summarize(lat, o->pages, &m->zero_fill);

    /* 2. spill everything but the cap to the dram tier, raise the cap again,
     * then read every page in a shuffled order */
    if (set_resident(s, o->resident_pages) < 0 || set_resident(s, 2 * o->pages) < 0)
        goto out;
    stats_now(s, &a);
    m->skipped_resident = (size_t)(a.resident_bytes / PAGE);
    shuffle(order, o->pages, &rng);
    for (size_t k = 0; k < o->pages; k++) {
        size_t i = order[k];
        volatile uint64_t *w = (volatile uint64_t *)(void *)(base + i * PAGE);
        uint64_t t0 = tp_now_ns();
        uint64_t got = *w;
        lat[k] = tp_now_ns() - t0;
        m->bad_pages += got != stamp(i, 0);
    }
    stats_now(s, &b);
    stats_delta(&a, &b, &m->hit_stats);
    /* The pages still resident did not fault: they are the fastest samples. */
    latency_summarize(lat, o->pages, &m->hit);
    if (m->skipped_resident < o->pages)
        latency_summarize(lat + m->skipped_resident, o->pages - m->skipped_resident, &m->hit);

    /* 3. at the cap: write every page in a new order; each fault fetches from
     * the dram tier and evicts a page dirtied in this pass */
    if (set_resident(s, o->resident_pages) < 0)
        goto out;
    stats_now(s, &a);
    shuffle(order, o->pages, &rng);
    for (size_t k = 0; k < o->pages; k++) {
        size_t i = order[k];
        volatile uint64_t *w = (volatile uint64_t *)(void *)(base + i * PAGE);
        uint64_t t0 = tp_now_ns();
        uint64_t got = *w;
        *w = stamp(i, 1);
        lat[k] = tp_now_ns() - t0;
        m->bad_pages += got != stamp(i, 0);
    }
    stats_now(s, &b);
    stats_delta(&a, &b, &m->hit_at_cap_stats);
    /* The resident set is full from the start, so every fault evicts; the
     * few pages still resident when touched are among the fastest samples. */
    latency_summarize(lat, o->pages, &m->hit_at_cap);

    /* every page must read back what the last pass wrote */
    for (size_t i = 0; i < o->pages; i++)
        m->bad_pages += *(volatile uint64_t *)(void *)(base + i * PAGE) != stamp(i, 1);
    rc = 0;
out:
    if (base && tp_unmap(s, base, len, &err) < 0)
        fprintf(stderr, "tierpage-fault-bench: tp_unmap: %s\n", err.message);
    tp_stack_close(s);
    return rc;
}

static void print_row(const char *name, const struct latency *l, const struct latency *floor_anon,
                      const struct latency *floor_shmem)
{
    printf("%-34s %8.2f %8.2f %8.2f", name, l->p50_us, l->p99_us, l->mean_us);
    if (floor_anon)
        printf(" %8.2fx %8.2fx", l->p50_us / floor_anon->p50_us, l->p50_us / floor_shmem->p50_us);
    putchar('\n');
}

static void print_stats(const char *name, const struct phase_stats *p)
{
    printf("  %-14s faults %" PRIu64 ", zero fills %" PRIu64 ", tier-0 hits %" PRIu64
           ", evictions %" PRIu64 " (write-backs %" PRIu64 ", clean drops %" PRIu64 ")\n",
           name, p->faults, p->zero_fills, p->tier0_hits, p->evictions, p->writebacks, p->clean_drops);
}

static void json_latency(const char *key, const struct latency *l, const struct latency *fa,
                         const struct latency *fs)
{
    printf("\"%s\":{\"p50_us\":%.3f,\"p99_us\":%.3f,\"mean_us\":%.3f,\"n\":%zu", key, l->p50_us,
           l->p99_us, l->mean_us, l->n);
    if (fa)
        printf(",\"p50_vs_floor_anon\":%.3f,\"p50_vs_floor_shmem\":%.3f", l->p50_us / fa->p50_us,
               l->p50_us / fs->p50_us);
    putchar('}');
}

static void json_stats(const char *key, const struct phase_stats *p)
{
    printf("\"%s\":{\"faults\":%" PRIu64 ",\"zero_fills\":%" PRIu64 ",\"tier0_hits\":%" PRIu64
           ",\"evictions\":%" PRIu64 ",\"writebacks\":%" PRIu64 ",\"clean_drops\":%" PRIu64 "}",
           key, p->faults, p->zero_fills, p->tier0_hits, p->evictions, p->writebacks, p->clean_drops);
}

struct get_floor {
    struct kv_floor *kv;
    char key[64];
    unsigned long fetched;
};

/* The remote floor's fill: one GET of the prepared 4 KiB item. */
static int fill_by_get(void *ctx, void *page)
{
    struct get_floor *g = ctx;
    char why[256];
    if (kv_floor_get(g->kv, g->key, page, PAGE, why, sizeof why) < 0) {
        fprintf(stderr, "tierpage-fault-bench: floor GET: %s\n", why);
        return -1;
    }
    g->fetched++;
    return 0;
}

/* The minimal handler fetching each page with one GET from the server. */
static int run_get_floor(const struct options *o, uint64_t *lat, struct latency *floor_get)
{
    struct get_floor g = { 0 };
    char why[256], msg[256];
    unsigned char page[PAGE];
    memset(page, 0x5a, sizeof page);
    snprintf(g.key, sizeof g.key, "fault-bench-floor-%d", (int)getpid());
    if (kv_floor_open("memcached", o->memcached, &g.kv, why, sizeof why) < 0 ||
        kv_floor_set(g.kv, g.key, page, PAGE, why, sizeof why) < 0) {
        fprintf(stderr, "tierpage-fault-bench: floor on memcached %s: %s\n", o->memcached, why);
        if (g.kv)
            kv_floor_close(g.kv);
        return -1;
    }
    struct floor_options fo = { .pages = o->pages, .cpu = o->cpu, .wait = FLOOR_WAIT_READ, .fill = fill_by_get,
                                .fill_ctx = &g };
    int rc = floor_uffd_run(&fo, lat, msg, sizeof msg);
    kv_floor_del(g.kv, g.key);
    kv_floor_close(g.kv);
    if (rc < 0) {
        fprintf(stderr, "tierpage-fault-bench: floor (uffd + GET): %s\n", msg);
        return -1;
    }
    latency_summarize(lat, o->pages, floor_get);
    return 0;
}

/* The kernel's first touch and the userfaultfd floors (anonymous, shmem),
 * timed into `lat` (o->pages entries) and summarised. */
static int run_floors(const struct options *o, uint64_t *lat, struct latency *kernel, struct latency *floor_anon,
                      struct latency *floor_shmem)
{
    char msg[256];
    struct floor_options fo = { .pages = o->pages, .cpu = o->cpu, .wait = FLOOR_WAIT_READ };
    if (floor_kernel_run(&fo, lat, msg, sizeof msg) < 0) {
        fprintf(stderr, "tierpage-fault-bench: kernel first touch: %s\n", msg);
        return -1;
    }
    latency_summarize(lat, o->pages, kernel);
    if (floor_uffd_run(&fo, lat, msg, sizeof msg) < 0) {
        fprintf(stderr, "tierpage-fault-bench: floor (anonymous): %s\n", msg);
        return -1;
    }
    latency_summarize(lat, o->pages, floor_anon);
    fo.shmem = true;
    if (floor_uffd_run(&fo, lat, msg, sizeof msg) < 0) {
        fprintf(stderr, "tierpage-fault-bench: floor (shmem): %s\n", msg);
        return -1;
    }
    latency_summarize(lat, o->pages, floor_shmem);
    return 0;
}

int main(int argc, char **argv)
{
    struct options o;
    parse_args(argc, argv, &o);

    uint64_t *lat = malloc(o.pages * sizeof lat[0]);
    size_t *order = malloc(o.pages * sizeof order[0]);
    if (!lat || !order) {
        fprintf(stderr, "tierpage-fault-bench: out of memory\n");
        free(lat);
        free(order);
        return 1;
    }

    struct latency kernel, floor_anon, floor_shmem, floor_get = { 0 };
    struct measured m = { 0 };
    int rc = run_floors(&o, lat, &kernel, &floor_anon, &floor_shmem);
    if (rc == 0 && o.memcached)
        rc = run_get_floor(&o, lat, &floor_get);
    if (rc == 0)
        rc = run_tierpage(&o, lat, order, &m);
    free(lat);
    free(order);
    if (rc < 0)
        return 1;

    if (o.json) {
        printf("{\"pages\":%zu,\"resident_pages\":%zu,\"cpus\":\"%s\",\"stack\":\"%s\",", o.pages,
               o.resident_pages, floor_cpu_names[o.cpu],
               o.stack_file ? o.stack_file : o.memcached ? "built-in memcached" : "built-in dram");
        json_latency("kernel_first_touch", &kernel, NULL, NULL);
        putchar(',');
        json_latency("floor_uffd_copy_anon", &floor_anon, NULL, NULL);
        putchar(',');
        json_latency("floor_uffd_copy_shmem", &floor_shmem, NULL, NULL);
        putchar(',');
        if (o.memcached) {
            json_latency("floor_uffd_get_copy", &floor_get, NULL, NULL);
            printf(",\"miss_vs_floor_get\":%.3f,\"miss_at_cap_vs_floor_get\":%.3f,", m.hit.p50_us / floor_get.p50_us,
                   m.hit_at_cap.p50_us / floor_get.p50_us);
        }
        json_latency("zero_fill", &m.zero_fill, &floor_anon, &floor_shmem);
        putchar(',');
        json_latency("dram_hit", &m.hit, &floor_anon, &floor_shmem);
        putchar(',');
        json_latency("dram_hit_at_cap", &m.hit_at_cap, &floor_anon, &floor_shmem);
        putchar(',');
        json_stats("zero_fill_stats", &m.zero_fill_stats);
        putchar(',');
        json_stats("dram_hit_stats", &m.hit_stats);
        putchar(',');
        json_stats("dram_hit_at_cap_stats", &m.hit_at_cap_stats);
        printf(",\"bad_pages\":%zu}\n", m.bad_pages);
    } else {
        printf("tierpage-fault-bench: %zu pages, resident cap %zu pages, %s, %s\n", o.pages, o.resident_pages,
               o.stack_file ? o.stack_file : o.memcached ? "memcached tier" : "dram tier", floor_cpu_names[o.cpu]);
        printf("%-34s %8s %8s %8s %9s %9s\n", "us per fault", "p50", "p99", "mean", "p50/anon",
               "p50/shmem");
        print_row("kernel first touch", &kernel, NULL, NULL);
        print_row("floor: uffd COPY, anonymous", &floor_anon, NULL, NULL);
        print_row("floor: uffd COPY, shmem", &floor_shmem, NULL, NULL);
        if (o.memcached)
            print_row("floor: uffd GET + COPY", &floor_get, NULL, NULL);
        print_row("tierpage zero fill", &m.zero_fill, &floor_anon, &floor_shmem);
        print_row(o.memcached ? "tierpage miss (read)" : "tierpage dram hit (read)", &m.hit, &floor_anon,
                  &floor_shmem);
        print_row(o.memcached ? "tierpage miss at cap (write)" : "tierpage dram hit at cap (write)", &m.hit_at_cap,
                  &floor_anon, &floor_shmem);
        printf("what tierpage counted in each pass (the dram hit pass skips the %zu pages still "
               "resident):\n", m.skipped_resident);
        print_stats("zero fill", &m.zero_fill_stats);
        print_stats("dram hit", &m.hit_stats);
        print_stats("hit at cap", &m.hit_at_cap_stats);
        if (o.memcached)
            printf("memcached %s: miss (read) p50 %.2fx the GET + COPY floor, miss at cap (write) %.2fx\n",
                   o.memcached, m.hit.p50_us / floor_get.p50_us, m.hit_at_cap.p50_us / floor_get.p50_us);
        if (m.bad_pages)
            printf("DATA ERROR: %zu page reads returned the wrong content\n", m.bad_pages);
    }
    if (m.bad_pages)
        fprintf(stderr, "tierpage-fault-bench: %zu page reads returned the wrong content\n", m.bad_pages);
    return m.bad_pages ? 1 : 0;
}
