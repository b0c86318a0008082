/* fork of a tierpaged client: the child, a client of its own served by a
 * stack of its own (the same tiers, its own instance in shared stores, its
 * own pmem file), gets a copy of every page of its parent as it was at the
 * fork. While the parent's pages are frozen (nothing moves: faults,
 * evictions, promotes wait), every page a tier holds is read from the
 * parent's tier and put into the child's same tier under the child's page
 * id, and every resident page is copied from the parent's memfd into the
 * child's, counted resident and dirty there. Tier copies go first, so that
 * each of the child's tiers holds what the parent's does, within its
 * capacity; the child's pages are frozen too until the copy is done. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stack_internal.h"
#include "tier_chain.h"
#include "tierpage_daemon.h"

/* Pages read from a parent's tier at once: one round trip for a batch
 * from a server. */
#define COPY_BATCH 32

/* A page of the parent to copy, at its address in both processes. */
struct parent_page {
    char *addr;       /* in the client (parent and child alike) */
    const char *from; /* the parent's page, through the daemon's mapping */
    uint32_t id;      /* the parent's page id */
    uint8_t state, tier;
};

struct copy {
    struct tp_stack *parent, *child;
    struct parent_page *pages;
    size_t count, alloc;
    unsigned char *buf; /* COPY_BATCH pages */
    long copied;
};

static int tiers_match(const struct tp_stack *p, const struct tp_stack *c, tierpage_error *err)
{
    int same = p->tier_count == c->tier_count && p->page_size == c->page_size;
    for (size_t t = 0; same && t < p->tier_count; t++)
        same = strcmp(p->tiers[t].ops->name, c->tiers[t].ops->name) == 0 &&
               p->tiers[t].capacity_pages == c->tiers[t].capacity_pages;
    if (!same)
        return tierpage_error_set(err, -EINVAL, NULL, "the stack file no longer has the tiers the parent's stack "
                                  "was opened with (changed since the daemon started): a forked child needs the "
                                  "same tiers");
    return 0;
}

/* The parent's stack lock held, its pages frozen: every page of its
 * regions that is resident or held by a tier. */
static int list_pages(struct copy *cp, tierpage_error *err)
{
    struct tp_stack *p = cp->parent;
    for (size_t i = 0; i < p->region_count; i++) {
        struct tp_region *r = p->regions[i];
        struct tp_page_walk walk;
        uint32_t run, n;
        tp_page_walk_start(&walk, &p->pages.map, r->first_id, r->page_count);
        while (tp_page_walk_next(&walk, &run, &n)) {
            for (uint32_t id = run; id < run + n; id++) {
                const struct tp_page *pg = tp_page_find(&p->pages.map, id);
                if (!pg || (pg->state != TP_PAGE_RESIDENT && pg->tier == TP_NO_TIER))
                    continue;
                if (cp->count == cp->alloc) {
                    size_t alloc = cp->alloc ? 2 * cp->alloc : 1024;
                    struct parent_page *v = realloc(cp->pages, alloc * sizeof *v);
                    if (!v) {
                        tp_page_walk_end(&walk);
                        return tierpage_error_set(err, -ENOMEM, NULL, "out of memory to list the parent's pages");
                    }
                    cp->pages = v;
                    cp->alloc = alloc;
                }
                cp->pages[cp->count++] = (struct parent_page){
                    .addr = tp_page_addr(p, r, id), .from = tp_page_alias(p, r, id), .id = id,
                    .state = pg->state, .tier = pg->tier};
            }
        }
        tp_page_walk_end(&walk);
    }
    return 0;
}

/* The child's stack lock held: the child's page id at addr, claimed for
 * the caller, and its page through the daemon's mapping; TP_NIL when the
 * child serves no memory there. */
static uint32_t child_page(struct tp_stack *c, char *addr, char **to)
{
    struct tp_region *r = tp_region_find(c, addr);
    if (!r)
        return TP_NIL;
    uint32_t id = r->first_id + (uint32_t)((size_t)(addr - r->start) / c->page_size);
    if (!tp_page_touch(&c->pages.map, id))
        return TP_NIL;
    tp_page_claim(&c->pages, id);
    *to = tp_page_alias(c, r, id);
    return id;
}

static int no_child_page(const struct parent_page *pp, tierpage_error *err)
{
    return tierpage_error_set(err, -EFAULT, NULL, "the child serves no memory at %p, where its parent does",
                              (void *)pp->addr);
}

