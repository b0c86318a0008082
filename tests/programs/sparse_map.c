/* A program that reserves far more than it uses, as VMs with a large -m,
 * JVM and Go heaps do: maps SIZE (default 1TiB) MAP_NORESERVE, touches
 * PAGES pages spread across it (default 1000), reads them back, checks
 * that some untouched pages between them read as zeros, and unmaps. Prints the time
 * mmap took and the peak resident memory of the process (VmHWM), so that
 * a test can hold what the pager costs to what the program touched.
 * The mapping's time is given on the wall clock and in the thread's CPU.
 *
 *   sparse_map [SIZE_GiB [PAGES]]
 *
 * Exits 0 when every check passed, 1 otherwise, 2 on bad arguments. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "program_checks.h"

static double now_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static long status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long kib = -1;
    size_t n = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == ':')
            kib = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return kib;
}

/* The page touched i-th, spread over the whole range with a stride that is
 * not a power of two, so that the pages fall in different places of any
 * fixed-size structure the pager keeps. */
static size_t page_of(size_t i, size_t pages, size_t total)
{
    return (size_t)((unsigned __int128)i * total / pages) + (i * 7919u) % 61u;
}

static int parse(const char *s, unsigned long long *v)
{
    char *end;
    *v = strtoull(s, &end, 10);
    return *s && !*end && *v > 0;
}

int main(int argc, char **argv)
{
    unsigned long long gib = 1024, pages = 1000;
    if (argc > 3 || (argc > 1 && !parse(argv[1], &gib)) || (argc > 2 && !parse(argv[2], &pages))) {
        fprintf(stderr, "usage: sparse_map [SIZE_GiB [PAGES]] (positive integers)\n");
        return 2;
    }
    size_t size = (size_t)gib << 30, total = size / PAGE;
    if (pages > total / 64) {
        fprintf(stderr, "sparse_map: %llu pages do not spread over %llu GiB (at most %zu)\n", pages, gib, total / 64);
        return 2;
    }
    /* The thread's CPU time as well as the wall clock: on a busy machine
     * the wall clock also counts the time the thread waited for a CPU. */
    double t0 = now_ms(CLOCK_MONOTONIC), c0 = now_ms(CLOCK_THREAD_CPUTIME_ID);
    unsigned char *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    double map_ms = now_ms(CLOCK_MONOTONIC) - t0, map_cpu_ms = now_ms(CLOCK_THREAD_CPUTIME_ID) - c0;
    if (base == MAP_FAILED) {
        perror("sparse_map: mmap");
        return 1;
    }
    for (size_t i = 0; i < pages; i++)
        fill(base + page_of(i, pages, total) * PAGE, PAGE, (unsigned)i);
    for (size_t i = 0; i < pages; i++) {
        size_t p = page_of(i, pages, total);
        size_t bad = first_bad(base + p * PAGE, PAGE, (unsigned)i);
        CHECK(bad == SIZE_MAX, "page %zu (the %zu-th touched) differs at byte %zu", p, i, bad);
        /* The page after every 16th touched one was never written: it
         * reads as zeros (and costs a page: the pager fills it). */
        const unsigned char *next = base + (p + 1) * PAGE;
        if (i % 16 == 0)
            CHECK(next[0] == 0 && next[PAGE - 1] == 0, "untouched page %zu does not read as zeros", p + 1);
    }
    long hwm = status_kib("VmHWM");
    t0 = now_ms(CLOCK_MONOTONIC);
    int unmapped = munmap(base, size);
    double unmap_ms = now_ms(CLOCK_MONOTONIC) - t0;
    CHECK(unmapped == 0, "munmap of %llu GiB failed", gib);
    printf("sparse_map: %llu GiB mapped in %.3f ms (%.3f ms of CPU), %llu pages touched, unmapped in %.3f ms, "
           "VmHWM %ld KiB\n", gib, map_ms, map_cpu_ms, pages, unmap_ms, hwm);
    if (failures == 0)
        printf("sparse_map: all checks passed\n");
    return failures ? 1 : 0;
}
