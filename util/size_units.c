/* Sizes as people write them in stack files, store options and on command
 * lines: "64MiB", "4 GiB", "4096". */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "units.h"

struct size_unit {
    const char *suffix;
    unsigned shift; /* the unit is 1 << shift bytes */
};

/* Every unit is binary: "MB" means MiB here, as memory sizes always are. */
static const struct size_unit size_units[] = {
    {"", 0},     {"B", 0},
    {"K", 10},   {"KB", 10},  {"KiB", 10},
    {"M", 20},   {"MB", 20},  {"MiB", 20},
    {"G", 30},   {"GB", 30},  {"GiB", 30},
    {"T", 40},   {"TB", 40},  {"TiB", 40},
};

int tp_parse_size(const char *text, uint64_t *bytes)
{
    uint64_t number;
    const char *p = tp_read_uint(text, &number);

    if (!p)
        return -1; /* empty, signed, no number first, or too large */
    while (*p == ' ' || *p == '\t')
        p++;

    for (size_t i = 0; i < sizeof size_units / sizeof size_units[0]; i++) {
        const struct size_unit *unit = &size_units[i];
        if (strcmp(p, unit->suffix) != 0)
            continue;
        if (unit->shift && number > (UINT64_MAX >> unit->shift))
            return -1;
        *bytes = number << unit->shift;
        return 0;
    }
    return -1; /* unknown unit, fraction, or trailing text */
}

void tp_format_size(uint64_t bytes, char *buf, size_t len)
{
    static const char *const names[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int top = 0;

    if (!buf || len == 0)
        return;

    if (bytes == 0) {
        snprintf(buf, len, "0B");
        return;
    }
    /* Exact: the largest unit that divides the size, if the number stays short. */
    for (int i = 4; i >= 0; i--) {
        uint64_t unit = (uint64_t)1 << (10 * i);
        if (bytes % unit == 0 && (i == 4 || bytes / unit < 10240)) {
            snprintf(buf, len, "%" PRIu64 "%s", bytes / unit, names[i]);
            return;
        }
    }

    /* Otherwise one decimal in the largest unit not above the size. */
    while (top < 4 && bytes >= ((uint64_t)1 << (10 * (top + 1))))
        top++;
    snprintf(buf, len, "%.1f%s", (double)bytes / (double)((uint64_t)1 << (10 * top)), names[top]);
}
