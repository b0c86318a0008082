#include "fault_handler.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock_ns.h"
#include "eviction.h"
#include "evictor_thread.h"
#include "pager_thread.h"
#include "prefetch.h"
#include "tier_chain.h"
#include "uffd.h"
#include "write_tracking.h"

struct fault {
    int uffd;    /* the userfaultfd it was read from */
    char *addr;  /* page-aligned */
    int write;
    uint32_t ticket; /* the resident set's tick when it was read */
    struct tp_region *region; /* valid only while the stack lock is held */
    bool foreign;              /* the region's, copied: it may be freed once the lock is dropped */
    uint32_t id;
    uint64_t taken_ns; /* when a handler took it, for the latency histogram */
};

/* Called with the stack lock held, the page idle; releases the lock before
 * returning. A first write to a clean page: its tier copy (if any) is now
 * stale. */
/* A page of another process (a tierpaged client) could not be mapped
 * because that process exited (ESRCH) or unmapped the range (ENOENT): its
 * business, not a reason to stop the pager. */
static int client_gone(const struct fault *f, int rc)
{
    return f->foreign && (rc == -ESRCH || rc == -ENOENT);
}

static void resolve_write_protect(struct tp_stack *s, struct fault *f)
{
    TP_ASSERT_HELD(&s->lock);
    const struct tp_page *p = tp_page_find(&s->pages.map, f->id);
    if (!p || p->state != TP_PAGE_RESIDENT) {
        /* Evicted while the writer waited: retry to get a missing fault. */
        tp_lock_drop(&s->lock);
        tp_uffd_wake(f->uffd, f->addr, s->page_size);
        return;
    }
    if (tp_page_note_write(&s->pages, f->id))
        s->counters.write_faults++;
    tp_prefetch_used_ahead(s, f->id, TP_AHEAD_WRITE_FAULT);
    /* BUSY until writable: an evictor that write-protected and copied the
     * page in between would lose the writes that follow. */
    tp_page_claim(&s->pages, f->id);
    tp_lock_drop(&s->lock);
    int rc = tp_uffd_writeprotect(f->uffd, f->addr, s->page_size, 0, 1);
    tp_page_release_unlocked(&s->pages, f->id);
    if (rc == -EAGAIN) /* the address space was changing: the writer faults again */
        rc = tp_uffd_wake(f->uffd, f->addr, s->page_size);
    if (rc < 0 && !client_gone(f, rc))
        tp_stack_fail(s, "cannot let the program write the page at %p: %s", (void *)f->addr, strerror(-rc));
}

/* Called with the stack lock held, the page idle; releases the lock before
 * returning. The page is in the memfd but its mapping was zapped by the
 * clock hand. */
