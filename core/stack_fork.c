/* fork with the semantics of private memory. Served memory is a memfd
 * the program maps shared, kept out of children (MADV_DONTFORK). Around a
 * fork the pager is frozen (no page moving), and the forking thread copies
 * every resident page (at most the resident cap) into a new memfd per
 * region file; the child maps those at the same addresses, registers them
 * with a userfaultfd of its own and starts its own handlers and evictor on
 * its copy of the page map. Pages in a tier whose store is private memory
 * (TIERPAGE_STORE_FORK_PRIVATE) are the child's through the kernel's
 * copy-on-write. A tier whose store keeps a forked child's pages apart
 * (TIERPAGE_STORE_FORK_APART: the pmem store's file of the child's own) is
 * opened afresh in the child, under the child's own instance id, and the
 * parent, still frozen, sends the child each page such a tier holds over
 * a socket; the child puts them into its store before it returns from
 * fork(). The parent thaws once the last page is sent. A store whose
 * child's pages live on a server (drop_child: memcached, redis) has them
 * removed by the parent once the child is gone (fork_reaper.h). A stack
 * with any other tier keeps served memory from children (preload.c). A
 * stack tierpaged serves has its child's copy made by the daemon
 * (daemon_fork.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evictor_thread.h"
#include "fault_handler.h"
#include "fork_reaper.h"
#include "instance_id.h"
#include "stack_internal.h"
#include "tier_chain.h"
#include "tierpage_private.h"
#include "uffd.h"
#include "write_tracking.h"

/* A tier whose pages the parent sends the child: not private memory, or
 * with a write-back queue (whose pages are in the parent's queue). */
static int is_streamed(const struct tp_tier *t)
{
    return !(t->flags & TIERPAGE_STORE_FORK_PRIVATE) || t->writeback;
}

/* Stack lock held. Why a child of this stack cannot have served memory,
 * into `why`; 0 when it can. */
static int fork_refusal(struct tp_stack *s, char *why, size_t len)
{
    for (size_t i = 0; i < s->tier_count; i++) {
        const struct tp_tier *t = &s->tiers[i];
        if (!(t->flags & TIERPAGE_STORE_FORK_PRIVATE) && !(t->ops->flags & TIERPAGE_STORE_FORK_APART)) {
            snprintf(why, len, "tier '%s' (plugin %s) is shared with the parent, and a child's copy of it is not "
                     "supported yet", t->name, t->ops->name);
            return 1;
        }
    }
    return 0;
}

/* Both locks held. A socket to send the child the pages of streamed
 * tiers, when they hold any. */
static int open_stream(struct tp_stack *s, char *why, size_t len)
{
    s->fork.stream[0] = s->fork.stream[1] = -1;
    int any = 0;
    for (size_t t = 0; t < s->tier_count; t++)
        any |= is_streamed(&s->tiers[t]) && s->pages.tiers[t].count > 0;
    if (any && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s->fork.stream) < 0) {
        snprintf(why, len, "cannot make a socket to copy its tiers' pages: %s", strerror(errno));
        s->fork.stream[0] = s->fork.stream[1] = -1;
        return -1;
    }
    return 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void close_stream(struct tp_stack *s, int end)
{
    close_fd(&s->fork.stream[end]);
}

/* One page sent to the child: its id, its tier, its content. */
struct stream_record {
    uint32_t id;
    uint32_t tier;   /* TP_NO_TIER after the last page */
};

