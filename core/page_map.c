#include "page_map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Chunks come straight from mmap: the pager must never allocate through the
 * malloc it may itself be serving. */
static struct tp_page *chunk_new(void)
{
    void *p = mmap(NULL, sizeof(struct tp_page) * TP_PAGE_CHUNK, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static int ensure_chunks(struct tp_page_map *m, uint64_t end_id)
{
    size_t need = (size_t)((end_id + TP_PAGE_CHUNK - 1) >> TP_PAGE_CHUNK_SHIFT);
    if (need <= m->chunk_count)
        return 0;
    struct tp_page **chunks = realloc(m->chunks, need * sizeof *chunks);
    if (!chunks)
        return -ENOMEM;
    m->chunks = chunks;
    while (m->chunk_count < need) {
        struct tp_page *c = chunk_new();
        if (!c)
            return -ENOMEM;
        m->chunks[m->chunk_count++] = c;
    }
    return 0;
}

static void reset_pages(struct tp_page_map *m, uint32_t first, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        struct tp_page *p = tp_page_get(m, first + i);
        memset(p, 0, sizeof *p);
        p->prev = p->next = p->slot = TP_NIL;
        p->tier = TP_NO_TIER;
    }
}

int tp_page_map_alloc(struct tp_page_map *m, uint32_t count, uint32_t *first)
{
    if (count == 0)
        return -EINVAL;
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
        reset_pages(m, *first, count);
        return 0;
    }
    uint64_t end = (uint64_t)m->next_id + count;
    if (end >= TP_NIL)
        return -ENOMEM;
    int rc = ensure_chunks(m, end);
    if (rc)
        return rc;
    *first = m->next_id;
    m->next_id = (uint32_t)end;
    reset_pages(m, *first, count);
    return 0;
}

void tp_page_map_release(struct tp_page_map *m, uint32_t first, uint32_t count)
{
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

void tp_page_map_destroy(struct tp_page_map *m)
{
    for (size_t i = 0; i < m->chunk_count; i++)
        munmap(m->chunks[i], sizeof(struct tp_page) * TP_PAGE_CHUNK);
    free(m->chunks);
    free(m->free);
    memset(m, 0, sizeof *m);
}

size_t tp_page_map_bytes(const struct tp_page_map *m)
{
    return m->chunk_count * sizeof(struct tp_page) * TP_PAGE_CHUNK;
}
