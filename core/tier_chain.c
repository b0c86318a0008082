#include "tier_chain.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock_ns.h"
#include "writeback.h"

#define TP_RETRY_FIRST_NS 1000000ull     /* back-off: 1 ms, doubling */
#define TP_RETRY_MAX_NS 500000000ull     /* up to 500 ms between tries */

/* One store call being retried. */
struct retry {
    uint64_t failing_since, delay;
};

/* After a transient failure: waits and returns 1 to try again, or returns
 * 0 when the call has failed for store_timeout, with err saying so. */
static int retry_after_failure(const struct tp_tier *tier, struct retry *r, tierpage_error *err)
{
    uint64_t now = tp_now_ns(), timeout = tier->stack->store_timeout_ns;
    if (!r->failing_since) {
        r->failing_since = now;
        r->delay = TP_RETRY_FIRST_NS;
    }
    uint64_t failing = now - r->failing_since;
    if (failing >= timeout) {
        if (err && timeout) {
            tierpage_error why = *err;
            tierpage_error_set(err, 0, why.key, "tier '%s' still failing after %llu ms (store_timeout): %s",
                               tier->name, (unsigned long long)(failing / 1000000), why.message);
        }
        return 0;
    }
    uint64_t wait = r->delay < timeout - failing ? r->delay : timeout - failing;
    struct timespec ts = {(time_t)(wait / 1000000000ull), (long)(wait % 1000000000ull)};
    nanosleep(&ts, NULL);
    r->delay = r->delay * 2 < TP_RETRY_MAX_NS ? r->delay * 2 : TP_RETRY_MAX_NS;
    return 1;
}

/* Every call into a store goes through these four: a store that takes one
 * call at a time gets its lock here. */
static void serial_enter(struct tp_tier *tier)
{
    if (tier->serial)
        pthread_mutex_lock(&tier->serial_lock);
}

static void serial_leave(struct tp_tier *tier)
{
    if (tier->serial)
        pthread_mutex_unlock(&tier->serial_lock);
}

/* A get or delete that fails transiently is tried again with back-off
 * until it has failed for store_timeout; then the last error is returned. */
static int store_get(struct tp_tier *tier, uint32_t id, void *page, tierpage_error *err)
{
    int rc;
    struct retry retry = {0, 0};
    do {
        serial_enter(tier);
        rc = tier->ops->get(tier->store, id, page, err);
        serial_leave(tier);
    } while (tp_store_error_is_transient(rc) && retry_after_failure(tier, &retry, err));
    return rc;
}

/* results[i] for each page; a store without put_batch gets one put each. */
static void store_put(struct tp_tier *tier, size_t n, const uint64_t *keys, const void *const *pages, int *results,
                      tierpage_error *err)
{
    serial_enter(tier);
    if (tier->ops->put_batch && n > 1) {
        tier->ops->put_batch(tier->store, n, keys, pages, results, err);
    } else {
        for (size_t i = 0; i < n; i++)
            results[i] = tier->ops->put(tier->store, keys[i], pages[i], err);
    }
    serial_leave(tier);
}

/* 0 also when the store held no copy. */
/* With `retry_failed` 0 (a write-back queue's delete, which the queue retries
 * itself), one try. */
static int store_del(struct tp_tier *tier, uint32_t id, int retry_failed, tierpage_error *err)
{
    int rc;
    struct retry retry = {0, 0};
    do {
        serial_enter(tier);
        rc = tier->ops->del(tier->store, id, err);
        serial_leave(tier);
    } while (retry_failed && tp_store_error_is_transient(rc) && !tp_stack_failed(tier->stack) &&
             retry_after_failure(tier, &retry, err));
    return rc == -ENOENT ? 0 : rc;
}

int tp_tier_get(struct tp_stack *s, size_t t, uint32_t id, void *page, tierpage_error *err)
{
    struct tp_tier *tier = &s->tiers[t];
    int rc = -ENOENT;
    if (tier->writeback)
        rc = tp_writeback_get(tier->writeback, id, page);
    if (rc == -ENODATA)
        return -ENOENT; /* the store's copy is stale, its delete queued */
    if (rc == -EIO)
        return tierpage_error_set(err, rc, NULL, "tier '%s' failed: its write-back queue dropped its pages",
                                  tier->name);
    if (rc == -ENOENT)
        rc = store_get(tier, id, page, err);
    if (rc == 0) {
        tp_lock_take(&s->lock);
        tier->bytes_out += s->page_size;
        tp_lock_drop(&s->lock);
    }
    return rc;
}

