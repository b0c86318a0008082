/* Durations as people write them in stack files: "30s", "500ms", "2min". */
#include <string.h>

#include "units.h"

static const struct {
    const char *suffix;
    uint64_t ms;
} duration_units[] = {{"ms", 1}, {"s", 1000}, {"min", 60000}, {"h", 3600000}};

int tp_parse_duration_ms(const char *text, uint64_t *ms)
{
    const char *p = text;
    uint64_t number = 0;

    if (!text || *p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned digit = (unsigned)(*p - '0');
        if (number > (UINT64_MAX - digit) / 10)
            return -1;
        number = number * 10 + digit;
    }
    if (*p == '\0' && number == 0) { /* a zero needs no unit */
        *ms = 0;
        return 0;
    }
    for (size_t i = 0; i < sizeof duration_units / sizeof duration_units[0]; i++) {
        if (strcmp(p, duration_units[i].suffix) != 0)
            continue;
        if (number > UINT64_MAX / duration_units[i].ms)
            return -1;
        *ms = number * duration_units[i].ms;
        return 0;
    }
    return -1;
}
