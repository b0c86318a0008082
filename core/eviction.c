#include "eviction.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>

#include "clock_ns.h"
#include "eviction_policy.h"
#include "prefetch.h"
#include "tier_chain.h"
#include "uffd.h"

/* The page stays in the memfd; its next use is a minor fault that marks it
 * used (and hot) again. The pages around it in its chunk of the page map
 * that are due for a check are checked with it, in the same unmapping: one
 * madvise, one TLB flush, for a run of pages instead of one for each. The
 * run stops at a page that must stay mapped. Stack lock held. */
static void unmap_to_check(void *ctx, uint32_t id)
{
    struct tp_stack *s = ctx;
    struct tp_region *reg = tp_region_of_id(s, id);
    /* Another process's page cannot be unmapped from here: it stays
     * mapped, and the policy sees it unused (FIFO order for it). */
    if (reg->foreign)
        return;
    uint32_t lo = id & ~(TP_PAGE_CHUNK - 1), hi = lo + TP_PAGE_CHUNK;
    uint32_t region_end = reg->first_id + (uint32_t)reg->page_count;
    if (lo < reg->first_id)
        lo = reg->first_id;
    if (hi > region_end || hi < lo)
        hi = region_end;
    uint32_t first = id, last = id;
    for (uint32_t k = id; k-- > lo;) {
        enum tp_neighbour_check c = tp_check_neighbour(tp_page_find(&s->pages.map, k));
        if (c == TP_NEIGHBOUR_KEEP)
            break;
        if (c == TP_NEIGHBOUR_CHECKED)
            first = k;
    }
    for (uint32_t k = id + 1; k < hi; k++) {
        enum tp_neighbour_check c = tp_check_neighbour(tp_page_find(&s->pages.map, k));
        if (c == TP_NEIGHBOUR_KEEP)
            break;
        if (c == TP_NEIGHBOUR_CHECKED)
            last = k;
    }
    madvise(tp_page_addr(s, reg, first), (size_t)(last - first + 1) * s->page_size, MADV_DONTNEED);
}

static int punch(struct tp_stack *s, struct tp_region_file *file, off_t off)
{
    if (fallocate(file->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, (off_t)s->page_size) < 0)
        return -errno;
    return 0;
}

/* Called without the stack lock, the page BUSY for the caller and
 * write-protected (or never written), its content held by its tier or all
 * zeros: frees it without a write, and returns with the stack lock held. */
static int drop_clean(struct tp_stack *s, struct tp_region_file *file, off_t off, uint32_t id,
                      tierpage_error *err)
{
    TP_ASSERT_NOT_HELD(&s->lock);
    int rc = punch(s, file, off);
    tp_lock_take(&s->lock);
    tp_page_mark_clean(&s->pages, id);
    if (rc < 0) {
        tp_page_release(&s->pages, id);
        return tierpage_error_set(err, rc, NULL, "cannot free a page: %s", strerror(-rc));
    }
    if (tp_page_evicted(&s->pages, id))
        tp_prefetch_wasted(s, id);
    s->counters.evictions++;
    s->counters.clean_drops++;
    tp_page_release(&s->pages, id);
    return 0;
}

/* A page mapped writable on a read (UNSURE) and now write-protected, its
 * final content in `page`: unchanged if its tier's copy is the same. */
static int same_as_copy(struct tp_stack *s, size_t tier, uint32_t id, const void *page)
{
    _Alignas(64) unsigned char copy[s->page_size];
    tierpage_error ignored = {{0}, {0}};
    return tp_tier_get(s, tier, id, copy, &ignored) == 0 && memcmp(copy, page, s->page_size) == 0;
}

