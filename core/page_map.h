/* Per-page metadata, 16 bytes a page, indexed by a stack-wide page id.
 * The id is also the key pages are stored under in every tier. */
#ifndef TIERPAGE_PAGE_MAP_H
#define TIERPAGE_PAGE_MAP_H

#include <stddef.h>
#include <stdint.h>

#define TP_NIL UINT32_MAX
#define TP_NO_TIER 0xffu

enum tp_page_state {
    TP_PAGE_EMPTY = 0,  /* never written, or discarded: reads as zeros */
    TP_PAGE_RESIDENT,   /* mapped in the program (possibly with a tier copy) */
    TP_PAGE_STORED,     /* only in tier `tier` */
};

enum tp_page_flag {
    TP_PAGE_BUSY = 1u << 0,       /* a thread is moving it; others wait */
    TP_PAGE_DIRTY = 1u << 1,      /* resident and written since its copy was made */
    TP_PAGE_REFERENCED = 1u << 2, /* clock: used since the hand last passed */
    TP_PAGE_UNMAPPED = 1u << 3,   /* the program unmapped it */
    TP_PAGE_UNSURE = 1u << 4,     /* DIRTY is a guess: mapped writable on a read */
    TP_PAGE_LOCKED = 1u << 5,     /* mlocked by the program: never evicted */
    TP_PAGE_PREFETCHED = 1u << 6, /* brought in ahead of a fault and not used yet */
};

struct tp_page {
    uint32_t prev, next; /* links in the LRU list of the tier holding a copy */
    uint32_t slot;       /* resident-set slot while resident; after, the
                            resident set's clock when it left */
    uint8_t state;
    uint8_t tier;        /* tier holding a copy, TP_NO_TIER when none */
    uint8_t flags;
    uint8_t heat;        /* clock: hand passes left before it is checked again */
};

/* A page found in use again after the clock hand unmapped it is passed over
 * this many times before it is unmapped to be checked again: each check
 * costs the program a minor fault when the page is in use. */
#define TP_HEAT_MAX 3

_Static_assert(sizeof(struct tp_page) == 16, "page metadata must stay at 16 bytes");

#define TP_PAGE_CHUNK_SHIFT 12
#define TP_PAGE_CHUNK (1u << TP_PAGE_CHUNK_SHIFT)

struct tp_id_range {
    uint32_t first, count;
};

struct tp_page_map {
    struct tp_page **chunks;  /* chunk i holds ids [i*TP_PAGE_CHUNK, (i+1)*TP_PAGE_CHUNK) */
    size_t chunk_count;
    struct tp_id_range *free; /* free id ranges, sorted by first */
    size_t free_count, free_alloc;
    uint32_t next_id;         /* ids at and above are unused */
};

static inline struct tp_page *tp_page_get(struct tp_page_map *m, uint32_t id)
{
    return &m->chunks[id >> TP_PAGE_CHUNK_SHIFT][id & (TP_PAGE_CHUNK - 1)];
}

/* Reserve `count` consecutive ids with fresh (EMPTY) pages; -ENOMEM on failure. */
int tp_page_map_alloc(struct tp_page_map *m, uint32_t count, uint32_t *first);
void tp_page_map_release(struct tp_page_map *m, uint32_t first, uint32_t count);
void tp_page_map_destroy(struct tp_page_map *m);
size_t tp_page_map_bytes(const struct tp_page_map *m);

#endif
