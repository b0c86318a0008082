#include "mc_revive.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "clock_ms.h"
#include "tier_thread.h"

/* The prober's view of one server; touched by the prober's thread only. */
struct probe_state {
    uint64_t out_since_ms;  /* when it was first seen out of service; 0 while in service */
    uint64_t probe_at_ms;   /* the next probe */
    unsigned delay_ms;      /* the wait after the next probe that fails */
    int reported;           /* "still out of service" logged for this outage */
};

struct mc_revive {
    struct mc_revive_params p;
    struct probe_state *state;
    pthread_t thread;
    pthread_mutex_t lock;   /* guards stop and the wake-ups */
    pthread_cond_t wake;
    int stop;
};

/* A server's left_service hook: no lock held by the caller. */
static void wake_prober(void *arg)
{
    struct mc_revive *r = arg;
    pthread_mutex_lock(&r->lock);
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
}

/* Probes one server, outside the lock. */
static void probe(struct mc_revive *r, size_t i)
{
    struct mc_server *srv = &r->p.servers[i];
    struct probe_state *st = &r->state[i];
    tierpage_error err = { { 0 }, { 0 } };
    int rc = mc_server_answers(srv, &err);
    if (rc == 0) {
        mc_server_close_idle(srv);
        if (r->p.before_return)
            rc = r->p.before_return(r->p.arg, srv);
    }
    uint64_t now = tier_now_ms();
    if (rc == 0) {
        mc_server_return_to_service(srv);
        tierpage_log(r->p.host, TIERPAGE_LOG_INFO, "memcached: %s: back in service (it answered a probe after %"
                     PRIu64 " ms out of service)", srv->name, now - st->out_since_ms);
        st->out_since_ms = 0;
        return;
    }
    /* Once, when the waits have grown to their longest: the server is not
     * coming back soon, and the reason may say why. */
    if (st->delay_ms == r->p.max_ms && !st->reported)
        tierpage_log(r->p.host, TIERPAGE_LOG_WARNING, "memcached: %s: still out of service after %" PRIu64
                     " ms (%s); probed every %u ms until it answers", srv->name, now - st->out_since_ms,
                     err.message[0] ? err.message : "refused to come back", r->p.max_ms);
    st->reported |= st->delay_ms == r->p.max_ms;
    st->probe_at_ms = now + st->delay_ms;
    st->delay_ms = st->delay_ms > r->p.max_ms / 2 ? r->p.max_ms : st->delay_ms * 2;
}

/* Until `until_ms`, or a wake-up; UINT64_MAX waits for a wake-up alone.
 * Called with r->lock held. */
static void wait_until(struct mc_revive *r, uint64_t until_ms)
{
    if (until_ms == UINT64_MAX) {
        pthread_cond_wait(&r->wake, &r->lock);
        return;
    }
    struct timespec at = { (time_t)(until_ms / 1000), (long)(until_ms % 1000) * 1000000L };
    pthread_cond_timedwait(&r->wake, &r->lock, &at);
}

static void *revive_main(void *arg)
{
    struct mc_revive *r = arg;
    pthread_mutex_lock(&r->lock);
    while (!r->stop) {
        uint64_t now = tier_now_ms(), next = UINT64_MAX;
        size_t due = r->p.server_count;
        for (size_t i = 0; i < r->p.server_count && due == r->p.server_count; i++) {
            struct probe_state *st = &r->state[i];
            if (mc_server_in_service(&r->p.servers[i])) {
                st->out_since_ms = 0;
                continue;
            }
            if (st->out_since_ms == 0) {
                st->out_since_ms = now;
                st->reported = 0;
                st->probe_at_ms = now + r->p.first_ms;
                st->delay_ms = r->p.first_ms * 2 < r->p.max_ms ? r->p.first_ms * 2 : r->p.max_ms;
            }
            if (st->probe_at_ms <= now)
                due = i;
            else if (st->probe_at_ms < next)
                next = st->probe_at_ms;
        }
        if (due == r->p.server_count) {
            wait_until(r, next);
            continue;
        }
        pthread_mutex_unlock(&r->lock);
        probe(r, due);
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

struct mc_revive *mc_revive_start(const struct mc_revive_params *params)
{
    struct mc_revive *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->p = *params;
    if (r->p.first_ms == 0)
        r->p.first_ms = 1;
    if (r->p.max_ms < r->p.first_ms)
        r->p.max_ms = r->p.first_ms;
    if (!(r->state = calloc(r->p.server_count ? r->p.server_count : 1, sizeof *r->state))) {
        free(r);
        return NULL;
    }
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&r->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&r->lock, NULL);
    if (tier_thread_start(r->p.host, &r->thread, revive_main, r) != 0) {
        pthread_cond_destroy(&r->wake);
        pthread_mutex_destroy(&r->lock);
        free(r->state);
        free(r);
        return NULL;
    }
    /* Hooked once the thread runs: a server that left service before is
     * seen on its first pass. */
    for (size_t i = 0; i < r->p.server_count; i++) {
        r->p.servers[i].left_service_arg = r;
        r->p.servers[i].left_service = wake_prober;
    }
    wake_prober(r);
    return r;
}

void mc_revive_stop(struct mc_revive *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->p.server_count; i++) {
        r->p.servers[i].left_service = NULL;
        r->p.servers[i].left_service_arg = NULL;
    }
    pthread_mutex_lock(&r->lock);
    r->stop = 1;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->lock);
    free(r->state);
    free(r);
}