int tp_tier_usage(struct tp_stack *s, size_t t, tierpage_store_usage *usage, tierpage_error *err)
{
    struct tp_tier *tier = &s->tiers[t];
    memset(usage, 0, sizeof *usage);
    serial_enter(tier);
    int rc = tier->ops->usage(tier->store, usage, err);
    serial_leave(tier);
    return rc;
}

void tp_tier_get_batch(struct tp_stack *s, size_t t, size_t n, const uint32_t *ids, void *const *pages,
                       int *results)
{
    struct tp_tier *tier = &s->tiers[t];
    uint64_t keys[n];
    void *store_pages[n];
    size_t asked[n], m = 0, got = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = tier->writeback ? tp_writeback_get(tier->writeback, ids[i], pages[i]) : -ENOENT;
        results[i] = rc == -ENODATA ? -ENOENT : rc;
        if (rc == -ENOENT) {
            keys[m] = ids[i];
            store_pages[m] = pages[i];
            asked[m++] = i;
        }
    }
    if (m > 0) {
        int store_results[m];
        tierpage_error ignored = {{0}, {0}};
        serial_enter(tier);
        if (tier->ops->get_batch && m > 1) {
            tier->ops->get_batch(tier->store, m, keys, store_pages, store_results, &ignored);
        } else {
            for (size_t j = 0; j < m; j++)
                store_results[j] = tier->ops->get(tier->store, keys[j], store_pages[j], &ignored);
        }
        serial_leave(tier);
        for (size_t j = 0; j < m; j++)
            results[asked[j]] = store_results[j];
    }
    for (size_t i = 0; i < n; i++)
        got += results[i] == 0;
    tp_lock_take(&s->lock);
    tier->bytes_out += got * s->page_size;
    tp_lock_drop(&s->lock);
}

static void count_puts(struct tp_stack *s, struct tp_tier *tier, size_t acknowledged, size_t refused)
{
    tp_lock_take(&s->lock);
    tier->puts += acknowledged;
    tier->bytes_in += acknowledged * s->page_size;
    tier->full_events += refused;
    tp_lock_drop(&s->lock);
}

/* A direct put is retried on a transient failure, unless `has_next`: the
 * caller then puts the page into the next tier instead. A put through a
 * write-back queue returns once queued, or, with `acked`, once the store
 * has acknowledged it (-ENOSPC when it refused it as full). */
static int tier_put(struct tp_stack *s, size_t t, uint32_t id, const void *page, int has_next, int acked,
                    tierpage_error *err)
{
    struct tp_tier *tier = &s->tiers[t];
    if (tier->writeback && acked) {
        int rc = tp_writeback_put_acked(tier->writeback, id, page);
        if (rc == -EIO)
            return tierpage_error_set(err, rc, NULL, "tier '%s' failed: its write-back queue dropped page %u",
                                      tier->name, id);
        return rc;
    }
    if (tier->writeback) {
        /* Counted as a put when the store acknowledges it. */
        tp_writeback_put(tier->writeback, id, page);
        return 0;
    }
    uint64_t key = id;
    int rc;
    struct retry retry = {0, 0};
    do {
        store_put(tier, 1, &key, &page, &rc, err);
    } while (tp_store_error_is_transient(rc) && !has_next && retry_after_failure(tier, &retry, err));
    count_puts(s, tier, rc == 0, rc == -ENOSPC);
    return rc;
}

int tp_tier_put_now(struct tp_stack *s, size_t t, size_t n, const uint64_t *ids, const void *const *pages,
                    tierpage_error *err)
{
    struct tp_tier *tier = &s->tiers[t];
    int results[n ? n : 1];
    store_put(tier, n, ids, pages, results, err);
    size_t acknowledged = 0;
    for (size_t i = 0; i < n; i++) {
        struct retry retry = {0, 0};
        while (tp_store_error_is_transient(results[i]) && retry_after_failure(tier, &retry, err))
            store_put(tier, 1, &ids[i], &pages[i], &results[i], err);
        if (results[i] < 0) {
            count_puts(s, tier, acknowledged, 0);
            if (results[i] == -ENOSPC)
                return tierpage_error_set(err, -ENOSPC, NULL, "tier '%s' is full", tier->name);
            return results[i];
        }
        acknowledged++;
    }
    count_puts(s, tier, acknowledged, 0);
    return 0;
}

