#include "mc_lease.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock_ms.h"

unsigned mc_lease_exptime(unsigned lease_ms)
{
    return (lease_ms + 999) / 1000 + 1;
}

/* The lease's value on one server: 1 with it in holder, 0 when there is
 * none, negative errno when the server could not be asked. */
static int lease_get(struct mc_server *srv, const char *key, char *holder, size_t size, tierpage_error *err)
{
    memcached_st *m = mc_server_take(srv, err);
    if (!m)
        return -ENOMEM;
    size_t len = 0;
    uint32_t flags;
    memcached_return_t rc;
    char *value = memcached_get(m, key, strlen(key), &len, &flags, &rc);
    int result;
    if (value) {
        snprintf(holder, size, "%.*s", (int)len, value);
        free(value);
        result = 1;
    } else if (rc == MEMCACHED_NOTFOUND) {
        result = 0;
    } else {
        result = mc_server_fail(srv, m, rc, "get of a lease", err);
    }
    mc_server_give(srv, m, value || rc == MEMCACHED_NOTFOUND ? MEMCACHED_SUCCESS : rc);
    return result;
}

/* `add` of the lease on one server: 1 taken, 0 held by another stack. */
static int lease_add(struct mc_lease *l, struct mc_server *srv, tierpage_error *err)
{
    memcached_st *m = mc_server_take(srv, err);
    if (!m)
        return -ENOMEM;
    memcached_return_t rc = memcached_add(m, l->ns->lease, strlen(l->ns->lease), l->ns->instance, NS_ID_LEN,
                                          (time_t)mc_lease_exptime(l->lease_ms), 0);
    int result = 1;
    if (rc == MEMCACHED_NOTSTORED || rc == MEMCACHED_DATA_EXISTS)
        result = 0, rc = MEMCACHED_SUCCESS;
    else if (rc != MEMCACHED_SUCCESS)
        result = mc_server_fail(srv, m, rc, "add of the lease", err);
    mc_server_give(srv, m, rc);
    return result;
}

/* Recovering a killed pager's stack under its instance: a lease held under
 * this very instance id is the dead pager's, renewed and this open's from
 * now on. 1 when taken over so, 0 when another holds it, negative errno. */
static int lease_take_over(struct mc_lease *l, struct mc_server *srv, tierpage_error *err)
{
    char holder[NS_ID_LEN + 1] = "";
    int held = lease_get(srv, l->ns->lease, holder, sizeof holder, err);
    if (held <= 0 || strcmp(holder, l->ns->instance) != 0)
        return held < 0 ? held : 0;
    memcached_st *m = mc_server_take(srv, err);
    if (!m)
        return -ENOMEM;
    memcached_return_t rc = memcached_touch(m, l->ns->lease, strlen(l->ns->lease),
                                            (time_t)mc_lease_exptime(l->lease_ms));
    int result = rc == MEMCACHED_SUCCESS;
    if (rc != MEMCACHED_SUCCESS && rc != MEMCACHED_NOTFOUND)
        result = mc_server_fail(srv, m, rc, "touch of the lease", err);
    mc_server_give(srv, m, rc == MEMCACHED_NOTFOUND ? MEMCACHED_SUCCESS : rc);
    return result;
}

int mc_lease_take(struct mc_lease *l, int recovering, tierpage_error *err)
{
    for (size_t i = 0; i < l->server_count; i++) {
        struct mc_server *srv = &l->servers[i];
        if (!mc_server_in_service(srv))
            continue;
        uint64_t sent = tier_now_ms();
        int rc = lease_add(l, srv, err);
        if (rc == 0 && recovering)
            rc = lease_take_over(l, srv, err);
        if (rc == 1) {
            lease_clock_confirmed(&l->clock, i, sent);
            continue;
        }
        mc_lease_release(l);
        if (rc < 0)
            return rc;
        char holder[NS_ID_LEN + 1] = "?";
        tierpage_error ignored;
        lease_get(srv, l->ns->lease, holder, sizeof holder, &ignored);
        if (!l->ns->exclusive)
            return tierpage_error_set(err, -EEXIST, NULL, "memcached: %s: instance %s of namespace '%s' is "
                                      "already open", srv->name, l->ns->instance, l->ns->name);
        return tierpage_error_set(err, -EBUSY, NULL, "memcached: %s: namespace '%s' is in use by another running "
                                  "stack (namespace: exclusive; lease %s held by instance %s)", srv->name,
                                  l->ns->name, l->ns->lease, holder);
    }
    return 0;
}

