/* Waiting for a server's reply on the fault path: spin first, then block.
 *
 * A thread that blocks in poll() or read() gives up its CPU; on these small
 * VMs the wake that follows the reply costs tens of µs when the CPU halted
 * meanwhile or the thread is woken from another CPU (DESIGN.md), which is
 * as much as the round trip itself. Polling without a timeout for the first
 * `spin_us` keeps the CPU, so a reply that comes soon is read at once; a
 * slow one still gets a blocking wait, so a stalled server costs no CPU. */
#ifndef TIERPAGE_REPLY_WAIT_H
#define TIERPAGE_REPLY_WAIT_H

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <time.h>

/* The options' default. A loopback round trip of a 4 KiB get is 13-50 µs
 * here; tierpage-fault-bench --memcached measured misses at 1.0-1.25x the
 * GET + COPY floor with 60 µs, and 1.5-8x with 0-30 µs, on a loaded
 * machine (bench/RESULTS.md, "The remote fault path"). The spin costs a CPU
 * only while the faulting thread waits anyway. */
#define REPLY_SPIN_US_DEFAULT 60u
#define REPLY_SPIN_US_MAX 10000u

static inline uint64_t reply_wait_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Polls fd without blocking for up to spin_us: 1 when it is readable (or
 * in error: the read that follows reports it), 0 when the time is up,
 * -errno when poll fails. For a caller whose own read blocks after. */
static inline int reply_spin(int fd, unsigned spin_us)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    uint64_t spin_end = reply_wait_now_ns() + (uint64_t)spin_us * 1000u;
    for (;;) {
        int n = poll(&p, 1, 0);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return -errno;
        if (reply_wait_now_ns() >= spin_end)
            return 0;
    }
}

/* Waits until fd is readable, spinning for up to spin_us, then blocking for
 * up to timeout_ms in all. 1 when readable (or in error), 0 on timeout,
 * -errno when poll fails. */
static inline int reply_wait(int fd, unsigned spin_us, unsigned timeout_ms)
{
    uint64_t start = reply_wait_now_ns();
    int r = reply_spin(fd, spin_us);
    if (r)
        return r;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    for (;;) {
        uint64_t spent_ms = (reply_wait_now_ns() - start) / 1000000u;
        int left = spent_ms >= timeout_ms ? 0 : (int)(timeout_ms - spent_ms);
        int n = poll(&p, 1, left);
        if (n > 0)
            return 1;
        if (n == 0)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
}

#endif
