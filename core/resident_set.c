#include "resident_set.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "clock_ns.h"
#include "tier_chain.h"
#include "uffd.h"

/* Room for pages brought in above the cap by concurrent faults: up to 64
 * handlers, 4 faults each in flight, and some to spare. */
#define TP_SLOTS_IN_FLIGHT (4u * 64u + 64u)

static size_t slots_for(uint64_t cap_pages)
{
    return (size_t)cap_pages + TP_SLOTS_IN_FLIGHT;
}

static int alloc_slots(struct tp_resident_set *r, size_t n)
{
    uint32_t *slots = mmap(NULL, n * sizeof(uint32_t) * 2, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (slots == MAP_FAILED)
        return -ENOMEM;
    r->slots = slots;
    r->free_slots = slots + n;
    r->slot_count = n;
    for (size_t i = 0; i < n; i++) {
        r->slots[i] = TP_NIL;
        r->free_slots[i] = (uint32_t)(n - 1 - i);
    }
    r->free_count = n;
    r->hand = 0;
    return 0;
}

static void free_slots(struct tp_resident_set *r)
{
    if (r->slots)
        munmap(r->slots, r->slot_count * sizeof(uint32_t) * 2);
    r->slots = r->free_slots = NULL;
}

int tp_resident_init(struct tp_stack *s, uint64_t cap_pages)
{
    struct tp_resident_set *r = &s->resident;
    memset(r, 0, sizeof *r);
    r->cap_pages = cap_pages;
    return alloc_slots(r, slots_for(cap_pages));
}

void tp_resident_destroy(struct tp_stack *s)
{
    free_slots(&s->resident);
}

void tp_resident_add(struct tp_stack *s, uint32_t id)
{
    struct tp_resident_set *r = &s->resident;
    struct tp_page *p = tp_page_get(&s->pages, id);
    /* The count was reserved by the fault; the slot is taken now. */
    uint32_t slot = r->free_slots[--r->free_count];
    r->slots[slot] = id;
    p->slot = slot;
    p->flags |= TP_PAGE_REFERENCED;
    uint64_t bytes = r->count * s->page_size;
    s->counters.resident_bytes = bytes;
    if (bytes > s->counters.peak_resident_bytes)
        s->counters.peak_resident_bytes = bytes;
}

void tp_resident_remove(struct tp_stack *s, uint32_t id)
{
    struct tp_resident_set *r = &s->resident;
    struct tp_page *p = tp_page_get(&s->pages, id);
    r->slots[p->slot] = TP_NIL;
    r->free_slots[r->free_count++] = p->slot;
    p->slot = __atomic_add_fetch(&r->clock, 1, __ATOMIC_ACQ_REL);
    p->flags &= (uint8_t)~(TP_PAGE_REFERENCED | TP_PAGE_DIRTY | TP_PAGE_UNSURE);
    p->heat = 0;
    r->count--;
    s->counters.resident_bytes = r->count * s->page_size;
}

int tp_resident_resize(struct tp_stack *s, uint64_t cap_pages)
{
    struct tp_resident_set *r = &s->resident;
    size_t need = slots_for(cap_pages);
    if (need > r->slot_count || need + 4096 < r->slot_count) {
        size_t old_n = r->slot_count;
        uint32_t *old = r->slots;
        struct tp_resident_set fresh = *r;
        if (alloc_slots(&fresh, need > r->slot_count ? need : (size_t)r->count + TP_SLOTS_IN_FLIGHT) < 0)
            return -ENOMEM;
        /* Keep the clock order: copy from the hand onward. */
        for (size_t i = 0; i < old_n; i++) {
            uint32_t id = old[(r->hand + i) % old_n];
            if (id == TP_NIL)
                continue;
            uint32_t slot = fresh.free_slots[--fresh.free_count];
            fresh.slots[slot] = id;
            tp_page_get(&s->pages, id)->slot = slot;
        }
        fresh.hand = 0;
        free_slots(r);
        *r = fresh;
    }
    r->cap_pages = cap_pages;
    s->counters.resident_cap_bytes = cap_pages * s->page_size;
    return 0;
}

/* The page stays in the memfd; its next use is a minor fault that sets
 * REFERENCED (and its heat) again. */
static void unmap_to_check(struct tp_stack *s, struct tp_page *p, uint32_t id)
{
    p->flags &= (uint8_t)~TP_PAGE_REFERENCED;
    struct tp_region *reg = tp_region_of_id(s, id);
    madvise(tp_page_addr(s, reg, id), s->page_size, MADV_DONTNEED);
}

/* Clock: a page used since the hand last passed gets a second chance, and
 * is unmapped so that its next use shows. A page seen used again that way is
 * hot: the hand passes it over TP_HEAT_MAX times before checking it again.
 * Fifo: the hand takes pages in the order they came in. */
static uint32_t select_victim(struct tp_stack *s)
{
    struct tp_resident_set *r = &s->resident;
    int clock = s->conf->policy == TP_POLICY_CLOCK;
    for (size_t scanned = 0; scanned < 3 * r->slot_count; scanned++) {
        size_t slot = r->hand;
        r->hand = (r->hand + 1) % r->slot_count;
        uint32_t id = r->slots[slot];
        if (id == TP_NIL)
            continue;
        struct tp_page *p = tp_page_get(&s->pages, id);
        if (p->flags & (TP_PAGE_BUSY | TP_PAGE_LOCKED))
            continue;
        if (clock && p->heat > 0) {
            if (--p->heat == 0)
                unmap_to_check(s, p, id);
            continue;
        }
        if (clock && (p->flags & TP_PAGE_REFERENCED)) {
            unmap_to_check(s, p, id);
            continue;
        }
        return id;
    }
    return TP_NIL;
}

static int punch(struct tp_stack *s, struct tp_region_file *file, off_t off)
{
    if (fallocate(file->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, (off_t)s->page_size) < 0)
        return -errno;
    return 0;
}

/* The page is BUSY and write-protected (or never written), its content
 * held by its tier or all zeros: free it without a write. Stack lock not
 * held; returns with it held. */
static int drop_clean(struct tp_stack *s, struct tp_region_file *file, off_t off, uint32_t id,
                      tierpage_error *err)
{
    struct tp_page *p = tp_page_get(&s->pages, id);
    int rc = punch(s, file, off);
    pthread_mutex_lock(&s->lock);
    p->flags &= (uint8_t)~(TP_PAGE_DIRTY | TP_PAGE_UNSURE);
    if (rc < 0) {
        p->flags &= (uint8_t)~TP_PAGE_BUSY;
        pthread_cond_broadcast(&s->page_done);
        return tierpage_error_set(err, rc, NULL, "cannot free a page: %s", strerror(-rc));
    }
    p->state = p->tier == TP_NO_TIER ? TP_PAGE_EMPTY : TP_PAGE_STORED;
    tp_resident_remove(s, id);
    s->counters.evictions++;
    s->counters.clean_drops++;
    p->flags &= (uint8_t)~TP_PAGE_BUSY;
    pthread_cond_broadcast(&s->page_done);
    return 0;
}

/* A page mapped writable on a read (UNSURE) and now write-protected, its
 * final content in `page`: unchanged if its tier's copy is the same. */
static int same_as_copy(struct tp_stack *s, size_t tier, uint32_t id, const void *page)
{
    _Alignas(64) unsigned char copy[4096];
    tierpage_error ignored = {{0}, {0}};
    return tp_tier_get(s, tier, id, copy, &ignored) == 0 && memcmp(copy, page, s->page_size) == 0;
}

int tp_evict_page(struct tp_stack *s, uint32_t id, tierpage_error *err)
{
    struct tp_page *p = tp_page_get(&s->pages, id);
    struct tp_region *reg = tp_region_of_id(s, id);
    p->flags |= TP_PAGE_BUSY;
    /* An unmap may cut reg while the lock is dropped below; the page, BUSY,
     * stays in a piece sharing reg's file. Take what is needed of reg now. */
    struct tp_region_file *file = reg->file;
    off_t off = tp_page_offset(s, reg, id);
    const char *alias = tp_page_alias(s, reg, id);
    int rc;

    if (!(p->flags & TP_PAGE_DIRTY)) {
        /* Clean: write-protected since it was mapped, so nothing can have
         * changed it; a tier holds its copy, or it is still all zeros. */
        pthread_mutex_unlock(&s->lock);
        return drop_clean(s, file, off, id, err);
    }

    _Alignas(64) unsigned char buf[4096];
    size_t old_tier = p->tier;
    int unsure = (p->flags & TP_PAGE_UNSURE) && old_tier != TP_NO_TIER && tp_tier_is_local(s, old_tier);
    char *addr = tp_page_addr(s, reg, id);
    pthread_mutex_unlock(&s->lock);
    /* Stop writes first, so the copy below is the page's final content. */
    rc = tp_uffd_writeprotect(s->uffd, addr, s->page_size, 1, 0);
    if (rc == 0) {
        memcpy(buf, alias, s->page_size);
        if (unsure && same_as_copy(s, old_tier, id, buf))
            return drop_clean(s, file, off, id, err);
        rc = tp_chain_put(s, 0, id, buf, err);
    } else {
        tierpage_error_set(err, rc, NULL, "cannot write-protect a page: %s", strerror(-rc));
    }
    if (rc < 0) {
        tp_uffd_writeprotect(s->uffd, addr, s->page_size, 0, 1);
        pthread_mutex_lock(&s->lock);
        p->flags &= (uint8_t)~TP_PAGE_BUSY;
        pthread_cond_broadcast(&s->page_done);
        return rc;
    }
    size_t landed = (size_t)rc;
    pthread_mutex_lock(&s->lock);
    if (old_tier != landed) {
        if (old_tier != TP_NO_TIER) {
            tp_tier_unlink(s, old_tier, id);
            s->tiers[old_tier].pages--;
        }
        tp_tier_link(s, landed, id);
    } else {
        tp_tier_touch(s, landed, id);
    }
    p->tier = (uint8_t)landed;
    p->flags &= (uint8_t)~(TP_PAGE_DIRTY | TP_PAGE_UNSURE);
    pthread_mutex_unlock(&s->lock);

    /* The new copy is acknowledged: only now may the old one go. */
    if (old_tier != TP_NO_TIER && old_tier != landed)
        tp_tier_del(s, old_tier, id, err);
    rc = punch(s, file, off);

    pthread_mutex_lock(&s->lock);
    if (rc == 0) {
        p->state = TP_PAGE_STORED;
        tp_resident_remove(s, id);
        s->counters.evictions++;
        s->counters.writebacks++;
    } else {
        /* Still mapped, now clean (write-protected) with its copy stored. */
        tierpage_error_set(err, rc, NULL, "cannot free a page: %s", strerror(-rc));
    }
    p->flags &= (uint8_t)~TP_PAGE_BUSY;
    pthread_cond_broadcast(&s->page_done);
    return rc;
}

int tp_evict_one(struct tp_stack *s, tierpage_error *err)
{
    uint32_t id = select_victim(s);
    if (id == TP_NIL)
        return -EAGAIN;
    uint64_t start = tp_now_ns();
    int rc = tp_evict_page(s, id, err);
    uint64_t took = tp_now_ns() - start;
    s->evict_ns = s->evict_ns - s->evict_ns / 16 + took / 16;
    return rc;
}

int tp_make_room(struct tp_stack *s, uint64_t reserve, tierpage_error *err)
{
    while (s->resident.count + reserve > s->resident.cap_pages) {
        int rc = tp_evict_one(s, err);
        if (rc == -EAGAIN)
            return 0; /* everything is in flight; the cap is briefly exceeded */
        if (rc < 0)
            return rc;
    }
    return 0;
}
