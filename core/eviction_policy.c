#include "eviction_policy.h"

static void check_again(struct tp_page *p, uint32_t id, tp_unmap_to_check_fn *unmap_to_check, void *ctx)
{
    p->flags &= (uint8_t)~TP_PAGE_REFERENCED;
    unmap_to_check(ctx, id);
}

uint32_t tp_pick_victim(struct tp_resident_set *r, struct tp_page_map *m, enum tp_eviction_policy policy,
                        tp_unmap_to_check_fn *unmap_to_check, void *ctx)
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
        return id;
    }
    return TP_NIL;
}