int tp_evict_page(struct tp_stack *s, uint32_t id, tierpage_error *err)
{
    TP_ASSERT_HELD(&s->lock);
    struct tp_page *p = tp_page(&s->pages, id);
    struct tp_region *reg = tp_region_of_id(s, id);
    tp_page_claim(&s->pages, id);
    /* An unmap may cut reg while the lock is dropped below; the page, BUSY,
     * stays in a piece sharing reg's file. Take what is needed of reg now. */
    struct tp_region_file *file = reg->file;
    off_t off = tp_page_offset(s, reg, id);
    const char *alias = tp_page_alias(s, reg, id);
    int rc;

    if (!(p->flags & TP_PAGE_DIRTY)) {
        /* Clean: write-protected since it was mapped, so nothing can have
         * changed it; a tier holds its copy, or it is still all zeros. */
        tp_lock_drop(&s->lock);
        return drop_clean(s, file, off, id, err);
    }

    _Alignas(64) unsigned char buf[s->page_size];
    size_t old_tier = p->tier;
    int unsure = (p->flags & TP_PAGE_UNSURE) && old_tier != TP_NO_TIER && tp_tier_is_local(s, old_tier);
    char *addr = tp_page_addr(s, reg, id);
    int uffd = reg->uffd, foreign = reg->foreign;
    tp_lock_drop(&s->lock);
    /* Stop writes first, so the copy below is the page's final content. */
    rc = tp_uffd_writeprotect(uffd, addr, s->page_size, 1, 0);
    if (rc == -ESRCH && foreign)
        rc = 0; /* the client process is gone: nothing writes the page any more */
    if (rc == 0) {
        memcpy(buf, alias, s->page_size);
        if (unsure && same_as_copy(s, old_tier, id, buf))
            return drop_clean(s, file, off, id, err);
        rc = tp_chain_put(s, 0, id, buf, err);
    } else {
        tierpage_error_set(err, rc, NULL, "cannot write-protect a page: %s", strerror(-rc));
    }
    if (rc < 0) {
        tp_uffd_writeprotect(uffd, addr, s->page_size, 0, 1);
        tp_lock_take(&s->lock);
        tp_page_release(&s->pages, id);
        return rc;
    }
    tp_lock_take(&s->lock);
    size_t left = tp_page_land(&s->pages, id, (size_t)rc);
    tp_page_mark_clean(&s->pages, id);
    tp_lock_drop(&s->lock);

    /* The new copy is acknowledged: only now may the old one go. */
    if (left != TP_NO_TIER)
        tp_tier_del(s, left, id, err);
    rc = punch(s, file, off);

    tp_lock_take(&s->lock);
    if (rc == 0) {
        if (tp_page_evicted(&s->pages, id))
            tp_prefetch_wasted(s, id);
        s->counters.evictions++;
        s->counters.writebacks++;
    } else {
        /* Still mapped, now clean (write-protected) with its copy stored. */
        tierpage_error_set(err, rc, NULL, "cannot free a page: %s", strerror(-rc));
    }
    tp_page_release(&s->pages, id);
    return rc;
}

int tp_evict_one(struct tp_stack *s, tierpage_error *err)
{
    TP_ASSERT_HELD(&s->lock);
    if (tp_pages_frozen(&s->pages))
        return -EAGAIN; /* a fork is copying the pages; the evictor is woken after */
    uint32_t id = tp_pick_victim(&s->pages.resident, &s->pages.map, s->policy, unmap_to_check, s);
    if (id == TP_NIL)
        return -EAGAIN;
    uint64_t start = tp_now_ns();
    int rc = tp_evict_page(s, id, err);
    uint64_t took = tp_now_ns() - start;
    s->evictor.eviction_ns = s->evictor.eviction_ns - s->evictor.eviction_ns / 16 + took / 16;
    return rc;
}

int tp_make_room(struct tp_stack *s, uint64_t reserve, tierpage_error *err)
{
    TP_ASSERT_HELD(&s->lock);
    struct tp_resident_set *r = &s->pages.resident;
    while (r->count + reserve > r->cap_pages) {
        int rc = tp_evict_one(s, err);
        if (rc == -EAGAIN)
            return 0; /* everything is in flight; the cap is briefly exceeded */
        if (rc < 0)
            return rc;
    }
    return 0;
}
