/* tierpage-wp-probe: what learning a page's writes costs, by each scheme
 * tierpage has or could have, on shmem memory registered as tierpage
 * registers it (MINOR and WP modes):
 *
 *   sync WP fault    today's scheme for pages from a remote tier: the page
 *                    is mapped write-protected and its first write is a
 *                    round trip to a handler thread that un-protects it
 *   async WP fault   UFFD_FEATURE_WP_ASYNC: the kernel un-protects the page
 *                    itself and records the write; nothing reaches a handler
 *   PAGEMAP_SCAN     reading (and re-protecting) the written state, one page
 *                    per call and a whole run in one call
 *   WRITEPROTECT     UFFDIO_WRITEPROTECT of one page (eviction stops writes
 *                    with it today)
 *   memcmp           today's scheme for local tiers: the page compared with
 *                    the tier's copy at eviction
 *
 * It also checks the semantics an exact scheme would rest on: after
 * MADV_DONTNEED of a write-protected shmem page (which stops further writes
 * without a round trip: the next touch is a MINOR fault), PAGEMAP_SCAN still
 * tells written pages from unwritten ones (the kernel keeps a uffd-wp
 * marker in the page table for the unwritten). Needs root. One JSON line. */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench_util.h"
#include "pagemap_scan.h"
#include "uffd.h"
#include "units.h"

#define PAGE 4096u

static int pagemap_fd;

static void die(const char *what)
{
    fprintf(stderr, "tierpage-wp-probe: %s: %s\n", what, strerror(errno));
    exit(1);
}

struct region {
    int uffd;
    char *base;
    size_t pages;
};

/* pages of a memfd mapped shared, written once, registered MINOR + WP. */
static void region_make(struct region *r, size_t pages, int async)
{
    r->pages = pages;
    r->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
    if (r->uffd < 0)
        die("userfaultfd (run as root)");
    struct uffdio_api api = {.api = UFFD_API,
                             .features = UFFD_FEATURE_MINOR_SHMEM | UFFD_FEATURE_WP_HUGETLBFS_SHMEM |
                                         (async ? UFFD_FEATURE_WP_ASYNC : 0)};
    if (ioctl(r->uffd, UFFDIO_API, &api) < 0)
        die(async ? "UFFDIO_API with WP_ASYNC" : "UFFDIO_API");
    int fd = memfd_create("tierpage-wp-probe", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)(pages * PAGE)) < 0)
        die("memfd");
    r->base = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (r->base == MAP_FAILED)
        die("mmap");
    for (size_t i = 0; i < pages; i++)
        r->base[i * PAGE] = 1;
    struct uffdio_register reg = {.range = {(uintptr_t)r->base, pages * PAGE},
                                  .mode = UFFDIO_REGISTER_MODE_WP | UFFDIO_REGISTER_MODE_MINOR};
    if (ioctl(r->uffd, UFFDIO_REGISTER, &reg) < 0)
        die("UFFDIO_REGISTER");
}

static void region_free(struct region *r)
{
    munmap(r->base, r->pages * PAGE);
    close(r->uffd);
}

static int protect(struct region *r, size_t first, size_t n, int on)
{
    struct uffdio_writeprotect wp = {.range = {(uintptr_t)r->base + first * PAGE, n * PAGE},
                                     .mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0};
    return ioctl(r->uffd, UFFDIO_WRITEPROTECT, &wp);
}

/* The written pages of [first, first + n) as regions in vec; with
 * `reprotect`, write-protected again in the same walk. */
static long scan(struct region *r, size_t first, size_t n, struct page_region *vec, size_t vec_len, int reprotect)
{
    struct pm_scan_arg a = {.size = sizeof a,
                            .flags = reprotect ? PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC : 0,
                            .start = (uintptr_t)r->base + first * PAGE,
                            .end = (uintptr_t)r->base + (first + n) * PAGE,
                            .vec = (uintptr_t)vec,
                            .vec_len = vec_len,
                            .category_mask = PAGE_IS_WRITTEN,
                            .return_mask = PAGE_IS_WRITTEN};
    long rc = ioctl(pagemap_fd, PAGEMAP_SCAN, &a);
    if (rc < 0)
        die("PAGEMAP_SCAN");
    return rc;
}

/* Whether page i of the region is among the scan's written regions. */
static int written(const struct region *r, const struct page_region *vec, long count, size_t i)
{
    uintptr_t a = (uintptr_t)r->base + i * PAGE;
    for (long k = 0; k < count; k++)
        if (a >= vec[k].start && a < vec[k].end)
            return 1;
    return 0;
}

/* The handler of the sync scheme: un-protects each faulting page. */
static void *wp_handler(void *arg)
{
    struct region *r = arg;
    for (;;) {
        struct uffd_msg m;
        if (read(r->uffd, &m, sizeof m) != sizeof m) {
            if (errno == EINTR)
                continue;
            return NULL;
        }
        if (m.event != UFFD_EVENT_PAGEFAULT)
            continue;
        uint64_t page = m.arg.pagefault.address & ~(uint64_t)(PAGE - 1);
        if (page == (uintptr_t)r->base + (r->pages - 1) * PAGE) {
            protect(r, r->pages - 1, 1, 0);
            return NULL; /* the last page: the run is over */
        }
        protect(r, (page - (uintptr_t)r->base) / PAGE, 1, 0);
    }
}

