/* A client of a tierpaged that was killed, served again by a new one (issue
 * 13): the dead daemon's page map, read back from its file, and each region
 * of the client adopted again under the page ids it had, its pages put back
 * in the states the map and the client's memfd say. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "page_map_file.h"
#include "stack_internal.h"
#include "tier_chain.h"
#include "tierpage_daemon.h"
#include "uffd.h"

struct recovered_page {
    uint32_t id;
    uint8_t state, tier, flags;
};

struct tp_recovered_map {
    struct recovered_page *pages; /* sorted by id */
    size_t count, alloc;
    uint64_t page_size;
};

static int collect(void *ctx, const struct tp_page_chunk *c)
{
    struct tp_recovered_map *m = ctx;
    for (uint32_t k = 0; k < TP_PAGE_CHUNK; k++) {
        const struct tp_page *p = &c->pages[k];
        if (p->state != TP_PAGE_RESIDENT && p->state != TP_PAGE_STORED)
            continue;
        if (m->count == m->alloc) {
            size_t alloc = m->alloc ? m->alloc * 2 : 1024;
            struct recovered_page *grown = realloc(m->pages, alloc * sizeof *grown);
            if (!grown)
                return -ENOMEM;
            m->pages = grown;
            m->alloc = alloc;
        }
        m->pages[m->count++] = (struct recovered_page){c->index * TP_PAGE_CHUNK + k, p->state, p->tier, p->flags};
    }
    return 0;
}

static int by_id(const void *a, const void *b)
{
    uint32_t x = ((const struct recovered_page *)a)->id, y = ((const struct recovered_page *)b)->id;
    return x < y ? -1 : x > y;
}

struct tp_recovered_map *tp_recovered_map_read(const char *path, char instance[17], char *msg, size_t len)
{
    struct tp_recovered_map *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(msg, len, "out of memory reading the page map file %s", path);
        return NULL;
    }
    struct tp_page_map_file_info info;
    int rc = tp_page_map_file_read(path, collect, m, &info, msg, len);
    if (rc == -ENOMEM)
        snprintf(msg, len, "out of memory reading the page map file %s", path);
    if (rc < 0) {
        tp_recovered_map_free(m);
        return NULL;
    }
    qsort(m->pages, m->count, sizeof *m->pages, by_id);
    for (size_t i = 1; i < m->count; i++) {
        if (m->pages[i].id == m->pages[i - 1].id) {
            snprintf(msg, len, "page map file %s holds page %" PRIu32 " twice (corrupt)", path, m->pages[i].id);
            tp_recovered_map_free(m);
            return NULL;
        }
    }
    memcpy(instance, info.instance, 17);
    m->page_size = info.page_size;
    return m;
}

void tp_recovered_map_free(struct tp_recovered_map *m)
{
    if (!m)
        return;
    free(m->pages);
    free(m);
}

uint64_t tp_recovered_map_page_size(const struct tp_recovered_map *m)
{
    return m->page_size;
}