/* n pages of tier t, pp[0..n): from the parent's tier into the child's. */
static int copy_stored(struct copy *cp, size_t t, const struct parent_page *pp, size_t n, tierpage_error *err)
{
    struct tp_stack *p = cp->parent, *c = cp->child;
    uint32_t ids[COPY_BATCH] = {0};
    uint64_t child_ids[COPY_BATCH];
    void *ptrs[COPY_BATCH] = {0};
    int results[COPY_BATCH];
    for (size_t i = 0; i < n; i++) {
        ids[i] = pp[i].id;
        ptrs[i] = cp->buf + i * p->page_size;
    }
    tp_tier_get_batch(p, t, n, ids, ptrs, results);
    for (size_t i = 0; i < n; i++) {
        tierpage_error why = {{0}, {0}};
        int rc = results[i] != 0 ? tp_tier_get(p, t, ids[i], ptrs[i], &why) : 0;
        if (rc < 0)
            return tierpage_error_set(err, rc, NULL, "cannot read page %u from the parent's tier '%s': %s", ids[i],
                                      p->tiers[t].name, why.message);
    }
    size_t claimed = 0;
    int rc = 0;
    tp_lock_take(&c->lock);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *to;
        uint32_t id = child_page(c, pp[i].addr, &to);
        if (id == TP_NIL) {
            rc = no_child_page(&pp[i], err);
        } else if (!tp_tier_reserve(&c->pages, t, c->tiers[t].capacity_pages)) {
            tp_page_release(&c->pages, id);
            rc = tierpage_error_set(err, -ENOSPC, NULL, "the child's tier '%s' is full", c->tiers[t].name);
        } else {
            child_ids[claimed++] = id;
        }
    }
    tp_lock_drop(&c->lock);
    if (rc == 0)
        rc = tp_tier_put_now(c, t, n, child_ids, (const void *const *)ptrs, err);
    tp_lock_take(&c->lock);
    for (size_t i = 0; i < claimed; i++) {
        uint32_t id = (uint32_t)child_ids[i];
        if (rc == 0) {
            tp_page_land(&c->pages, id, t);
            tp_page_make_stored(&c->pages, id);
        } else {
            tp_tier_unreserve(&c->pages, t);
        }
        tp_page_release(&c->pages, id);
    }
    tp_lock_drop(&c->lock);
    if (rc == 0)
        cp->copied += (long)n;
    return rc;
}

/* One resident page: its content into the child's memfd, resident and
 * dirty there (no tier holds the child's copy). */
static int copy_resident(struct copy *cp, const struct parent_page *pp, tierpage_error *err)
{
    struct tp_stack *c = cp->child;
    tp_lock_take(&c->lock);
    char *to;
    uint32_t id = child_page(c, pp->addr, &to);
    tp_lock_drop(&c->lock);
    if (id == TP_NIL)
        return no_child_page(pp, err);
    memcpy(to, pp->from, c->page_size);
    tp_lock_take(&c->lock);
    tp_page_reserve_resident(&c->pages);
    tp_page_make_resident(&c->pages, id, TP_RESIDENT_DIRTY);
    tp_page_release(&c->pages, id);
    tp_lock_drop(&c->lock);
    cp->copied++;
    return 0;
}

static int copy_pages(struct copy *cp, tierpage_error *err)
{
    /* Tier by tier, in batches of one tier's pages. */
    for (size_t t = 0; t < cp->parent->tier_count; t++) {
        struct parent_page batch[COPY_BATCH];
        size_t n = 0;
        for (size_t i = 0; i < cp->count; i++) {
            if (cp->pages[i].state == TP_PAGE_RESIDENT || cp->pages[i].tier != t)
                continue;
            batch[n++] = cp->pages[i];
            if (n == COPY_BATCH) {
                int rc = copy_stored(cp, t, batch, n, err);
                if (rc < 0)
                    return rc;
                n = 0;
            }
        }
        int rc = n ? copy_stored(cp, t, batch, n, err) : 0;
        if (rc < 0)
            return rc;
    }
    for (size_t i = 0; i < cp->count; i++) {
        int rc = cp->pages[i].state == TP_PAGE_RESIDENT ? copy_resident(cp, &cp->pages[i], err) : 0;
        if (rc < 0)
            return rc;
    }
    return 0;
}

long tp_remote_fork_copy(struct tp_remote *parent, struct tp_remote *child, tierpage_error *err)
{
    struct copy cp = {.parent = tp_remote_stack(parent), .child = tp_remote_stack(child)};
    if (tiers_match(cp.parent, cp.child, err) < 0)
        return -EINVAL;
    cp.buf = malloc(COPY_BATCH * cp.parent->page_size);
    if (!cp.buf)
        return tierpage_error_set(err, -ENOMEM, NULL, "out of memory to copy the parent's pages");
    tp_lock_take(&cp.parent->lock);
    int rc = list_pages(&cp, err);
    tp_lock_drop(&cp.parent->lock);
    if (rc == 0) {
        tp_lock_take(&cp.child->lock);
        tp_pages_freeze(&cp.child->pages);
        tp_lock_drop(&cp.child->lock);
        rc = copy_pages(&cp, err);
        tp_lock_take(&cp.child->lock);
        tp_pages_thaw(&cp.child->pages);
        pthread_cond_signal(&cp.child->evictor.wake);
        tp_lock_drop(&cp.child->lock);
    }
    free(cp.pages);
    free(cp.buf);
    return rc < 0 ? rc : cp.copied;
}

void tp_remote_fork_freeze(struct tp_remote *client)
{
    struct tp_stack *s = tp_remote_stack(client);
    tp_lock_take(&s->lock);
    tp_pages_freeze(&s->pages);
    tp_lock_drop(&s->lock);
}

void tp_remote_fork_thaw(struct tp_remote *client)
{
    struct tp_stack *s = tp_remote_stack(client);
    tp_lock_take(&s->lock);
    tp_pages_thaw(&s->pages);
    pthread_cond_signal(&s->evictor.wake);
    tp_lock_drop(&s->lock);
}
