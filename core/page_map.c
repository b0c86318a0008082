#include "page_map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "page_map_file.h"

/* Chunks and the table come straight from mmap: the pager must never
 * allocate through the malloc it may itself be serving. A slab is carved
 * in order, so the part not handed out yet costs no memory. */
#define SLAB_BYTES (1u << 20)
#define FIRST_SLOTS 256u

struct tp_chunk_slab {
    struct tp_chunk_slab *next;
    size_t used; /* bytes handed out, this header included */
};
_Static_assert(sizeof(struct tp_chunk_slab) == 16, "a slab's header as page_map_file.h describes it");

static const struct tp_page new_page = {TP_NIL, TP_NIL, TP_NIL, TP_PAGE_EMPTY, TP_NO_TIER, 0, 0};

static void *map_memory(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void slot_put(struct tp_page_map *m, struct tp_page_chunk *c)
{
    size_t i = tp_chunk_home(m, c->index);
    while (m->slots[i].chunk)
        i = (i + 1) & m->slot_mask;
    m->slots[i] = (struct tp_chunk_slot){c->index, c};
}

/* A table of `count` slots (a power of two) holding every chunk. */
static int table_rebuild(struct tp_page_map *m, size_t count)
{
    struct tp_chunk_slot *slots = map_memory(count * sizeof *slots);
    if (!slots)
        return -ENOMEM;
    if (m->slots)
        munmap(m->slots, ((size_t)m->slot_mask + 1) * sizeof *m->slots);
    m->slots = slots;
    m->slot_mask = (uint32_t)(count - 1);
    m->slot_shift = (uint8_t)(64 - __builtin_ctzll(count));
    for (struct tp_page_chunk *c = m->first; c; c = c->next)
        slot_put(m, c);
    return 0;
}

/* Take chunk number `index` out of the table, moving back the entries
 * after it whose probe ran over its slot. */
static void slot_remove(struct tp_page_map *m, uint32_t index)
{
    size_t hole = tp_chunk_home(m, index);
    while (m->slots[hole].index != index || !m->slots[hole].chunk)
        hole = (hole + 1) & m->slot_mask;
    for (size_t j = (hole + 1) & m->slot_mask; m->slots[j].chunk; j = (j + 1) & m->slot_mask) {
        size_t home = tp_chunk_home(m, m->slots[j].index);
        if (((j - home) & m->slot_mask) >= ((j - hole) & m->slot_mask)) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole] = (struct tp_chunk_slot){0, NULL};
}

static struct tp_page_chunk *chunk_memory(struct tp_page_map *m)
{
    if (m->spare) {
        struct tp_page_chunk *c = m->spare;
        m->spare = c->next;
        m->spare_count--;
        return c;
    }
    struct tp_chunk_slab *slab = m->slabs;
    if (!slab || slab->used + sizeof(struct tp_page_chunk) > SLAB_BYTES) {
        slab = m->file ? tp_page_map_file_slab(m->file, SLAB_BYTES) : map_memory(SLAB_BYTES);
        if (!slab)
            return NULL;
        slab->next = m->slabs;
        slab->used = sizeof *slab;
        m->slabs = slab;
    }
    struct tp_page_chunk *c = (struct tp_page_chunk *)((char *)slab + slab->used);
    slab->used += sizeof *c;
    return c;
}

struct tp_page *tp_page_touch(struct tp_page_map *m, uint32_t id)
{
    uint32_t index = id >> TP_PAGE_CHUNK_SHIFT;
    struct tp_page_chunk *c = tp_chunk_find(m, index);
    if (c)
        return &c->pages[id & (TP_PAGE_CHUNK - 1)];
    size_t slots = m->slots ? (size_t)m->slot_mask + 1 : 0;
    if (2 * (m->chunk_count + 1) > slots && table_rebuild(m, slots ? 2 * slots : FIRST_SLOTS) < 0)
        return NULL;
    c = chunk_memory(m);
    if (!c)
        return NULL;
    c->index = index;
    for (size_t i = 0; i < TP_PAGE_CHUNK; i++)
        c->pages[i] = new_page;
    /* Last, for a reader of a map file: a live chunk is whole. */
    __atomic_store_n(&c->live, 1, __ATOMIC_RELEASE);
    c->next = NULL;
    c->prev = m->last;
    if (m->last)
        m->last->next = c;
    else
        m->first = c;
    m->last = c;
    m->chunk_count++;
    slot_put(m, c);
    return &c->pages[id & (TP_PAGE_CHUNK - 1)];
}

static int page_is_new(const struct tp_page *p)
{
    return memcmp(p, &new_page, sizeof *p) == 0;
}

static void chunk_drop(struct tp_page_map *m, struct tp_page_chunk *c)
{
    slot_remove(m, c->index);
    if (c->prev)
        c->prev->next = c->next;
    else
        m->first = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        m->last = c->prev;
    m->chunk_count--;
    __atomic_store_n(&c->live, 0, __ATOMIC_RELEASE);
    c->prev = NULL;
    c->next = m->spare;
    m->spare = c;
    m->spare_count++;
}

/* Ids [first, first+count) are no one's: their pages as new, and chunks
 * left all new given back. */
static void reset_pages(struct tp_page_map *m, uint32_t first, uint32_t count)
{
    struct tp_page_walk w;
    uint32_t run, n;
    tp_page_walk_start(&w, m, first, count);
    while (tp_page_walk_next(&w, &run, &n)) {
        struct tp_page_chunk *c = tp_chunk_find(m, run >> TP_PAGE_CHUNK_SHIFT);
        for (uint32_t i = 0; i < n; i++)
            c->pages[(run + i) & (TP_PAGE_CHUNK - 1)] = new_page;
        size_t i = 0;
        while (i < TP_PAGE_CHUNK && page_is_new(&c->pages[i]))
            i++;
        if (i == TP_PAGE_CHUNK)
            chunk_drop(m, c);
    }
    tp_page_walk_end(&w);
}

int tp_page_map_alloc(struct tp_page_map *m, uint32_t count, uint32_t *first)
{
    if (count == 0)
        return -EINVAL;
    /* Every id not handed out is as new: nothing to reset here. */
    for (size_t i = 0; i < m->free_count; i++) {
        struct tp_id_range *r = &m->free[i];
        if (r->count < count)
            continue;
        *first = r->first;
        r->first += count;
        r->count -= count;
        if (r->count == 0) {
            memmove(r, r + 1, (m->free_count - i - 1) * sizeof *r);
            m->free_count--;
        }
        return 0;
    }
    uint64_t end = (uint64_t)m->next_id + count;
    if (end >= TP_NIL)
        return -ENOMEM;
    *first = m->next_id;
    m->next_id = (uint32_t)end;
    return 0;
}

void tp_page_map_release(struct tp_page_map *m, uint32_t first, uint32_t count)
{
    reset_pages(m, first, count);
    if (first + count == m->next_id) {
        m->next_id = first;
        /* the free range just below may now touch the end */
        while (m->free_count && m->free[m->free_count - 1].first + m->free[m->free_count - 1].count == m->next_id) {
            m->next_id = m->free[m->free_count - 1].first;
            m->free_count--;
        }
        return;
    }
    size_t i = 0;
    while (i < m->free_count && m->free[i].first < first)
        i++;
    if (i > 0 && m->free[i - 1].first + m->free[i - 1].count == first) {
        m->free[i - 1].count += count;
        if (i < m->free_count && first + count == m->free[i].first) {
            m->free[i - 1].count += m->free[i].count;
            memmove(&m->free[i], &m->free[i + 1], (m->free_count - i - 1) * sizeof m->free[0]);
            m->free_count--;
        }
        return;
    }
    if (i < m->free_count && first + count == m->free[i].first) {
        m->free[i].first = first;
        m->free[i].count += count;
        return;
    }
    if (m->free_count == m->free_alloc) {
        size_t n = m->free_alloc ? m->free_alloc * 2 : 16;
        struct tp_id_range *f = realloc(m->free, n * sizeof *f);
        if (!f)
            return; /* the ids leak; correctness is unaffected */
        m->free = f;
        m->free_alloc = n;
    }
    memmove(&m->free[i + 1], &m->free[i], (m->free_count - i) * sizeof m->free[0]);
    m->free[i] = (struct tp_id_range){first, count};
    m->free_count++;
}

int tp_page_map_alloc_at(struct tp_page_map *m, uint32_t first, uint32_t count)
{
    uint64_t end = (uint64_t)first + count;
    if (count == 0 || end >= TP_NIL)
        return -EINVAL;
    if (first >= m->next_id) {
        /* The ids between the end and first become free. */
        uint32_t gap_first = m->next_id, gap = first - m->next_id;
        m->next_id = (uint32_t)end;
        if (gap)
            tp_page_map_release(m, gap_first, gap);
        return 0;
    }
    for (size_t i = 0; i < m->free_count; i++) {
        struct tp_id_range *r = &m->free[i];
        if (first < r->first || end > (uint64_t)r->first + r->count)
            continue;
        uint32_t after_first = (uint32_t)end, after = r->first + r->count - (uint32_t)end;
        r->count = first - r->first; /* what is left before */
        if (r->count == 0) {
            memmove(r, r + 1, (m->free_count - i - 1) * sizeof *r);
            m->free_count--;
        }
        if (after)
            tp_page_map_release(m, after_first, after);
        return 0;
    }
    return -EEXIST;
}

int tp_page_map_keep_in(struct tp_page_map *m, struct tp_page_map_file *file)
{
    if (m->slabs || m->file)
        return -EBUSY;
    m->file = file;
    return 0;
}

void tp_page_map_destroy(struct tp_page_map *m)
{
    while (m->slabs) {
        struct tp_chunk_slab *next = m->slabs->next;
        munmap(m->slabs, SLAB_BYTES);
        m->slabs = next;
    }
    if (m->slots)
        munmap(m->slots, ((size_t)m->slot_mask + 1) * sizeof *m->slots);
    tp_page_map_file_close(m->file);
    free(m->free);
    memset(m, 0, sizeof *m);
}

size_t tp_page_map_bytes(const struct tp_page_map *m)
{
    size_t slots = m->slots ? (size_t)m->slot_mask + 1 : 0;
    return (m->chunk_count + m->spare_count) * sizeof(struct tp_page_chunk) + slots * sizeof(struct tp_chunk_slot);
}

static int by_number(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

void tp_page_walk_start(struct tp_page_walk *w, const struct tp_page_map *m, uint32_t first, uint64_t count)
{
    memset(w, 0, sizeof *w);
    w->map = m;
    w->first = first;
    w->end = (uint64_t)first + count;
    w->index = first >> TP_PAGE_CHUNK_SHIFT;
    uint64_t spanned = count ? ((w->end - 1) >> TP_PAGE_CHUNK_SHIFT) - w->index + 1 : 0;
    if (spanned <= m->chunk_count)
        return; /* probing each chunk number of the range costs no more */
    /* Fewer chunks than the range spans: list the range's own. Without
     * memory for the list, probing is slower but as right. */
    uint32_t *listed = malloc((m->chunk_count ? m->chunk_count : 1) * sizeof *listed);
    if (!listed)
        return;
    size_t n = 0;
    for (const struct tp_page_chunk *c = m->first; c; c = c->next) {
        uint64_t lo = (uint64_t)c->index << TP_PAGE_CHUNK_SHIFT;
        if (lo < w->end && lo + TP_PAGE_CHUNK > w->first)
            listed[n++] = c->index;
    }
    qsort(listed, n, sizeof *listed, by_number);
    w->listed = listed;
    w->listed_count = n;
    w->index = 0;
}

int tp_page_walk_next(struct tp_page_walk *w, uint32_t *run_first, uint32_t *run_count)
{
    for (;;) {
        uint64_t index;
        if (w->listed) {
            if (w->index >= w->listed_count)
                return 0;
            index = w->listed[w->index++];
        } else {
            index = w->index++;
            if (index << TP_PAGE_CHUNK_SHIFT >= w->end)
                return 0;
        }
        if (!tp_chunk_find(w->map, (uint32_t)index))
            continue;
        uint64_t lo = index << TP_PAGE_CHUNK_SHIFT, hi = lo + TP_PAGE_CHUNK;
        if (lo < w->first)
            lo = w->first;
        if (hi > w->end)
            hi = w->end;
        *run_first = (uint32_t)lo;
        *run_count = (uint32_t)(hi - lo);
        return 1;
    }
}

void tp_page_walk_end(struct tp_page_walk *w)
{
    free(w->listed);
    w->listed = NULL;
}
