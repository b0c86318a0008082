#include "page_state.h"

#include <string.h>

int tp_pages_init(struct tp_pages *pg, struct tp_mutex *lock, uint64_t resident_cap_pages)
{
    memset(pg, 0, sizeof *pg);
    pg->lock = lock;
    pthread_cond_init(&pg->idle, NULL);
    for (size_t t = 0; t < TP_MAX_TIERS; t++)
        pg->tiers[t].head = pg->tiers[t].tail = TP_NIL;
    return tp_resident_init(&pg->resident, resident_cap_pages);
}

void tp_pages_destroy(struct tp_pages *pg)
{
    tp_resident_destroy(&pg->resident);
    tp_page_map_destroy(&pg->map);
    pthread_cond_destroy(&pg->idle);
}

static int is_busy(struct tp_pages *pg, uint32_t id)
{
    const struct tp_page *p = tp_page_find(&pg->map, id);
    return p && (p->flags & TP_PAGE_BUSY);
}

void tp_page_wait_idle(struct tp_pages *pg, uint32_t id)
{
    TP_ASSERT_HELD(pg->lock);
    while (is_busy(pg, id) || pg->frozen)
        tp_lock_wait(&pg->idle, pg->lock);
}

void tp_pages_freeze(struct tp_pages *pg)
{
    TP_ASSERT_HELD(pg->lock);
    pg->frozen = 1;
    while (pg->busy)
        tp_lock_wait(&pg->idle, pg->lock);
}

void tp_pages_thaw(struct tp_pages *pg)
{
    TP_ASSERT_HELD(pg->lock);
    pg->frozen = 0;
    pthread_cond_broadcast(&pg->idle);
}

void tp_page_claim(struct tp_pages *pg, uint32_t id)
{
    TP_ASSERT_HELD(pg->lock);
    assert(!is_busy(pg, id));
    tp_page(pg, id)->flags |= TP_PAGE_BUSY;
    pg->busy++;
}

void tp_page_release(struct tp_pages *pg, uint32_t id)
{
    TP_ASSERT_HELD(pg->lock);
    assert(is_busy(pg, id));
    tp_page(pg, id)->flags &= (uint8_t)~TP_PAGE_BUSY;
    pg->busy--;
    pthread_cond_broadcast(&pg->idle);
}

void tp_page_release_unlocked(struct tp_pages *pg, uint32_t id)
{
    tp_lock_take(pg->lock);
    tp_page_release(pg, id);
    tp_lock_drop(pg->lock);
}

static void list_link(struct tp_pages *pg, size_t t, uint32_t id)
{
    struct tp_tier_pages *list = &pg->tiers[t];
    struct tp_page *p = tp_page(pg, id);
    p->next = TP_NIL;
    p->prev = list->tail;
    if (list->tail != TP_NIL)
        tp_page(pg, list->tail)->next = id;
    else
        list->head = id;
    list->tail = id;
}

static void list_unlink(struct tp_pages *pg, size_t t, uint32_t id)
{
    struct tp_tier_pages *list = &pg->tiers[t];
    struct tp_page *p = tp_page(pg, id);
    if (p->prev != TP_NIL)
        tp_page(pg, p->prev)->next = p->next;
    else
        list->head = p->next;
    if (p->next != TP_NIL)
        tp_page(pg, p->next)->prev = p->prev;
    else
        list->tail = p->prev;
    p->prev = p->next = TP_NIL;
}

static void list_touch(struct tp_pages *pg, size_t t, uint32_t id)
{
    if (pg->tiers[t].tail == id)
        return;
    list_unlink(pg, t, id);
    list_link(pg, t, id);
}

size_t tp_page_land(struct tp_pages *pg, uint32_t id, size_t t)
{
    TP_ASSERT_HELD(pg->lock);
    assert(is_busy(pg, id));
    struct tp_page *p = tp_page(pg, id);
    size_t old = p->tier;
    if (old == t) {
        list_touch(pg, t, id);
        return TP_NO_TIER;
    }
    if (old != TP_NO_TIER) {
        list_unlink(pg, old, id);
        pg->tiers[old].count--;
    }
    list_link(pg, t, id);
    p->tier = (uint8_t)t;
    return old;
}

