/* Monotonic time in nanoseconds, for timing and sampling inside the core. */
#ifndef TIERPAGE_CLOCK_NS_H
#define TIERPAGE_CLOCK_NS_H

#include <stdint.h>
#include <time.h>

static inline uint64_t tp_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

#endif
