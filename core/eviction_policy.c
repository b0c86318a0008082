#include "eviction_policy.h"

static void check_again(struct tp_page *p, uint32_t id, tp_unmap_to_check_fn *unmap_to_check, void *ctx)
{
    /* Not REFERENCED: unmapped already, checked beside another page; or
     * a page fetched ahead, unmapped until used, unless it was mapped
     * ahead (AHEAD) and nothing showed its use yet: unmapped now, its next
     * use is a minor fault that shows it (and a write it had is kept by
     * the kernel's record). */
    if (!(p->flags & (TP_PAGE_REFERENCED | TP_PAGE_AHEAD)))
        return;
    p->flags &= (uint8_t)~TP_PAGE_REFERENCED;
    unmap_to_check(ctx, id);
}

enum tp_neighbour_check tp_check_neighbour(struct tp_page *p)
{
    /* A resident page is mapped from its fault (REFERENCED) until the hand
     * unmaps it to check it (no longer REFERENCED); a prefetched page is
     * not mapped until used, unless mapped ahead: that one is left
     * mapped, as the program is most likely about to reach it. */
    if (p && p->state == TP_PAGE_RESIDENT && (p->flags & TP_PAGE_AHEAD))
        return TP_NEIGHBOUR_KEEP;
    if (!p || p->state != TP_PAGE_RESIDENT || !(p->flags & TP_PAGE_REFERENCED))
        return TP_NEIGHBOUR_UNMAPPED;
    if ((p->flags & (TP_PAGE_BUSY | TP_PAGE_LOCKED)) || p->heat > 0)
        return TP_NEIGHBOUR_KEEP;
    /* Checked ahead of the hand, it is passed over once more: the program
     * has a full turn of the hand to show it in use, as for any check. */
    p->flags &= (uint8_t)~TP_PAGE_REFERENCED;
    p->heat = 1;
    return TP_NEIGHBOUR_CHECKED;
}

bool tp_page_known_unmapped(const struct tp_page *p)
{
    /* Never touched: never mapped. A fault makes the page's metadata,
     * under the lock, before it maps the page. */
    if (!p)
        return true;
    /* BUSY: the thread moving it may be mapping it with the lock dropped
     * (a fault's UFFDIO_COPY or CONTINUE, a prefetch mapping it ahead).
     * LOCKED: mlocked, MADV_DONTNEED refuses its mapping (and the range
     * merged across it would fail where its pieces would not). */
    if (p->flags & (TP_PAGE_BUSY | TP_PAGE_LOCKED))
        return false;
    /* Idle and not resident: stored (its memory was punched, which unmaps
     * it), or empty (never mapped, or forgotten: its memory is punched,
     * or about to be by the thread that forgot it, and the program reads
     * zeros there either way). */
    if (p->state != TP_PAGE_RESIDENT)
        return true;
    /* Resident and idle: mapped from its fault (REFERENCED) until the hand
     * unmaps it to check it; fetched ahead, unmapped until used unless
     * mapped ahead (AHEAD). One whose check's unmapping failed is mapped
     * still, unlike what is said here: unmapping it is what its check
     * meant to do. */
    return !(p->flags & (TP_PAGE_REFERENCED | TP_PAGE_AHEAD));
}

/* Whether every page of [first, end) is tp_page_known_unmapped: a chunk
 * never touched holds no page that could be mapped. */
static bool gap_known_unmapped(const struct tp_page_map *m, uint32_t first, uint32_t end)
{
    for (uint32_t id = first; id < end;) {
        const struct tp_page_chunk *c = tp_chunk_find(m, id >> TP_PAGE_CHUNK_SHIFT);
        uint32_t chunk_left = TP_PAGE_CHUNK - (id & (TP_PAGE_CHUNK - 1));
        uint32_t stop = end - id < chunk_left ? end : id + chunk_left;
        for (; id < stop; id++)
            if (c && !tp_page_known_unmapped(&c->pages[id & (TP_PAGE_CHUNK - 1)]))
                return false;
    }
    return true;
}

static bool mergeable(const struct tp_page_map *m, const struct tp_unmap_range *into,
                      const struct tp_unmap_range *next)
{
    if (next->region != into->region)
        return false;
    if (next->first <= into->end)
        return true; /* they overlap or touch */
    return next->first - into->end <= TP_UNMAP_GAP_MAX && gap_known_unmapped(m, into->end, next->first);
}

size_t tp_merge_unmap_ranges(const struct tp_page_map *m, const struct tp_unmap_range *ranges, size_t n,
                             size_t *order, struct tp_unmap_range *merged, size_t *pieces)
{
    /* Insertion sort: a batch holds a few dozen ranges, often in order. */
    for (size_t i = 0; i < n; i++) {
        size_t k = i;
        for (; k > 0 && ranges[order[k - 1]].first > ranges[i].first; k--)
            order[k] = order[k - 1];
        order[k] = i;
    }
    size_t count = 0;
    for (size_t k = 0; k < n; k++) {
        const struct tp_unmap_range *r = &ranges[order[k]];
        if (count > 0 && mergeable(m, &merged[count - 1], r)) {
            if (r->end > merged[count - 1].end)
                merged[count - 1].end = r->end;
            pieces[count - 1]++;
        } else {
            merged[count] = *r;
            pieces[count++] = 1;
        }
    }
    return count;
}

uint32_t tp_pick_victim(struct tp_resident_set *r, struct tp_page_map *m, enum tp_eviction_policy policy,
                        enum tp_victim_for victim_for, size_t *budget, tp_unmap_to_check_fn *unmap_to_check,
                        void *ctx)
{
    int clock = policy == TP_POLICY_CLOCK;
    for (; *budget > 0; (*budget)--) {
        size_t slot = r->hand;
        r->hand = (r->hand + 1) % r->slot_count;
        uint32_t id = r->slots[slot];
        if (id == TP_NIL)
            continue;
        struct tp_page *p = tp_page_get(m, id);
        if (p->flags & (TP_PAGE_BUSY | TP_PAGE_LOCKED))
            continue;
        if (clock && p->heat > 0) {
            if (--p->heat == 0)
                check_again(p, id, unmap_to_check, ctx);
            continue;
        }
        if (clock && (p->flags & TP_PAGE_REFERENCED)) {
            check_again(p, id, unmap_to_check, ctx);
            continue;
        }
        if (victim_for == TP_VICTIM_FOR_PREFETCH && (p->flags & TP_PAGE_PREFETCHED)) {
            r->hand = slot;
            return TP_NIL;
        }
        (*budget)--;
        return id;
    }
    return TP_NIL;
}

size_t tp_first_pick_budget(const struct tp_resident_set *r)
{
    return 3 * r->slot_count;
}

size_t tp_rest_of_turn_budget(const struct tp_resident_set *r, size_t budget)
{
    size_t passed = tp_first_pick_budget(r) - budget;
    return passed < r->slot_count ? r->slot_count - passed : 0;
}