static void resolve_minor(struct tp_stack *s, struct fault *f)
{
    TP_ASSERT_HELD(&s->lock);
    struct tp_page *p = tp_page_find(&s->pages.map, f->id);
    if (!p || p->state != TP_PAGE_RESIDENT) {
        tp_lock_drop(&s->lock);
        tp_uffd_wake(f->uffd, f->addr, s->page_size);
        return;
    }
    /* A prefetched page's first use maps it as resolve_missing would have. */
    int kernel = tp_kernel_tracks_writes(s, f->region);
    int never_mapped = tp_page_never_mapped(p);
    /* Fetched from a remote tier without the kernel's tracking, it has
     * the digest of its content (prefetch.c), unchanged until now. */
    int unsure = !f->write && p->tier != TP_NO_TIER &&
                 (tp_tier_is_local(s, p->tier) ||
                  (!kernel && tp_page_digest_known(tp_resident_digest(&s->pages.resident, &s->pages.map, f->id))));
    int prefetched = tp_page_note_prefetch_use(&s->pages, f->id, (f->write || unsure ? TP_RESIDENT_DIRTY : 0u) |
                                                                     (unsure ? TP_RESIDENT_UNSURE : 0u));
    if (prefetched) {
        s->counters.prefetch_hits++;
    } else {
        s->counters.minor_faults++;
        tp_page_note_use(&s->pages, f->id, f->write);
    }
    int protect = !(p->flags & TP_PAGE_DIRTY);
    if (protect && kernel && !never_mapped) {
        /* Mapped again write-protected, it would read as unwritten: ask
         * the kernel first whether it was written before its mapping went
         * (the clock's check, or the kernel's own reclaim). A prefetched
         * page never mapped ahead has its tier's copy for content. */
        int written = tp_page_written_by_kernel(s, f->addr);
        if (written != 0) { /* or the kernel could not say: count it written */
            tp_page_mark_dirty(&s->pages, f->id);
            s->counters.kernel_written += written > 0;
            protect = 0;
        }
    }
    /* BUSY until mapped: an evictor could otherwise punch the page from
     * the memfd in between (the map then fails: "Bad address"), or copy it
     * before a writable mapping lets the program change it. */
    tp_page_claim(&s->pages, f->id);
    /* Kernels before 6.4 map it writable for a moment before protecting it
     * (tp_uffd_continue), where another thread of the program may write
     * it unseen: its content before tells. */
    int compare = protect && !tp_uffd_continue_wp_is_exact();
    int memfd = f->region->file->memfd;
    off_t offset = tp_page_offset(s, f->region, f->id);
    tp_lock_drop(&s->lock);
    _Alignas(64) unsigned char before[s->page_size];
    int known = compare && pread(memfd, before, s->page_size, offset) == (ssize_t)s->page_size;
    int rc = tp_uffd_continue(f->uffd, f->addr, s->page_size, protect);
    int mapped = rc == 0 || rc == -EEXIST;
    if (compare && mapped && !tp_uffd_continue_wp_is_exact() &&
        (!known || tp_page_changed_in_file(s, memfd, offset, before))) {
        tp_lock_take(&s->lock);
        tp_page_mark_dirty(&s->pages, f->id);
        tp_page_release(&s->pages, f->id);
        tp_lock_drop(&s->lock);
    } else {
        tp_page_release_unlocked(&s->pages, f->id);
    }
    if (rc < 0 && rc != -EEXIST && !client_gone(f, rc)) {
        tp_stack_fail(s, "cannot map page at %p: UFFDIO_CONTINUE: %s", (void *)f->addr, strerror(-rc));
        return;
    }
    if (rc == -EEXIST)
        tp_uffd_wake(f->uffd, f->addr, s->page_size);
    if (prefetched) /* after the program is woken: it waits for nothing here */
        tp_prefetch_after_fault(s, f->id, TP_NO_TIER, 1);
}

/* After the stack lock was dropped: whether f->addr is still served as page
 * f->id, or was unmapped (its id perhaps given to another region since).
 * f->region is brought up to date: the region may have been cut meanwhile. */
static int still_served(struct tp_stack *s, struct fault *f)
{
    struct tp_region *r = tp_region_find(s, f->addr);
    f->region = r;
    f->foreign = r && r->foreign;
    return r && r->first_id + (uint32_t)((size_t)(f->addr - r->start) / s->page_size) == f->id;
}

/* Called with the stack lock held, the page idle; releases the lock before
 * returning. The page is not mapped: bring it in from its tier, or as
 * zeros. */
