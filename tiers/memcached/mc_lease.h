/* The memcached tier's part of one running stack per namespace
 * (tiers/common/ns_keys.h): the lease on every server, and the sweep of
 * the pages that instances whose lease is gone left behind.
 *
 * memcached cannot list one namespace's keys, so the sweep reads every
 * key a server holds with `lru_crawler metadump all`, which walks the
 * server's LRUs. It may miss an item written while it runs, but a dead
 * instance writes nothing, so it lists every key of one: exact where it
 * matters, and nothing costs the data path (an expiry on page keys would
 * have to be renewed page by page; a key list kept on the server would be
 * written with every new page). */
#ifndef TIERPAGE_MC_LEASE_H
#define TIERPAGE_MC_LEASE_H

#include <stddef.h>

#include "lease_clock.h"
#include "mc_server.h"
#include "ns_keys.h"

struct mc_lease {
    struct mc_server *servers;
    size_t server_count;
    const struct ns_keys *ns;
    unsigned lease_ms;
    const tierpage_host *host; /* the core's services: the log */
    struct lease_clock clock;  /* what this stack may count on of its lease (lease_clock.h) */
};

/* memcached's expiry for a lease: whole seconds, rounded up, plus one for
 * the server's clock ticking between two renewals. */
unsigned mc_lease_exptime(unsigned lease_ms);

/* Takes the lease on every server in service: `add`, which stores only
 * where no lease is. -EBUSY with a message naming the server and the
 * namespace when exclusive and another stack holds it. `recovering` (the
 * stack of a killed pager, opened again under its instance): a lease held
 * under this instance is that pager's, and taken over. */
int mc_lease_take(struct mc_lease *l, int recovering, tierpage_error *err);
/* The heartbeat's call: touches the lease where it still holds it, adds
 * it again where the server lost it (restarted, or out of service
 * meanwhile); a lease that ran out while this stack counted on it, or
 * that another stack holds on a server in service, is lost for good
 * (lease_clock.h). Takes the clock's lock. */
void mc_lease_renew(void *lease);
/* Renews the lease on one server, in service or not, or adds it again
 * where the server lost it: 0 when this instance holds it, -EBUSY when
 * another stack does, -ESTALE when it ran out while this stack counted on
 * it (then lost), another negative errno when the server failed. Called
 * with the clock's lock held. */
int mc_lease_claim(struct mc_lease *l, struct mc_server *srv);
/* Before a get, put or delete: 0 when the store may be used, -ESTALE with
 * err set once the lease is lost; renews it when the heartbeat is late.
 * No lock held by the caller. */
int mc_lease_check(struct mc_lease *l, tierpage_error *err);
void mc_lease_release(struct mc_lease *l);

/* On every server in service: deletes the keys of the namespace's
 * instances whose lease is gone from that server, and with exclusive the
 * namespace's own keys. A server whose crawler stays busy is skipped with
 * a warning (a later open sweeps it). */
int mc_sweep_namespace(struct mc_lease *l, tierpage_error *err);
/* On every server in service: deletes the pages and the lease of one
 * instance of the namespace, a forked child's that ended (drop_child). A
 * server whose crawler stays busy fails it (-EAGAIN): the pages then stay
 * until a later open's sweep, the lease being gone with the child. */
int mc_sweep_instance(struct mc_lease *l, const char *instance, tierpage_error *err);

/* Calls fn(arg, key, len) for every key the server lists with
 * `lru_crawler metadump all`; fn returns 0 to go on, negative to stop with
 * that result. -EAGAIN when the crawler stayed busy. */
int mc_metadump(struct mc_server *srv, int (*fn)(void *arg, const char *key, size_t len), void *arg,
                tierpage_error *err);

#endif
