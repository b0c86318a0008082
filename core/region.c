/* Regions: memory the stack serves. Each is a memfd mapped twice: once
 * where the program sees it (registered with userfaultfd) and once for the
 * pager, which reads evicted pages through its own mapping. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon_link.h"

#include "stack_internal.h"
#include "tier_chain.h"
#include "uffd.h"

struct tp_region *tp_region_find(struct tp_stack *s, const void *addr)
{
    const char *a = addr;
    size_t lo = 0, hi = s->region_count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        struct tp_region *r = s->regions[mid];
        if (a < r->start)
            hi = mid;
        else if (a >= r->start + r->length)
            lo = mid + 1;
        else
            return r;
    }
    return NULL;
}

struct tp_region *tp_region_of_id(struct tp_stack *s, uint32_t id)
{
    size_t lo = 0, hi = s->region_count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        struct tp_region *r = s->regions_by_id[mid];
        if (id < r->first_id)
            hi = mid;
        else if (id - r->first_id >= r->page_count)
            lo = mid + 1;
        else
            return r;
    }
    return NULL;
}

static void sorted_insert(struct tp_region **v, size_t count, struct tp_region *r,
                          int (*before)(const struct tp_region *, const struct tp_region *))
{
    size_t i = 0;
    while (i < count && before(v[i], r))
        i++;
    memmove(&v[i + 1], &v[i], (count - i) * sizeof r);
    v[i] = r;
}

static void sorted_remove(struct tp_region **v, size_t count, struct tp_region *r)
{
    for (size_t i = 0; i < count; i++) {
        if (v[i] == r) {
            memmove(&v[i], &v[i + 1], (count - i - 1) * sizeof r);
            return;
        }
    }
}

static int by_address(const struct tp_region *a, const struct tp_region *b)
{
    return a->start < b->start;
}

static int by_id(const struct tp_region *a, const struct tp_region *b)
{
    return a->first_id < b->first_id;
}

/* Room in the tables for one more region. Stack lock held. */
static int region_room(struct tp_stack *s)
{
    if (s->region_count == s->region_alloc) {
        size_t n = s->region_alloc ? s->region_alloc * 2 : 16;
        struct tp_region **v = realloc(s->regions, n * sizeof *v);
        if (!v)
            return -ENOMEM;
        s->regions = v;
        v = realloc(s->regions_by_id, n * sizeof *v);
        if (!v)
            return -ENOMEM;
        s->regions_by_id = v;
        s->region_alloc = n;
    }
    return 0;
}

static int region_insert(struct tp_stack *s, struct tp_region *r)
{
    int rc = region_room(s);
    if (rc < 0)
        return rc;
    sorted_insert(s->regions, s->region_count, r, by_address);
    sorted_insert(s->regions_by_id, s->region_count, r, by_id);
    s->region_count++;
    return 0;
}

static void region_remove(struct tp_stack *s, struct tp_region *r)
{
    sorted_remove(s->regions, s->region_count, r);
    sorted_remove(s->regions_by_id, s->region_count, r);
    s->region_count--;
}

static void file_put(struct tp_region_file *f)
{
    if (--f->pieces == 0) {
        close(f->memfd);
        free(f);
    }
}

