/* Unsigned decimal integers: the one reading of digits that sizes,
 * durations, counts and ports share. */
#include "units.h"

const char *tp_read_uint(const char *text, uint64_t *out)
{
    uint64_t n = 0;
    const char *p = text;
    if (!p)
        return NULL;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned digit = (unsigned)(*p - '0');
        if (n > (UINT64_MAX - digit) / 10)
            return NULL;
        n = n * 10 + digit;
    }
    if (p == text)
        return NULL;
    *out = n;
    return p;
}

int tp_parse_uint(const char *text, uint64_t *out)
{
    uint64_t n;
    const char *end = tp_read_uint(text, &n);
    if (!end || *end)
        return -1;
    *out = n;
    return 0;
}
