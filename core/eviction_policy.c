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

uint32_t tp_pick_victim(struct tp_resident_set *r, struct tp_page_map *m, enum tp_eviction_policy policy,
                        enum tp_victim_for victim_for, tp_unmap_to_check_fn *unmap_to_check, void *ctx)
{
    int clock = policy == TP_POLICY_CLOCK;
    for (size_t scanned = 0; scanned < 3 * r->slot_count; scanned++) {
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
        return id;
    }
    return TP_NIL;
}
