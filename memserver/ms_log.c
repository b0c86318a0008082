#include "ms_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

void ms_log(const char *fmt, ...)
{
    static struct timespec start;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (start.tv_sec == 0 && start.tv_nsec == 0)
        start = now;
    double t = (double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* One fprintf per line, so lines from a dying process are never torn. */
    fprintf(stderr, "tierpage-memserver[%8.3f]: %s\n", t, line);
}
