/* Monotonic time in milliseconds, for the tiers' timeouts and back-offs. */
#ifndef TIERPAGE_CLOCK_MS_H
#define TIERPAGE_CLOCK_MS_H

#include <stdint.h>
#include <time.h>

static inline uint64_t tier_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

#endif