int tp_tier_del(struct tp_stack *s, size_t t, uint32_t id, tierpage_error *err)
{
    struct tp_tier *tier = &s->tiers[t];
    if (tier->writeback) {
        tp_writeback_delete(tier->writeback, id);
        return 0;
    }
    return store_del(tier, id, 1, err);
}

/* Stack lock not held. Claim tier t's coldest page that no one is moving,
 * to move it down (returns 1, the page BUSY for the caller, in *id); or,
 * when that page is resident and written since its copy was made, drop
 * the stale copy instead, its place freed (returns 2). 0 when every page
 * in t is being moved, or -errno when the stale copy's delete failed. */
static int claim_coldest(struct tp_stack *s, size_t t, uint32_t *id, tierpage_error *err)
{
    tp_lock_take(&s->lock);
    *id = tp_tier_claim_coldest(&s->pages, t);
    if (*id == TP_NIL) {
        tp_lock_drop(&s->lock);
        return 0;
    }
    struct tp_page *p = tp_page(&s->pages, *id);
    if (p->state == TP_PAGE_RESIDENT && (p->flags & TP_PAGE_DIRTY)) {
        /* A stale copy: the resident page will be written on eviction. */
        tp_page_drop_copy(&s->pages, *id);
        tp_lock_drop(&s->lock);
        int rc = tp_tier_del(s, t, *id, err);
        tp_page_release_unlocked(&s->pages, *id);
        return rc < 0 ? rc : 2;
    }
    tp_lock_drop(&s->lock);
    return 1;
}

/* Free one page's worth of room in tier t. 0 on success, -ENOSPC when it
 * cannot (t is the last tier, every slower tier is full, or every page in t
 * is being moved). */
static int demote_one(struct tp_stack *s, size_t t, tierpage_error *err)
{
    if (t + 1 >= s->tier_count)
        return -ENOSPC;
    uint32_t id;
    int rc = claim_coldest(s, t, &id, err);
    if (rc != 1)
        return rc == 0 ? -ENOSPC : rc < 0 ? rc : 0;
    rc = tp_chain_move(s, id, t + 1, err);
    tp_page_release_unlocked(&s->pages, id);
    return rc;
}

/* Best effort, stack lock not held: free up to `want` places in tier t
 * (at most TP_CHAIN_BATCH) by moving its coldest pages down together, so
 * that the next tier's acknowledgements are waited for once for all of
 * them. A page that cannot move stays; tp_chain_put's one-page demotion
 * makes room then. */
static void demote_some(struct tp_stack *s, size_t t, size_t want, tierpage_error *err)
{
    if (t + 1 >= s->tier_count)
        return;
    if (want > TP_CHAIN_BATCH)
        want = TP_CHAIN_BATCH;
    unsigned char *bufs = malloc(want * s->page_size);
    if (!bufs)
        return;
    uint32_t ids[TP_CHAIN_BATCH];
    const void *pages[TP_CHAIN_BATCH];
    int landed[TP_CHAIN_BATCH];
    size_t n = 0, freed = 0;
    while (n + freed < want) {
        int rc = claim_coldest(s, t, &ids[n], err);
        if (rc <= 0)
            break;
        if (rc == 2) {
            freed++;
            continue;
        }
        pages[n] = bufs + n * s->page_size;
        /* Gone (-ENOENT) or failing: left to the one-page path. */
        if (tp_tier_get(s, t, ids[n], bufs + n * s->page_size, err) < 0)
            tp_page_release_unlocked(&s->pages, ids[n]);
        else
            n++;
    }
    tp_chain_put_batch(s, t + 1, n, ids, pages, landed, err);
    for (size_t i = 0; i < n; i++) {
        if (landed[i] >= 0) {
            tp_chain_moved(s, ids[i], t, (size_t)landed[i]);
            tp_tier_del(s, t, ids[i], err);
        }
        tp_page_release_unlocked(&s->pages, ids[i]);
    }
    free(bufs);
}