/* The first region that ends after addr. Stack lock held. */
struct tp_region *tp_region_from(struct tp_stack *s, const char *addr)
{
    size_t lo = 0, hi = s->region_count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        struct tp_region *r = s->regions[mid];
        if (r->start + r->length <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->region_count ? s->regions[lo] : NULL;
}

enum release_mode {
    RELEASE_DISCARD, /* forget the pages; the mapping stays served */
    RELEASE_RESERVE, /* stop serving; the range is left mapped PROT_NONE */
    RELEASE_UNMAP,   /* stop serving and unmap */
};

static int release_range(struct tp_stack *s, char *addr, size_t length, enum release_mode mode,
                         tierpage_error *err);

/* A region of `length` bytes (rounded up to pages), its file not open yet. */
static struct tp_region *region_new(struct tp_stack *s, size_t *length, tierpage_error *err)
{
    if (*length == 0) {
        tierpage_error_set(err, -EINVAL, NULL, "cannot map 0 bytes");
        return NULL;
    }
    *length = (*length + s->page_size - 1) & ~(s->page_size - 1);
    size_t pages = *length / s->page_size;
    if (pages >= TP_NIL) {
        tierpage_error_set(err, -ENOMEM, NULL, "a region of %zu bytes is too large", *length);
        return NULL;
    }
    struct tp_region *r = calloc(1, sizeof *r);
    struct tp_region_file *file = calloc(1, sizeof *file);
    if (!r || !file) {
        free(r);
        free(file);
        tierpage_error_set(err, -ENOMEM, NULL, "out of memory");
        return NULL;
    }
    file->pieces = 1;
    file->memfd = -1;
    file->child_memfd = -1;
    r->file = file;
    r->start = r->alias = MAP_FAILED;
    r->length = *length;
    r->page_count = pages;
    r->first_id = TP_NIL; /* any ids */
    r->uffd = s->uffd;
    return r;
}

/* Give r, its mappings made, its page ids (those from r->first_id when it
 * is not TP_NIL: a region served again) and its place in the tables.
 * -EEXIST when it would overlap a region (only a client's bad REGION_ADD
 * can ask for that). */
static int region_publish(struct tp_stack *s, struct tp_region *r)
{
    tp_lock_take(&s->lock);
    struct tp_region *next = tp_region_from(s, r->start);
    int rc = next && next->start < r->start + r->length ? -EEXIST : 0;
    if (rc == 0 && r->first_id != TP_NIL)
        rc = tp_page_map_alloc_at(&s->pages.map, r->first_id, (uint32_t)r->page_count);
    else if (rc == 0)
        rc = tp_page_map_alloc(&s->pages.map, (uint32_t)r->page_count, &r->first_id);
    if (rc == 0) {
        rc = region_insert(s, r);
        if (rc < 0)
            tp_page_map_release(&s->pages.map, r->first_id, (uint32_t)r->page_count);
    }
    if (rc == 0)
        s->counters.mapped_bytes += r->length;
    tp_lock_drop(&s->lock);
    return rc;
}

void *tp_map(tp_stack *s, void *hint, size_t length, tierpage_error *err)
{
    struct tp_region *r = region_new(s, &length, err);
    if (!r)
        return NULL;
    struct tp_region_file *file = r->file;
    const char *what = "memfd_create";
    int rc = 0;

    /* MAP_FIXED replaces what was there: served memory there stops being
     * served first, so that regions never overlap. */
    if (hint)
        release_range(s, hint, length, RELEASE_RESERVE, NULL);
    file->memfd = memfd_create("tierpage", MFD_CLOEXEC);
    if (file->memfd < 0)
        goto fail_errno;
    what = "ftruncate";
    if (ftruncate(file->memfd, (off_t)length) < 0)
        goto fail_errno;
    what = "mmap";
    r->start = mmap(hint, length, PROT_READ | PROT_WRITE, MAP_SHARED | (hint ? MAP_FIXED : 0), file->memfd, 0);
    if (r->start == MAP_FAILED)
        goto fail_errno;
    r->alias = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, file->memfd, 0);
    if (r->alias == MAP_FAILED)
        goto fail_errno;
    /* A child would share these pages instead of copying them, and would
     * fault with no pager to serve it: keep the mappings out of children. */
    what = "madvise";
    if (madvise(r->start, length, MADV_DONTFORK) < 0 || madvise(r->alias, length, MADV_DONTFORK) < 0)
        goto fail_errno;
    rc = tp_uffd_register(s->uffd, r->start, length, tp_stack_minor_faults(s));
    if (rc < 0) {
        what = "userfaultfd register";
        errno = -rc;
        goto fail_errno;
    }
    rc = region_publish(s, r);
    if (rc < 0) {
        tp_uffd_unregister(s->uffd, r->start, length);
        errno = -rc;
        what = "page map";
        goto fail_errno;
    }
    if (s->daemon && tp_daemon_link_add(s->daemon, file->memfd, r->start, length, err) < 0) {
        void *start = r->start;
        if (hint)
            tp_unserve(s, start, length, NULL);
        else
            tp_unmap(s, start, length, NULL);
        return NULL;
    }
    return r->start;

fail_errno:
    tierpage_error_set(err, -errno, NULL, "cannot map %zu bytes: %s: %s", length, what, strerror(errno));
    if (r->alias != MAP_FAILED)
        munmap(r->alias, length);
    if (r->start != MAP_FAILED && !hint)
        munmap(r->start, length);
    if (file->memfd >= 0)
        close(file->memfd);
    free(file);
    free(r);
    return NULL;
}

