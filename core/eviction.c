#include "eviction.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
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
 * together: one system call, where each used to cost its own. */
#define UNMAP_LIST_MAX (2 * TP_EVICT_BATCH)
#define UNMAP_LIST_CAP (UNMAP_LIST_MAX + TP_EVICT_BATCH)

struct unmap_list {
    struct tp_stack *s;
    size_t count;
    struct tp_unmap_range ranges[UNMAP_LIST_CAP];
};

static void unmap_list_add(struct unmap_list *list, const struct tp_region *reg, uint32_t first, uint32_t count)
{
    list->ranges[list->count++] = (struct tp_unmap_range){first, first + count, reg};
}

static struct iovec range_iovec(const struct tp_stack *s, const struct tp_unmap_range *r)
{
    return (struct iovec){tp_page_addr(s, r->region, r->first), (size_t)(r->end - r->first) * s->page_size};
}

/* Stack lock held: unmaps the list's ranges and empties the list;
 * unmapped[i] says whether range i was. The kernel flushes the other
 * CPUs' TLBs about once per range (a page UFFDIO_COPY placed is mapped
 * dirty, and zapping a dirty page of a shared mapping forces a flush;
 * ~45 µs each on a virtual machine), so ranges are merged where that
 * changes nothing (tp_merge_unmap_ranges). A merged range that fails (a
 * page the program mlocked, say) is tried again as its pieces, as they
 * would have been alone. */
static void unmap_list_now(struct unmap_list *list, int *unmapped)
{
    struct tp_stack *s = list->s;
    TP_ASSERT_HELD(&s->lock);
    size_t order[UNMAP_LIST_CAP], pieces[UNMAP_LIST_CAP];
    struct tp_unmap_range merged[UNMAP_LIST_CAP];
    struct iovec iov[UNMAP_LIST_CAP], piece[UNMAP_LIST_CAP];
    int done[UNMAP_LIST_CAP], piece_done[UNMAP_LIST_CAP];
    size_t m = tp_merge_unmap_ranges(&s->pages.map, list->ranges, list->count, order, merged, pieces);
    for (size_t j = 0; j < m; j++)
        iov[j] = range_iovec(s, &merged[j]);
    tp_unmap_runs(s, iov, m, done);
    for (size_t j = 0, at = 0; j < m; at += pieces[j++]) {
        if (!done[j] && pieces[j] > 1) {
            for (size_t k = 0; k < pieces[j]; k++)
                piece[k] = range_iovec(s, &list->ranges[order[at + k]]);
            tp_unmap_runs(s, piece, pieces[j], piece_done);
            for (size_t k = 0; k < pieces[j]; k++)
                unmapped[order[at + k]] = piece_done[k];
            continue;
        }
        for (size_t k = 0; k < pieces[j]; k++)
            unmapped[order[at + k]] = done[j];
    }
    list->count = 0;
}

/* Stack lock held: unmaps what the list holds (the clock's checks only:
 * a failure leaves a page mapped, seen unused by the policy). */
static void unmap_checks_now(struct unmap_list *list)
{
    int unmapped[UNMAP_LIST_CAP];
    unmap_list_now(list, unmapped);
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
    unmap_list_add(list, reg, first, last - first + 1);
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

/* A page mapped writable on a read (UNSURE) from a local tier and now
 * write-protected, its final content in `page`: unchanged if its tier's
 * copy is the same. */
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
    WRITES_STOPPED = 2, /* write-protected with its run (writes seen by faults) */
};

/* A claimed page on its way out. What its eviction needs of its region is
 * taken while the stack lock is held: an unmap may cut the region while
 * the lock is dropped, and the page, BUSY, stays in a piece sharing the
 * same file. */
struct victim {
    uint32_t id;
    enum {
        VICTIM_RELEASED, /* given up (a failure), or its eviction done */
        VICTIM_CLEAN,    /* unwritten, its tier's copy or zeros its content: freed without a write */
        VICTIM_PUT,      /* written: its final content to be put into tier 0 */
    } step;
    struct tp_region_file *file;
    off_t off;
    char *addr;
    int uffd;
    bool kernel, foreign, found_written;
    int landed;         /* VICTIM_PUT: the tier its new copy landed in, or -errno */
    size_t left;        /* the tier of its older copy, deleted once the new one is stored */
    int freed;          /* 0 once its memory is freed, or -errno */
};

static void note_failure(int rc, const tierpage_error *why, int *first, tierpage_error *err)
{
    if (rc < 0 && *first == 0) {
        *first = rc;
        *err = *why;
    }
}