static void resolve_missing(struct tp_stack *s, struct fault *f)
{
    TP_ASSERT_HELD(&s->lock);
    const struct tp_page *seen = tp_page_find(&s->pages.map, f->id);
    if ((seen && seen->state == TP_PAGE_RESIDENT) || tp_region_cutting(f->region, f->id) ||
        tp_page_left_since(&s->pages, f->id, f->ticket)) {
        tp_lock_drop(&s->lock);
        tp_uffd_wake(f->uffd, f->addr, s->page_size);
        return;
    }
    tierpage_error err = {{0}, {0}};
    int rc = tp_make_room(s, 1, &err);
    if (rc < 0) {
        tp_lock_drop(&s->lock);
        tp_stack_fail(s, "cannot evict to make room for page at %p: %s", (void *)f->addr, err.message);
        return;
    }
    /* The lock was dropped while evicting: look again. The page's
     * metadata is made here, on its first touch, and held from the claim. */
    tp_page_wait_idle(&s->pages, f->id);
    if (!still_served(s, f) || tp_region_cutting(f->region, f->id)) {
        tp_lock_drop(&s->lock);
        tp_uffd_wake(f->uffd, f->addr, s->page_size);
        return;
    }
    struct tp_page *p = tp_page_touch(&s->pages.map, f->id);
    if (!p) {
        tp_lock_drop(&s->lock);
        tp_stack_fail(s, "out of memory for the metadata of page at %p", (void *)f->addr);
        return;
    }
    if (p->state == TP_PAGE_RESIDENT) {
        tp_lock_drop(&s->lock);
        tp_uffd_wake(f->uffd, f->addr, s->page_size);
        return;
    }
    tp_page_claim(&s->pages, f->id);
    tp_page_reserve_resident(&s->pages);
    s->counters.faults++;
    tp_evictor_poke(s);
    int from_tier = p->state == TP_PAGE_STORED ? p->tier : -1;
    /* A page read back from a tier is mapped writable at once: a read is
     * most often followed by a write, which would otherwise cost a second
     * fault (or, with the kernel's write tracking, a write the kernel
     * resolves and a PAGEMAP_SCAN at eviction). Whether it was written is
     * settled at eviction: compared with the tier's copy where that is
     * cheap (a local tier), else with the digest of what it was mapped
     * with. Where the kernel tracks writes, a remote tier's page is left
     * to it (no digest to take, nothing to read at a clean eviction). */
    int local = from_tier >= 0 && tp_tier_is_local(s, (size_t)from_tier);
    int digested = !f->write && from_tier >= 0 && tp_tier_digests_reads(s, f->region, (size_t)from_tier);
    int unsure = !f->write && (local || digested);
    int writable = f->write || unsure;
    tp_lock_drop(&s->lock);

    _Alignas(64) unsigned char buf[s->page_size];
    const void *src = s->zero_page;
    if (from_tier >= 0) {
        rc = tp_tier_get(s, (size_t)from_tier, f->id, buf, &err);
        if (rc < 0) {
            /* Backing out (tierpaged): the page stays in its tier, idle. */
            tp_lock_take(&s->lock);
            tp_page_unreserve_resident(&s->pages);
            tp_page_release(&s->pages, f->id);
            tp_lock_drop(&s->lock);
            if (rc == -ENOENT)
                tp_stack_fail(s, "page at %p (page %u) is missing from tier '%s', which should hold it",
                              (void *)f->addr, f->id, s->tiers[from_tier].name);
            else
                tp_stack_fail(s, "cannot read page at %p (page %u) from tier '%s': %s", (void *)f->addr, f->id,
                              s->tiers[from_tier].name, err.message);
            return;
        }
        src = buf;
    }
    struct tp_page_digest digest = {0, 0};
    if (digested)
        digest = tp_page_digest(s->digest_seed, buf, s->page_size);
    /* Account for the page before mapping it: the mapping wakes the
     * program, which may read the stats at once. It stays BUSY until mapped. */
    tp_lock_take(&s->lock);
    tp_page_make_resident(&s->pages, f->id, (writable ? TP_RESIDENT_DIRTY : 0u) | (unsure ? TP_RESIDENT_UNSURE : 0u));
    if (digested)
        tp_resident_set_digest(&s->pages.resident, &s->pages.map, f->id, digest);
    if (from_tier >= 0)
        s->tiers[from_tier].hits++;
    else
        s->counters.zero_fills++;
    tp_lock_drop(&s->lock);

    /* Any other read maps the page write-protected: it stays clean until
     * written (a write-protect fault, or with the kernel's write tracking
     * a write the kernel resolves and records), and a clean page is
     * dropped on eviction without a write. */
    if (from_tier < 0 && f->write)
        rc = tp_uffd_zeropage(f->uffd, f->addr, s->page_size);
    else
        rc = tp_uffd_copy(f->uffd, f->addr, src, s->page_size, !writable);
    int failed = rc < 0 && rc != -EEXIST && !client_gone(f, rc);
    if (rc == -EEXIST)
        tp_uffd_wake(f->uffd, f->addr, s->page_size);
    tp_fault_latency_note(&s->fault_latency, tp_now_ns() - f->taken_ns);
    tp_page_release_unlocked(&s->pages, f->id);
    if (failed) {
        tp_stack_fail(s, "cannot map page at %p: %s", (void *)f->addr, strerror(-rc));
        return;
    }
    if (from_tier >= 0) /* after the program is woken: it waits for nothing here */
        tp_prefetch_after_fault(s, f->id, (size_t)from_tier, 0);
}

