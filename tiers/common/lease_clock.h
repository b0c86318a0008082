/* What a running stack knows of its own lease (ns_keys.h) by its own clock.
 *
 * A server forgets a lease lease_ms after the command that last set it, so
 * a stack may count on it only until lease_ms after it *sent* its last
 * confirmed take or renewal: a stack stalled past that (starved of CPU,
 * stopped, a renewal stuck on a slow server) may have lost it, and a later
 * open of the namespace may have removed its pages (or, with namespace:
 * exclusive, written its own under the same keys). Such a stack must not
 * read from or write to the store again: once a renewal finds the lease
 * gone after the time the stack could count on it, or held by another
 * stack, the lease is lost for good and every later call fails with
 * -ESTALE, which stops the program with the reason.
 *
 * A lease the server lost some other way (restarted, flushed: asked in
 * time, or a server that could not be reached before) is taken again: its
 * pages there went with it, which the tier already handles as a server
 * that came back empty.
 *
 * Places are where the lease lives: each plain server, or one for a
 * cluster. Lock contract: the renewal passes (the heartbeat's, and a data
 * path call that finds the lease due) hold `lock` across their commands;
 * lease_clock_hold takes it only when the lease is due. */
#ifndef TIERPAGE_LEASE_CLOCK_H
#define TIERPAGE_LEASE_CLOCK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "tierpage_store.h"

#define LEASE_CLOCK_PLACES 64

struct lease_clock {
    pthread_mutex_t lock;                     /* held across a renewal pass */
    unsigned lease_ms;
    size_t places;
    int strict;                               /* a place that could not be reached excuses nothing (one cluster-wide lease) */
    uint64_t until_ms[LEASE_CLOCK_PLACES];    /* monotonic: sent + lease_ms of the last confirmation */
    unsigned char unreached[LEASE_CLOCK_PLACES]; /* the last attempt could not ask the place */
    uint64_t due_ms;                          /* atomic: the earliest until_ms of a reached place */
    int lost;                                 /* atomic: set once, never cleared */
    char why[sizeof ((tierpage_error *)0)->message]; /* written once, before lost is set */
};

/* `strict`: the lease lives in one place for every page (a cluster), so
 * a place that could not be reached is no server that lost its pages. */
void lease_clock_init(struct lease_clock *c, unsigned lease_ms, size_t places, int strict);
void lease_clock_destroy(struct lease_clock *c);

/* Renewal pass results for place i, asked at sent_ms (lock held). */
void lease_clock_confirmed(struct lease_clock *c, size_t i, uint64_t sent_ms);
void lease_clock_unreached(struct lease_clock *c, size_t i);
/* The lease was gone from place i when asked at sent_ms: 1 when it may
 * have run out while this stack counted on it (the caller then calls
 * lease_clock_lose), 0 when the place lost it some other way (take it
 * again). */
int lease_clock_ran_out(const struct lease_clock *c, size_t i, uint64_t sent_ms);
/* Whether a place could count on the lease at `now` (a cluster's single
 * lease that cannot be reached: lost once this says no). */
int lease_clock_valid(const struct lease_clock *c, size_t i, uint64_t now_ms);

/* The lease is lost: records why (the first reason only) and logs it as
 * an error through host. */
void lease_clock_lose(struct lease_clock *c, const tierpage_host *host, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The heartbeat's call: renew_locked(arg), one renewal pass of the tier's,
 * under the clock's lock. */
void lease_clock_renew(struct lease_clock *c, void (*renew_locked)(void *arg), void *arg);
/* For a data path call: 0 when the stack may use the store, -ESTALE with
 * err set when the lease is lost. When the heartbeat is a third of
 * lease_ms late, runs renew_locked(arg) itself first (unless another call
 * just did). No lock held by the caller. */
int lease_clock_hold(struct lease_clock *c, void (*renew_locked)(void *arg), void *arg, tierpage_error *err);

#endif