static double per_page_us(uint64_t t0, uint64_t t1, size_t n)
{
    return (double)(t1 - t0) / 1e3 / (double)n;
}

int main(int argc, char **argv)
{
    size_t pages = 4096;
    if (argc == 3 && strcmp(argv[1], "--pages") == 0) {
        uint64_t n;
        if (tp_parse_uint(argv[2], &n) || n < 16 || n > (1u << 22)) {
            fprintf(stderr, "tierpage-wp-probe: --pages: expected 16 to 4194304, got '%s'\n", argv[2]);
            return 2;
        }
        pages = (size_t)n;
    } else if (argc != 1) {
        fprintf(stderr, "usage: tierpage-wp-probe [--pages N]   (default 4096; see bench/wp_async_probe.c)\n");
        return 2;
    }
    pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pagemap_fd < 0)
        die("/proc/self/pagemap");
    struct page_region *vec = malloc(pages * sizeof *vec);
    if (!vec)
        die("malloc");

    /* 1. The semantics: written pages told apart after MADV_DONTNEED. */
    struct region r;
    region_make(&r, 64, 1);
    if (protect(&r, 0, 64, 1) < 0)
        die("UFFDIO_WRITEPROTECT");
    for (size_t i = 0; i < 64; i += 3)
        r.base[i * PAGE] = 2; /* resolved by the kernel: WP_ASYNC */
    if (madvise(r.base, 64 * PAGE, MADV_DONTNEED) < 0)
        die("madvise");
    long count = scan(&r, 0, 64, vec, 64, 0);
    int exact = 1;
    for (size_t i = 0; i < 64; i++)
        exact &= written(&r, vec, count, i) == (i % 3 == 0);
    region_free(&r);

    /* 2. Costs. */
    uint64_t t0, t1;
    region_make(&r, pages, 0);
    protect(&r, 0, pages, 1);
    pthread_t handler;
    pthread_create(&handler, NULL, wp_handler, &r);
    t0 = tp_now_ns();
    for (size_t i = 0; i < pages; i++)
        r.base[i * PAGE] = 3;
    t1 = tp_now_ns();
    pthread_join(handler, NULL);
    double sync_fault = per_page_us(t0, t1, pages);
    t0 = tp_now_ns();
    for (size_t i = 0; i < pages; i++)
        protect(&r, i, 1, 1);
    t1 = tp_now_ns();
    double writeprotect_one = per_page_us(t0, t1, pages);
    region_free(&r);

    region_make(&r, pages, 1);
    protect(&r, 0, pages, 1);
    t0 = tp_now_ns();
    for (size_t i = 0; i < pages; i++)
        r.base[i * PAGE] = 4;
    t1 = tp_now_ns();
    double async_fault = per_page_us(t0, t1, pages);
    t0 = tp_now_ns();
    long found = 0;
    for (size_t i = 0; i < pages; i++)
        found += scan(&r, i, 1, vec, 1, 1);
    t1 = tp_now_ns();
    double scan_one = per_page_us(t0, t1, pages);
    exact &= found == (long)pages;
    for (size_t i = 0; i < pages; i++)
        r.base[i * PAGE] = 5;
    t0 = tp_now_ns();
    count = scan(&r, 0, pages, vec, pages, 1);
    t1 = tp_now_ns();
    double scan_run = per_page_us(t0, t1, pages);
    exact &= count == 1 && vec[0].end - vec[0].start == pages * PAGE;
    region_free(&r);

    unsigned char *a = aligned_alloc(64, PAGE), *b = aligned_alloc(64, PAGE);
    memset(a, 7, PAGE);
    memset(b, 7, PAGE);
    volatile int sink = 0;
    t0 = tp_now_ns();
    for (size_t i = 0; i < pages; i++) {
        b[i % PAGE] = 7; /* a store the compiler cannot hoist out of the loop */
        sink += memcmp(a, b, PAGE);
    }
    t1 = tp_now_ns();
    double compare = per_page_us(t0, t1, pages);
    free(a);
    free(b);

    printf("{\"pages\":%zu,\"written_state_kept_after_madv_dontneed\":%s,\"sync_wp_fault_us\":%.3f,"
           "\"async_wp_fault_us\":%.3f,\"pagemap_scan_one_page_us\":%.3f,\"pagemap_scan_run_per_page_us\":%.4f,"
           "\"writeprotect_one_page_us\":%.3f,\"memcmp_4k_us\":%.3f}\n",
           pages, exact ? "true" : "false", sync_fault, async_fault, scan_one, scan_run, writeprotect_one,
           compare + 0 * sink);
    return exact ? 0 : 1;
}