void tp_fault_handle(struct tp_stack *s, int uffd, const struct uffd_msg *msg, uint32_t ticket)
{
    if (msg->event != UFFD_EVENT_PAGEFAULT)
        return;
    if (uffd == s->uffd)
        tp_placement_note_fault(&s->placement, (pid_t)msg->arg.pagefault.feat.ptid);
    struct fault f;
    f.uffd = uffd;
    uint64_t flags = msg->arg.pagefault.flags;
    f.addr = (char *)(uintptr_t)(msg->arg.pagefault.address & ~(uint64_t)(s->page_size - 1));
    f.write = (flags & UFFD_PAGEFAULT_FLAG_WRITE) != 0;
    f.ticket = ticket;
    f.taken_ns = tp_now_ns();

    tp_lock_take(&s->lock);
    f.region = tp_region_find(s, f.addr);
    if (!f.region) {
        tp_lock_drop(&s->lock);
        tp_uffd_wake(uffd, f.addr, s->page_size);
        return;
    }
    f.foreign = f.region->foreign;
    f.id = f.region->first_id + (uint32_t)((size_t)(f.addr - f.region->start) / s->page_size);
    tp_page_wait_idle(&s->pages, f.id);
    if (!still_served(s, &f)) {
        tp_lock_drop(&s->lock);
        tp_uffd_wake(uffd, f.addr, s->page_size);
        return;
    }
    if (flags & UFFD_PAGEFAULT_FLAG_WP)
        resolve_write_protect(s, &f);
    else if (flags & UFFD_PAGEFAULT_FLAG_MINOR)
        resolve_minor(s, &f);
    else
        resolve_missing(s, &f);
}

/* Stopping: the stack touches one page of its doorbell for each handler;
 * the handler that reads the fault answers it and leaves. A handler blocked
 * in read() needs a message to wake, and this one costs nothing while the
 * stack runs. */
static int is_doorbell(const struct tp_stack *s, const struct uffd_msg *msg)
{
    uintptr_t a = (uintptr_t)msg->arg.pagefault.address, d = (uintptr_t)s->doorbell;
    return msg->event == UFFD_EVENT_PAGEFAULT && a >= d && a < d + s->handler_count * s->page_size;
}

int tp_fault_read(struct tp_stack *s, int uffd, struct uffd_msg *msgs, size_t max, uint32_t *newest)
{
    /* A tick for each message, newest first: a message later in the batch
     * may be a duplicate of one found stale before it. */
    *newest = tp_resident_tick(&s->pages.resident, (uint32_t)max);
    ssize_t n = read(uffd, msgs, max * sizeof *msgs);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
    return (int)(n / (ssize_t)sizeof *msgs);
}

struct tp_handler_arg {
    struct tp_stack *stack;
    unsigned index;
};

static void *handler_main(void *arg)
{
    struct tp_handler_arg *me = arg;
    struct tp_stack *s = me->stack;
    char name[16];
    snprintf(name, sizeof name, "tp-fault/%u", me->index);
    tp_pager_thread_begin(name);
    struct uffd_msg msgs[16];
    for (;;) {
        tp_placement_wait_turn(&s->placement, me->index);
        uint32_t newest;
        int n = tp_fault_read(s, s->uffd, msgs, sizeof msgs / sizeof msgs[0], &newest);
        if (n < 0)
            tp_fatal("reading userfaultfd: %s", strerror(-n));
        int leave = 0;
        for (int i = 0; i < n; i++) {
            if (is_doorbell(s, &msgs[i])) {
                uintptr_t page = msgs[i].arg.pagefault.address & ~(uint64_t)(s->page_size - 1);
                tp_uffd_zeropage(s->uffd, (void *)page, s->page_size);
                leave = 1;
            } else {
                tp_fault_handle(s, s->uffd, &msgs[i], newest - (uint32_t)i);
            }
        }
        if (leave)
            return NULL;
    }
}

/* The CPUs this process may run on. */
static int allowed_cpus(int *cpus, int max)
{
    cpu_set_t set;
    int n = 0;
    if (sched_getaffinity(0, sizeof set, &set) < 0)
        return 0;
    for (int c = 0; c < CPU_SETSIZE && n < max; c++)
        if (CPU_ISSET(c, &set))
            cpus[n++] = c;
    return n;
}

