#include "prefetch.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eviction.h"
#include "fatal.h"
#include "evictor_thread.h"
#include "tier_chain.h"
#include "uffd.h"
#include "write_tracking.h"

/* Stack lock held: a page worth fetching ahead, held by tier *tier (the
 * first such page fixes *tier when it is TP_NO_TIER). Pages in flight,
 * resident, never written or unmapped are not. */
static int worth_fetching(struct tp_stack *s, uint32_t id, size_t *tier)
{
    const struct tp_page *p = tp_page_find(&s->pages.map, id);
    if (!p || p->state != TP_PAGE_STORED || (p->flags & (TP_PAGE_BUSY | TP_PAGE_UNMAPPED)))
        return 0;
    if (*tier == TP_NO_TIER)
        *tier = p->tier;
    return p->tier == *tier;
}

/* Stack lock held: up to `window` pages along `stride` after `id` inside
 * region r that tier *tier holds, into ids; returns how many. */
static size_t pick(struct tp_stack *s, const struct tp_region *r, uint32_t id, int64_t stride, uint32_t window,
                   size_t *tier, uint32_t *ids)
{
    size_t n = 0;
    for (uint32_t k = 1; k <= window; k++) {
        int64_t next = (int64_t)id + stride * (int64_t)k;
        if (next < (int64_t)r->first_id || next >= (int64_t)r->first_id + (int64_t)r->page_count)
            break;
        if (worth_fetching(s, (uint32_t)next, tier))
            ids[n++] = (uint32_t)next;
    }
    return n;
}

/* Called without the stack lock, ids[] BUSY for the caller (their region
 * is not cut before they are released, so addr[] are still the program's
 * pages): map the pages fetched (results[i] == 0) in the program, in runs
 * of consecutive pages, write-protected so that a write still shows (or,
 * `writable`, as resolve_missing maps a page read from a local tier: to
 * be compared with its copy at eviction), all but one: the first page of the batch's second quarter stays
 * unmapped, a marker whose first use (a minor fault) carries the stream
 * on, as Linux's PG_readahead does; three quarters of the batch are left
 * ahead of the program while the next one is fetched. Sets ahead[i] for each page that may
 * be mapped (a failed run may be mapped in part), written[i] for each the
 * program may have written before it was protected (tp_uffd_continue on
 * kernels before 6.4: it no longer matches its copy in room), and returns
 * how many were mapped. */
static size_t map_ahead(struct tp_stack *s, int uffd, int writable, size_t n, const uint32_t *ids, char *const *addr,
                        const int *memfd, const off_t *offset, const unsigned char *room, const int *results,
                        int *ahead, int *written)
{
    size_t marker = n / 4, mapped = 0;
    for (size_t i = 0; i < n;) {
        if (i == marker || results[i] != 0) {
            i++;
            continue;
        }
        size_t j = i + 1;
        while (j < n && j != marker && results[j] == 0 && ids[j] == ids[j - 1] + 1)
            j++;
        /* A failure costs the program a minor fault on these, no more. */
        int rc = tp_uffd_continue(uffd, addr[i], (j - i) * s->page_size, !writable);
        if (rc == 0)
            mapped += j - i;
        int open_a_moment = !writable && !tp_uffd_continue_wp_is_exact();
        for (size_t k = i; k < j; k++) {
            ahead[k] = 1;
            /* Mapped in part: taken for written, as it may have been. */
            written[k] = open_a_moment &&
                         (rc < 0 || tp_page_changed_in_file(s, memfd[k], offset[k], room + k * s->page_size));
        }
        i = j;
    }
    return mapped;
}

/* Each handler thread's room for a batch fetched ahead, kept for the
 * thread's life: a fresh allocation of that size would be fresh pages,
 * each a page fault. */
static pthread_key_t batch_key;
static pthread_once_t batch_key_once = PTHREAD_ONCE_INIT;

static void make_batch_key(void)
{
    if (pthread_key_create(&batch_key, free) != 0)
        tp_fatal("cannot make a thread-specific key for prefetch");
}

static unsigned char *batch_room(size_t page_size)
{
    pthread_once(&batch_key_once, make_batch_key);
    unsigned char *room = pthread_getspecific(batch_key);
    if (!room) {
        room = aligned_alloc(64, TP_PREFETCH_MAX_WINDOW * page_size);
        if (!room || pthread_setspecific(batch_key, room) != 0)
            tp_fatal("cannot allocate room to fetch pages ahead");
    }
    return room;
}

