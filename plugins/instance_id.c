#include "instance_id.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

void tp_instance_id(char *out, size_t size)
{
    static uint64_t opened; /* two opens in one process within one clock tick */
    uint64_t h = 0;
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    for (const char *p = host; *p; p++)
        h = mix(h, (unsigned char)*p);
    h = mix(h, (uint64_t)getpid());
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    h = mix(h, (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec);
    clock_gettime(CLOCK_MONOTONIC, &t);
    h = mix(h, (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec);
    h = mix(h, __atomic_add_fetch(&opened, 1, __ATOMIC_RELAXED));
    uint64_t random = 0;
    if (getrandom(&random, sizeof random, GRND_NONBLOCK) == (ssize_t)sizeof random)
        h = mix(h, random);
    snprintf(out, size, "%016llx", (unsigned long long)h);
}
