/* Durations as people write them in stack files and store options: "30s",
 * "500ms", "2min", and a bare number of milliseconds. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "units.h"

static const struct {
    const char *suffix;
    uint64_t us;
} duration_units[] = {
    {"", 1000}, /* a bare number counts milliseconds */
    {"us", 1},  {"ms", 1000}, {"s", 1000000}, {"min", 60000000}, {"h", 3600000000},
};

int tp_parse_duration_us(const char *text, uint64_t *us)
{
    uint64_t number;
    const char *p = tp_read_uint(text, &number);
    if (!p)
        return -1;
    while (*p == ' ' || *p == '\t')
        p++;
    for (size_t i = 0; i < sizeof duration_units / sizeof duration_units[0]; i++) {
        if (strcmp(p, duration_units[i].suffix) != 0)
            continue;
        if (number > UINT64_MAX / duration_units[i].us)
            return -1;
        *us = number * duration_units[i].us;
        return 0;
    }
    return -1;
}

int tp_parse_duration_ms(const char *text, uint64_t *ms)
{
    uint64_t us;
    if (tp_parse_duration_us(text, &us) != 0 || us % 1000 != 0)
        return -1;
    *ms = us / 1000;
    return 0;
}

void tp_format_duration_ms(uint64_t ms, char *buf, size_t len)
{
    if (ms >= 3600000 && ms % 3600000 == 0)
        snprintf(buf, len, "%" PRIu64 "h", ms / 3600000);
    else if (ms >= 60000 && ms % 60000 == 0)
        snprintf(buf, len, "%" PRIu64 "min", ms / 60000);
    else if (ms >= 1000 && ms % 1000 == 0)
        snprintf(buf, len, "%" PRIu64 "s", ms / 1000);
    else
        snprintf(buf, len, "%" PRIu64 "ms", ms);
}