int mc_lease_claim(struct mc_lease *l, struct mc_server *srv)
{
    size_t i = (size_t)(srv - l->servers);
    char holder[NS_ID_LEN + 1];
    tierpage_error err;
    uint64_t sent = tier_now_ms();
    int held = lease_get(srv, l->ns->lease, holder, sizeof holder, &err);
    if (held < 0) {
        lease_clock_unreached(&l->clock, i);
        return held;
    }
    if (held && strcmp(holder, l->ns->instance) != 0)
        return -EBUSY;
    if (held) {
        memcached_st *m = mc_server_take(srv, &err);
        if (!m)
            return -ENOMEM;
        memcached_return_t rc = memcached_touch(m, l->ns->lease, strlen(l->ns->lease),
                                                (time_t)mc_lease_exptime(l->lease_ms));
        int result = 0;
        if (rc != MEMCACHED_SUCCESS && rc != MEMCACHED_NOTFOUND)
            result = mc_server_fail(srv, m, rc, "touch of the lease", &err);
        mc_server_give(srv, m, rc == MEMCACHED_NOTFOUND ? MEMCACHED_SUCCESS : rc);
        if (rc == MEMCACHED_SUCCESS)
            lease_clock_confirmed(&l->clock, i, sent);
        else if (result < 0)
            lease_clock_unreached(&l->clock, i);
        if (rc != MEMCACHED_NOTFOUND)
            return result;
    }
    /* Ran out while this stack counted on it: a later open may have
     * removed its pages there. */
    if (lease_clock_ran_out(&l->clock, i, sent)) {
        lease_clock_lose(&l->clock, l->host, "memcached: %s: lost the lease on namespace '%s': it ran out, not "
                         "renewed within lease_ms (%u ms; a stall of this process or of the server); another "
                         "stack may have taken its pages", srv->name, l->ns->name, l->lease_ms);
        return -ESTALE;
    }
    /* Gone some other way (a restarted server, one that was out of
     * service): take it again, unless another stack has it now. */
    sent = tier_now_ms();
    int added = lease_add(l, srv, &err);
    if (added == 1)
        lease_clock_confirmed(&l->clock, i, sent);
    else if (added < 0)
        lease_clock_unreached(&l->clock, i);
    return added < 0 ? added : added ? 0 : -EBUSY;
}

/* One renewal pass (clock lock held). A server in service whose lease
 * another stack holds now was taken over: this stack has lost it. */
static void renew_locked(void *lease)
{
    struct mc_lease *l = lease;
    for (size_t i = 0; i < l->server_count && !__atomic_load_n(&l->clock.lost, __ATOMIC_ACQUIRE); i++) {
        struct mc_server *srv = &l->servers[i];
        if (!mc_server_in_service(srv)) {
            lease_clock_unreached(&l->clock, i);
            continue;
        }
        if (mc_lease_claim(l, srv) == -EBUSY)
            lease_clock_lose(&l->clock, l->host, "memcached: %s: lost the lease on namespace '%s' to another "
                             "stack", srv->name, l->ns->name);
    }
}

void mc_lease_renew(void *lease)
{
    struct mc_lease *l = lease;
    lease_clock_renew(&l->clock, renew_locked, l);
}

int mc_lease_check(struct mc_lease *l, tierpage_error *err)
{
    return lease_clock_hold(&l->clock, renew_locked, l, err);
}

void mc_lease_release(struct mc_lease *l)
{
    for (size_t i = 0; i < l->server_count; i++) {
        struct mc_server *srv = &l->servers[i];
        char holder[NS_ID_LEN + 1];
        tierpage_error err;
        if (!mc_server_in_service(srv) || lease_get(srv, l->ns->lease, holder, sizeof holder, &err) != 1 ||
            strcmp(holder, l->ns->instance) != 0)
            continue;
        memcached_st *m = mc_server_take(srv, &err);
        if (!m)
            continue;
        memcached_return_t rc = memcached_delete(m, l->ns->lease, strlen(l->ns->lease), 0);
        mc_server_give(srv, m, rc == MEMCACHED_NOTFOUND ? MEMCACHED_SUCCESS : rc);
    }
}

/* ------------------------------------------------------------------ sweep */

#define LIVENESS_CACHE 64

struct sweep {
    struct mc_lease *l;
    struct mc_server *srv;
    memcached_st *m;         /* deletes and lease lookups, beside the dump's own connection */
    struct {
        char instance[NS_ID_LEN + 1];
        int alive;
    } cache[LIVENESS_CACHE];
    size_t cached;
    const char *only;        /* a forked child's instance: its keys alone go */
    uint64_t removed;
    tierpage_error *err;
};