/* All of buf sent (`sending`) or received; -1 when the other side went. */
static int transfer_all(int fd, void *buf, size_t len, int sending)
{
    char *p = buf;
    while (len) {
        ssize_t n = sending ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Pages read from a tier at once for the child: one round trip for a
 * batch from a server. */
#define SEND_BATCH 32

/* Reads the n pages ids[] of tier t into pages (a batch, then one by one
 * with retries for any the batch missed) and sends them; -1 when the
 * child went away. */
static int send_batch(struct tp_stack *s, size_t t, size_t n, const uint32_t *ids, unsigned char *pages)
{
    void *ptrs[SEND_BATCH] = {0};
    int results[SEND_BATCH];
    for (size_t j = 0; j < n; j++)
        ptrs[j] = pages + j * s->page_size;
    tp_tier_get_batch(s, t, n, ids, ptrs, results);
    for (size_t j = 0; j < n; j++) {
        tierpage_error err = {{0}, {0}};
        if (results[j] != 0 && tp_tier_get(s, t, ids[j], ptrs[j], &err) < 0)
            tp_fatal("cannot read page %u from tier '%s' for a forked child: %s", ids[j], s->tiers[t].name,
                     err.message);
        struct stream_record rec = {ids[j], (uint32_t)t};
        if (transfer_all(s->fork.stream[1], &rec, sizeof rec, 1) < 0 ||
            transfer_all(s->fork.stream[1], ptrs[j], s->page_size, 1) < 0)
            return -1;
    }
    return 0;
}

/* In the parent, regions lock held, the stack lock not, the pages
 * frozen: no page moves, so each streamed tier holds what the page map
 * says. A child that went away ends the sending. */
static void send_pages(struct tp_stack *s)
{
    unsigned char *pages = malloc(SEND_BATCH * s->page_size);
    if (!pages)
        tp_fatal("out of memory to copy a forked child's pages");
    uint32_t ids[SEND_BATCH];
    size_t n = 0, batch_tier = TP_NO_TIER;
    int gone = 0;
    for (size_t i = 0; i < s->region_count && !gone; i++) {
        struct tp_region *r = s->regions[i];
        struct tp_page_walk walk;
        uint32_t run, count;
        tp_lock_take(&s->lock);
        tp_page_walk_start(&walk, &s->pages.map, r->first_id, r->page_count);
        while (!gone && tp_page_walk_next(&walk, &run, &count)) {
            for (uint32_t id = run; id < run + count && !gone; id++) {
                const struct tp_page *p = tp_page_find(&s->pages.map, id);
                size_t t = p ? p->tier : TP_NO_TIER;
                if (t == TP_NO_TIER || !is_streamed(&s->tiers[t]))
                    continue;
                if (n && (t != batch_tier || n == SEND_BATCH)) {
                    tp_lock_drop(&s->lock);
                    gone = send_batch(s, batch_tier, n, ids, pages) < 0;
                    tp_lock_take(&s->lock);
                    n = 0;
                }
                batch_tier = t;
                ids[n++] = id;
            }
        }
        tp_page_walk_end(&walk);
        tp_lock_drop(&s->lock);
    }
    if (!gone && n)
        gone = send_batch(s, batch_tier, n, ids, pages) < 0;
    free(pages);
    if (gone)
        return;
    struct stream_record end = {TP_NIL, TP_NO_TIER};
    transfer_all(s->fork.stream[1], &end, sizeof end, 1);
}

/* In the child: the parent's pages, into the child's own stores, in
 * batches. */
#define RECEIVE_BATCH 32

static int receive_pages(struct tp_stack *s, tierpage_error *err)
{
    int fd = s->fork.stream[0];
    unsigned char *pages = malloc(RECEIVE_BATCH * s->page_size);
    if (!pages)
        return tierpage_error_set(err, -ENOMEM, NULL, "out of memory for the parent's pages");
    uint64_t ids[RECEIVE_BATCH];
    const void *ptrs[RECEIVE_BATCH];
    size_t n = 0, batch_tier = TP_NO_TIER;
    int rc = 0;
    for (;;) {
        struct stream_record rec;
        if (transfer_all(fd, &rec, sizeof rec, 0) < 0) {
            rc = tierpage_error_set(err, -EPIPE, NULL, "the parent stopped sending its pages");
            break;
        }
        if (n && (rec.tier != batch_tier || n == RECEIVE_BATCH)) {
            rc = tp_tier_put_now(s, batch_tier, n, ids, ptrs, err);
            n = 0;
            if (rc < 0)
                break;
        }
        if (rec.tier == TP_NO_TIER)
            break;
        if (rec.tier >= s->tier_count || transfer_all(fd, pages + n * s->page_size, s->page_size, 0) < 0) {
            rc = tierpage_error_set(err, -EPIPE, NULL, "the parent stopped sending its pages");
            break;
        }
        batch_tier = rec.tier;
        ids[n] = rec.id;
        ptrs[n] = pages + n * s->page_size;
        n++;
    }
    free(pages);
    return rc;
}

static void drop_copies(struct tp_stack *s)
{
    for (size_t i = 0; i < s->region_count; i++) {
        struct tp_region_file *f = s->regions[i]->file;
        if (f->child_memfd >= 0)
            close(f->child_memfd);
        f->child_memfd = -1;
    }
}

/* Pages [first, first+count) of r into the child's copy of its file. */
static int copy_run(struct tp_stack *s, struct tp_region *r, size_t first, size_t count)
{
    size_t bytes = count * s->page_size, done = 0;
    off_t off = r->offset + (off_t)(first * s->page_size);
    while (done < bytes) {
        ssize_t w = pwrite(r->file->child_memfd, r->alias + first * s->page_size + done, bytes - done,
                           off + (off_t)done);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            if (w == 0)
                errno = ENOSPC;
            return -1;
        }
        done += (size_t)w;
    }
    return 0;
}

/* Both locks held, the pages frozen, their copies made. The pages the
 * kernel saw written become DIRTY, in the page map the child copies: the
 * child starts without the parent's page tables, where the writes are
 * recorded. After the copies: the program's other threads write on (no
 * write-protect fault stops them), and a page written before its copy
 * was made must not be clean in the child. */
static int note_kernel_writes(struct tp_stack *s, char *why, size_t len)
{
    int rc = tp_write_tracking_fork_parent(s);
    if (rc < 0)
        snprintf(why, len, "cannot read which of its pages were written: %s", strerror(-rc));
    return rc;
}

/* Both locks held, the pages frozen. Copy the resident pages of every
 * region into the child's memfds, consecutive pages in one write. */
static int copy_resident(struct tp_stack *s, char *why, size_t len)
{
    for (size_t i = 0; i < s->region_count; i++) {
        struct tp_region *r = s->regions[i];
        struct tp_region_file *f = r->file;
        if (f->child_memfd < 0) {
            struct stat st;
            if (fstat(f->memfd, &st) < 0)
                goto fail;
            f->child_memfd = memfd_create("tierpage", MFD_CLOEXEC);
            if (f->child_memfd < 0 || ftruncate(f->child_memfd, st.st_size) < 0)
                goto fail;
        }
        /* Only touched pages can be resident: walk those, joining runs
         * that continue from one chunk into the next. */
        struct tp_page_walk walk;
        uint32_t at, n;
        size_t run_first = 0, run = 0;
        int failed = 0;
        tp_page_walk_start(&walk, &s->pages.map, r->first_id, r->page_count);
        while (!failed && tp_page_walk_next(&walk, &at, &n)) {
            for (uint32_t id = at; id < at + n && !failed; id++) {
                size_t k = id - r->first_id;
                if (tp_page(&s->pages, id)->state != TP_PAGE_RESIDENT)
                    continue;
                if (run && run_first + run == k) {
                    run++;
                    continue;
                }
                failed = run && copy_run(s, r, run_first, run) < 0;
                run_first = k;
                run = 1;
            }
        }
        tp_page_walk_end(&walk);
        if (failed || (run && copy_run(s, r, run_first, run) < 0))
            goto fail;
    }
    return 0;

fail:
    snprintf(why, len, "cannot copy its resident pages: %s", strerror(errno));
    drop_copies(s);
    return -1;
}

int tp_fork_read_protections(struct tp_stack *s, char *why, size_t len)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    size_t size = 0, alloc = 1 << 16;
    char *text = malloc(alloc);
    if (fd < 0 || !text)
        goto fail;
    for (;;) {
        if (alloc - size < 4096) {
            char *bigger = realloc(text, alloc * 2);
            if (!bigger)
                goto fail;
            text = bigger;
            alloc *= 2;
        }
        ssize_t n = read(fd, text + size, alloc - size - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto fail;
        if (n == 0)
            break;
        size += (size_t)n;
    }
    close(fd);
    fd = -1;
    text[size] = '\0';
    size_t alloc_entries = 0;
    for (char *line = text; *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line)) {
        char *p;
        unsigned long lo = strtoul(line, &p, 16), hi = *p == '-' ? strtoul(p + 1, &p, 16) : 0;
        if (*p != ' ' || !tp_region_find(s, (void *)lo))
            continue;
        int prot = (p[1] == 'r' ? PROT_READ : 0) | (p[2] == 'w' ? PROT_WRITE : 0) | (p[3] == 'x' ? PROT_EXEC : 0);
        if (prot == (PROT_READ | PROT_WRITE))
            continue;
        if (s->fork.protection_count == alloc_entries) {
            alloc_entries = alloc_entries ? alloc_entries * 2 : 16;
            struct tp_protection *v = realloc(s->fork.protections, alloc_entries * sizeof *v);
            if (!v)
                goto fail;
            s->fork.protections = v;
        }
        s->fork.protections[s->fork.protection_count++] = (struct tp_protection){(char *)lo, hi - lo, prot};
    }
    free(text);
    return 0;

fail:
    snprintf(why, len, "cannot read its memory map: %s", strerror(errno ? errno : ENOMEM));
    if (fd >= 0)
        close(fd);
    free(text);
    return -1;
}

