#include "mc_key.h"

#include <inttypes.h>
#include <stdio.h>

int mc_page_key(char *buf, size_t len, const char *namespace_name, uint64_t key)
{
    int n = snprintf(buf, len, "tp:%s:%016" PRIx64, namespace_name, key);
    if (n < 0 || (size_t)n >= len || n > MC_KEY_MAX)
        return -1;
    return n;
}

int mc_page_key_parse(const char *buf, size_t len, uint64_t *key)
{
    if (len < 16)
        return -1;
    uint64_t v = 0;
    for (const char *p = buf + len - 16; p < buf + len; p++) {
        int d;
        if (*p >= '0' && *p <= '9')
            d = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            d = *p - 'a' + 10;
        else
            return -1;
        v = v << 4 | (uint64_t)d;
    }
    *key = v;
    return 0;
}