/* The first page of m at or after id. */
static size_t lower_bound(const struct tp_recovered_map *m, uint32_t id)
{
    size_t lo = 0, hi = m->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->pages[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Whether tier t holds a whole copy of page id. */
static int tier_holds(struct tp_stack *s, size_t t, uint32_t id, void *buf)
{
    tierpage_error why = {{0}, {0}};
    return tp_tier_get(s, t, id, buf, &why) == 0;
}

/* The tier that holds the copy of a page the dead daemon had in tier
 * `named`: that one, or, for a page it was moving (BUSY), the first other
 * tier that holds it; TP_NO_TIER when none does. No lock held. */
static size_t holding_tier(struct tp_stack *s, const struct recovered_page *p, void *buf)
{
    if (p->tier >= s->tier_count)
        return TP_NO_TIER;
    if (!(p->flags & TP_PAGE_BUSY))
        return p->tier;
    if (tier_holds(s, p->tier, p->id, buf))
        return p->tier;
    for (size_t t = 0; t < s->tier_count; t++)
        if (t != p->tier && tier_holds(s, t, p->id, buf))
            return t;
    return TP_NO_TIER;
}

/* The pages of the memfd from `offset` on, `pages` of them, that hold data
 * (filled by the dead daemon, or written by the client since): a bitmap,
 * bit i for the page at offset + i pages. NULL when out of memory. */
static unsigned char *pages_with_data(int memfd, off_t offset, size_t page_size, size_t pages)
{
    unsigned char *bits = calloc(pages / 8 + 1, 1);
    if (!bits)
        return NULL;
    off_t end = offset + (off_t)(pages * page_size), at = offset;
    while (at < end) {
        off_t data = lseek(memfd, at, SEEK_DATA);
        if (data < 0 || data >= end)
            break;
        off_t hole = lseek(memfd, data, SEEK_HOLE);
        if (hole < 0 || hole > end)
            hole = end;
        for (size_t i = (size_t)(data - offset) / page_size; i < ((size_t)(hole - offset) + page_size - 1) / page_size;
             i++)
            bits[i / 8] |= (unsigned char)(1u << (i % 8));
        at = hole;
    }
    return bits;
}

static int has_data(const unsigned char *bits, size_t i)
{
    return bits[i / 8] >> (i % 8) & 1;
}

/* Called with the stack lock held. A place in the resident set for one
 * more page, past the cap if need be (the caller sets the cap again once
 * the client's regions are all back, evicting what does not fit). */
static int room_for_one(struct tp_stack *s)
{
    struct tp_resident_set *r = &s->pages.resident;
    if (r->free_count > 0)
        return 0;
    uint64_t cap = r->cap_pages;
    int rc = tp_resident_resize(r, &s->pages.map, r->count + 64);
    r->cap_pages = cap;
    return rc;
}

int tp_remote_resume_region(struct tp_remote *c, int memfd, uint64_t addr, uint64_t length, uint64_t offset,
                            uint32_t first_id, const struct tp_recovered_map *map, tierpage_error *err)
{
    struct tp_stack *s = tp_remote_stack(c);
    size_t ps = s->page_size, pages = (size_t)(length / ps);
    if (map->page_size != ps)
        return tierpage_error_set(err, -EINVAL, NULL, "the page map has pages of %" PRIu64 " bytes, the stack %zu",
                                  map->page_size, ps);
    if (offset % ps || offset > (uint64_t)INT64_MAX - length)
        return tierpage_error_set(err, -EINVAL, NULL, "region at 0x%" PRIx64 " starts at %" PRIu64 " in its file, "
                                  "not at a page", addr, offset);
    unsigned char *data = pages_with_data(memfd, (off_t)offset, ps, pages);
    size_t lo = lower_bound(map, first_id), hi = lower_bound(map, first_id + (uint32_t)pages);
    uint8_t *tier = hi > lo ? malloc(hi - lo) : NULL;
    void *buf = malloc(ps);
    if (!data || (hi > lo && !tier) || !buf) {
        free(data);
        free(tier);
        free(buf);
        return tierpage_error_set(err, -ENOMEM, NULL, "out of memory");
    }
    /* Where each stored page is, asking the stores about the ones the dead
     * daemon was moving, before the region is served. */
    int rc = 0;
    for (size_t k = lo; k < hi && rc == 0; k++) {
        const struct recovered_page *p = &map->pages[k];
        tier[k - lo] = (uint8_t)holding_tier(s, p, buf);
        if (tier[k - lo] == TP_NO_TIER && p->tier != TP_NO_TIER && !has_data(data, p->id - first_id))
            rc = tierpage_error_set(err, -EIO, NULL, "page %" PRIu32 " (at 0x%" PRIx64 "), being moved from tier %u "
                                    "when the daemon died, is in no tier", p->id,
                                    addr + (uint64_t)(p->id - first_id) * ps, (unsigned)p->tier);
    }
    free(buf);
    if (rc == 0)
        rc = tp_region_adopt(s, memfd, tp_remote_uffd(c), addr, (size_t)length, offset, first_id, err);
    if (rc < 0) {
        free(data);
        free(tier);
        return rc;
    }
    /* A page with data in the memfd is resident: the client maps it and
     * may have written it, so it counts as dirty (its tier copy, if any,
     * is kept and overwritten when it is evicted). Any other page the map
     * names in a tier is stored there; the rest read as zeros. */
    tp_lock_take(&s->lock);
    size_t k = lo;
    for (size_t i = 0; i < pages && rc == 0; i++) {
        uint32_t id = first_id + (uint32_t)i;
        const struct recovered_page *p = k < hi && map->pages[k].id == id ? &map->pages[k] : NULL;
        size_t t = p ? tier[k - lo] : TP_NO_TIER;
        if (p)
            k++;
        int resident = has_data(data, i);
        if (!resident && t == TP_NO_TIER)
            continue;
        if (!tp_page_touch(&s->pages.map, id) || (resident && room_for_one(s) < 0)) {
            rc = tierpage_error_set(err, -ENOMEM, NULL, "out of memory rebuilding the page map");
            break;
        }
        tp_page_claim(&s->pages, id);
        if (t != TP_NO_TIER) {
            tp_tier_reserve(&s->pages, t, 0);
            tp_page_land(&s->pages, id, t);
        }
        if (resident) {
            tp_page_reserve_resident(&s->pages);
            tp_page_make_resident(&s->pages, id, TP_RESIDENT_DIRTY);
        } else {
            tp_page_make_stored(&s->pages, id);
        }
        if (p && (p->flags & TP_PAGE_LOCKED))
            tp_page_set_locked(&s->pages, id, 1);
        tp_page_release(&s->pages, id);
    }
    tp_lock_drop(&s->lock);
    free(data);
    free(tier);
    /* A fault the dead daemon had read but not answered is not read again:
     * its thread waits to be woken. Woken, it touches the page again and
     * faults anew if the page is still missing: queued for this daemon. */
    if (rc == 0)
        tp_uffd_wake(tp_remote_uffd(c), (void *)(uintptr_t)addr, (size_t)length);
    return rc;
}

long tp_recovered_map_forget(tp_stack *s, const struct tp_recovered_map *map, uint32_t first_id, uint64_t count)
{
    long deleted = 0;
    size_t hi = lower_bound(map, (uint32_t)(first_id + count));
    for (size_t k = lower_bound(map, first_id); k < hi; k++) {
        const struct recovered_page *p = &map->pages[k];
        for (size_t t = 0; t < s->tier_count; t++) {
            tierpage_error why = {{0}, {0}};
            if ((t == p->tier || (p->flags & TP_PAGE_BUSY)) && tp_tier_del(s, t, p->id, &why) == 0)
                deleted++;
        }
    }
    return deleted;
}
