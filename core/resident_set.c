#include "resident_set.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "tierpage.h"

/* Room for pages brought in above the cap by concurrent faults: every
 * handler with 4 faults in flight, and some to spare. */
#define TP_SLOTS_IN_FLIGHT (4u * TP_MAX_HANDLER_THREADS + 64u)

/* The slot array is rebuilt smaller only when this many slots would go. */
#define TP_SLOTS_SHRINK_STEP 4096u

static size_t slots_for(uint64_t cap_pages)
{
    return (size_t)cap_pages + TP_SLOTS_IN_FLIGHT;
}

/* Slots come straight from mmap, like the page map's chunks: the pager must
 * never allocate through the malloc it may itself be serving. */
static int alloc_slots(struct tp_resident_set *r, size_t n)
{
    uint32_t *slots = mmap(NULL, n * sizeof(uint32_t) * 3, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (slots == MAP_FAILED)
        return -ENOMEM;
    /* Zeros: no digest. */
    struct tp_page_digest *digests = mmap(NULL, n * sizeof *digests, PROT_READ | PROT_WRITE,
                                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (digests == MAP_FAILED) {
        munmap(slots, n * sizeof(uint32_t) * 3);
        return -ENOMEM;
    }
    r->digests = digests;
    r->slots = slots;
    r->free_slots = slots + n;
    r->free_index = slots + 2 * n;
    r->slot_count = n;
    for (size_t i = 0; i < n; i++) {
        r->slots[i] = TP_NIL;
        r->free_slots[i] = (uint32_t)(n - 1 - i);
        r->free_index[n - 1 - i] = (uint32_t)i;
    }
    r->free_count = n;
    r->hand = 0;
    return 0;
}

static void free_slots(struct tp_resident_set *r)
{
    if (r->slots) {
        munmap(r->slots, r->slot_count * sizeof(uint32_t) * 3);
        munmap(r->digests, r->slot_count * sizeof *r->digests);
    }
    r->slots = r->free_slots = r->free_index = NULL;
    r->digests = NULL;
}

int tp_resident_init(struct tp_resident_set *r, uint64_t cap_pages)
{
    memset(r, 0, sizeof *r);
    r->cap_pages = cap_pages;
    return alloc_slots(r, slots_for(cap_pages));
}

void tp_resident_destroy(struct tp_resident_set *r)
{
    free_slots(r);
}

/* Take free slot `slot` out of the free list, wherever it is in it. */
static void take_free_slot(struct tp_resident_set *r, uint32_t slot)
{
    uint32_t at = r->free_index[slot], last = r->free_slots[--r->free_count];
    r->free_slots[at] = last;
    r->free_index[last] = at;
}

void tp_resident_add(struct tp_resident_set *r, struct tp_page_map *m, uint32_t id)
{
    /* The new page goes just behind the hand, where the hand comes last:
     * as in a clock, every other resident page is looked at before it, so
     * a page is not evicted before the thread that faulted it in had its
     * turn to use it. That is the slot the last victim left, or the free
     * slot under the hand, which the hand then steps over; otherwise the
     * page behind the hand moves to a free slot to make room. */
    uint32_t slot = (uint32_t)((r->hand + r->slot_count - 1) % r->slot_count);
    uint32_t there = r->slots[slot];
    if (there == TP_NIL) {
        take_free_slot(r, slot);
    } else if (r->slots[r->hand] == TP_NIL) {
        slot = (uint32_t)r->hand;
        take_free_slot(r, slot);
        r->hand = (r->hand + 1) % r->slot_count;
    } else {
        uint32_t moved_to = r->free_slots[--r->free_count];
        r->slots[moved_to] = there;
        r->digests[moved_to] = r->digests[slot];
        tp_page_get(m, there)->slot = moved_to;
    }
    r->slots[slot] = id;
    r->digests[slot] = (struct tp_page_digest){0, 0};
    tp_page_get(m, id)->slot = slot;
    if (r->count > r->peak)
        r->peak = r->count;
}

void tp_resident_remove(struct tp_resident_set *r, struct tp_page_map *m, uint32_t id)
{
    struct tp_page *p = tp_page_get(m, id);
    r->slots[p->slot] = TP_NIL; /* its digest is cleared when the slot is taken again */
    r->free_index[p->slot] = (uint32_t)r->free_count;
    r->free_slots[r->free_count++] = p->slot;
    p->slot = tp_resident_tick(r, 1);
    r->count--;
}

void tp_resident_set_digest(struct tp_resident_set *r, const struct tp_page_map *m, uint32_t id,
                            struct tp_page_digest d)
{
    r->digests[tp_page_get(m, id)->slot] = d;
}

struct tp_page_digest tp_resident_digest(const struct tp_resident_set *r, const struct tp_page_map *m, uint32_t id)
{
    return r->digests[tp_page_get(m, id)->slot];
}

int tp_resident_resize(struct tp_resident_set *r, struct tp_page_map *m, uint64_t cap_pages)
{
    size_t need = slots_for(cap_pages);
    if (need > r->slot_count || need + TP_SLOTS_SHRINK_STEP < r->slot_count) {
        size_t old_n = r->slot_count;
        uint32_t *old = r->slots;
        const struct tp_page_digest *old_digests = r->digests;
        struct tp_resident_set fresh = *r;
        if (alloc_slots(&fresh, need > r->slot_count ? need : (size_t)r->count + TP_SLOTS_IN_FLIGHT) < 0)
            return -ENOMEM;
        /* Keep the clock order: copy from the hand onward. */
        for (size_t i = 0; i < old_n; i++) {
            uint32_t id = old[(r->hand + i) % old_n];
            if (id == TP_NIL)
                continue;
            uint32_t slot = fresh.free_slots[--fresh.free_count]; /* in order, from slot 0 */
            fresh.slots[slot] = id;
            fresh.digests[slot] = old_digests[(r->hand + i) % old_n];
            tp_page_get(m, id)->slot = slot;
        }
        fresh.hand = 0;
        free_slots(r);
        *r = fresh;
    }
    r->cap_pages = cap_pages;
    return 0;
}