/* Called without the stack lock: the pages fetched (results[i] == 0) into
 * their places in the memfd, one write for each run of them that lies
 * together there (one take of the file's lock, which the evictor's
 * punches wait for), not through the pager's alias mapping: a page
 * touched there gets a page table entry in the pager, and its punch at
 * eviction then flushes every CPU's TLB. A page that cannot be written
 * counts as not fetched. */
static void write_fetched(struct tp_stack *s, size_t n, const int *memfd, const off_t *offset,
                          const unsigned char *room, int *results)
{
    for (size_t i = 0; i < n;) {
        if (results[i] != 0) {
            i++;
            continue;
        }
        size_t end = i + 1;
        while (end < n && results[end] == 0 && memfd[end] == memfd[i] &&
               offset[end] == offset[end - 1] + (off_t)s->page_size)
            end++;
        size_t bytes = (end - i) * s->page_size;
        if (end - i > 1 && pwrite(memfd[i], room + i * s->page_size, bytes, offset[i]) == (ssize_t)bytes) {
            i = end;
            continue;
        }
        /* Page by page, to know which could not be written. */
        for (; i < end; i++) {
            if (pwrite(memfd[i], room + i * s->page_size, s->page_size, offset[i]) == (ssize_t)s->page_size)
                continue;
            results[i] = -EIO;
            /* What a short write left there must not be taken for the page. */
            if (fallocate(memfd[i], FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset[i], (off_t)s->page_size) <
                0)
                tp_fatal("cannot free a page whose prefetch failed: %s", strerror(errno));
        }
    }
}

/* Called without the stack lock, ids[] BUSY for the caller: the pages
 * fetched into a tierpaged client's memory with UFFDIO_COPY, in runs of
 * consecutive pages, as resolve_missing maps a page there (write-protected
 * unless `writable`). Never left in the file unmapped: the client would map
 * such a page itself, its registration having no minor mode, and its
 * writes would go unseen. A page that cannot be copied counts as not
 * fetched; one already there (EEXIST, a run copied in part) is the copy
 * of this batch. Sets ahead[i] for each page mapped and returns how many. */
static size_t copy_into_client(struct tp_stack *s, int uffd, int writable, size_t n, const uint32_t *ids,
                               char *const *addr, const unsigned char *room, int *results, int *ahead)
{
    size_t mapped = 0;
    for (size_t i = 0; i < n;) {
        if (results[i] != 0) {
            i++;
            continue;
        }
        size_t j = i + 1;
        while (j < n && results[j] == 0 && ids[j] == ids[j - 1] + 1)
            j++;
        int run_rc = tp_uffd_copy(uffd, addr[i], room + i * s->page_size, (j - i) * s->page_size, !writable);
        for (size_t k = i; k < j; k++) {
            int rc = run_rc;
            if (rc < 0 && rc != -ESRCH && rc != -ENOENT) /* page by page, to know which are there */
                rc = tp_uffd_copy(uffd, addr[k], room + k * s->page_size, s->page_size, !writable);
            if (rc == -EEXIST) /* copied by the run: a thread of the client may wait on it */
                tp_uffd_wake(uffd, addr[k], s->page_size);
            if (rc == 0 || rc == -EEXIST) {
                ahead[k] = 1;
                mapped++;
            } else {
                results[k] = rc;
            }
        }
        i = j;
    }
    return mapped;
}

/* Called with the stack lock held, ids[] claimed (BUSY) and their places
 * reserved; drops the lock while fetching and holds it again on return,
 * every page released. */
