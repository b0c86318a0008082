#include "eviction.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "eviction_policy.h"
#include "prefetch.h"
#include "tier_chain.h"
#include "uffd.h"
#include "write_tracking.h"

/* Ranges of the program's pages to unmap, gathered under the stack lock
 * over one batch (the clock's checks, then the victims) and unmapped
 * together: one system call, one flush of the other CPUs' TLBs, where
 * each used to cost its own (~45 µs on a virtual machine). */
#define UNMAP_LIST_MAX (2 * TP_EVICT_BATCH)

struct unmap_list {
    struct tp_stack *s;
    size_t count;
    struct iovec runs[UNMAP_LIST_MAX + TP_EVICT_BATCH];
};

/* Stack lock held: unmaps what the list holds (the clock's checks only:
 * a failure leaves a page mapped, seen unused by the policy). */
static void unmap_checks_now(struct unmap_list *list)
{
    int unmapped[UNMAP_LIST_MAX];
    tp_unmap_runs(list->s, list->runs, list->count, unmapped);
    list->count = 0;
}

/* The page stays in the memfd; its next use is a minor fault that marks it
 * used (and hot) again. The pages around it in its chunk of the page map
 * that are due for a check are checked with it, in the same run. The
 * run stops at a page that must stay mapped. Stack lock held; the run is
 * unmapped before the lock is dropped (a page not BUSY could otherwise be
 * unmapped after the program let its range go). */
static void unmap_to_check(void *ctx, uint32_t id)
{
    struct unmap_list *list = ctx;
    struct tp_stack *s = list->s;
    struct tp_region *reg = tp_region_of_id(s, id);
    /* Another process's page cannot be unmapped from here: it stays
     * mapped, and the policy sees it unused (FIFO order for it). */
    if (reg->foreign)
        return;
    uint32_t lo = id & ~(TP_PAGE_CHUNK - 1), hi = lo + TP_PAGE_CHUNK;
    uint32_t region_end = reg->first_id + (uint32_t)reg->page_count;
    if (lo < reg->first_id)
        lo = reg->first_id;
    if (hi > region_end || hi < lo)
        hi = region_end;
    uint32_t first = id, last = id;
    for (uint32_t k = id; k-- > lo;) {
        enum tp_neighbour_check c = tp_check_neighbour(tp_page_find(&s->pages.map, k));
        if (c == TP_NEIGHBOUR_KEEP)
            break;
        if (c == TP_NEIGHBOUR_CHECKED)
            first = k;
    }
    for (uint32_t k = id + 1; k < hi; k++) {
        enum tp_neighbour_check c = tp_check_neighbour(tp_page_find(&s->pages.map, k));
        if (c == TP_NEIGHBOUR_KEEP)
            break;
        if (c == TP_NEIGHBOUR_CHECKED)
            last = k;
    }
    if (list->count == UNMAP_LIST_MAX)
        unmap_checks_now(list);
    list->runs[list->count++] = (struct iovec){tp_page_addr(s, reg, first), (size_t)(last - first + 1) * s->page_size};
}

static int punch(struct tp_stack *s, struct tp_region_file *file, off_t off)
{
    if (fallocate(file->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, (off_t)s->page_size) < 0)
        return -errno;
    return 0;
}

/* Called without the stack lock, the page BUSY for the caller and
 * unwritten since it was mapped (write-protected or, with the kernel's
 * write tracking, read as unwritten after its writes were stopped), its
 * content held by its tier or all zeros: frees it without a write, and
 * returns with the stack lock held. */
static int drop_clean(struct tp_stack *s, struct tp_region_file *file, off_t off, uint32_t id,
                      tierpage_error *err)
{
    TP_ASSERT_NOT_HELD(&s->lock);
    int rc = punch(s, file, off);
    tp_lock_take(&s->lock);
    tp_page_mark_clean(&s->pages, id);
    if (rc < 0) {
        tp_page_release(&s->pages, id);
        return tierpage_error_set(err, rc, NULL, "cannot free a page: %s", strerror(-rc));
    }
    if (tp_page_evicted(&s->pages, id))
        tp_prefetch_wasted(s, id);
    s->counters.evictions++;
    s->counters.clean_drops++;
    tp_page_release(&s->pages, id);
    return 0;
}

