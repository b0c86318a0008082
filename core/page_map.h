/* Per-page metadata, 16 bytes a page, indexed by a stack-wide page id.
 * The id is also the key pages are stored under in every tier.
 *
 * The map is filled lazily: ids are handed out in ranges (one per region,
 * costing nothing per page), and a page's metadata exists only from the
 * first time a fault or a lock touches it. It lives in chunks of
 * TP_PAGE_CHUNK consecutive ids, found through a hash table on the chunk
 * number, so a program that maps a terabyte and touches a thousand pages
 * pays for a thousand chunks at most. A page whose chunk does not exist
 * reads as EMPTY, held by no tier, with no flags.
 *
 * Every call is made with the stack lock held. A struct tp_page pointer
 * stays valid while that lock is held, and across drops of it while the
 * page is BUSY: a chunk goes only when all its pages are as new. */
#ifndef TIERPAGE_PAGE_MAP_H
#define TIERPAGE_PAGE_MAP_H

#include <assert.h>
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
    TP_PAGE_AHEAD = 1u << 7,      /* PREFETCHED and mapped as it came in: a use shows no fault */
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
 * costs the program a minor fault when the page is in use. 8 against 3: a
 * third fewer checks on a zipf sweep through a dram tier, and fewer misses
 * (bench/RESULTS.md, "Hot pages passed over longer"). */
#define TP_HEAT_MAX 8

_Static_assert(sizeof(struct tp_page) == 16, "page metadata must stay at 16 bytes");

/* 16 pages a chunk: a page touched alone costs its chunk (280 bytes) and
 * a slot of the table; pages touched in runs cost under 20 bytes each. */
#define TP_PAGE_CHUNK_SHIFT 4
#define TP_PAGE_CHUNK (1u << TP_PAGE_CHUNK_SHIFT)

/* The metadata of ids [index * TP_PAGE_CHUNK, (index + 1) * TP_PAGE_CHUNK).
 * Fixed-size and self-describing: the table can be rebuilt from the chunks. */
struct tp_page_chunk {
    uint32_t index;
    uint32_t live;                      /* 1 while in the map, 0 while spare */
    struct tp_page_chunk *prev, *next;  /* every chunk of the map, newest last */
    struct tp_page pages[TP_PAGE_CHUNK];
};

struct tp_chunk_slot {
    uint32_t index;
    struct tp_page_chunk *chunk; /* NULL: the slot is free */
};

struct tp_id_range {
    uint32_t first, count;
};

struct tp_page_map {
    struct tp_chunk_slot *slots; /* open addressing, linear probing, at most half full */
    uint32_t slot_mask;          /* slot count - 1 */
    uint8_t slot_shift;          /* 64 - log2(slot count): the hash keeps the top bits */
    size_t chunk_count;
    struct tp_page_chunk *first, *last;
    struct tp_page_chunk *spare; /* chunks given back, kept for reuse, linked by next */
    size_t spare_count;
    struct tp_chunk_slab *slabs; /* the memory chunks are carved from */
    struct tp_page_map_file *file; /* the file slabs are carved from, or NULL: anonymous */
    struct tp_id_range *free;    /* free id ranges, sorted by first */
    size_t free_count, free_alloc;
    uint32_t next_id;            /* ids at and above are unused */
};

static inline size_t tp_chunk_home(const struct tp_page_map *m, uint32_t index)
{
    return (size_t)(((uint64_t)index * 0x9e3779b97f4a7c15ull) >> m->slot_shift);
}

static inline struct tp_page_chunk *tp_chunk_find(const struct tp_page_map *m, uint32_t index)
{
    if (!m->slots)
        return NULL;
    for (size_t i = tp_chunk_home(m, index);; i = (i + 1) & m->slot_mask) {
        const struct tp_chunk_slot *slot = &m->slots[i];
        if (!slot->chunk || slot->index == index)
            return slot->chunk;
    }
}

/* The page's metadata, or NULL when it was never touched. */
static inline struct tp_page *tp_page_find(const struct tp_page_map *m, uint32_t id)
{
    struct tp_page_chunk *c = tp_chunk_find(m, id >> TP_PAGE_CHUNK_SHIFT);
    return c ? &c->pages[id & (TP_PAGE_CHUNK - 1)] : NULL;
}

/* The metadata of a page known to have been touched: one that is resident,
 * stored, BUSY, locked or in a list. */
static inline struct tp_page *tp_page_get(const struct tp_page_map *m, uint32_t id)
{
    struct tp_page *p = tp_page_find(m, id);
    assert(p);
    return p;
}

/* The page's metadata, made (as new) if it was never touched; NULL when
 * out of memory. */
struct tp_page *tp_page_touch(struct tp_page_map *m, uint32_t id);

/* Reserve `count` consecutive ids, their pages as new; -ENOMEM on failure.
 * Costs nothing per id. */
int tp_page_map_alloc(struct tp_page_map *m, uint32_t count, uint32_t *first);
/* Reserve exactly ids [first, first+count) (a region served again under the
 * ids it had); -EEXIST when some are taken. */
int tp_page_map_alloc_at(struct tp_page_map *m, uint32_t first, uint32_t count);
/* Give the ids back: their pages become as new, and chunks left all new go. */
void tp_page_map_release(struct tp_page_map *m, uint32_t first, uint32_t count);
/* Carve chunks from `file` (page_map_file.h) instead of anonymous memory,
 * so the map outlives the process; the map owns the file from then on.
 * Before the first chunk only: -EBUSY after. */
struct tp_page_map_file;
int tp_page_map_keep_in(struct tp_page_map *m, struct tp_page_map_file *file);
void tp_page_map_destroy(struct tp_page_map *m);
/* Memory the map holds: chunks in use or spare, and the table. */
size_t tp_page_map_bytes(const struct tp_page_map *m);

/* The touched pages of an id range, a chunk at a time, in ascending order,
 * costing what the range's touched chunks cost, not what the range spans:
 *
 *     struct tp_page_walk w;
 *     tp_page_walk_start(&w, map, first, count);
 *     while (tp_page_walk_next(&w, &run, &n))
 *         ... pages [run, run + n) ...
 *     tp_page_walk_end(&w);
 *
 * The lock may be dropped between calls: a chunk made meanwhile may be
 * missed, one that went is skipped, and a page's pointer must be looked up
 * again after the lock was dropped. */
struct tp_page_walk {
    const struct tp_page_map *map;
    uint64_t first, end;  /* the ids walked */
    uint64_t index;       /* next chunk number to probe, or position in listed */
    uint32_t *listed;     /* the range's chunk numbers, sorted, when fewer than it spans */
    size_t listed_count;
};

void tp_page_walk_start(struct tp_page_walk *w, const struct tp_page_map *m, uint32_t first, uint64_t count);
int tp_page_walk_next(struct tp_page_walk *w, uint32_t *run_first, uint32_t *run_count);
void tp_page_walk_end(struct tp_page_walk *w);

#endif
