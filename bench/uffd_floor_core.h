/* The floor for fault service: a minimal userfaultfd handler (one thread,
 * MISSING mode, UFFDIO_COPY of one 4 KiB page per fault), and the kernel's own
 * first-touch fault, each timed per fault. Shared by tierpage-uffd-floor and
 * tierpage-fault-bench, which measures tierpage beside it in the same run. */
#ifndef TIERPAGE_UFFD_FLOOR_CORE_H
#define TIERPAGE_UFFD_FLOOR_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum floor_cpu {
    FLOOR_CPU_ANY,   /* leave placement to the scheduler */
    FLOOR_CPU_SAME,  /* faulting and handling thread both on CPU 0 */
    FLOOR_CPU_CROSS, /* faulting thread on CPU 0, handler on CPU 1 */
};

enum floor_wait {
    FLOOR_WAIT_READ, /* handler blocks in read() on the userfaultfd */
    FLOOR_WAIT_POLL, /* handler blocks in poll(), then reads */
    FLOOR_WAIT_SPIN, /* handler spins on a non-blocking read() */
};

struct floor_options {
    size_t pages;        /* timed faults */
    bool shmem;          /* memfd MAP_SHARED (shmem MISSING mode), else private anonymous */
    enum floor_cpu cpu;
    enum floor_wait wait;
    /* When set, the handler calls it for each fault before UFFDIO_COPY, to
     * fill the page it copies (a fetch from a server, say): 0, or -1 to
     * stop the run with the handler failed. */
    int (*fill)(void *ctx, void *page);
    void *fill_ctx;
};

struct latency {
    size_t n;
    double mean_us, p50_us, p99_us, min_us, max_us;
};

extern const char *const floor_cpu_names[];
extern const char *const floor_wait_names[];


/* Time the first touch (a write) of each of o->pages pages of a region served
 * by a one-thread userfaultfd handler. lat_ns gets o->pages values.
 * Returns 0, or -1 with a message in msg. */
int floor_uffd_run(const struct floor_options *o, uint64_t *lat_ns, char *msg, size_t msg_len);

/* The same touches with no userfaultfd: the kernel's own fault path. */
int floor_kernel_run(const struct floor_options *o, uint64_t *lat_ns, char *msg, size_t msg_len);

/* Pin the calling thread to one CPU; returns 0 or -errno. */
int floor_pin_self(int cpu);

/* Sorts lat_ns in place and summarises it. */
void latency_summarize(uint64_t *lat_ns, size_t n, struct latency *out);

#endif