/* Both locks held. The child's instance id, and the pipe that tells the
 * parent it is gone when a tier keeps its pages on a server. */
static int open_lifeline(struct tp_stack *s, char *why, size_t len)
{
    tp_instance_id(s->fork.child_instance, sizeof s->fork.child_instance);
    s->fork.lifeline[0] = s->fork.lifeline[1] = -1;
    int watched = 0;
    for (size_t t = 0; t < s->tier_count; t++)
        watched |= s->tiers[t].ops->drop_child != NULL;
    if (watched && pipe2(s->fork.lifeline, O_CLOEXEC) < 0) {
        snprintf(why, len, "cannot make a pipe to watch it: %s", strerror(errno));
        s->fork.lifeline[0] = s->fork.lifeline[1] = -1;
        return -1;
    }
    return 0;
}

void tp_fork_drop_protections(struct tp_stack *s)
{
    free(s->fork.protections);
    s->fork.protections = NULL;
    s->fork.protection_count = 0;
}

void tp_private_stack_fork_prepare(tp_stack *s)
{
    pthread_mutex_lock(&s->regions_lock);
    tp_lock_take(&s->lock);
    if (s->daemon) {
        tp_daemon_fork_prepare(s);
        return;
    }
    tp_pages_freeze(&s->pages);
    s->fork.copied = 0;
    char *why = s->fork.refusal;
    size_t len = sizeof s->fork.refusal;
    s->fork.stream[0] = s->fork.stream[1] = -1;
    tp_reaper_fork_prepare(s);
    if (fork_refusal(s, why, len) || tp_fork_read_protections(s, why, len) < 0 || open_stream(s, why, len) < 0 ||
        copy_resident(s, why, len) < 0 || note_kernel_writes(s, why, len) < 0 || open_lifeline(s, why, len) < 0) {
        drop_copies(s);
        tp_fork_drop_protections(s);
        close_stream(s, 0);
        close_stream(s, 1);
        return;
    }
    s->fork.copied = 1;
}