void tp_page_make_stored(struct tp_pages *pg, uint32_t id)
{
    TP_ASSERT_HELD(pg->lock);
    assert(is_busy(pg, id));
    struct tp_page *p = tp_page(pg, id);
    assert(p->state == TP_PAGE_EMPTY && p->tier != TP_NO_TIER);
    p->state = TP_PAGE_STORED;
}

size_t tp_page_drop_copy(struct tp_pages *pg, uint32_t id)
{
    TP_ASSERT_HELD(pg->lock);
    assert(is_busy(pg, id));
    struct tp_page *p = tp_page(pg, id);
    size_t old = p->tier;
    if (old == TP_NO_TIER)
        return old;
    list_unlink(pg, old, id);
    pg->tiers[old].count--;
    p->tier = TP_NO_TIER;
    p->flags &= (uint8_t)~TP_PAGE_UNSURE; /* nothing left to compare it with */
    return old;
}

int tp_page_left_since(struct tp_pages *pg, uint32_t id, uint32_t ticket)
{
    TP_ASSERT_HELD(pg->lock);
    struct tp_page *p = tp_page_find(&pg->map, id);
    if (!p || (int32_t)(p->slot - ticket) <= 0)
        return 0;
    p->slot = ticket;
    return 1;
}

void tp_page_reserve_resident(struct tp_pages *pg)
{
    TP_ASSERT_HELD(pg->lock);
    pg->resident.count++;
}

void tp_page_make_resident(struct tp_pages *pg, uint32_t id, unsigned resident_flags)
{
    TP_ASSERT_HELD(pg->lock);
    assert(is_busy(pg, id));
    struct tp_page *p = tp_page(pg, id);
    assert(p->state != TP_PAGE_RESIDENT);
    p->state = TP_PAGE_RESIDENT;
    p->flags |= (uint8_t)(resident_flags & (TP_PAGE_DIRTY | TP_PAGE_UNSURE)) | TP_PAGE_REFERENCED;
    if (p->tier != TP_NO_TIER)
        list_touch(pg, p->tier, id);
    tp_resident_add(&pg->resident, &pg->map, id);
}

void tp_page_make_prefetched(struct tp_pages *pg, uint32_t id, int mapped, unsigned resident_flags)
{
    TP_ASSERT_HELD(pg->lock);
    assert(is_busy(pg, id));
    struct tp_page *p = tp_page(pg, id);
    assert(p->state == TP_PAGE_STORED && p->tier != TP_NO_TIER);
    p->state = TP_PAGE_RESIDENT;
    p->flags = (uint8_t)((p->flags & ~(TP_PAGE_REFERENCED | TP_PAGE_DIRTY | TP_PAGE_UNSURE | TP_PAGE_AHEAD)) |
                         TP_PAGE_PREFETCHED |
                         (mapped ? TP_PAGE_AHEAD | (resident_flags & (TP_PAGE_DIRTY | TP_PAGE_UNSURE)) : 0));
    p->heat = 1;
    list_touch(pg, p->tier, id);
    tp_resident_add(&pg->resident, &pg->map, id);
}

void tp_page_unreserve_resident(struct tp_pages *pg)
{
    TP_ASSERT_HELD(pg->lock);
    pg->resident.count--;
}

int tp_page_note_prefetch_use(struct tp_pages *pg, uint32_t id, unsigned resident_flags)
{
    TP_ASSERT_HELD(pg->lock);
    struct tp_page *p = tp_page(pg, id);
    if (!(p->flags & TP_PAGE_PREFETCHED))
        return 0;
    p->flags = (uint8_t)((p->flags & ~(TP_PAGE_PREFETCHED | TP_PAGE_AHEAD)) | TP_PAGE_REFERENCED |
                         (resident_flags & (TP_PAGE_DIRTY | TP_PAGE_UNSURE)));
    return 1;
}

void tp_page_note_use(struct tp_pages *pg, uint32_t id, int write)
{
    TP_ASSERT_HELD(pg->lock);
    struct tp_page *p = tp_page(pg, id);
    p->flags |= TP_PAGE_REFERENCED | (write ? TP_PAGE_DIRTY : 0);
    p->heat = TP_HEAT_MAX;
}

