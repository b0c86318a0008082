/* The minimal userfaultfd handler that tierpage's fault service is measured
 * against. Deliberately the least work a pager can do: read one message,
 * copy one prepared page in, nothing else. */
#include "uffd_floor_core.h"
#include "bench_util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define FLOOR_PAGE 4096u
#define WARMUP_PAGES 8u /* untimed faults first, to wake both threads up */

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

const char *const floor_cpu_names[] = { "unpinned", "same-cpu", "cross-cpu" };
const char *const floor_wait_names[] = { "read", "poll", "spin" };

static void report(char *msg, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
}

/* -1 as an expression rather than a variadic function's result, so that the
 * static analyzer, which does not follow calls into variadic functions, sees
 * that every failure returns it. */
#define fail(...) (report(__VA_ARGS__), -1)

int floor_pin_self(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    return -rc;
}

static int open_userfaultfd(int flags)
{
    int fd = (int)syscall(SYS_userfaultfd, flags);
    if (fd >= 0)
        return fd;
    int saved = errno;
    int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
    if (dev < 0) {
        errno = saved;
        return -1;
    }
    fd = ioctl(dev, USERFAULTFD_IOC_NEW, flags);
    saved = errno;
    close(dev);
    errno = saved;
    return fd;
}

/* A region of o->pages timed pages, preceded by the warm-up pages and followed
 * by one page whose fault tells the handler to stop. */
struct floor_region {
    unsigned char *base;
    size_t len;
    int memfd;
};

static int region_map(struct floor_region *r, const struct floor_options *o, size_t extra_pages,
                      char *msg, size_t msg_len)
{
    r->len = (o->pages + extra_pages) * FLOOR_PAGE;
    r->memfd = -1;
    int flags = MAP_PRIVATE | MAP_ANONYMOUS;
    if (o->shmem) {
        r->memfd = memfd_create("tierpage-uffd-floor", MFD_CLOEXEC);
        if (r->memfd < 0)
            return fail(msg, msg_len, "memfd_create: %s", strerror(errno));
        if (ftruncate(r->memfd, (off_t)r->len) < 0) {
            close(r->memfd);
            return fail(msg, msg_len, "ftruncate memfd: %s", strerror(errno));
        }
        flags = MAP_SHARED;
    }
    void *p = mmap(NULL, r->len, PROT_READ | PROT_WRITE, flags, r->memfd, 0);
    if (p == MAP_FAILED) {
        if (r->memfd >= 0)
            close(r->memfd);
        return fail(msg, msg_len, "mmap %zu bytes: %s", r->len, strerror(errno));
    }
    r->base = p;
    return 0;
}

static void region_unmap(struct floor_region *r)
{
    munmap(r->base, r->len);
    if (r->memfd >= 0)
        close(r->memfd);
}

struct affinity {
    cpu_set_t saved;
    bool restore;
};

static int pin_main(enum floor_cpu cpu, struct affinity *a, char *msg, size_t msg_len)
{
    a->restore = false;
    if (cpu == FLOOR_CPU_ANY)
        return 0;
    if (pthread_getaffinity_np(pthread_self(), sizeof a->saved, &a->saved) != 0)
        return fail(msg, msg_len, "pthread_getaffinity_np failed");
    int rc = floor_pin_self(0);
    if (rc < 0)
        return fail(msg, msg_len, "pin to CPU 0: %s", strerror(-rc));
    a->restore = true;
    return 0;
}

static void unpin_main(struct affinity *a)
{
    if (a->restore)
        pthread_setaffinity_np(pthread_self(), sizeof a->saved, &a->saved);
}

static void touch_pages(unsigned char *first, size_t pages, uint64_t *lat_ns)
{
    for (size_t i = 0; i < pages; i++) {
        volatile uint64_t *word = (volatile uint64_t *)(void *)(first + i * FLOOR_PAGE);
        uint64_t t0 = tp_now_ns();
        *word = i + 1;
        lat_ns[i] = tp_now_ns() - t0;
    }
}

int floor_kernel_run(const struct floor_options *o, uint64_t *lat_ns, char *msg, size_t msg_len)
{
    struct floor_region r;
    struct affinity a;
    if (region_map(&r, o, WARMUP_PAGES, msg, msg_len) < 0)
        return -1;
    if (pin_main(o->cpu, &a, msg, msg_len) < 0) {
        region_unmap(&r);
        return -1;
    }
    uint64_t warm[WARMUP_PAGES];
    touch_pages(r.base, WARMUP_PAGES, warm);
    touch_pages(r.base + WARMUP_PAGES * FLOOR_PAGE, o->pages, lat_ns);
    unpin_main(&a);
    region_unmap(&r);
    return 0;
}

struct handler {
    int (*fill)(void *ctx, void *page);
    void *fill_ctx;
    int uffd;
    int cpu;                 /* -1: unpinned */
    enum floor_wait wait;
    unsigned char *src;      /* the page every fault is filled with */
    unsigned char *stop_page;
    struct uffdio_range region;
    volatile int error;      /* errno of a failed call, 0 if none */
    const char *volatile failed_call;
};

/* On a failure, hand the region back to the kernel (unregistering wakes a
 * blocked fault) so the faulting thread finishes instead of hanging. */
static void *handler_fail(struct handler *h, const char *call, int error)
{
    h->failed_call = call;
    h->error = error;
    ioctl(h->uffd, UFFDIO_UNREGISTER, &h->region);
    return NULL;
}