void tp_private_stack_fork_parent(tp_stack *s)
{
    if (s->daemon) {
        tp_daemon_fork_parent(s);
        tp_lock_drop(&s->lock);
        pthread_mutex_unlock(&s->regions_lock);
        return;
    }
    drop_copies(s);
    tp_fork_drop_protections(s);
    close_stream(s, 0);
    close_fd(&s->fork.lifeline[1]);
    tp_reaper_fork_parent(s, s->fork.lifeline[0], s->fork.child_instance);
    s->fork.lifeline[0] = -1;
    if (s->fork.stream[1] >= 0) {
        tp_lock_drop(&s->lock);
        send_pages(s);
        close_stream(s, 1);
        tp_lock_take(&s->lock);
    }
    tp_pages_thaw(&s->pages);
    pthread_cond_signal(&s->evictor.wake);
    tp_lock_drop(&s->lock);
    pthread_mutex_unlock(&s->regions_lock);
}

int tp_fork_map_region(struct tp_stack *s, struct tp_region *r, tierpage_error *err)
{
    int fd = r->file->memfd;
    void *start = mmap(r->start, r->length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, r->offset);
    if (start != r->start)
        return tierpage_error_set(err, -EEXIST, NULL, "cannot map served memory at %p in the child: %s",
                                  (void *)r->start, start == MAP_FAILED ? strerror(errno) : "the range is taken");
    void *alias = mmap(r->alias, r->length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, r->offset);
    if (alias != r->alias) {
        if (alias != MAP_FAILED)
            munmap(alias, r->length);
        alias = mmap(NULL, r->length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, r->offset);
        if (alias == MAP_FAILED)
            return tierpage_error_set(err, -errno, NULL, "cannot map the pager's view in the child: %s",
                                      strerror(errno));
        r->alias = alias;
    }
    if (madvise(r->start, r->length, MADV_DONTFORK) < 0 || madvise(r->alias, r->length, MADV_DONTFORK) < 0)
        return tierpage_error_set(err, -errno, NULL, "madvise(MADV_DONTFORK) in the child: %s", strerror(errno));
    r->uffd = s->uffd;
    int rc = tp_uffd_register(s->uffd, r->start, r->length, tp_stack_minor_faults(s));
    if (rc < 0)
        return tierpage_error_set(err, rc, NULL, "cannot register served memory in the child: %s", strerror(-rc));
    return 0;
}