static int instance_alive(struct sweep *w, const char *instance)
{
    for (size_t i = 0; i < w->cached; i++)
        if (strcmp(w->cache[i].instance, instance) == 0)
            return w->cache[i].alive;
    char key[NS_PREFIX_MAX + 2], holder[NS_ID_LEN + 1];
    ns_lease_key_of(w->l->ns, instance, key, sizeof key);
    int alive = lease_get(w->srv, key, holder, sizeof holder, w->err);
    if (alive >= 0 && w->cached < LIVENESS_CACHE) {
        memcpy(w->cache[w->cached].instance, instance, NS_ID_LEN + 1);
        w->cache[w->cached++].alive = alive;
    }
    return alive;
}

static int sweep_key(void *arg, const char *key, size_t len)
{
    struct sweep *w = arg;
    char instance[NS_ID_LEN + 1];
    enum ns_key_kind kind = ns_key_classify(w->l->ns, key, len, instance);
    int doomed = 0;
    if (w->only) {
        doomed = kind == NS_KEY_INSTANCE && strcmp(instance, w->only) == 0;
    } else if (kind == NS_KEY_EXCLUSIVE) {
        doomed = w->l->ns->exclusive;
    } else if (kind == NS_KEY_INSTANCE && (w->l->ns->exclusive || strcmp(instance, w->l->ns->instance) != 0)) {
        int alive = instance_alive(w, instance);
        if (alive < 0)
            return alive;
        doomed = !alive;
    }
    if (!doomed)
        return 0;
    memcached_return_t rc = memcached_delete(w->m, key, len, 0);
    if (rc == MEMCACHED_SUCCESS)
        w->removed++;
    else if (rc != MEMCACHED_NOTFOUND)
        return tierpage_error_set(w->err, -EIO, NULL, "memcached: %s: delete of %.*s: %s", w->srv->name, (int)len,
                                  key, memcached_strerror(w->m, rc));
    return 0;
}

/* *removed: the keys deleted, over every server. */
static int sweep(struct mc_lease *l, const char *only, uint64_t *removed, tierpage_error *err)
{
    struct sweep *w = calloc(1, sizeof *w);
    if (!w)
        return tierpage_error_set(err, -ENOMEM, NULL, "memcached: out of memory");
    int rc = 0;
    for (size_t i = 0; i < l->server_count && rc == 0; i++) {
        struct mc_server *srv = &l->servers[i];
        if (!mc_server_in_service(srv))
            continue;
        *w = (struct sweep){.l = l, .srv = srv, .only = only, .err = err};
        if (!(w->m = mc_server_take(srv, err))) {
            rc = -ENOMEM;
            break;
        }
        rc = mc_metadump(srv, sweep_key, w, err);
        mc_server_give(srv, w->m, MEMCACHED_SUCCESS);
        *removed += w->removed;
        if (rc == -EAGAIN && !only) {
            tierpage_log(l->host, TIERPAGE_LOG_WARNING, "%s; pages that stopped stacks left there stay until a "
                         "later open", err->message);
            rc = 0;
        }
    }
    free(w);
    return rc;
}

/* Passes of a sweep at most: a dump lists no item written while it runs,
 * and may pass over one the server moves between its LRUs meanwhile. A
 * sweep that removed something goes again, until a pass finds nothing. */
#define SWEEPS 4

int mc_sweep_namespace(struct mc_lease *l, tierpage_error *err)
{
    uint64_t removed = 1;
    int rc = 0;
    for (int pass = 0; pass < SWEEPS && removed && rc == 0; pass++) {
        removed = 0;
        rc = sweep(l, NULL, &removed, err);
    }
    return rc;
}

int mc_sweep_instance(struct mc_lease *l, const char *instance, tierpage_error *err)
{
    /* A put the child sent just before it ended may still wait in the
     * server's input when a dump passes. */
    uint64_t removed = 1;
    int rc = 0;
    for (int pass = 0; pass < SWEEPS && removed && rc == 0; pass++) {
        removed = 0;
        rc = sweep(l, instance, &removed, err);
    }
    if (rc < 0)
        return rc;
    char key[NS_PREFIX_MAX + 2];
    ns_lease_key_of(l->ns, instance, key, sizeof key);
    for (size_t i = 0; i < l->server_count; i++) {
        struct mc_server *srv = &l->servers[i];
        if (!mc_server_in_service(srv))
            continue;
        memcached_st *m = mc_server_take(srv, err);
        if (!m)
            return -ENOMEM;
        memcached_return_t mrc = memcached_delete(m, key, strlen(key), 0);
        mc_server_give(srv, m, mrc == MEMCACHED_NOTFOUND ? MEMCACHED_SUCCESS : mrc);
    }
    return 0;
}