/* The page's content, read from its memfd rather than through the
 * pager's alias mapping: a page touched there gets a page table entry in
 * this process, and its punch then flushes the TLB of every CPU the
 * process runs on, an interprocessor interrupt each (the cost that
 * dominates eviction on a virtual machine). */
static int read_page(struct tp_stack *s, struct tp_region_file *file, off_t off, void *buf)
{
    ssize_t n = pread(file->memfd, buf, s->page_size, off);
    if (n == (ssize_t)s->page_size)
        return 0;
    return n < 0 ? -errno : -EIO;
}

/* A page mapped writable on a read (UNSURE) and now write-protected, its
 * final content in `page`: unchanged if its tier's copy is the same. */
static int same_as_copy(struct tp_stack *s, size_t tier, uint32_t id, const void *page)
{
    _Alignas(64) unsigned char copy[s->page_size];
    tierpage_error ignored = {{0}, {0}};
    return tp_tier_get(s, tier, id, copy, &ignored) == 0 && memcmp(copy, page, s->page_size) == 0;
}

/* What a batch learnt of a claimed page before evicting it. */
enum writes_read {
    WRITES_UNREAD = -1, /* nothing yet: eviction stops its writes and reads them */
    WRITES_NONE = 0,    /* unmapped, and read as unwritten by the kernel */
    WRITES_SEEN = 1,    /* unmapped, and read as written */
};

/* Called with the stack lock held, the resident page BUSY for the caller;
 * drops the lock around store I/O and holds it again on return, the page
 * released. */
