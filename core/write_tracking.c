#include "write_tracking.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "prefetch.h"
#include "uffd.h"
#include "written_pages.h"

/* Linux 5.18 and 6.14; newer than some C libraries' headers. */
#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED 24
#endif
#ifndef PIDFD_SELF_THREAD_GROUP
#define PIDFD_SELF_THREAD_GROUP -10001
#endif

/* TIERPAGE_WRITE_TRACKING, a diagnostic: the scheme for every stack
 * the process opens, whatever its stack file says (conf/REFERENCE.md). */
static int override(enum tp_write_tracking *wanted, tierpage_error *err)
{
    const char *v = getenv("TIERPAGE_WRITE_TRACKING");
    if (!v || !*v)
        return 0;
    if (strcmp(v, "auto") == 0)
        *wanted = TP_WRITES_AUTO;
    else if (strcmp(v, "kernel") == 0)
        *wanted = TP_WRITES_KERNEL;
    else if (strcmp(v, "faults") == 0)
        *wanted = TP_WRITES_FAULTS;
    else
        return tierpage_error_set(err, -EINVAL, NULL, "TIERPAGE_WRITE_TRACKING: expected auto, kernel or faults, "
                                  "got '%.40s'", v);
    return 0;
}

int tp_write_tracking_start(struct tp_stack *s, enum tp_write_tracking wanted, tierpage_error *err)
{
    s->pagemap_fd = -1;
    s->write_tracking = TP_WRITES_FAULTS;
    s->batch_unmap = 1;
    if (override(&wanted, err) < 0)
        return -EINVAL;
    if (wanted == TP_WRITES_FAULTS) {
        snprintf(s->write_tracking_note, sizeof s->write_tracking_note, "faults (as configured)");
        return 0;
    }
    char why[TP_WRITE_TRACKING_NOTE - 16];
    int fd = tp_written_offered(why, sizeof why) ? tp_written_open() : -ENOTSUP;
    if (fd < 0 && fd != -ENOTSUP)
        snprintf(why, sizeof why, "cannot open /proc/self/pagemap: %s", strerror(-fd));
    if (fd < 0) {
        if (wanted == TP_WRITES_KERNEL)
            return tierpage_error_set(err, -ENOTSUP, NULL, "write_tracking: kernel: %s", why);
        snprintf(s->write_tracking_note, sizeof s->write_tracking_note, "faults: %s", why);
        return 0;
    }
    s->pagemap_fd = fd;
    s->write_tracking = TP_WRITES_KERNEL;
    snprintf(s->write_tracking_note, sizeof s->write_tracking_note, "kernel");
    return 0;
}

void tp_write_tracking_stop(struct tp_stack *s)
{
    if (s->pagemap_fd >= 0)
        close(s->pagemap_fd);
    s->pagemap_fd = -1;
}

int tp_stop_writes(struct tp_stack *s, char *addr, size_t pages)
{
    size_t len = pages * s->page_size;
    if (madvise(addr, len, MADV_DONTNEED) == 0)
        return 0;
    /* The program mlocked the range (the pages themselves are not locked,
     * or they would not be evicted): MADV_DONTNEED refuses such a mapping. */
    if (errno == EINVAL && madvise(addr, len, MADV_DONTNEED_LOCKED) == 0)
        return 0;
    return -errno;
}

void tp_unmap_runs(struct tp_stack *s, const struct iovec *runs, size_t n, int *unmapped)
{
    size_t done = 0;
    if (n > 1 && s->batch_unmap) {
        /* _LOCKED: a run in a range the program mlocked is unmapped as
         * tp_stop_writes unmaps it alone (the pages themselves are never
         * LOCKED: those are neither checked nor evicted). */
        ssize_t bytes = syscall(SYS_process_madvise, PIDFD_SELF_THREAD_GROUP, runs, n, MADV_DONTNEED_LOCKED, 0u);
        /* Refused before the first run: an older kernel (no PIDFD_SELF,
         * EBADF, or not this advice there, EINVAL: Linux 6.13 takes any
         * on the process itself): one call a run from now on, as before
         * either was offered. A first run the program has just unmapped
         * (ENOMEM: the pager has yet to read that event) refuses only
         * this call. */
        if (bytes < 0 && errno != ENOMEM)
            s->batch_unmap = 0;
        /* What it did, in order, up to the run that failed. */
        for (size_t left = bytes > 0 ? (size_t)bytes : 0; done < n && left >= runs[done].iov_len; done++) {
            left -= runs[done].iov_len;
            unmapped[done] = 1;
        }
    }
    for (; done < n; done++)
        unmapped[done] = tp_stop_writes(s, runs[done].iov_base, runs[done].iov_len / s->page_size) == 0;
}

int tp_page_changed_in_file(const struct tp_stack *s, int memfd, off_t offset, const void *content)
{
    _Alignas(64) unsigned char now[s->page_size];
    return pread(memfd, now, s->page_size, offset) != (ssize_t)s->page_size ||
           memcmp(now, content, s->page_size) != 0;
}