/* Called without the stack lock, the page BUSY: a page whose writes were
 * stopped and that stays resident after all gets them back (unmapped
 * instead, it is mapped again by its next touch). Returns with the stack
 * lock held, the page released. */
static void keep_resident(struct tp_stack *s, struct victim *v)
{
    TP_ASSERT_NOT_HELD(&s->lock);
    if (!v->kernel)
        tp_uffd_writeprotect(v->uffd, v->addr, s->page_size, 0, 1);
    tp_lock_take(&s->lock);
    tp_page_release(&s->pages, v->id);
    v->step = VICTIM_RELEASED;
}

/* Called with the stack lock held, the resident page BUSY for the caller;
 * drops the lock around system calls and store reads and holds it again
 * on return. Stops the page's writes, so that what is put is its final
 * content, and says how it leaves in v->step: VICTIM_CLEAN, or VICTIM_PUT
 * with its content in `buf`; on a failure, VICTIM_RELEASED and -errno. */
static int prepare(struct tp_stack *s, struct victim *v, enum writes_read read, unsigned char *buf,
                   tierpage_error *err)
{
    TP_ASSERT_HELD(&s->lock);
    struct tp_page *p = tp_page(&s->pages, v->id);
    struct tp_region *reg = tp_region_of_id(s, v->id);
    v->file = reg->file;
    v->off = tp_page_offset(s, reg, v->id);
    v->addr = tp_page_addr(s, reg, v->id);
    v->uffd = reg->uffd;
    v->foreign = reg->foreign;
    v->kernel = tp_kernel_tracks_writes(s, reg);
    v->found_written = false;
    v->left = TP_NO_TIER;
    int dirty = (p->flags & TP_PAGE_DIRTY) != 0;

    /* Clean: write-protected since it was mapped, so nothing can have
     * changed it; a tier holds its copy, or it is still all zeros. With
     * the kernel's write tracking, only a prefetched page never mapped is
     * known clean here (one mapped ahead may have been written). */
    v->step = VICTIM_CLEAN;
    if (!dirty && (!v->kernel || tp_page_never_mapped(p)))
        return 0;

    size_t old_tier = p->tier;
    int unsure = (p->flags & TP_PAGE_UNSURE) && old_tier != TP_NO_TIER;
    int local = unsure && tp_tier_is_local(s, old_tier);
    /* None unless taken as it was mapped: then counted as written. */
    struct tp_page_digest mapped_with = {0, 0};
    if (unsure && !local)
        mapped_with = tp_resident_digest(&s->pages.resident, &s->pages.map, v->id);
    int rc;
    tp_lock_drop(&s->lock);
    /* Write-protected, or with the kernel's write tracking (where a
     * write-protected page is written without asking), unmapped. */
    if (v->kernel) {
        rc = read == WRITES_UNREAD ? tp_stop_writes(s, v->addr, 1) : 0;
        if (rc == 0 && !dirty) {
            rc = read == WRITES_UNREAD ? tp_page_written_by_kernel(s, v->addr) : (int)read;
            if (rc == 0)
                goto out;
            v->found_written = rc > 0;
        }
        if (rc > 0)
            rc = 0;
    } else {
        rc = read == WRITES_STOPPED ? 0 : tp_uffd_writeprotect(v->uffd, v->addr, s->page_size, 1, 0);
        if (rc == -ESRCH && v->foreign)
            rc = 0; /* the client process is gone: nothing writes the page any more */
    }
    if (rc < 0) {
        keep_resident(s, v);
        return tierpage_error_set(err, rc, NULL, "cannot stop writes to a page: %s", strerror(-rc));
    }
    if ((rc = read_page(s, v->file, v->off, buf)) < 0) {
        keep_resident(s, v);
        return tierpage_error_set(err, rc, NULL, "cannot read a page from its memory file: %s", strerror(-rc));
    }
    if (!unsure || !(local ? same_as_copy(s, old_tier, v->id, buf)
                           : tp_page_digest_same(mapped_with, tp_page_digest(s->digest_seed, buf, s->page_size))))
        v->step = VICTIM_PUT;
out:
    tp_lock_take(&s->lock);
    return 0;
}

/* Stack lock held: the new copies of the put victims are stored (or
 * failed to be): record where; the older copies may go now. */