int tp_region_adopt(tp_stack *s, int memfd, int uffd, uint64_t addr, size_t length, uint64_t offset,
                    uint32_t first_id, tierpage_error *err)
{
    if (addr & (s->page_size - 1) || length & (s->page_size - 1) || offset & (s->page_size - 1))
        return tierpage_error_set(err, -EINVAL, NULL, "region at 0x%llx of %zu bytes (at %llu in its file) is not "
                                  "page-aligned", (unsigned long long)addr, length, (unsigned long long)offset);
    if (addr + length < addr || offset + length < offset || offset > (uint64_t)INT64_MAX - length)
        return tierpage_error_set(err, -EINVAL, NULL, "region at 0x%llx of %zu bytes (at %llu in its file) wraps "
                                  "around", (unsigned long long)addr, length, (unsigned long long)offset);
    struct stat st;
    if (fstat(memfd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < offset + length)
        return tierpage_error_set(err, -EINVAL, NULL, "the file given for a region of %zu bytes at %llu in it is "
                                  "not a memfd that large", length, (unsigned long long)offset);
    struct tp_region *r = region_new(s, &length, err);
    if (!r)
        return -ENOMEM;
    r->start = (char *)(uintptr_t)addr;
    r->uffd = uffd;
    r->foreign = true;
    if (s->write_tracking == TP_WRITES_KERNEL) {
        tp_lock_take(&s->lock);
        snprintf(s->write_tracking_note, sizeof s->write_tracking_note,
                 "faults for tierpaged's clients: the daemon cannot unmap a client's pages to stop its writes");
        tp_lock_drop(&s->lock);
    }
    r->alias = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, (off_t)offset);
    r->offset = (off_t)offset;
    r->first_id = first_id;
    int rc = r->alias == MAP_FAILED ? -errno : region_publish(s, r);
    if (rc < 0) {
        tierpage_error_set(err, rc, NULL, "cannot serve %zu bytes at 0x%llx: %s", length,
                           (unsigned long long)addr,
                           rc == -EEXIST ? "it overlaps a region already served, or its page ids are taken"
                                         : strerror(-rc));
        if (r->alias != MAP_FAILED)
            munmap(r->alias, length);
        free(r->file);
        free(r);
        return rc;
    }
    r->file->memfd = memfd; /* owned by the region from here on */
    return 0;
}

/* Forget pages [first, first+count) of r: they read as zeros again; with
 * `unmapping`, no fault brings them back before they are cut from r.
 * Called with the stack lock held; drops it around store calls, while the
 * page is BUSY, and holds it again on return. */
static int forget_pages(struct tp_stack *s, struct tp_region *r, size_t first, size_t count, int unmapping,
                        tierpage_error *err)
{
    TP_ASSERT_HELD(&s->lock);
    int result = 0;
    /* A page never touched has nothing to forget. */
    struct tp_page_walk walk;
    uint32_t run, n;
    tp_page_walk_start(&walk, &s->pages.map, r->first_id + (uint32_t)first, count);
    while (tp_page_walk_next(&walk, &run, &n)) {
        for (uint32_t id = run; id < run + n; id++) {
            tp_page_wait_idle(&s->pages, id);
            const struct tp_page *p = tp_page_find(&s->pages.map, id);
            if (!p)
                continue;
            if (p->tier != TP_NO_TIER) {
                tp_page_claim(&s->pages, id);
                size_t tier = tp_page_drop_copy(&s->pages, id);
                tp_lock_drop(&s->lock);
                int rc = tp_tier_del(s, tier, id, err);
                tp_lock_take(&s->lock);
                tp_page_release(&s->pages, id);
                if (rc < 0 && result == 0)
                    result = rc;
            }
            tp_page_forget(&s->pages, id, unmapping);
        }
    }
    tp_page_walk_end(&walk);
    /* Drop the memory itself; the program's mapping refaults as missing.
     * Until it is dropped, the program would read the old content. */
    if (fallocate(r->file->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  tp_page_offset(s, r, r->first_id + (uint32_t)first), (off_t)(count * s->page_size)) < 0) {
        int e = errno;
        tierpage_error_set(err, -e, NULL, "cannot free %zu pages at %p: %s", count,
                           (void *)(r->start + first * s->page_size), strerror(e));
        if (result == 0)
            result = -e;
    }
    return result;
}

/* Take pages [first, first+count), already forgotten, out of r: r is
 * trimmed, split in two, or goes. Both locks held. When the program's
 * mapping cannot be replaced, r is left whole: the pages stay served, as
 * zeros. */