/* The child's copy of the page map, as the child now has it: locks are
 * not inherited; with no minor faults (fifo) a resident page is mapped by
 * the kernel writable on first use, unseen: count it written. */
static void adopt_pages(struct tp_stack *s)
{
    tp_lock_take(&s->lock);
    for (size_t i = 0; i < s->region_count; i++) {
        struct tp_region *r = s->regions[i];
        struct tp_page_walk walk;
        uint32_t run, n;
        tp_page_walk_start(&walk, &s->pages.map, r->first_id, r->page_count);
        while (tp_page_walk_next(&walk, &run, &n)) {
            for (uint32_t id = run; id < run + n; id++) {
                tp_page_set_locked(&s->pages, id, 0);
                if (tp_page(&s->pages, id)->state == TP_PAGE_RESIDENT && !tp_stack_minor_faults(s))
                    tp_page_note_write(&s->pages, id);
            }
        }
        tp_page_walk_end(&walk);
    }
    tp_lock_drop(&s->lock);
    uint64_t mapped = s->counters.mapped_bytes;
    memset(&s->counters, 0, sizeof s->counters);
    s->counters.mapped_bytes = mapped;
    for (size_t t = 0; t < s->tier_count; t++) {
        struct tp_tier *tier = &s->tiers[t];
        tier->hits = tier->puts = tier->demotions = tier->bytes_in = tier->bytes_out = tier->full_events = 0;
    }
}