static void fetch_and_install(struct tp_stack *s, size_t tier, size_t n, const uint32_t *ids)
{
    TP_ASSERT_HELD(&s->lock);
    void *into[n];
    char *addr[n];
    int memfd[n];
    off_t offset[n];
    int results[n];
    int ahead[n];
    int written[n];
    unsigned char *room = batch_room(s->page_size);
    /* A BUSY page's region may be cut while the lock is dropped, but the
     * piece holding it keeps its file. */
    const struct tp_region *first = tp_region_of_id(s, ids[0]);
    int uffd = first->uffd;
    int foreign = first->foreign;
    /* Mapped writable as resolve_missing maps them: a local tier's pages,
     * and without the kernel's tracking a remote tier's, with digests. */
    int digested = tp_tier_digests_reads(s, first, tier);
    int writable = tp_tier_is_local(s, tier) || digested;
    for (size_t i = 0; i < n; i++) {
        const struct tp_region *r = tp_region_of_id(s, ids[i]);
        into[i] = room + i * s->page_size;
        addr[i] = tp_page_addr(s, r, ids[i]);
        memfd[i] = r->file->memfd;
        offset[i] = tp_page_offset(s, r, ids[i]);
        ahead[i] = 0;
        written[i] = 0;
    }
    tp_lock_drop(&s->lock);
    tp_tier_get_batch(s, tier, n, ids, into, results);
    struct tp_page_digest digests[n];
    for (size_t i = 0; i < n; i++)
        digests[i] = digested && results[i] == 0 ? tp_page_digest(s->digest_seed, into[i], s->page_size)
                                                 : (struct tp_page_digest){0, 0};
    size_t mapped;
    if (foreign) {
        mapped = copy_into_client(s, uffd, writable, n, ids, addr, room, results, ahead);
    } else {
        write_fetched(s, n, memfd, offset, room, results);
        mapped = s->prefetch_map_ahead
                     ? map_ahead(s, uffd, writable, n, ids, addr, memfd, offset, room, results, ahead, written)
                     : 0;
    }
    tp_lock_take(&s->lock);
    s->counters.prefetch_mapped += mapped;
    for (size_t i = 0; i < n; i++) {
        if (results[i] == 0) {
            tp_page_make_prefetched(&s->pages, ids[i], ahead[i],
                                    writable ? TP_RESIDENT_DIRTY | TP_RESIDENT_UNSURE : 0u);
            tp_resident_set_digest(&s->pages.resident, &s->pages.map, ids[i], digests[i]);
            s->counters.prefetched_pages++;
            if (written[i]) {
                tp_prefetch_used_ahead(s, ids[i], TP_AHEAD_FOUND_WRITTEN);
                tp_page_mark_dirty(&s->pages, ids[i]);
            }
        } else {
            tp_page_unreserve_resident(&s->pages);
        }
        tp_page_release(&s->pages, ids[i]);
    }
}

/* Pages in a row not mapped ahead after which went_past stops looking. */
#define WENT_PAST_GAP 8

/* Stack lock held: the program faulted on page `id` of region r, whose
 * stream moves by `stride`. The pages mapped ahead along the stride just
 * before it, which it went past without a fault, are counted used (the
 * stream's own bet: a read of a mapped page leaves no trace to check)
 * and noted in the stream, oldest first, as if each had faulted. A page
 * among them already counted used (a write fault on it, a marker's first
 * use) is passed over, not an end: the pages before it were gone past too
 * (a client's writes fault on every third page of a sweep that writes a
 * third). The walk ends at a page not resident, or after WENT_PAST_GAP in
 * a row not mapped ahead: pages that faulted in, before the batches. */
static void went_past(struct tp_stack *s, const struct tp_region *r, uint32_t id, int64_t stride)
{
    uint32_t passed[TP_PREFETCH_MAX_WINDOW];
    size_t n = 0, gap = 0;
    for (int64_t k = (int64_t)id - stride; n < TP_PREFETCH_MAX_WINDOW && gap < WENT_PAST_GAP; k -= stride) {
        if (k < (int64_t)r->first_id || k >= (int64_t)r->first_id + (int64_t)r->page_count)
            break;
        const struct tp_page *p = tp_page_find(&s->pages.map, (uint32_t)k);
        if (!p || p->state != TP_PAGE_RESIDENT || (p->flags & TP_PAGE_BUSY))
            break;
        if (!(p->flags & TP_PAGE_AHEAD)) {
            gap++;
            continue;
        }
        gap = 0;
        passed[n++] = (uint32_t)k;
    }
    while (n--)
        tp_prefetch_used_ahead(s, passed[n], TP_AHEAD_PASSED);
}

