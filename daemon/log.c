#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

void tpd_log(const char *level, const char *fmt, ...)
{
    char line[1024], when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* One write per line, so that lines of several threads never mix. */
    fprintf(stderr, "tierpaged: %s %s: %s\n", when, level, line);
}