int tp_fork_restore_protections(struct tp_stack *s, tierpage_error *err)
{
    for (size_t i = 0; i < s->fork.protection_count; i++) {
        const struct tp_protection *p = &s->fork.protections[i];
        if (mprotect(p->start, p->length, p->prot) < 0)
            return tierpage_error_set(err, -errno, NULL, "cannot protect %zu bytes at %p in the child: %s",
                                      p->length, (void *)p->start, strerror(errno));
    }
    tp_fork_drop_protections(s);
    return 0;
}

int tp_private_stack_fork_child(tp_stack *s, tierpage_error *err)
{
    /* The locks were taken by this thread before the fork; the parent's
     * other threads, which may have held the rest, are not here. */
    tp_lock_init(&s->lock);
    pthread_mutex_init(&s->regions_lock, NULL);
    pthread_cond_init(&s->pages.idle, NULL);
    for (size_t t = 0; t < s->tier_count; t++)
        pthread_mutex_init(&s->tiers[t].serial_lock, NULL);
    s->pages.frozen = 0;
    if (s->daemon)
        return tp_daemon_fork_child(s, err);
    /* The parent's watch over its children, and this process's place in
     * its own parent's (a grandchild must not keep the child watched). */
    tp_reaper_fork_child(s);
    close_fd(&s->fork.own_lifeline);
    close_fd(&s->fork.lifeline[0]);
    s->fork.own_lifeline = s->fork.lifeline[1];
    s->fork.lifeline[1] = -1;
    if (!s->fork.copied) {
        /* The stores stay the parent's: let go of what this process holds
         * for them (a pmem file's lock), should it outlive the parent. */
        for (size_t t = 0; t < s->tier_count; t++)
            if (!(s->tiers[t].flags & TIERPAGE_STORE_FORK_PRIVATE) && s->tiers[t].ops->forget)
                s->tiers[t].ops->forget(s->tiers[t].store);
        return tierpage_error_set(err, -ENOTSUP, NULL, "%s", s->fork.refusal);
    }

    close(s->uffd); /* the parent's: reading it would take the parent's faults */
    char msg[256];
    s->uffd = tp_uffd_open(s->write_tracking == TP_WRITES_KERNEL, msg, sizeof msg);
    if (s->uffd < 0)
        return tierpage_error_set(err, s->uffd, NULL, "%s", msg);
    tp_handlers_forget(s);
    tp_evictor_forget(s);
    for (size_t i = 0; i < s->region_count; i++) {
        struct tp_region_file *f = s->regions[i]->file;
        if (f->child_memfd >= 0) {
            close(f->memfd);
            f->memfd = f->child_memfd;
            f->child_memfd = -1;
        }
    }
    for (size_t i = 0; i < s->region_count; i++) {
        int rc = tp_fork_map_region(s, s->regions[i], err);
        if (rc < 0)
            return rc;
    }
    int rc = tp_fork_restore_protections(s, err);
    if (rc == 0)
        rc = tp_write_tracking_fork_child(s, err);
    if (rc < 0)
        return rc;
    adopt_pages(s);
    char parent_instance[sizeof s->instance];
    memcpy(parent_instance, s->instance, sizeof parent_instance);
    memcpy(s->instance, s->fork.child_instance, sizeof s->instance);
    /* The parent holds the namespace (exclusive or not): the child's
     * pages are under its own instance. */
    s->exclusive_namespace = 0;
    close_stream(s, 1);
    for (size_t t = 0; t < s->tier_count && rc == 0; t++)
        if (is_streamed(&s->tiers[t]))
            rc = tp_tier_reopen_in_child(s, t, parent_instance, err);
    if (rc == 0 && s->fork.stream[0] >= 0)
        rc = receive_pages(s, err);
    close_stream(s, 0);
    if (rc < 0)
        return rc;
    rc = tp_evictor_start(s, err);
    if (rc == 0)
        rc = tp_handlers_start(s, s->handler_threads, err);
    return rc;
}