long tp_pages_written_by_kernel(struct tp_stack *s, char *addr, size_t count, uint64_t *written)
{
    assert(count <= 64);
    return tp_written_scan(s->pagemap_fd, addr, count, s->page_size, 0, written);
}

int tp_page_written_by_kernel(struct tp_stack *s, char *addr)
{
    uint64_t written;
    long rc = tp_pages_written_by_kernel(s, addr, 1, &written);
    return rc < 0 ? (int)rc : rc > 0;
}

/* Pages scanned in one call at a fork: a bitmap of 512 bytes. */
#define FORK_SCAN_PAGES 4096u

/* Pages lock held. Of r's resident pages [first, first + count): each
 * that reads as written and was mapped write-protected becomes DIRTY. A
 * prefetched page never mapped reads as written but is not. */
static int mark_written_run(struct tp_stack *s, struct tp_region *r, uint32_t first, uint32_t count)
{
    uint64_t written[FORK_SCAN_PAGES / 64];
    while (count) {
        uint32_t n = count < FORK_SCAN_PAGES ? count : FORK_SCAN_PAGES;
        long rc = tp_written_scan(s->pagemap_fd, tp_page_addr(s, r, first), n, s->page_size, 0, written);
        if (rc < 0)
            return (int)rc;
        for (uint32_t i = 0; rc > 0 && i < n; i++) {
            struct tp_page *p = tp_page(&s->pages, first + i);
            if (tp_written_test(written, i) && !(p->flags & TP_PAGE_DIRTY) && !tp_page_never_mapped(p)) {
                tp_prefetch_used_ahead(s, first + i, TP_AHEAD_FOUND_WRITTEN);
                tp_page_mark_dirty(&s->pages, first + i);
                s->counters.kernel_written++;
            }
        }
        first += n;
        count -= n;
    }
    return 0;
}

/* Pages lock held: calls `run` for each run of r's resident pages for
 * which `wanted` is true, stopping at the first failure. */
static int each_resident_run(struct tp_stack *s, struct tp_region *r, int (*wanted)(const struct tp_page *),
                             int (*run)(struct tp_stack *, struct tp_region *, uint32_t, uint32_t))
{
    struct tp_page_walk walk;
    uint32_t at, n, run_first = 0, run_count = 0;
    int rc = 0;
    tp_page_walk_start(&walk, &s->pages.map, r->first_id, r->page_count);
    while (rc == 0 && tp_page_walk_next(&walk, &at, &n)) {
        for (uint32_t id = at; id < at + n && rc == 0; id++) {
            if (!wanted(tp_page(&s->pages, id)))
                continue;
            if (run_count && run_first + run_count == id) {
                run_count++;
                continue;
            }
            if (run_count)
                rc = run(s, r, run_first, run_count);
            run_first = id;
            run_count = 1;
        }
    }
    tp_page_walk_end(&walk);
    if (rc == 0 && run_count)
        rc = run(s, r, run_first, run_count);
    return rc;
}

static int is_resident(const struct tp_page *p)
{
    return p->state == TP_PAGE_RESIDENT;
}

static int is_resident_clean(const struct tp_page *p)
{
    return p->state == TP_PAGE_RESIDENT && !(p->flags & TP_PAGE_DIRTY);
}

int tp_write_tracking_fork_parent(struct tp_stack *s)
{
    TP_ASSERT_HELD(&s->lock);
    if (s->write_tracking != TP_WRITES_KERNEL)
        return 0;
    for (size_t i = 0; i < s->region_count; i++) {
        int rc = tp_kernel_tracks_writes(s, s->regions[i])
                     ? each_resident_run(s, s->regions[i], is_resident, mark_written_run)
                     : 0;
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int protect_run(struct tp_stack *s, struct tp_region *r, uint32_t first, uint32_t count)
{
    return tp_uffd_writeprotect(s->uffd, tp_page_addr(s, r, first), (size_t)count * s->page_size, 1, 0);
}

int tp_write_tracking_fork_child(struct tp_stack *s, tierpage_error *err)
{
    if (s->write_tracking != TP_WRITES_KERNEL)
        return 0;
    close(s->pagemap_fd); /* the parent's address space */
    s->pagemap_fd = tp_written_open();
    if (s->pagemap_fd < 0)
        return tierpage_error_set(err, s->pagemap_fd, NULL, "cannot open /proc/self/pagemap in the child: %s",
                                  strerror(-s->pagemap_fd));
    tp_lock_take(&s->lock);
    int rc = 0;
    for (size_t i = 0; i < s->region_count && rc == 0; i++)
        rc = each_resident_run(s, s->regions[i], is_resident_clean, protect_run);
    tp_lock_drop(&s->lock);
    if (rc < 0)
        return tierpage_error_set(err, rc, NULL, "cannot write-protect the child's clean pages: %s", strerror(-rc));
    return 0;
}