static void *handler_main(void *arg)
{
    struct handler *h = arg;
    int rc;
    if (h->cpu >= 0 && (rc = floor_pin_self(h->cpu)) < 0)
        return handler_fail(h, "pin handler thread", -rc);
    for (;;) {
        if (h->wait == FLOOR_WAIT_POLL) {
            struct pollfd pfd = { .fd = h->uffd, .events = POLLIN };
            if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
                return handler_fail(h, "poll", errno);
        }
        struct uffd_msg m;
        ssize_t n = read(h->uffd, &m, sizeof m);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            return handler_fail(h, "read userfaultfd", errno);
        }
        if (n != sizeof m || m.event != UFFD_EVENT_PAGEFAULT)
            continue;
        uint64_t addr = m.arg.pagefault.address & ~(uint64_t)(FLOOR_PAGE - 1);
        if (h->fill && h->fill(h->fill_ctx, h->src) < 0)
            return handler_fail(h, "fill the page", EIO);
        struct uffdio_copy copy = {
            .dst = addr, .src = (uint64_t)(uintptr_t)h->src, .len = FLOOR_PAGE, .mode = 0,
        };
        while (ioctl(h->uffd, UFFDIO_COPY, &copy) < 0) {
            if (errno == EEXIST)
                break; /* already filled: a repeated message for the same fault */
            if (errno != EAGAIN)
                return handler_fail(h, "UFFDIO_COPY", errno);
            copy.copy = 0;
        }
        if (addr == (uint64_t)(uintptr_t)h->stop_page)
            return NULL;
    }
}

int floor_uffd_run(const struct floor_options *o, uint64_t *lat_ns, char *msg, size_t msg_len)
{
    if (o->cpu == FLOOR_CPU_CROSS && sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return fail(msg, msg_len, "--cross-cpu needs two CPUs, this machine has one online");

    int uffd = open_userfaultfd(O_CLOEXEC | (o->wait == FLOOR_WAIT_READ ? 0 : O_NONBLOCK));
    if (uffd < 0)
        return fail(msg, msg_len, "userfaultfd: %s (run as root, or set vm.unprivileged_userfaultfd=1)",
                    strerror(errno));
    struct uffdio_api api = { .api = UFFD_API, .features = 0 };
    if (ioctl(uffd, UFFDIO_API, &api) < 0) {
        close(uffd);
        return fail(msg, msg_len, "UFFDIO_API: %s", strerror(errno));
    }
    if (o->shmem && !(api.features & UFFD_FEATURE_MISSING_SHMEM)) {
        close(uffd);
        return fail(msg, msg_len, "this kernel has no userfaultfd MISSING mode on shmem");
    }

    struct floor_region r;
    if (region_map(&r, o, WARMUP_PAGES + 1, msg, msg_len) < 0) {
        close(uffd);
        return -1;
    }
    struct uffdio_register reg = {
        .range = { .start = (uint64_t)(uintptr_t)r.base, .len = r.len },
        .mode = UFFDIO_REGISTER_MODE_MISSING,
    };
    if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0) {
        int e = errno;
        region_unmap(&r);
        close(uffd);
        return fail(msg, msg_len, "UFFDIO_REGISTER: %s", strerror(e));
    }

    unsigned char *src = aligned_alloc(FLOOR_PAGE, FLOOR_PAGE);
    if (!src) {
        region_unmap(&r);
        close(uffd);
        return fail(msg, msg_len, "out of memory");
    }
    memset(src, 0x5a, FLOOR_PAGE);

    struct affinity a;
    int rc = pin_main(o->cpu, &a, msg, msg_len);
    struct handler h = {
        .fill = o->fill,
        .fill_ctx = o->fill_ctx,
        .uffd = uffd,
        .cpu = o->cpu == FLOOR_CPU_SAME ? 0 : o->cpu == FLOOR_CPU_CROSS ? 1 : -1,
        .wait = o->wait,
        .src = src,
        .stop_page = r.base + r.len - FLOOR_PAGE,
        .region = reg.range,
    };
    pthread_t thread;
    if (rc == 0 && (rc = pthread_create(&thread, NULL, handler_main, &h)) != 0)
        rc = fail(msg, msg_len, "pthread_create: %s", strerror(rc));
    if (rc == 0) {
        uint64_t warm[WARMUP_PAGES];
        touch_pages(r.base, WARMUP_PAGES, warm);
        touch_pages(r.base + WARMUP_PAGES * FLOOR_PAGE, o->pages, lat_ns);
        if (!h.error)
            *(volatile unsigned char *)h.stop_page = 1;
        pthread_join(thread, NULL);
        if (h.error)
            rc = fail(msg, msg_len, "handler: %s: %s", h.failed_call, strerror(h.error));
    }
    unpin_main(&a);
    free(src);
    region_unmap(&r);
    close(uffd);
    return rc;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

void latency_summarize(uint64_t *lat_ns, size_t n, struct latency *out)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    if (n == 0)
        return;
    qsort(lat_ns, n, sizeof lat_ns[0], cmp_u64);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)lat_ns[i];
    out->mean_us = sum / (double)n / 1e3;
    out->p50_us = (double)lat_ns[(size_t)(0.50 * (double)(n - 1) + 0.5)] / 1e3;
    out->p99_us = (double)lat_ns[(size_t)(0.99 * (double)(n - 1) + 0.5)] / 1e3;
    out->min_us = (double)lat_ns[0] / 1e3;
    out->max_us = (double)lat_ns[n - 1] / 1e3;
}