static int evict_claimed(struct tp_stack *s, uint32_t id, enum writes_read read, tierpage_error *err)
{
    TP_ASSERT_HELD(&s->lock);
    struct tp_page *p = tp_page(&s->pages, id);
    struct tp_region *reg = tp_region_of_id(s, id);
    /* An unmap may cut reg while the lock is dropped below; the page, BUSY,
     * stays in a piece sharing reg's file. Take what is needed of reg now. */
    struct tp_region_file *file = reg->file;
    off_t off = tp_page_offset(s, reg, id);
    int rc;
    int kernel = tp_kernel_tracks_writes(s, reg);
    int dirty = (p->flags & TP_PAGE_DIRTY) != 0;

    /* Clean: write-protected since it was mapped, so nothing can have
     * changed it; a tier holds its copy, or it is still all zeros. With
     * the kernel's write tracking, only a prefetched page never mapped is
     * known clean here (one mapped ahead may have been written). */
    if (!dirty && (!kernel || tp_page_never_mapped(p))) {
        tp_lock_drop(&s->lock);
        return drop_clean(s, file, off, id, err);
    }

    _Alignas(64) unsigned char buf[s->page_size];
    size_t old_tier = p->tier;
    int unsure = (p->flags & TP_PAGE_UNSURE) && old_tier != TP_NO_TIER && tp_tier_is_local(s, old_tier);
    char *addr = tp_page_addr(s, reg, id);
    int uffd = reg->uffd, foreign = reg->foreign;
    int found_written = 0;
    tp_lock_drop(&s->lock);
    /* Stop writes first, so the copy below is the page's final content:
     * write-protected, or with the kernel's write tracking (where a
     * write-protected page is written without asking), unmapped. */
    if (kernel) {
        rc = read == WRITES_UNREAD ? tp_stop_writes(s, addr, 1) : 0;
        if (rc == 0 && !dirty) {
            rc = read == WRITES_UNREAD ? tp_page_written_by_kernel(s, addr) : (int)read;
            if (rc == 0)
                return drop_clean(s, file, off, id, err);
            found_written = rc > 0;
        }
        if (rc > 0)
            rc = 0;
    } else {
        rc = tp_uffd_writeprotect(uffd, addr, s->page_size, 1, 0);
        if (rc == -ESRCH && foreign)
            rc = 0; /* the client process is gone: nothing writes the page any more */
    }
    if (rc < 0)
        tierpage_error_set(err, rc, NULL, "cannot stop writes to a page: %s", strerror(-rc));
    else if ((rc = read_page(s, file, off, buf)) < 0)
        tierpage_error_set(err, rc, NULL, "cannot read a page from its memory file: %s", strerror(-rc));
    else if (unsure && same_as_copy(s, old_tier, id, buf))
        return drop_clean(s, file, off, id, err);
    else
        rc = tp_chain_put(s, 0, id, buf, err);
    if (rc < 0) {
        /* (Unmapped instead, it is mapped again by its next touch.) */
        if (!kernel)
            tp_uffd_writeprotect(uffd, addr, s->page_size, 0, 1);
        tp_lock_take(&s->lock);
        tp_page_release(&s->pages, id);
        return rc;
    }
    tp_lock_take(&s->lock);
    s->counters.kernel_written += (uint64_t)found_written;
    /* Put back, so written (the kernel's record, or unlike its copy): a
     * page mapped ahead and not yet seen used was. */
    tp_prefetch_used_ahead(s, id, TP_AHEAD_FOUND_WRITTEN);
    size_t left = tp_page_land(&s->pages, id, (size_t)rc);
    tp_page_mark_clean(&s->pages, id);
    tp_lock_drop(&s->lock);

    /* The new copy is acknowledged: only now may the old one go. */
    if (left != TP_NO_TIER)
        tp_tier_del(s, left, id, err);
    rc = punch(s, file, off);

    tp_lock_take(&s->lock);
    if (rc == 0) {
        if (tp_page_evicted(&s->pages, id))
            tp_prefetch_wasted(s, id);
        s->counters.evictions++;
        s->counters.writebacks++;
    } else {
        /* Still mapped, now clean (write-protected) with its copy stored. */
        tierpage_error_set(err, rc, NULL, "cannot free a page: %s", strerror(-rc));
    }
    tp_page_release(&s->pages, id);
    return rc;
}

int tp_evict_page(struct tp_stack *s, uint32_t id, tierpage_error *err)
{
    TP_ASSERT_HELD(&s->lock);
    tp_page_claim(&s->pages, id);
    return evict_claimed(s, id, WRITES_UNREAD, err);
}

/* A run of a batch's victims: consecutive pages of one region whose
 * writes the kernel tracks, from victim[first] in id order. */
struct victim_run {
    char *addr;
    size_t first, count;
};