int tp_prefetch_used_ahead(struct tp_stack *s, uint32_t id, enum tp_ahead_use how)
{
    TP_ASSERT_HELD(&s->lock);
    const struct tp_page *p = tp_page(&s->pages, id);
    if (!(p->flags & TP_PAGE_AHEAD) ||
        !tp_page_note_prefetch_use(&s->pages, id, how == TP_AHEAD_WRITE_FAULT ? TP_RESIDENT_DIRTY : 0u))
        return 0;
    s->counters.prefetch_hits++;
    s->counters.prefetch_inferred += how == TP_AHEAD_PASSED;
    struct tp_region *r = tp_region_of_id(s, id);
    if (r) {
        tp_stream_used(&r->stream, TP_PREFETCH_MAX_WINDOW);
        if (how != TP_AHEAD_FOUND_WRITTEN) /* in the program's order */
            tp_stream_note(&r->stream, id);
    }
    return 1;
}

/* A tierpaged client's batch leaves its marker out (prefetch.h): a page
 * cannot wait unmapped in the client's file, so the marker's first use is
 * a missing fault instead, which fetches it and carries the stream on. A
 * batch of one keeps its page: left out, a window shrunk to one page would
 * never fetch again, and the fault past that page counts it used. */
static size_t leave_out_marker(uint32_t *ids, size_t n)
{
    if (n < 2)
        return n;
    size_t marker = n / 4;
    memmove(&ids[marker], &ids[marker + 1], (n - marker - 1) * sizeof *ids);
    return n - 1;
}

void tp_prefetch_after_fault(struct tp_stack *s, uint32_t id, size_t tier, int first_use)
{
    if (!s->prefetch_window)
        return;
    uint32_t ids[TP_PREFETCH_MAX_WINDOW];
    tp_lock_take(&s->lock);
    struct tp_region *r = tp_region_of_id(s, id);
    if (!r || tp_pages_frozen(&s->pages)) /* frozen: a fork is copying the pages */
        goto out;
    /* A client's pages fetched ahead are mapped at once, or not fetched. */
    if (r->foreign && !s->prefetch_map_ahead)
        goto out;
    struct tp_prefetch_stream *st = &r->stream;
    /* Along the trend, or the stride of the last prefetch when faults
     * elsewhere in the region have hidden the trend: the pages it mapped
     * ahead show no fault of their own to keep it. */
    int64_t before = tp_stream_trend(st, NULL);
    if (!before)
        before = st->stride;
    if (before)
        went_past(s, r, id, before);
    tp_stream_note(st, id);
    if (first_use)
        tp_stream_used(st, TP_PREFETCH_MAX_WINDOW); /* bounded when used, below */
    uint32_t run;
    int64_t stride = tp_stream_trend(st, &run);
    if (!stride)
        goto out;
    /* A window of at most a quarter of the resident set: pages fetched
     * ahead must not push each other out before they are used. */
    uint64_t quarter = s->pages.resident.cap_pages / 4;
    if (quarter == 0)
        goto out;
    uint32_t max = quarter < s->prefetch_window ? (uint32_t)quarter : s->prefetch_window;
    uint32_t window = tp_stream_window(st, max);
    if (run && window > run)
        window = run;
    size_t n = pick(s, r, id, stride, window, &tier, ids);
    /* On a use of a prefetched page, fetch again only once half the window
     * ahead is missing: batches stay large. */
    if (n == 0 || (first_use && n * 2 < window))
        goto out;
    /* The room the evictor keeps free first; the rest by evicting here,
     * after the program was woken, but never a page fetched ahead and not
     * used yet: fewer pages come in instead. */
    tierpage_error err = {{0}, {0}};
    if (tp_make_room_for_prefetch(s, n, &err) < 0)
        goto out;
    /* The lock was dropped while evicting: look again. */
    r = tp_region_of_id(s, id);
    if (!r)
        goto out;
    n = pick(s, r, id, stride, window, &tier, ids);
    uint64_t room = tp_resident_free_room(&s->pages.resident);
    if (n > room)
        n = (size_t)room;
    if (r->foreign)
        n = leave_out_marker(ids, n);
    if (n == 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        tp_page_claim(&s->pages, ids[i]);
        tp_page_reserve_resident(&s->pages);
    }
    r->stream.stride = stride; /* r looked up again: st may be gone */
    tp_evictor_poke(s); /* its margin, taken here, made again off the fault path */
    fetch_and_install(s, tier, n, ids);
out:
    tp_lock_drop(&s->lock);
}

void tp_prefetch_wasted(struct tp_stack *s, uint32_t id)
{
    TP_ASSERT_HELD(&s->lock);
    s->counters.prefetch_wasted++;
    struct tp_region *r = tp_region_of_id(s, id);
    if (r)
        tp_stream_wasted(&r->stream);
}
