#include "tier_chain.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "clock_ns.h"
#include "writeback.h"

#define TP_MAX_PAGE_SIZE 4096
#define TP_RETRY_FIRST_NS 1000000ull     /* back-off: 1 ms, doubling */
#define TP_RETRY_MAX_NS 500000000ull     /* up to 500 ms between tries */

uint64_t tp_store_timeout_ns(const struct tp_stack *s)
{
    return s->conf->store_timeout_ms * 1000000ull;
}

/* One store call being retried. */
struct retry {
    uint64_t failing_since, delay;
};

/* After a transient failure: waits and returns 1 to try again, or returns
 * 0 when the call has failed for store_timeout, with err saying so. */
static int retry_after_failure(const struct tp_stack *s, size_t t, struct retry *r, tierpage_error *err)
{
    uint64_t now = tp_now_ns(), timeout = tp_store_timeout_ns(s);
    if (!r->failing_since) {
        r->failing_since = now;
        r->delay = TP_RETRY_FIRST_NS;
    }
    uint64_t failing = now - r->failing_since;
    if (failing >= timeout) {
        if (err && timeout) {
            tierpage_error why = *err;
            tierpage_error_set(err, 0, why.key, "tier '%s' still failing after %llu ms (store_timeout): %s",
                               s->tiers[t].name, (unsigned long long)(failing / 1000000), why.message);
        }
        return 0;
    }
    uint64_t wait = r->delay < timeout - failing ? r->delay : timeout - failing;
    struct timespec ts = {(time_t)(wait / 1000000000ull), (long)(wait % 1000000000ull)};
    nanosleep(&ts, NULL);
    r->delay = r->delay * 2 < TP_RETRY_MAX_NS ? r->delay * 2 : TP_RETRY_MAX_NS;
    return 1;
}

void tp_tier_serial_enter(struct tp_tier *tier)
{
    if (tier->serial)
        pthread_mutex_lock(&tier->serial_lock);
}

void tp_tier_serial_leave(struct tp_tier *tier)
{
    if (tier->serial)
        pthread_mutex_unlock(&tier->serial_lock);
}

int tp_tier_get(struct tp_stack *s, size_t t, uint32_t id, void *page, tierpage_error *err)
{
    struct tp_tier *tier = &s->tiers[t];
    int rc = -ENOENT;
    if (tier->writeback)
        rc = tp_writeback_get(tier->writeback, id, page);
    if (rc == -ENODATA)
        return -ENOENT; /* the store's copy is stale, its delete queued */
    struct retry retry = {0, 0};
    while (rc == -ENOENT) {
        tp_tier_serial_enter(tier);
        rc = tier->ops->get(tier->store, id, page, err);
        tp_tier_serial_leave(tier);
        if (!tp_store_error_is_transient(rc) || !retry_after_failure(s, t, &retry, err))
            break;
        rc = -ENOENT;
    }
    if (rc == 0) {
        tp_lock_take(&s->lock);
        tier->bytes_out += s->page_size;
        tp_lock_drop(&s->lock);
    }
    return rc;
}

/* A direct put is retried on a transient failure, unless `has_next`: the
 * caller then puts the page into the next tier instead. */
static int tier_put(struct tp_stack *s, size_t t, uint32_t id, const void *page, int has_next,
                    tierpage_error *err)
{
    struct tp_tier *tier = &s->tiers[t];
    if (tier->writeback) {
        /* Counted as a put when the store acknowledges it. */
        tp_writeback_put(tier->writeback, id, page);
        return 0;
    }
    int rc;
    struct retry retry = {0, 0};
    do {
        tp_tier_serial_enter(tier);
        rc = tier->ops->put(tier->store, id, page, err);
        tp_tier_serial_leave(tier);
    } while (tp_store_error_is_transient(rc) && !has_next && retry_after_failure(s, t, &retry, err));
    tp_lock_take(&s->lock);
    if (rc == 0) {
        tier->puts++;
        tier->bytes_in += s->page_size;
    } else if (rc == -ENOSPC) {
        tier->full_events++;
    }
    tp_lock_drop(&s->lock);
    return rc;
}