static int by_id(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Called with the stack lock held, the n victims claimed and sorted by
 * id, `checks` the clock's checks of their picking; drops the lock around
 * the reads. The checks and the runs of victims that the kernel tracks
 * are unmapped together (their writes stopped), then one PAGEMAP_SCAN a
 * run reads them into read[]; the others stay WRITES_UNREAD, as do those
 * of a run the kernel could not read (each is then tried alone). */
static void read_runs(struct tp_stack *s, const uint32_t *ids, size_t n, enum writes_read *read,
                      struct unmap_list *checks)
{
    struct victim_run runs[TP_EVICT_BATCH];
    size_t run_count = 0;
    struct tp_region *last = NULL;
    for (size_t i = 0; i < n; i++) {
        read[i] = WRITES_UNREAD;
        struct tp_region *reg = tp_region_of_id(s, ids[i]);
        if (!tp_kernel_tracks_writes(s, reg))
            continue;
        struct victim_run *r = run_count ? &runs[run_count - 1] : NULL;
        if (r && reg == last && ids[r->first + r->count - 1] + 1 == ids[i]) {
            r->count++;
        } else {
            runs[run_count++] = (struct victim_run){tp_page_addr(s, reg, ids[i]), i, 1};
            last = reg;
        }
    }
    size_t first_run = checks->count;
    for (size_t k = 0; k < run_count; k++)
        checks->runs[first_run + k] = (struct iovec){runs[k].addr, runs[k].count * s->page_size};
    int unmapped[UNMAP_LIST_MAX + TP_EVICT_BATCH];
    tp_unmap_runs(s, checks->runs, first_run + run_count, unmapped);
    checks->count = 0;
    if (!run_count)
        return;
    tp_lock_drop(&s->lock);
    for (size_t k = 0; k < run_count; k++) {
        uint64_t written;
        if (!unmapped[first_run + k] || tp_pages_written_by_kernel(s, runs[k].addr, runs[k].count, &written) < 0)
            continue;
        for (size_t j = 0; j < runs[k].count; j++)
            read[runs[k].first + j] = (written >> j) & 1u ? WRITES_SEEN : WRITES_NONE;
    }
    tp_lock_take(&s->lock);
}

/* Evict up to `max` pages chosen by the policy, claimed together so that
 * their writes are read in runs. Stack lock held, dropped around store
 * I/O. Returns the pages evicted, -EAGAIN when none could be taken, or
 * -errno (the rest of the batch released, not evicted). */
static long evict_batch(struct tp_stack *s, size_t max, enum tp_victim_for victim_for, tierpage_error *err)
{
    TP_ASSERT_HELD(&s->lock);
    if (tp_pages_frozen(&s->pages))
        return -EAGAIN; /* a fork is copying the pages; the evictor is woken after */
    uint32_t ids[TP_EVICT_BATCH];
    size_t n = 0;
    if (max > TP_EVICT_BATCH)
        max = TP_EVICT_BATCH;
    struct unmap_list checks = {.s = s, .count = 0};
    while (n < max) {
        uint32_t id = tp_pick_victim(&s->pages.resident, &s->pages.map, s->policy, victim_for, unmap_to_check, &checks);
        if (id == TP_NIL)
            break;
        tp_page_claim(&s->pages, id); /* the hand passes it from now on */
        ids[n++] = id;
    }
    if (n == 0) {
        unmap_checks_now(&checks);
        return -EAGAIN;
    }
    enum writes_read read[TP_EVICT_BATCH];
    if (n > 1)
        qsort(ids, n, sizeof ids[0], by_id);
    read_runs(s, ids, n, read, &checks);
    int rc = 0;
    size_t done = 0;
    for (; done < n && rc == 0; done++)
        rc = evict_claimed(s, ids[done], read[done], err);
    for (size_t i = done; i < n; i++)
        tp_page_release(&s->pages, ids[i]);
    return rc < 0 ? rc : (long)n;
}

int tp_evict_some(struct tp_stack *s, size_t max, tierpage_error *err)
{
    long rc = evict_batch(s, max, TP_VICTIM_FOR_ANY, err);
    return rc < 0 ? (int)rc : 0;
}

static int make_room(struct tp_stack *s, uint64_t reserve, enum tp_victim_for victim_for, tierpage_error *err)
{
    TP_ASSERT_HELD(&s->lock);
    struct tp_resident_set *r = &s->pages.resident;
    while (r->count + reserve > r->cap_pages) {
        long rc = evict_batch(s, r->count + reserve - r->cap_pages, victim_for, err);
        if (rc == -EAGAIN)
            return 0; /* everything is in flight; the cap is briefly exceeded */
        if (rc < 0)
            return (int)rc;
    }
    return 0;
}

int tp_make_room(struct tp_stack *s, uint64_t reserve, tierpage_error *err)
{
    return make_room(s, reserve, TP_VICTIM_FOR_ANY, err);
}

int tp_make_room_for_prefetch(struct tp_stack *s, uint64_t reserve, tierpage_error *err)
{
    return make_room(s, reserve, TP_VICTIM_FOR_PREFETCH, err);
}