static void land(struct tp_stack *s, struct victim *v, size_t n)
{
    TP_ASSERT_HELD(&s->lock);
    for (size_t i = 0; i < n; i++) {
        if (v[i].step != VICTIM_PUT || v[i].landed < 0)
            continue;
        s->counters.kernel_written += (uint64_t)v[i].found_written;
        /* Put back, so written (the kernel's record, or unlike its copy): a
         * page mapped ahead and not yet seen used was. */
        tp_prefetch_used_ahead(s, v[i].id, TP_AHEAD_FOUND_WRITTEN);
        v[i].left = tp_page_land(&s->pages, v[i].id, (size_t)v[i].landed);
        tp_page_mark_clean(&s->pages, v[i].id);
    }
}

static bool to_free(const struct victim *v)
{
    return v->step == VICTIM_CLEAN || (v->step == VICTIM_PUT && v->landed >= 0);
}

/* No stack lock held: free the memory of the victims whose content is
 * safe elsewhere, one hole punched for each run of them that lies
 * together in one file (the victims are in id order). */
static void free_memory(struct tp_stack *s, struct victim *v, size_t n)
{
    TP_ASSERT_NOT_HELD(&s->lock);
    for (size_t i = 0; i < n;) {
        if (!to_free(&v[i])) {
            i++;
            continue;
        }
        size_t end = i + 1;
        while (end < n && to_free(&v[end]) && v[end].file == v[i].file &&
               v[end].off == v[end - 1].off + (off_t)s->page_size)
            end++;
        int rc = 0;
        if (fallocate(v[i].file->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, v[i].off,
                      (off_t)((end - i) * s->page_size)) < 0)
            rc = -errno;
        for (; i < end; i++)
            v[i].freed = rc;
    }
}

/* Called with the stack lock held, the prepared victims BUSY, their puts
 * answered (v[i].landed); drops the lock around the store deletes and
 * holds it again on return. Records where each new copy landed and lets
 * the older copy go; a victim whose put failed stays resident, intact,
 * and is released. */
static void settle(struct tp_stack *s, struct victim *v, size_t n, const tierpage_error *put_err, int *first,
                   tierpage_error *err)
{
    TP_ASSERT_HELD(&s->lock);
    land(s, v, n);
    tp_lock_drop(&s->lock);
    tierpage_error scratch = {{0}, {0}};
    for (size_t i = 0; i < n; i++) {
        if (v[i].step == VICTIM_PUT && v[i].landed < 0) {
            note_failure(v[i].landed, put_err, first, err);
            keep_resident(s, &v[i]);
            tp_lock_drop(&s->lock);
        } else if (v[i].step == VICTIM_PUT && v[i].left != TP_NO_TIER) {
            /* The new copy is acknowledged: only now may the old one go. */
            tp_tier_del(s, v[i].left, v[i].id, &scratch);
        }
    }
    tp_lock_take(&s->lock);
}

/* Called with the stack lock held, the settled victims BUSY (those
 * released already are passed over); drops the lock around the punches
 * and holds it again on return, every victim released. */
static void free_and_release(struct tp_stack *s, struct victim *v, size_t n, int *first, tierpage_error *err)
{
    TP_ASSERT_HELD(&s->lock);
    tp_lock_drop(&s->lock);
    free_memory(s, v, n);
    tp_lock_take(&s->lock);
    tierpage_error scratch = {{0}, {0}};
    for (size_t i = 0; i < n; i++) {
        if (v[i].step == VICTIM_RELEASED)
            continue;
        if (v[i].step == VICTIM_CLEAN)
            tp_page_mark_clean(&s->pages, v[i].id);
        if (v[i].freed < 0) {
            /* Still mapped: clean (write-protected), its copy stored. */
            tierpage_error_set(&scratch, v[i].freed, NULL, "cannot free a page: %s", strerror(-v[i].freed));
            note_failure(v[i].freed, &scratch, first, err);
        } else {
            if (tp_page_evicted(&s->pages, v[i].id))
                tp_prefetch_wasted(s, v[i].id);
            s->counters.evictions++;
            if (v[i].step == VICTIM_CLEAN)
                s->counters.clean_drops++;
            else
                s->counters.writebacks++;
        }
        tp_page_release(&s->pages, v[i].id);
        v[i].step = VICTIM_RELEASED;
    }
}

/* A settled victim that may stay BUSY, its memory not yet freed, while the
 * batch's later victims are put: it is in no write-back queue, so no
 * store's refusal of it waits for its release (a queued page refused as
 * full is placed only once its holder lets it go). */
static bool may_hold(const struct tp_stack *s, const struct victim *v)
{
    if (v->step == VICTIM_CLEAN)
        return true;
    return v->step == VICTIM_PUT && v->landed >= 0 && !s->tiers[v->landed].writeback;
}

