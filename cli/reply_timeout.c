#include "reply_timeout.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "units.h"

int tp_parse_timeout(const char *command, const char *value, uint64_t *ms)
{
    uint64_t s, v = 0;
    if (tp_parse_uint(value, &s) == 0)
        v = s > 0 && s <= 86400 ? s * 1000 : 0;
    else if (tp_parse_duration_ms(value, &v) < 0 || v > 86400000ull)
        v = 0;
    if (!v) {
        fprintf(stderr, "%s: --timeout: expected whole seconds (at least 1) or a duration such as 90s or 2min, at "
                "most 24h; got '%s'\n", command, value);
        return -1;
    }
    *ms = v;
    return 0;
}

int tp_say_no_reply(const char *command, const char *socket, int rc, uint64_t timeout_ms, const char *waited_for)
{
    char within[32];
    if (timeout_ms % 1000 == 0)
        snprintf(within, sizeof within, "%llu s", (unsigned long long)(timeout_ms / 1000));
    else
        snprintf(within, sizeof within, "%.3g s", (double)timeout_ms / 1000);
    if (rc == -ETIMEDOUT && waited_for)
        fprintf(stderr, "%s: no reply from tierpaged at %s within %s, and no progress of the %s in that time "
                "(--timeout): is it stopped or stuck? See its log; it may still finish the %s\n", command, socket,
                within, waited_for, waited_for);
    else if (rc == -ETIMEDOUT)
        fprintf(stderr, "%s: no reply from tierpaged at %s within %s (--timeout): is it stopped or stuck? See its "
                "log\n", command, socket, within);
    else if (rc == -ECONNRESET)
        fprintf(stderr, "%s: tierpaged at %s closed the connection before it replied: did it stop? See its log\n",
                command, socket);
    else
        return 0;
    return 1;
}