int tp_tier_del(struct tp_stack *s, size_t t, uint32_t id, tierpage_error *err)
{
    struct tp_tier *tier = &s->tiers[t];
    if (tier->writeback) {
        tp_writeback_delete(tier->writeback, id);
        return 0;
    }
    int rc;
    struct retry retry = {0, 0};
    do {
        tp_tier_serial_enter(tier);
        rc = tier->ops->del(tier->store, id, err);
        tp_tier_serial_leave(tier);
    } while (tp_store_error_is_transient(rc) && retry_after_failure(s, t, &retry, err));
    return rc == -ENOENT ? 0 : rc;
}

/* Free one page's worth of room in tier t. 0 on success, -ENOSPC when it
 * cannot (t is the last tier, every slower tier is full, or every page in t
 * is being moved). */
static int demote_one(struct tp_stack *s, size_t t, tierpage_error *err)
{
    if (t + 1 >= s->tier_count)
        return -ENOSPC;
    tp_lock_take(&s->lock);
    uint32_t id = tp_tier_claim_coldest(&s->pages, t);
    if (id == TP_NIL) {
        tp_lock_drop(&s->lock);
        return -ENOSPC;
    }
    struct tp_page *p = tp_page(&s->pages, id);
    if (p->state == TP_PAGE_RESIDENT && (p->flags & TP_PAGE_DIRTY)) {
        /* A stale copy: the resident page will be written on eviction. */
        tp_page_drop_copy(&s->pages, id);
        tp_lock_drop(&s->lock);
        int rc = tp_tier_del(s, t, id, err);
        tp_page_release_unlocked(&s->pages, id);
        return rc;
    }
    tp_lock_drop(&s->lock);
    int rc = tp_chain_move(s, id, t + 1, err);
    tp_page_release_unlocked(&s->pages, id);
    return rc;
}

int tp_chain_move(struct tp_stack *s, uint32_t id, size_t target, tierpage_error *err)
{
    _Alignas(64) unsigned char buf[TP_MAX_PAGE_SIZE];
    size_t from = tp_page(&s->pages, id)->tier; /* stable: only the BUSY holder changes it */
    int rc = tp_tier_get(s, from, id, buf, err);
    if (rc < 0)
        return rc == -ENOENT ? -EIO : rc;
    rc = tp_chain_put(s, target, id, buf, err);
    if (rc < 0)
        return rc;
    tp_chain_moved(s, id, from, (size_t)rc);
    return tp_tier_del(s, from, id, err);
}

void tp_chain_moved(struct tp_stack *s, uint32_t id, size_t from, size_t landed)
{
    TP_ASSERT_NOT_HELD(&s->lock);
    tp_lock_take(&s->lock);
    tp_page_land(&s->pages, id, landed);
    s->tiers[from].demotions++;
    tp_lock_drop(&s->lock);
}

int tp_chain_put(struct tp_stack *s, size_t t, uint32_t id, const void *page, tierpage_error *err)
{
    struct tp_tier *tier = &s->tiers[t];
    struct tp_page *p = tp_page(&s->pages, id);
    for (int attempt = 0;; attempt++) {
        tp_lock_take(&s->lock);
        int overwrite = p->tier == t;
        int room = overwrite || tp_tier_reserve(&s->pages, t, tier->capacity_pages);
        tp_lock_drop(&s->lock);

        int rc = -ENOSPC, has_next = t + 1 < s->tier_count;
        if (room) {
            rc = tier_put(s, t, id, page, has_next, err);
            if (rc == 0)
                return (int)t;
            if (!overwrite) {
                tp_lock_take(&s->lock);
                tp_tier_unreserve(&s->pages, t);
                tp_lock_drop(&s->lock);
            }
            /* A store that failed: the page is kept safe in the next tier
             * (the caller deletes any older copy left here). */
            if (tp_store_error_is_transient(rc) && has_next)
                return tp_chain_put(s, t + 1, id, page, err);
            if (rc != -ENOSPC)
                return rc;
        }
        /* Full: push this tier's coldest page down, then try again; when
         * that cannot be done, the page itself goes to the next tier. */
        if (attempt < 64) {
            int d = demote_one(s, t, err);
            if (d == 0)
                continue;
            if (d != -ENOSPC)
                return d;
        }
        if (t + 1 < s->tier_count)
            return tp_chain_put(s, t + 1, id, page, err);
        return tierpage_error_set(err, -ENOSPC, NULL, "every tier from '%s' down is full", tier->name);
    }
}