/* Called with the stack lock held, the n victims (at most TP_EVICT_BATCH)
 * BUSY for the caller, in id order, read[i] what is known of victim i's
 * writes; drops the lock around system calls and store I/O and holds it
 * again on return, every victim released. Each victim's writes are
 * stopped and its content copied, then all the written ones are put into
 * tier 0 together (tp_chain_put_batch: where the store must acknowledge
 * them, one wait for all), and only then are the pages freed, a hole
 * punched for each run of them. Where holding the batch while putting it
 * is not safe (tp_chain_batch_safe), one victim after the other, each
 * freed at once unless it may be held (may_hold): those are freed
 * together at the end, in runs still. After a failure, the victims not
 * yet prepared are released, not evicted. */
static int evict_claimed(struct tp_stack *s, const uint32_t *ids, size_t n, const enum writes_read *read,
                         tierpage_error *err)
{
    TP_ASSERT_HELD(&s->lock);
    _Static_assert(TP_EVICT_BATCH <= TP_CHAIN_BATCH, "a batch of victims is put in one batch");
    _Alignas(64) unsigned char one[s->page_size];
    unsigned char *bufs = n > 1 && tp_chain_batch_safe(s) ? malloc(n * s->page_size) : NULL;
    size_t group = bufs ? n : 1;
    struct victim v[TP_EVICT_BATCH];
    uint32_t put_ids[TP_EVICT_BATCH];
    const void *put_pages[TP_EVICT_BATCH];
    int landed[TP_EVICT_BATCH];
    tierpage_error scratch = {{0}, {0}}, put_err = {{0}, {0}};
    int first = 0;
    for (size_t start = 0; start < n; start += group) {
        size_t m = n - start < group ? n - start : group, puts = 0;
        struct victim *g = &v[start];
        for (size_t i = 0; i < m; i++) {
            g[i] = (struct victim){.id = ids[start + i], .step = VICTIM_RELEASED};
            if (first < 0) {
                tp_page_release(&s->pages, g[i].id);
                continue;
            }
            unsigned char *buf = bufs ? bufs + i * s->page_size : one;
            note_failure(prepare(s, &g[i], read[start + i], buf, &scratch), &scratch, &first, err);
            if (g[i].step == VICTIM_PUT) {
                put_ids[puts] = g[i].id;
                put_pages[puts++] = buf;
            }
        }
        if (puts) {
            tp_lock_drop(&s->lock);
            tp_chain_put_batch(s, 0, puts, put_ids, put_pages, landed, &put_err);
            tp_lock_take(&s->lock);
        }
        for (size_t i = 0, k = 0; i < m; i++)
            if (g[i].step == VICTIM_PUT)
                g[i].landed = landed[k++];
        settle(s, g, m, &put_err, &first, err);
        if (bufs || !may_hold(s, g))
            free_and_release(s, g, m, &first, err);
    }
    free_and_release(s, v, n, &first, err);
    free(bufs);
    return first;
}

int tp_evict_page(struct tp_stack *s, uint32_t id, tierpage_error *err)
{
    TP_ASSERT_HELD(&s->lock);
    tp_page_claim(&s->pages, id);
    enum writes_read unread = WRITES_UNREAD;
    return evict_claimed(s, &id, 1, &unread, err);
}

/* A run of a batch's victims: consecutive pages of one region, from
 * victim[first] in id order. What its handling needs of the region is
 * taken under the stack lock (an unmap may cut the region meanwhile). */
struct victim_run {
    char *addr;
    const struct tp_region *region;
    int uffd;
    size_t first, count;
};

/* Stack lock held, the n victims claimed and sorted by id: their runs in
 * the regions whose writes the kernel tracks (`kernel`), or in those
 * where writes show as write faults. Returns the number of runs. */
static size_t victim_runs(struct tp_stack *s, const uint32_t *ids, size_t n, bool kernel, struct victim_run *runs)
{
    TP_ASSERT_HELD(&s->lock);
    size_t run_count = 0;
    for (size_t i = 0; i < n; i++) {
        struct tp_region *reg = tp_region_of_id(s, ids[i]);
        if (tp_kernel_tracks_writes(s, reg) != kernel)
            continue;
        struct victim_run *r = run_count ? &runs[run_count - 1] : NULL;
        if (r && reg == r->region && ids[r->first + r->count - 1] + 1 == ids[i])
            r->count++;
        else
            runs[run_count++] = (struct victim_run){tp_page_addr(s, reg, ids[i]), reg, reg->uffd, i, 1};
    }
    return run_count;
}

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
    for (size_t i = 0; i < n; i++)
        read[i] = WRITES_UNREAD;
    size_t run_count = victim_runs(s, ids, n, true, runs);
    size_t first_run = checks->count;
    for (size_t k = 0; k < run_count; k++)
        unmap_list_add(checks, runs[k].region, ids[runs[k].first], (uint32_t)runs[k].count);
    int unmapped[UNMAP_LIST_CAP];
    unmap_list_now(checks, unmapped);
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

