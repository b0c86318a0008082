#include "prefetch.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "eviction.h"
#include "evictor_thread.h"
#include "tier_chain.h"

/* Stack lock held: a page worth fetching ahead, held by tier *tier (the
 * first such page fixes *tier when it is TP_NO_TIER). Pages in flight,
 * resident, never written or unmapped are not. */
static int worth_fetching(struct tp_stack *s, uint32_t id, size_t *tier)
{
    const struct tp_page *p = tp_page_find(&s->pages.map, id);
    if (!p || p->state != TP_PAGE_STORED || (p->flags & (TP_PAGE_BUSY | TP_PAGE_UNMAPPED)))
        return 0;
    if (*tier == TP_NO_TIER)
        *tier = p->tier;
    return p->tier == *tier;
}

/* Stack lock held: up to `window` pages along `stride` after `id` inside
 * region r that tier *tier holds, into ids; returns how many. */
static size_t pick(struct tp_stack *s, const struct tp_region *r, uint32_t id, int64_t stride, uint32_t window,
                   size_t *tier, uint32_t *ids)
{
    size_t n = 0;
    for (uint32_t k = 1; k <= window; k++) {
        int64_t next = (int64_t)id + stride * (int64_t)k;
        if (next < (int64_t)r->first_id || next >= (int64_t)r->first_id + (int64_t)r->page_count)
            break;
        if (worth_fetching(s, (uint32_t)next, tier))
            ids[n++] = (uint32_t)next;
    }
    return n;
}

/* Called with the stack lock held, ids[] claimed (BUSY) and their places
 * reserved; drops the lock while fetching and holds it again on return,
 * every page released. */
static void fetch_and_install(struct tp_stack *s, size_t tier, size_t n, const uint32_t *ids)
{
    TP_ASSERT_HELD(&s->lock);
    void *alias[n];
    int memfd[n];
    off_t offset[n];
    int results[n];
    /* A BUSY page's region may be cut while the lock is dropped, but the
     * piece holding it keeps its alias mapping and its file. */
    for (size_t i = 0; i < n; i++) {
        const struct tp_region *r = tp_region_of_id(s, ids[i]);
        alias[i] = tp_page_alias(s, r, ids[i]);
        memfd[i] = r->file->memfd;
        offset[i] = tp_page_offset(s, r, ids[i]);
    }
    tp_lock_drop(&s->lock);
    /* Straight into the memfd through the pager's own mapping: the
     * program's mapping stays empty until its first use (a minor fault). */
    tp_tier_get_batch(s, tier, n, ids, alias, results);
    for (size_t i = 0; i < n; i++) {
        /* Whatever a failed get left there must not be taken for the page. */
        if (results[i] != 0 &&
            fallocate(memfd[i], FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset[i], (off_t)s->page_size) < 0)
            tp_fatal("cannot free a page whose prefetch failed: %s", strerror(errno));
    }
    tp_lock_take(&s->lock);
    for (size_t i = 0; i < n; i++) {
        if (results[i] == 0) {
            tp_page_make_prefetched(&s->pages, ids[i]);
            s->counters.prefetched_pages++;
        } else {
            tp_page_unreserve_resident(&s->pages);
        }
        tp_page_release(&s->pages, ids[i]);
    }
}

void tp_prefetch_after_fault(struct tp_stack *s, uint32_t id, size_t tier, int first_use)
{
    if (!s->prefetch_window)
        return;
    uint32_t ids[TP_PREFETCH_MAX_WINDOW];
    tp_lock_take(&s->lock);
    struct tp_region *r = tp_region_of_id(s, id);
    if (!r || tp_pages_frozen(&s->pages)) /* frozen: a fork is copying the pages */
        goto out;
    struct tp_prefetch_stream *st = &r->stream;
    tp_stream_note(st, id);
    if (first_use)
        tp_stream_used(st, TP_PREFETCH_MAX_WINDOW); /* bounded when used, below */
    int64_t stride = tp_stream_trend(st);
    if (!stride)
        goto out;
    /* A window of at most a quarter of the resident set: pages fetched
     * ahead must not push each other out before they are used. */
    uint64_t quarter = s->pages.resident.cap_pages / 4;
    if (quarter == 0)
        goto out;
    uint32_t max = quarter < s->prefetch_window ? (uint32_t)quarter : s->prefetch_window;
    uint32_t window = tp_stream_window(st, max);
    size_t n = pick(s, r, id, stride, window, &tier, ids);
    /* On a use of a prefetched page, fetch again only once half the window
     * ahead is missing: batches stay large. */
    if (n == 0 || (first_use && n * 2 < window))
        goto out;
    /* The room the evictor keeps free first; the rest by evicting here,
     * after the program was woken, but never a page fetched ahead and not
     * used yet: fewer pages come in instead. */
    tierpage_error err = {{0}, {0}};
    if (tp_make_room_for_prefetch(s, n, &err) < 0)
        goto out;
    /* The lock was dropped while evicting: look again. */
    r = tp_region_of_id(s, id);
    if (!r)
        goto out;
    n = pick(s, r, id, stride, window, &tier, ids);
    uint64_t room = tp_resident_free_room(&s->pages.resident);
    if (n > room)
        n = (size_t)room;
    if (n == 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        tp_page_claim(&s->pages, ids[i]);
        tp_page_reserve_resident(&s->pages);
    }
    tp_evictor_poke(s); /* its margin, taken here, made again off the fault path */
    fetch_and_install(s, tier, n, ids);
out:
    tp_lock_drop(&s->lock);
}

void tp_prefetch_wasted(struct tp_stack *s, uint32_t id)
{
    TP_ASSERT_HELD(&s->lock);
    s->counters.prefetch_wasted++;
    struct tp_region *r = tp_region_of_id(s, id);
    if (r)
        tp_stream_wasted(&r->stream);
}