static int cut_pages(struct tp_stack *s, struct tp_region *r, size_t first, size_t count, enum release_mode mode,
                     tierpage_error *err)
{
    size_t end = first + count;
    struct tp_region *tail = NULL;
    if (first > 0 && end < r->page_count) {
        tail = calloc(1, sizeof *tail);
        if (!tail || region_room(s) < 0) {
            free(tail);
            r->cut_first = r->cut_count = 0;
            return tierpage_error_set(err, -ENOMEM, NULL, "out of memory splitting a region");
        }
    }
    char *addr = r->start + first * s->page_size;
    size_t len = count * s->page_size;
    /* Replacing the mapping drops its registration in the same step: a
     * thread reading it meanwhile gets its data or SIGSEGV, never zeros. */
    int replaced = r->foreign ? 1
                   : mode == RELEASE_RESERVE
                       ? mmap(addr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) != MAP_FAILED
                       : munmap(addr, len) == 0;
    r->cut_first = r->cut_count = 0;
    if (!replaced) {
        int e = errno;
        free(tail);
        return tierpage_error_set(err, -e, NULL, "cannot unmap %zu bytes at %p: %s", len, (void *)addr, strerror(e));
    }
    munmap(r->alias + first * s->page_size, len); /* can fail only on a bad range, which this is not */
    tp_page_map_release(&s->pages.map, r->first_id + (uint32_t)first, (uint32_t)count);
    s->counters.mapped_bytes -= len;

    if (count == r->page_count) {
        region_remove(s, r);
        file_put(r->file);
        free(r);
    } else if (first == 0) {
        r->start += len;
        r->alias += len;
        r->offset += (off_t)len;
        r->first_id += (uint32_t)count;
        r->page_count -= count;
        r->length -= len;
    } else if (!tail) {
        r->page_count = first;
        r->length = first * s->page_size;
    } else {
        *tail = *r;
        tail->start += end * s->page_size;
        tail->alias += end * s->page_size;
        tail->offset += (off_t)(end * s->page_size);
        tail->first_id += (uint32_t)end;
        tail->page_count -= end;
        tail->length = tail->page_count * s->page_size;
        r->file->pieces++;
        r->page_count = first;
        r->length = first * s->page_size;
        region_insert(s, tail); /* cannot fail: room was made above */
    }
    return 0;
}

/* The next part of [*a, end) that lies in a region: its region, with *a
 * moved to the part's start and *part_end set; NULL when none is left.
 * Stack lock held. */
static struct tp_region *next_part(struct tp_stack *s, char **a, char *end, char **part_end)
{
    struct tp_region *r = *a < end ? tp_region_from(s, *a) : NULL;
    if (!r || r->start >= end)
        return NULL;
    if (*a < r->start)
        *a = r->start;
    *part_end = end < r->start + r->length ? end : r->start + r->length;
    return r;
}

/* The end of [addr, addr+length), at most the top of the address space;
 * in integers, as a range may start at NULL (mlockall's). */
static char *range_end(const char *addr, size_t length)
{
    uintptr_t end = (uintptr_t)addr + length;
    return (char *)(end < (uintptr_t)addr ? UINTPTR_MAX : end);
}

/* Apply `mode` to every part of [addr, addr+length) that lies in a region. */
static int release_range(struct tp_stack *s, char *addr, size_t length, enum release_mode mode,
                         tierpage_error *err)
{
    char *a = (char *)((uintptr_t)addr & ~(uintptr_t)(s->page_size - 1));
    char *end = range_end(addr, length);
    int result = 0;
    pthread_mutex_lock(&s->regions_lock);
    tp_lock_take(&s->lock);
    struct tp_region *r;
    char *part_end;
    while ((r = next_part(s, &a, end, &part_end))) {
        size_t first = (size_t)(a - r->start) / s->page_size;
        size_t count = ((size_t)(part_end - a) + s->page_size - 1) / s->page_size;
        /* The daemon serving these pages forgets them first, and stops
         * serving them before this process unmaps them. */
        int told = s->daemon ? tp_daemon_link_release(s->daemon, a, count * s->page_size,
                                                      mode == RELEASE_DISCARD, err) : 0;
        /* Only this thread changes regions (regions_lock): r stays. Faults
         * on the pages to be cut are refused from now on, touched or not. */
        if (mode != RELEASE_DISCARD) {
            r->cut_first = first;
            r->cut_count = count;
        }
        int rc = forget_pages(s, r, first, count, mode != RELEASE_DISCARD, told == 0 ? err : NULL);
        if (told < 0)
            rc = told;
        if (mode != RELEASE_DISCARD) {
            int cut = cut_pages(s, r, first, count, mode, rc == 0 ? err : NULL);
            if (cut < 0 && rc == 0)
                rc = cut;
        }
        if (rc < 0 && result == 0)
            result = rc;
        a += count * s->page_size;
    }
    tp_lock_drop(&s->lock);
    pthread_mutex_unlock(&s->regions_lock);
    return result;
}