/* Called with the stack lock held, the n victims claimed and sorted by
 * id, read[] as read_runs left it; drops the lock around the ioctls. The
 * victims whose writes show as write faults (tierpaged's clients, or a
 * stack with `write_tracking: faults`) are write-protected in runs of
 * consecutive pages, one ioctl and one TLB flush a run where each page
 * cost its own; they become WRITES_STOPPED. A clean victim is protected
 * already, and protecting it again changes nothing. A run that fails is
 * left to prepare(), page by page; a victim released without its eviction
 * stays protected, and its next write is a write fault that lifts it. */
static void stop_writes_in_runs(struct tp_stack *s, const uint32_t *ids, size_t n, enum writes_read *read)
{
    TP_ASSERT_HELD(&s->lock);
    struct victim_run runs[TP_EVICT_BATCH];
    size_t run_count = victim_runs(s, ids, n, false, runs);
    if (run_count == 0)
        return;
    tp_lock_drop(&s->lock);
    for (size_t k = 0; k < run_count; k++) {
        if (runs[k].count < 2 ||
            tp_uffd_writeprotect(runs[k].uffd, runs[k].addr, runs[k].count * s->page_size, 1, 0) < 0)
            continue;
        for (size_t j = 0; j < runs[k].count; j++)
            read[runs[k].first + j] = WRITES_STOPPED;
    }
    tp_lock_take(&s->lock);
}

/* How far the hand may still go in one making of room
 * (tp_first_pick_budget, tp_rest_of_turn_budget). */
struct hand_turn {
    size_t budget;
    bool took_one;
};

static struct hand_turn hand_turn_start(const struct tp_stack *s)
{
    return (struct hand_turn){.budget = tp_first_pick_budget(&s->pages.resident), .took_one = false};
}

/* Evict up to `max` pages chosen by the policy, claimed together so that
 * their writes are read in runs, the hand going no further than `turn`
 * lets it. Stack lock held, dropped around store I/O. Returns the pages
 * evicted, -EAGAIN when none could be taken, or -errno (the rest of the
 * batch released, not evicted). */
static long evict_batch(struct tp_stack *s, size_t max, enum tp_victim_for victim_for, struct hand_turn *turn,
                        tierpage_error *err)
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
        uint32_t id = tp_pick_victim(&s->pages.resident, &s->pages.map, s->policy, victim_for, &turn->budget,
                                     unmap_to_check, &checks);
        if (id == TP_NIL)
            break;
        if (!turn->took_one) {
            turn->budget = tp_rest_of_turn_budget(&s->pages.resident, turn->budget);
            turn->took_one = true;
        }
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
    stop_writes_in_runs(s, ids, n, read);
    int rc = evict_claimed(s, ids, n, read, err);
    return rc < 0 ? rc : (long)n;
}

int tp_evict_some(struct tp_stack *s, size_t max, tierpage_error *err)
{
    struct hand_turn turn = hand_turn_start(s);
    long rc = evict_batch(s, max, TP_VICTIM_FOR_ANY, &turn, err);
    return rc < 0 ? (int)rc : 0;
}

static int make_room(struct tp_stack *s, uint64_t reserve, enum tp_victim_for victim_for, tierpage_error *err)
{
    TP_ASSERT_HELD(&s->lock);
    struct tp_resident_set *r = &s->pages.resident;
    struct hand_turn turn = hand_turn_start(s);
    while (r->count + reserve > r->cap_pages) {
        long rc = evict_batch(s, r->count + reserve - r->cap_pages, victim_for, &turn, err);
        if (rc == -EAGAIN && turn.took_one && victim_for != TP_VICTIM_FOR_PREFETCH) {
            /* A turn ended with the set still over its cap. A fault's page
             * or a smaller cap must have its room: the hand turns again,
             * taking what it checked too. A prefetch fetches fewer pages
             * instead. */
            turn = hand_turn_start(s);
            continue;
        }
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
