#include "lease_clock.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "clock_ms.h"

/* The data path renews the lease itself once the heartbeat is this late:
 * a call that finds it not due can count on a third of lease_ms more. */
static uint64_t margin_ms(const struct lease_clock *c)
{
    return c->lease_ms / 3;
}

/* Lock held (or no other thread yet). */
static void recompute_due(struct lease_clock *c)
{
    uint64_t due = UINT64_MAX;
    for (size_t i = 0; i < c->places; i++)
        if ((!c->unreached[i] || c->strict) && c->until_ms[i] - margin_ms(c) < due)
            due = c->until_ms[i] - margin_ms(c);
    __atomic_store_n(&c->due_ms, due, __ATOMIC_RELEASE);
}

void lease_clock_init(struct lease_clock *c, unsigned lease_ms, size_t places, int strict)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    c->strict = strict;
    c->lease_ms = lease_ms;
    c->places = places < LEASE_CLOCK_PLACES ? places : LEASE_CLOCK_PLACES;
    /* Not taken yet: nothing to count on, and nothing due. */
    for (size_t i = 0; i < c->places; i++)
        c->unreached[i] = 1;
    c->due_ms = UINT64_MAX;
}

void lease_clock_destroy(struct lease_clock *c)
{
    pthread_mutex_destroy(&c->lock);
}

void lease_clock_confirmed(struct lease_clock *c, size_t i, uint64_t sent_ms)
{
    if (i >= c->places)
        return;
    c->until_ms[i] = sent_ms + c->lease_ms;
    c->unreached[i] = 0;
    recompute_due(c);
}

void lease_clock_unreached(struct lease_clock *c, size_t i)
{
    if (i >= c->places)
        return;
    c->unreached[i] = 1;
    recompute_due(c);
}

int lease_clock_ran_out(const struct lease_clock *c, size_t i, uint64_t sent_ms)
{
    return i < c->places && (!c->unreached[i] || c->strict) && sent_ms >= c->until_ms[i];
}

int lease_clock_valid(const struct lease_clock *c, size_t i, uint64_t now_ms)
{
    return i < c->places && now_ms < c->until_ms[i];
}

void lease_clock_lose(struct lease_clock *c, const tierpage_host *host, const char *fmt, ...)
{
    if (__atomic_load_n(&c->lost, __ATOMIC_ACQUIRE))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
    __atomic_store_n(&c->lost, 1, __ATOMIC_RELEASE);
    tierpage_log(host, TIERPAGE_LOG_ERROR, "%s", c->why);
}

/* 0 when the stack may use the store, -ESTALE when the lease is lost, 1
 * when it is due. */
static int check(struct lease_clock *c, tierpage_error *err)
{
    if (__atomic_load_n(&c->lost, __ATOMIC_ACQUIRE))
        return tierpage_error_set(err, -ESTALE, NULL, "%s", c->why);
    return tier_now_ms() >= __atomic_load_n(&c->due_ms, __ATOMIC_ACQUIRE);
}

void lease_clock_renew(struct lease_clock *c, void (*renew_locked)(void *arg), void *arg)
{
    pthread_mutex_lock(&c->lock);
    renew_locked(arg);
    pthread_mutex_unlock(&c->lock);
}

int lease_clock_hold(struct lease_clock *c, void (*renew_locked)(void *arg), void *arg, tierpage_error *err)
{
    int rc = check(c, err);
    if (rc != 1)
        return rc;
    /* The heartbeat is late (starved, or stuck on a slow server). */
    pthread_mutex_lock(&c->lock);
    if (check(c, NULL) == 1)
        renew_locked(arg);
    pthread_mutex_unlock(&c->lock);
    rc = check(c, err);
    return rc < 0 ? rc : 0;
}