int tp_chain_move(struct tp_stack *s, uint32_t id, size_t target, tierpage_error *err)
{
    _Alignas(64) unsigned char buf[s->page_size];
    /* Stable: only the BUSY holder changes it; the lookup itself needs the
     * lock (the page map's table may be growing). */
    tp_lock_take(&s->lock);
    size_t from = tp_page(&s->pages, id)->tier;
    tp_lock_drop(&s->lock);
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
    for (int attempt = 0;; attempt++) {
        tp_lock_take(&s->lock);
        int overwrite = tp_page(&s->pages, id)->tier == t;
        int room = overwrite || tp_tier_reserve(&s->pages, t, tier->capacity_pages);
        /* The caller lets the page's other copy go once this returns. */
        int acked = tp_stack_state_outlives(s);
        tp_lock_drop(&s->lock);

        int rc = -ENOSPC, has_next = t + 1 < s->tier_count;
        if (room) {
            rc = tier_put(s, t, id, page, has_next, acked, err);
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

void tp_chain_put_batch(struct tp_stack *s, size_t t, size_t n, const uint32_t *ids, const void *const *pages,
                        int *landed, tierpage_error *err)
{
    TP_ASSERT_NOT_HELD(&s->lock);
    struct tp_tier *tier = &s->tiers[t];
    enum { PLACE_NONE, PLACE_RESERVED, PLACE_OVERWRITE } place[TP_CHAIN_BATCH];
    struct tp_writeback_ticket tickets[TP_CHAIN_BATCH];
    if (n > TP_CHAIN_BATCH)
        tp_fatal("a batch of %zu puts, more than %d", n, TP_CHAIN_BATCH);
    if (n == 0)
        return;

    /* Room for all at once: one demotion of as many pages as are missing. */
    tp_lock_take(&s->lock);
    int acked = tier->writeback && tp_stack_state_outlives(s);
    int batch = tp_chain_batch_safe(s);
    uint64_t used = s->pages.tiers[t].count, missing = 0;
    for (size_t i = 0; i < n; i++)
        missing += tp_page(&s->pages, ids[i])->tier != t;
    tp_lock_drop(&s->lock);
    if (batch && tier->capacity_pages && used + missing > tier->capacity_pages && missing > 1)
        demote_some(s, t, (size_t)(used + missing - tier->capacity_pages), err);

    /* Puts that return at once need no batch. */
    if (!acked) {
        for (size_t i = 0; i < n; i++)
            landed[i] = tp_chain_put(s, t, ids[i], pages[i], err);
        return;
    }
    /* Every put into the queue first, then one wait for the store's
     * answers. */
    tp_lock_take(&s->lock);
    for (size_t i = 0; i < n; i++) {
        if (tp_page(&s->pages, ids[i])->tier == t)
            place[i] = PLACE_OVERWRITE;
        else
            place[i] = tp_tier_reserve(&s->pages, t, tier->capacity_pages) ? PLACE_RESERVED : PLACE_NONE;
    }
    tp_lock_drop(&s->lock);
    for (size_t i = 0; i < n; i++) {
        tickets[i] = (struct tp_writeback_ticket){1, -ENOSPC};
        if (place[i] != PLACE_NONE)
            tp_writeback_put_ticket(tier->writeback, ids[i], pages[i], &tickets[i]);
    }
    tp_writeback_wait(tier->writeback, tickets, n);
    /* A page refused, dropped or without a place goes the one-page way
     * (a demotion, the next tier, or the error): still BUSY, with its
     * other copy kept. */
    for (size_t i = 0; i < n; i++) {
        landed[i] = (int)t;
        if (tickets[i].result == 0)
            continue;
        if (place[i] == PLACE_RESERVED) {
            tp_lock_take(&s->lock);
            tp_tier_unreserve(&s->pages, t);
            tp_lock_drop(&s->lock);
        }
        landed[i] = tp_chain_put(s, t, ids[i], pages[i], err);
    }
}

/* What a tier's write-back queue sends through, and asks when full. */

static void queue_put(void *ctx, size_t n, const uint64_t *keys, const void *const *pages, int *results,
                      tierpage_error *err)
{
    store_put(ctx, n, keys, pages, results, err);
}

/* One del_batch when the store has it: one round trip for the batch
 * instead of one a key. The queue retries what failed itself. */
static void queue_del(void *ctx, size_t n, const uint64_t *keys, int *results, tierpage_error *err)
{
    struct tp_tier *tier = ctx;
    if (!tier->ops->del_batch || n < 2) {
        for (size_t i = 0; i < n; i++)
            results[i] = store_del(tier, (uint32_t)keys[i], 0, err);
        return;
    }
    serial_enter(tier);
    tier->ops->del_batch(tier->store, n, keys, results, err);
    serial_leave(tier);
    for (size_t i = 0; i < n; i++)
        results[i] = results[i] == -ENOENT ? 0 : results[i];
}

static void queue_failed(void *ctx, const char *why)
{
    struct tp_tier *tier = ctx;
    tp_stack_fail(tier->stack, "%s", why);
}

static void queue_sent(void *ctx, size_t acknowledged, size_t refused)
{
    struct tp_tier *tier = ctx;
    count_puts(tier->stack, tier, acknowledged, refused);
}

/* The store refused a queued page as full: the page goes down the chain
 * instead, as a demotion. Returns 0 when it moved (or no longer needs to:
 * deleted, moved, or a newer copy queued behind this one), -EAGAIN to try
 * later. */
static int queue_full(void *ctx, struct tp_writeback *wb, uint32_t id, const void *page, tierpage_error *err)
{
    struct tp_tier *tier = ctx;
    struct tp_stack *s = tier->stack;
    size_t t = tier->index;
    tp_lock_take(&s->lock);
    const struct tp_page *p = tp_page_find(&s->pages.map, id);
    /* Busy: its owner may still be recording that it put the page here,
     * or be waiting on this queue. Frozen: a fork is copying the pages.
     * Look again later. */
    if (p && ((p->flags & TP_PAGE_BUSY) || tp_pages_frozen(&s->pages))) {
        tp_lock_drop(&s->lock);
        return -EAGAIN;
    }
    if (!p || p->tier != t) { /* deleted, moved or unmapped meanwhile: nothing to keep */
        tp_lock_drop(&s->lock);
        return 0;
    }
    tp_page_claim(&s->pages, id);
    tp_lock_drop(&s->lock);
    /* Every put of a page happens while its putter holds it BUSY, so now
     * that it is ours, no newer copy can be queued behind this one: look
     * for one queued before. Moving this older copy down would leave the
     * page map pointing at it. */
    int rc = 0;
    if (!tp_writeback_put_waiting(wb, id)) {
        rc = t + 1 < s->tier_count ? tp_chain_put(s, t + 1, id, page, err)
                                   : tierpage_error_set(err, -ENOSPC, NULL, "every tier from '%s' down is full",
                                                        tier->name);
        if (rc >= 0)
            tp_chain_moved(s, id, t, (size_t)rc);
    }
    tp_page_release_unlocked(&s->pages, id);
    return rc < 0 ? rc : 0;
}

/* 64 MiB of 4 KiB pages. */
#define TP_STALE_HOLD_MAX 16384u

/* How many deletes of stale copies tier t's queue holds back. A copy in t
 * goes stale when its page, brought in from t and written, is evicted
 * into a tier above t; the page comes down into t again, overwriting it,
 * about when the tiers above have taken as many pages again. Holding twice
 * their room saves most deletes; the bound keeps what the server holds
 * beyond the page map small: at most TP_STALE_HOLD_MAX pages, and an
 * eighth of t's own room. */
static size_t stale_hold(const struct tp_stack *s, size_t t, uint64_t queue_pages)
{
    uint64_t above = 0;
    for (size_t u = 0; u < t; u++)
        above += s->tiers[u].capacity_pages ? s->tiers[u].capacity_pages : TP_STALE_HOLD_MAX;
    uint64_t hold = 2 * above + queue_pages;
    if (hold > TP_STALE_HOLD_MAX)
        hold = TP_STALE_HOLD_MAX;
    if (s->tiers[t].capacity_pages && hold > s->tiers[t].capacity_pages / 8)
        hold = s->tiers[t].capacity_pages / 8;
    return (size_t)hold;
}

int tp_chain_start_queue(struct tp_stack *s, size_t t, uint64_t bytes, tierpage_error *err)
{
    struct tp_tier *tier = &s->tiers[t];
    struct tp_writeback_target target = {
        .ctx = tier,
        .name = tier->name,
        .put = queue_put,
        .del = queue_del,
        .full = queue_full,
        .sent = queue_sent,
        .failed = queue_failed,
    };
    /* A page map kept in a file later lowers the hold to none
     * (tp_private_stack_keep_map_in): every queue starts before it. */
    return tp_writeback_start(&target, s->page_size, bytes, stale_hold(s, t, bytes / s->page_size),
                              s->store_timeout_ns, &tier->writeback, err);
}