int tp_handlers_start(struct tp_stack *s, unsigned handler_threads, tierpage_error *err)
{
    int cpus[TP_MAX_HANDLER_THREADS];
    int ncpus = 0;
    unsigned wanted;
    if (handler_threads == TP_HANDLERS_AUTO) {
        ncpus = allowed_cpus(cpus, TP_MAX_HANDLER_THREADS);
        wanted = ncpus > 0 ? (unsigned)ncpus : 1;
    } else {
        wanted = handler_threads;
    }
    size_t bell_len = wanted * s->page_size;
    s->doorbell_len = bell_len;
    s->doorbell = mmap(NULL, bell_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s->doorbell == MAP_FAILED) {
        s->doorbell = NULL;
        return tierpage_error_set(err, -errno, NULL, "cannot map the handlers' doorbell: %s", strerror(errno));
    }
    struct uffdio_register reg = {.range = {.start = (uintptr_t)s->doorbell, .len = bell_len},
                                  .mode = UFFDIO_REGISTER_MODE_MISSING};
    if (ioctl(s->uffd, UFFDIO_REGISTER, &reg) < 0) {
        int e = errno;
        munmap(s->doorbell, bell_len);
        s->doorbell = NULL;
        return tierpage_error_set(err, -e, NULL, "cannot register the handlers' doorbell: %s", strerror(e));
    }
    tp_placement_init(&s->placement, cpus, ncpus > 0 ? wanted : 0);
    s->handlers = calloc(wanted, sizeof *s->handlers);
    s->handler_args = calloc(wanted, sizeof *s->handler_args);
    if (!s->handlers || !s->handler_args)
        return tierpage_error_set(err, -ENOMEM, NULL, "out of memory");
    s->handler_count = 0;
    for (unsigned i = 0; i < wanted; i++) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        /* One handler on each CPU: the one where a fault happens is woken
         * there, avoiding a wake across CPUs (tens of µs on these VMs). */
        if (ncpus > 0) {
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(cpus[i], &one);
            pthread_attr_setaffinity_np(&attr, sizeof one, &one);
        }
        s->handler_args[i] = (struct tp_handler_arg){.stack = s, .index = i};
        int rc = tp_pager_thread_create(&s->handlers[i], &attr, handler_main, &s->handler_args[i]);
        pthread_attr_destroy(&attr);
        if (rc)
            return tierpage_error_set(err, -rc, NULL, "cannot start a fault handler thread: %s", strerror(rc));
        s->handler_count = i + 1;
    }
    return 0;
}

void tp_handlers_stop(struct tp_stack *s)
{
    if (!s->doorbell)
        return;
    tp_placement_stop(&s->placement);
    for (unsigned i = 0; s->handlers && i < s->handler_count; i++)
        ((volatile char *)s->doorbell)[i * s->page_size]; /* each read is answered by one handler, which leaves */
    for (unsigned i = 0; s->handlers && i < s->handler_count; i++)
        pthread_join(s->handlers[i], NULL);
    free(s->handlers);
    s->handlers = NULL;
    tp_placement_destroy(&s->placement);
    free(s->handler_args);
    s->handler_args = NULL;
    s->handler_count = 0;
    struct uffdio_range r = {.start = (uintptr_t)s->doorbell, .len = s->doorbell_len};
    ioctl(s->uffd, UFFDIO_UNREGISTER, &r);
    munmap(s->doorbell, s->doorbell_len);
    s->doorbell = NULL;
}

void tp_handlers_forget(struct tp_stack *s)
{
    if (!s->doorbell)
        return;
    /* The parent's handlers may have held these at the fork. */
    pthread_mutex_init(&s->placement.lock, NULL);
    pthread_cond_init(&s->placement.changed, NULL);
    tp_placement_destroy(&s->placement);
    free(s->handlers);
    s->handlers = NULL;
    free(s->handler_args);
    s->handler_args = NULL;
    s->handler_count = 0;
    munmap(s->doorbell, s->doorbell_len); /* registered with the parent's userfaultfd, not the child's */
    s->doorbell = NULL;
}