int tp_page_note_write(struct tp_pages *pg, uint32_t id)
{
    TP_ASSERT_HELD(pg->lock);
    struct tp_page *p = tp_page(pg, id);
    int was_clean = !(p->flags & TP_PAGE_DIRTY);
    p->flags |= TP_PAGE_DIRTY | TP_PAGE_REFERENCED;
    return was_clean;
}

void tp_page_mark_dirty(struct tp_pages *pg, uint32_t id)
{
    TP_ASSERT_HELD(pg->lock);
    struct tp_page *p = tp_page(pg, id);
    assert(p->state == TP_PAGE_RESIDENT);
    p->flags |= TP_PAGE_DIRTY;
}

void tp_page_mark_clean(struct tp_pages *pg, uint32_t id)
{
    TP_ASSERT_HELD(pg->lock);
    assert(is_busy(pg, id));
    tp_page(pg, id)->flags &= (uint8_t)~(TP_PAGE_DIRTY | TP_PAGE_UNSURE);
}

/* Out of the resident set: no longer used, dirty, hot or prefetched.
 * Returns 1 when it was prefetched and never used. */
static int leave_resident(struct tp_pages *pg, uint32_t id)
{
    struct tp_page *p = tp_page(pg, id);
    int unused = (p->flags & TP_PAGE_PREFETCHED) != 0;
    tp_resident_remove(&pg->resident, &pg->map, id);
    p->flags &= (uint8_t)~(TP_PAGE_REFERENCED | TP_PAGE_DIRTY | TP_PAGE_UNSURE | TP_PAGE_PREFETCHED | TP_PAGE_AHEAD);
    p->heat = 0;
    return unused;
}

int tp_page_evicted(struct tp_pages *pg, uint32_t id)
{
    TP_ASSERT_HELD(pg->lock);
    assert(is_busy(pg, id));
    struct tp_page *p = tp_page(pg, id);
    assert(p->state == TP_PAGE_RESIDENT);
    int unused = leave_resident(pg, id);
    p->state = p->tier == TP_NO_TIER ? TP_PAGE_EMPTY : TP_PAGE_STORED;
    return unused;
}

void tp_page_forget(struct tp_pages *pg, uint32_t id, int unmapping)
{
    TP_ASSERT_HELD(pg->lock);
    struct tp_page *p = tp_page(pg, id);
    assert(!(p->flags & TP_PAGE_BUSY) && p->tier == TP_NO_TIER);
    if (p->state == TP_PAGE_RESIDENT)
        leave_resident(pg, id);
    p->state = TP_PAGE_EMPTY;
    p->flags &= (uint8_t)~(TP_PAGE_DIRTY | TP_PAGE_REFERENCED | TP_PAGE_UNSURE);
    if (unmapping) {
        if (p->flags & TP_PAGE_LOCKED)
            pg->locked--;
        p->flags = (uint8_t)((p->flags & ~TP_PAGE_LOCKED) | TP_PAGE_UNMAPPED);
    }
}

void tp_page_set_locked(struct tp_pages *pg, uint32_t id, int locked)
{
    TP_ASSERT_HELD(pg->lock);
    struct tp_page *p = locked ? tp_page(pg, id) : tp_page_find(&pg->map, id);
    if (!p || !(p->flags & TP_PAGE_LOCKED) == !locked)
        return;
    p->flags ^= TP_PAGE_LOCKED;
    if (locked)
        pg->locked++;
    else
        pg->locked--;
}

int tp_tier_reserve(struct tp_pages *pg, size_t t, uint64_t capacity_pages)
{
    TP_ASSERT_HELD(pg->lock);
    if (capacity_pages && pg->tiers[t].count >= capacity_pages)
        return 0;
    pg->tiers[t].count++;
    return 1;
}

void tp_tier_unreserve(struct tp_pages *pg, size_t t)
{
    TP_ASSERT_HELD(pg->lock);
    pg->tiers[t].count--;
}

uint32_t tp_tier_claim_coldest(struct tp_pages *pg, size_t t)
{
    TP_ASSERT_HELD(pg->lock);
    for (uint32_t id = pg->tiers[t].head; id != TP_NIL; id = tp_page(pg, id)->next) {
        if (!is_busy(pg, id)) {
            tp_page_claim(pg, id);
            return id;
        }
    }
    return TP_NIL;
}
