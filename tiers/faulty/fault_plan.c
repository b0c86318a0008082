#include "fault_plan.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "key_hash.h"
#include "units.h"

#define PPM 1000000u

void fault_plan_init(struct fault_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    plan->stall_ns = 100u * 1000u * 1000u;
    plan->seed = 1;
}

static int parse_u64(const char *text, const char **end, uint64_t *out)
{
    *end = tp_read_uint(text, out);
    return *end ? 0 : -EINVAL;
}

int fault_parse_share(const char *text, uint32_t *ppm)
{
    const char *p;
    uint64_t whole;
    if (parse_u64(text, &p, &whole) < 0)
        return -EINVAL;
    if (*p == '/') { /* N/M */
        uint64_t of;
        if (parse_u64(p + 1, &p, &of) < 0 || *p || of == 0 || whole > of)
            return -EINVAL;
        *ppm = (uint32_t)((whole * PPM + of / 2) / of);
        return 0;
    }
    /* A decimal: whole.fraction, up to six digits after the point, with an
     * optional % (then the share is of a hundred). */
    uint64_t micro = whole * PPM;
    if (whole > 100)
        return -EINVAL;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        uint64_t scale = PPM / 10;
        for (; isdigit((unsigned char)*p); p++, scale /= 10) {
            if (scale == 0 && *p != '0')
                return -EINVAL;
            micro += (uint64_t)(*p - '0') * scale;
        }
    }
    if (*p == '%') {
        micro /= 100;
        p++;
    }
    if (*p || micro > PPM)
        return -EINVAL;
    *ppm = (uint32_t)micro;
    return 0;
}

int fault_parse_duration(const char *text, uint64_t *ns)
{
    uint64_t us;
    if (tp_parse_duration_us(text, &us) != 0 || us > UINT64_MAX / 1000)
        return -EINVAL;
    *ns = us * 1000;
    return 0;
}

static const char *const call_names[FAULT_CALLS] = {"get", "put", "del"};

int fault_plan_option(struct fault_plan *plan, const char *key, const char *value, tierpage_error *err)
{
    static const char share[] = "expected a share of calls such as 0.001, 1/1000 or 0.1%";
    static const char duration[] = "expected a duration such as 250ms, 2s or 500us";
    for (int c = 0; c < FAULT_CALLS; c++) {
        size_t n = strlen(call_names[c]);
        if (strncmp(key, call_names[c], n) != 0 || key[n] != '_')
            continue;
        const char *what = key + n + 1;
        uint32_t *field = strcmp(what, "eio") == 0     ? &plan->eio[c]
                          : strcmp(what, "stall") == 0 ? &plan->stall[c]
                          : (c == FAULT_PUT && strcmp(what, "full") == 0) ? &plan->put_full
                                                                          : NULL;
        if (!field)
            return 0;
        if (fault_parse_share(value, field) < 0)
            return tierpage_error_set(err, -EINVAL, key, "faulty: %s: %s, got '%s'", key, share, value);
        return 1;
    }
    if (strcmp(key, "stall_time") == 0 || strcmp(key, "outage_time") == 0) {
        uint64_t *field = key[0] == 's' ? &plan->stall_ns : &plan->outage_ns;
        if (fault_parse_duration(value, field) < 0)
            return tierpage_error_set(err, -EINVAL, key, "faulty: %s: %s, got '%s'", key, duration, value);
        return 1;
    }
    if (strcmp(key, "seed") == 0 || strcmp(key, "outage_after") == 0) {
        uint64_t *field = key[0] == 's' ? &plan->seed : &plan->outage_after;
        const char *end;
        if (parse_u64(value, &end, field) < 0 || *end)
            return tierpage_error_set(err, -EINVAL, key, "faulty: %s: expected an unsigned integer, got '%s'", key,
                                      value);
        return 1;
    }
    return 0;
}

/* A number in [0, PPM) drawn from (seed, call, n, what). */
static uint32_t draw(const struct fault_plan *plan, enum fault_call call, uint64_t n, unsigned what)
{
    uint64_t h = tier_fmix64(plan->seed * 0x9e3779b97f4a7c15ull + ((uint64_t)call << 60) + ((uint64_t)what << 56) + n);
    return (uint32_t)(h % PPM);
}

enum fault_kind fault_plan_decide(const struct fault_plan *plan, enum fault_call call, uint64_t n)
{
    if (draw(plan, call, n, 0) < plan->eio[call])
        return FAULT_EIO;
    if (call == FAULT_PUT && draw(plan, call, n, 1) < plan->put_full)
        return FAULT_FULL;
    if (draw(plan, call, n, 2) < plan->stall[call])
        return FAULT_STALL;
    return FAULT_NONE;
}
