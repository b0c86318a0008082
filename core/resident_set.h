/* The resident set: the slots of the pages mapped in the program, its cap,
 * and the clock hand that walks the slots. It knows pages only by id and
 * guards nothing itself: its owner's lock (the stack lock) covers it. */
#ifndef TIERPAGE_RESIDENT_SET_H
#define TIERPAGE_RESIDENT_SET_H

#include <stddef.h>
#include <stdint.h>

#include "page_digest.h"
#include "page_map.h"

struct tp_resident_set {
    uint32_t *slots;     /* page ids, TP_NIL for a free slot */
    uint32_t *free_slots; /* the free slots, taken from the end */
    uint32_t *free_index; /* of a free slot: where it is in free_slots */
    struct tp_page_digest *digests; /* of the page in each slot, when one was taken */
    size_t slot_count;
    size_t free_count;
    size_t hand;         /* the next slot the eviction policy looks at */
    uint64_t cap_pages;
    uint64_t count;      /* resident or being made resident */
    uint64_t peak;       /* the highest count a page was added at */
    /* Ticks at each page leaving and at each read of fault messages, so a
     * message can tell whether its page left after it was read. Wraps;
     * changed atomically, read without the lock. */
    uint32_t ticks;
};

int tp_resident_init(struct tp_resident_set *r, uint64_t cap_pages);
void tp_resident_destroy(struct tp_resident_set *r);
/* Take a slot for a page whose place was counted (count) before it was
 * brought in. */
void tp_resident_add(struct tp_resident_set *r, struct tp_page_map *m, uint32_t id);
/* Free the page's slot; its `slot` field keeps the tick it left at. */
void tp_resident_remove(struct tp_resident_set *r, struct tp_page_map *m, uint32_t id);
/* The digest of the resident page `id`'s content as it was mapped
 * (page_digest.h); none until set. A page brought in starts with none. */
void tp_resident_set_digest(struct tp_resident_set *r, const struct tp_page_map *m, uint32_t id,
                            struct tp_page_digest d);
struct tp_page_digest tp_resident_digest(const struct tp_resident_set *r, const struct tp_page_map *m, uint32_t id);
/* A new cap; -ENOMEM when the slots cannot grow. Slots shrink only when few
 * enough pages are left in them. */
int tp_resident_resize(struct tp_resident_set *r, struct tp_page_map *m, uint64_t cap_pages);

static inline uint64_t tp_resident_free_room(const struct tp_resident_set *r)
{
    return r->count >= r->cap_pages ? 0 : r->cap_pages - r->count;
}

/* Advance the ticks by n; returns the newest. */
static inline uint32_t tp_resident_tick(struct tp_resident_set *r, uint32_t n)
{
    return __atomic_add_fetch(&r->ticks, n, __ATOMIC_ACQ_REL);
}

#endif
