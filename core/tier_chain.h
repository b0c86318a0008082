/* The ordered tiers of a stack: calls into the stores, each tier's LRU list
 * of the pages it holds, and the cascade that demotes a full tier's coldest
 * pages to the next. */
#ifndef TIERPAGE_TIER_CHAIN_H
#define TIERPAGE_TIER_CHAIN_H

#include "stack_internal.h"

/* A failed store call worth trying again: not "the store does not hold the
 * page" (the page is gone), not "full" (the chain handles that), not "the
 * store lost its hold on its keys" (it never gets it back). */
static inline int tp_store_error_is_transient(int rc)
{
    return rc < 0 && rc != -ENOENT && rc != -ENOSPC && rc != -ESTALE;
}

/* A page's get, put and delete in tier t, through its write-back queue
 * when it has one (no stack lock held; the page is BUSY for the caller). A
 * get or delete that fails transiently is tried again with back-off, and
 * so is a direct put (one that does not go through a write-back queue),
 * until the call has failed for store_timeout: then the last error is
 * returned. */
int tp_tier_get(struct tp_stack *s, size_t t, uint32_t id, void *page, tierpage_error *err);
/* Best effort, for prefetch: pages[i] of ids[i] (i < n) from tier t in one
 * get_batch (one get each when the store has none), each result in
 * results[i]; no retry. The pages BUSY for the caller, no stack lock held. */
void tp_tier_get_batch(struct tp_stack *s, size_t t, size_t n, const uint32_t *ids, void *const *pages,
                       int *results);
int tp_tier_del(struct tp_stack *s, size_t t, uint32_t id, tierpage_error *err);

/* The store's usage of tier t, the struct zeroed first (a store built for
 * an older ABI leaves the fields it does not know at 0). No stack lock
 * held. */
int tp_tier_usage(struct tp_stack *s, size_t t, tierpage_store_usage *usage, tierpage_error *err);

/* A tier whose copy of a page can be read back cheaply: its store says so
 * (TIERPAGE_STORE_LOCAL). A remote store without a write-back queue is
 * not one. */
static inline int tp_tier_is_local(const struct tp_stack *s, size_t t)
{
    return (s->tiers[t].flags & TIERPAGE_STORE_LOCAL) != 0;
}

/* Stack lock held. A page read back from tier t into region r is mapped
 * writable with the digest of its content, and compared with it at
 * eviction (page_digest.h): a tier that is not local, where the kernel
 * does not track r's writes (a local tier's copy is compared instead; the
 * kernel's record is cheaper than a digest). */
static inline int tp_tier_digests_reads(const struct tp_stack *s, const struct tp_region *r, size_t t)
{
    return !tp_tier_is_local(s, t) && !tp_kernel_tracks_writes(s, r);
}

/* Put pages[i] under ids[i] for i < n straight into tier t's store (not
 * its queue), each failing one tried again until store_timeout; a full
 * store is an error here. For copies that need no place counted: a forked
 * child's own copies of its parent's pages. No stack lock held. */
int tp_tier_put_now(struct tp_stack *s, size_t t, size_t n, const uint64_t *ids, const void *const *pages,
                    tierpage_error *err);

/* Store `page` under `id` in tier `t` or, when t and every tier after it
 * that must make room cannot, a slower one. The page must be BUSY for the
 * caller, the stack lock not held. `t` already holding a copy of the page
 * is overwritten in place. On success returns the tier it landed in, its
 * place counted there; the caller records it with tp_page_land. -ENOSPC
 * when every tier from t down is full. A put through a write-back queue
 * has been acknowledged by the store when this returns if the stack's
 * state outlives the process (tp_stack_state_outlives), and is only
 * queued otherwise: the caller may then let the page's other copy go. */
int tp_chain_put(struct tp_stack *s, size_t t, uint32_t id, const void *page, tierpage_error *err);

/* Pages put together at most (tp_chain_put_batch). */
#define TP_CHAIN_BATCH 32

/* Stack lock held: whether a thread may hold many pages BUSY while it puts
 * them (tp_chain_put_batch, and an eviction batch): yes where every put
 * into a write-back queue is waited for (tp_stack_state_outlives) or there
 * is no queue. Not otherwise: a put waits for room in a full queue, and a
 * queued page the store refused as full is placed only once its holder
 * lets it go. */
static inline bool tp_chain_batch_safe(struct tp_stack *s)
{
    if (tp_stack_state_outlives(s))
        return true;
    for (size_t t = 0; t < s->tier_count; t++)
        if (s->tiers[t].writeback)
            return false;
    return true;
}

/* tp_chain_put for pages[i] under ids[i], i < n (at most TP_CHAIN_BATCH),
 * each BUSY for the caller, the stack lock not held; landed[i] is the
 * tier page i landed in, or -errno (err says why). With n > 1, only where
 * tp_chain_batch_safe. Room missing in t is
 * made by one demotion of t's coldest pages together, and puts whose
 * store must acknowledge them (tp_stack_state_outlives) are all queued
 * before one wait for the answers: a batch costs about one round trip to
 * the store, not one per page. As after tp_chain_put, each landed page's
 * other copy may go when this returns. */
void tp_chain_put_batch(struct tp_stack *s, size_t t, size_t n, const uint32_t *ids, const void *const *pages,
                        int *landed, tierpage_error *err);

/* Move the page's copy (the page BUSY for the caller, STORED or clean
 * RESIDENT, held in a tier above `target`) down to `target` or below.
 * Stack lock not held. */
int tp_chain_move(struct tp_stack *s, uint32_t id, size_t target, tierpage_error *err);

/* The page's copy, taken from tier `from`, was put into tier `landed` below
 * it: record the move (the caller deletes the old copy when there is one).
 * The page BUSY for the caller, the stack lock not held. */
void tp_chain_moved(struct tp_stack *s, uint32_t id, size_t from, size_t landed);

/* Start tier t's write-back queue of `bytes`: its sends go to the tier's
 * store, and a page the store refuses as full goes down the chain. */
int tp_chain_start_queue(struct tp_stack *s, size_t t, uint64_t bytes, tierpage_error *err);

#endif