int tp_unmap(tp_stack *s, void *addr, size_t length, tierpage_error *err)
{
    return release_range(s, addr, length, RELEASE_UNMAP, err);
}

int tp_unserve(tp_stack *s, void *addr, size_t length, tierpage_error *err)
{
    return release_range(s, addr, length, RELEASE_RESERVE, err);
}

int tp_discard(tp_stack *s, void *addr, size_t length, tierpage_error *err)
{
    return release_range(s, addr, length, RELEASE_DISCARD, err);
}

enum lock_pass {
    LOCK_COUNT, /* how many pages have their LOCKED flag `locked` */
    LOCK_TOUCH, /* make every page's metadata, which locking needs; -ENOMEM */
    LOCK_FLIP,  /* flip the pages whose flag is `locked` (through page_state.c) */
};

/* One pass over the pages of [addr, addr+length) that lie in regions. Both
 * locks held. A page never touched is not locked. */
static int64_t lock_pass(struct tp_stack *s, char *addr, size_t length, int locked, enum lock_pass pass)
{
    char *a = (char *)((uintptr_t)addr & ~(uintptr_t)(s->page_size - 1));
    char *end = range_end(addr, length);
    int64_t n = 0;
    struct tp_region *r;
    char *part_end;
    while ((r = next_part(s, &a, end, &part_end))) {
        uint32_t first = r->first_id + (uint32_t)((size_t)(a - r->start) / s->page_size);
        uint32_t count = (uint32_t)(((size_t)(part_end - a) + s->page_size - 1) / s->page_size);
        a += (size_t)count * s->page_size;
        if (pass == LOCK_TOUCH) {
            for (uint32_t id = first; id < first + count; id++)
                if (!tp_page_touch(&s->pages.map, id))
                    return -ENOMEM;
            continue;
        }
        if (pass == LOCK_COUNT && !locked)
            n += count; /* less the locked ones, below */
        struct tp_page_walk walk;
        uint32_t run, k;
        tp_page_walk_start(&walk, &s->pages.map, first, count);
        while (tp_page_walk_next(&walk, &run, &k)) {
            for (uint32_t id = run; id < run + k; id++) {
                const struct tp_page *p = tp_page_find(&s->pages.map, id);
                int is_locked = p && (p->flags & TP_PAGE_LOCKED);
                if (pass == LOCK_COUNT)
                    n += locked ? is_locked : -is_locked;
                else if (!is_locked == !locked)
                    tp_page_set_locked(&s->pages, id, !locked);
            }
        }
        tp_page_walk_end(&walk);
    }
    return n;
}

int tp_lock(tp_stack *s, void *addr, size_t length, int lock, tierpage_error *err)
{
    /* The daemon serving the pages keeps them in, and counts them. */
    if (s->daemon)
        return tp_daemon_link_lock(s->daemon, addr, length, lock, err);
    int rc = 0;
    pthread_mutex_lock(&s->regions_lock);
    tp_lock_take(&s->lock);
    /* Faults of the pages not locked need room too. */
    uint64_t cap = s->pages.resident.cap_pages, limit = cap > 32 ? cap - 16 : cap / 2;
    uint64_t n = (uint64_t)lock_pass(s, addr, length, !lock, LOCK_COUNT);
    if (lock && s->pages.locked + n > limit) {
        rc = tierpage_error_set(err, -ENOMEM, NULL,
                                "cannot lock %llu more pages: %llu are locked and the resident cap is %llu pages",
                                (unsigned long long)n, (unsigned long long)s->pages.locked, (unsigned long long)cap);
    } else if (lock && lock_pass(s, addr, length, 0, LOCK_TOUCH) < 0) {
        rc = tierpage_error_set(err, -ENOMEM, NULL, "out of memory for the metadata of %llu pages to lock",
                                (unsigned long long)n);
    } else {
        lock_pass(s, addr, length, !lock, LOCK_FLIP);
    }
    tp_lock_drop(&s->lock);
    pthread_mutex_unlock(&s->regions_lock);
    return rc;
}

int tp_owns(tp_stack *s, const void *addr)
{
    tp_lock_take(&s->lock);
    int owned = tp_region_find(s, addr) != NULL;
    tp_lock_drop(&s->lock);
    return owned;
}

int tp_region_bounds(tp_stack *s, const void *addr, void **start, size_t *length)
{
    tp_lock_take(&s->lock);
    struct tp_region *r = tp_region_find(s, addr);
    if (r) {
        *start = r->start;
        *length = r->length;
    }
    tp_lock_drop(&s->lock);
    return r ? 0 : -1;
}
