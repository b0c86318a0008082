/* Promotion ahead of faults: stored pages brought back into the resident
 * set, in order of address, in batches: one get_batch from one tier for
 * the next run of pages it holds, each page then mapped as a read fault
 * would map it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stack_internal.h"
#include "tier_chain.h"
#include "tierpage_daemon.h"
#include "uffd.h"

/* Pages left free so that the evictor does not push out at once what this
 * brings in. */
static uint64_t margin(const struct tp_resident_set *r)
{
    return r->cap_pages / 64 + 1;
}

struct batch {
    size_t tier, count;
    uint32_t ids[TP_PROMOTE_BATCH];
    char *addrs[TP_PROMOTE_BATCH];
    int uffds[TP_PROMOTE_BATCH];
};

/* Both locks held. Claims the next stored, idle pages from *cursor that
 * one tier holds, as many as the cap leaves room for, each with its place
 * in the resident set reserved. *cursor moves past the last page looked
 * at; 0 pages with *cursor 0 when the regions end. */
static void claim_batch(struct tp_stack *s, uintptr_t *cursor, size_t max, struct batch *b)
{
    struct tp_resident_set *res = &s->pages.resident;
    b->count = 0;
    struct tp_region *r;
    while ((r = tp_region_from(s, (const char *)*cursor))) {
        size_t i = (uintptr_t)r->start < *cursor ? (*cursor - (uintptr_t)r->start) / s->page_size : 0;
        /* Only touched pages can be stored. */
        struct tp_page_walk walk;
        uint32_t run, n;
        int full = 0;
        tp_page_walk_start(&walk, &s->pages.map, r->first_id + (uint32_t)i, r->page_count - i);
        while (!full && tp_page_walk_next(&walk, &run, &n)) {
            for (uint32_t id = run; id < run + n; id++) {
                if (b->count == max || res->count + margin(res) >= res->cap_pages) {
                    full = 1;
                    break;
                }
                const struct tp_page *p = tp_page_find(&s->pages.map, id);
                *cursor = (uintptr_t)tp_page_addr(s, r, id);
                if (!p || p->state != TP_PAGE_STORED || (p->flags & TP_PAGE_BUSY))
                    continue;
                if (b->count > 0 && p->tier != b->tier) {
                    full = 1; /* the next batch starts here */
                    break;
                }
                b->tier = p->tier;
                tp_page_claim(&s->pages, id);
                tp_page_reserve_resident(&s->pages);
                b->ids[b->count] = id;
                b->addrs[b->count] = (char *)*cursor;
                b->uffds[b->count++] = r->uffd;
            }
        }
        tp_page_walk_end(&walk);
        if (full)
            return;
        *cursor = (uintptr_t)(r->start + r->length);
    }
    *cursor = 0;
}

/* No lock held; the batch's pages BUSY for the caller. Each page fetched
 * is mapped and becomes resident; one its tier did not return stays
 * there (a fault will ask again, with retries). Returns pages brought in. */
static long bring_in(struct tp_stack *s, struct batch *b, unsigned char *bufs)
{
    void *pages[TP_PROMOTE_BATCH];
    int results[TP_PROMOTE_BATCH];
    for (size_t i = 0; i < b->count; i++)
        pages[i] = bufs + i * s->page_size;
    tp_tier_get_batch(s, b->tier, b->count, b->ids, pages, results);
    /* As resolve_missing: a local tier's page is mapped writable and
     * compared at eviction; another's write-protected until written. */
    int local = tp_tier_is_local(s, b->tier);
    long brought = 0;
    for (size_t i = 0; i < b->count; i++) {
        uint32_t id = b->ids[i];
        tp_lock_take(&s->lock);
        if (results[i] < 0) {
            tp_page_unreserve_resident(&s->pages);
            tp_page_release(&s->pages, id);
            tp_lock_drop(&s->lock);
            continue;
        }
        tp_page_make_resident(&s->pages, id, local ? TP_RESIDENT_DIRTY | TP_RESIDENT_UNSURE : 0u);
        s->tiers[b->tier].hits++;
        tp_lock_drop(&s->lock);
        int rc = tp_uffd_copy(b->uffds[i], b->addrs[i], pages[i], s->page_size, !local);
        if (rc == -EEXIST) /* a fault of the program came first: it waits for this page */
            tp_uffd_wake(b->uffds[i], b->addrs[i], s->page_size);
        tp_page_release_unlocked(&s->pages, id);
        if (rc < 0 && rc != -EEXIST && rc != -ESRCH && rc != -ENOENT) {
            tp_stack_fail(s, "cannot map page at %p brought in by promote: %s", (void *)b->addrs[i], strerror(-rc));
            return -EIO;
        }
        brought++;
    }
    return brought;
}

long tp_promote_step(tp_stack *s, uintptr_t *cursor, size_t max, tierpage_error *err)
{
    if (max == 0 || max > TP_PROMOTE_BATCH)
        max = TP_PROMOTE_BATCH;
    unsigned char *bufs = malloc(max * s->page_size);
    if (!bufs)
        return tierpage_error_set(err, -ENOMEM, NULL, "out of memory for a batch of %zu pages", max);
    struct batch b;
    long brought = 0;
    do {
        /* Regions are not cut while their pages are claimed here. */
        pthread_mutex_lock(&s->regions_lock);
        tp_lock_take(&s->lock);
        claim_batch(s, cursor, max, &b);
        tp_lock_drop(&s->lock);
        if (b.count > 0)
            brought = bring_in(s, &b, bufs);
        pthread_mutex_unlock(&s->regions_lock);
        /* A batch whose pages all failed: go on past it. */
    } while (brought == 0 && b.count > 0 && *cursor != 0 && !tp_stack_failed(s));
    free(bufs);
    if (brought < 0)
        return tierpage_error_set(err, (int)brought, NULL, "promote stopped: a page could not be mapped");
    return brought;
}

long tp_promote(tp_stack *s, tierpage_error *err)
{
    long total = 0;
    uintptr_t cursor = 0;
    for (;;) {
        long n = tp_promote_step(s, &cursor, TP_PROMOTE_BATCH, err);
        if (n < 0)
            return n;
        total += n;
        if (n == 0 || cursor == 0)
            return total;
    }
}
