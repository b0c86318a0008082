/* The prober: a thread of the tier's own that brings servers which left
 * service (mc_server.h) back.
 *
 * It sleeps while every server is in service, so a healthy tier's fault
 * path makes no call for it. When a server leaves service it is woken;
 * it asks the server `version` on a fresh connection first_ms later, and
 * after each probe that fails waits twice as long, up to max_ms. Once the
 * server answers, the idle connections pooled before are closed (a
 * restarted server reset them), `before_return` is called (the tier takes
 * its lease on the server again) and the server is back in service, which
 * the log says. A get that needs a page whose only copies are on a server
 * out of service fails meanwhile with a transient error, which the core
 * retries until store_timeout: a server that comes back in time serves it. */
#ifndef TIERPAGE_MC_REVIVE_H
#define TIERPAGE_MC_REVIVE_H

#include <stddef.h>

#include "mc_server.h"

#define MC_PROBE_DEFAULT_MS 50u
#define MC_PROBE_MAX_DEFAULT_MS 2000u

struct mc_revive_params {
    const tierpage_host *host;          /* thread_create, and the log */
    struct mc_server *servers;
    size_t server_count;
    unsigned first_ms, max_ms;          /* the back-off between probes of one server */
    /* Called on the prober's thread once a server answers, before it goes
     * back: 0 lets it back, a negative errno keeps it out of service until
     * the next probe. */
    int (*before_return)(void *arg, struct mc_server *srv);
    void *arg;
};

struct mc_revive;

/* Starts the thread and hooks itself to every server's leaving service.
 * NULL when the thread cannot be started. */
struct mc_revive *mc_revive_start(const struct mc_revive_params *params);
/* Stops the thread (a probe under way ends first: at most the connect and
 * io timeouts) and unhooks it from the servers. NULL is ignored. */
void mc_revive_stop(struct mc_revive *r);

#endif
