/* fork with the semantics of private memory. Served memory is a memfd
 * the program maps shared, kept out of children (MADV_DONTFORK). Around a
 * fork the pager is frozen (no page moving), and the forking thread copies
 * every resident page (at most the resident cap) into a new memfd per
 * region file; the child maps those at the same addresses, registers them
 * with a userfaultfd of its own and starts its own handlers and evictor on
 * its copy of the page map. Pages in a tier are the child's through the
 * kernel's copy-on-write of the store's private memory
 * (TIERPAGE_STORE_FORK_PRIVATE): a stack with any other tier, or with a
 * write-back queue, cannot give a child served memory yet, and the child
 * that touches it is stopped (preload.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evictor_thread.h"
#include "fault_handler.h"
#include "instance_id.h"
#include "stack_internal.h"
#include "tierpage_private.h"
#include "uffd.h"

/* Stack lock held. Why a child of this stack cannot have served memory,
 * into `why`; 0 when it can. */
static int fork_refusal(struct tp_stack *s, char *why, size_t len)
{
    if (s->daemon) {
        snprintf(why, len, "its memory is served by tierpaged, which does not serve forked children yet");
        return 1;
    }
    for (size_t i = 0; i < s->tier_count; i++) {
        const struct tp_tier *t = &s->tiers[i];
        if (!(t->ops->flags & TIERPAGE_STORE_FORK_PRIVATE)) {
            snprintf(why, len, "tier '%s' (plugin %s) is shared with the parent", t->name, t->ops->name);
            return 1;
        }
        if (t->writeback) {
            snprintf(why, len, "tier '%s' has a write-back queue", t->name);
            return 1;
        }
    }
    return 0;
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
        size_t run = 0;
        for (size_t k = 0; k <= r->page_count; k++) {
            int resident = k < r->page_count && tp_page(&s->pages, r->first_id + (uint32_t)k)->state == TP_PAGE_RESIDENT;
            if (resident) {
                run++;
                continue;
            }
            size_t first = k - run, bytes = run * s->page_size, done = 0;
            off_t off = r->offset + (off_t)(first * s->page_size);
            while (done < bytes) {
                ssize_t w = pwrite(f->child_memfd, r->alias + first * s->page_size + done, bytes - done,
                                   off + (off_t)done);
                if (w <= 0) {
                    if (w < 0 && errno == EINTR)
                        continue;
                    if (w == 0)
                        errno = ENOSPC;
                    goto fail;
                }
                done += (size_t)w;
            }
            run = 0;
        }
    }
    return 0;

fail:
    snprintf(why, len, "cannot copy its resident pages: %s", strerror(errno));
    drop_copies(s);
    return -1;
}

/* Both locks held. Remember the served ranges whose protection the
 * program changed: the child's new mappings start read-write. */
static int read_protections(struct tp_stack *s, char *why, size_t len)
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

static void drop_protections(struct tp_stack *s)
{
    free(s->fork.protections);
    s->fork.protections = NULL;
    s->fork.protection_count = 0;
}

void tp_private_stack_fork_prepare(tp_stack *s)
{
    pthread_mutex_lock(&s->regions_lock);
    tp_lock_take(&s->lock);
    tp_pages_freeze(&s->pages);
    s->fork.copied = 0;
    char *why = s->fork.refusal;
    size_t len = sizeof s->fork.refusal;
    if (fork_refusal(s, why, len) || read_protections(s, why, len) < 0 || copy_resident(s, why, len) < 0) {
        drop_protections(s);
        return;
    }
    s->fork.copied = 1;
}

void tp_private_stack_fork_parent(tp_stack *s)
{
    drop_copies(s);
    drop_protections(s);
    tp_pages_thaw(&s->pages);
    pthread_cond_signal(&s->evictor.wake);
    tp_lock_drop(&s->lock);
    pthread_mutex_unlock(&s->regions_lock);
}

/* Registered for minor faults, as region.c registers the parent's. */
static int minor_faults(const struct tp_stack *s)
{
    return s->policy == TP_POLICY_CLOCK || s->prefetch_window > 0;
}

/* The child's mapping of r, on its copy of the file, where the parent's
 * was (kept out of the child by MADV_DONTFORK, so the addresses are free). */
static int map_region(struct tp_stack *s, struct tp_region *r, tierpage_error *err)
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
    int rc = tp_uffd_register(s->uffd, r->start, r->length, minor_faults(s));
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
        for (size_t k = 0; k < r->page_count; k++) {
            uint32_t id = r->first_id + (uint32_t)k;
            tp_page_set_locked(&s->pages, id, 0);
            if (tp_page(&s->pages, id)->state == TP_PAGE_RESIDENT && !minor_faults(s))
                tp_page_note_write(&s->pages, id);
        }
    }
    tp_lock_drop(&s->lock);
    uint64_t mapped = s->counters.mapped_bytes, metadata = s->counters.metadata_bytes;
    memset(&s->counters, 0, sizeof s->counters);
    s->counters.mapped_bytes = mapped;
    s->counters.metadata_bytes = metadata;
    for (size_t t = 0; t < s->tier_count; t++) {
        struct tp_tier *tier = &s->tiers[t];
        tier->hits = tier->puts = tier->demotions = tier->bytes_in = tier->bytes_out = tier->full_events = 0;
    }
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
    if (!s->fork.copied)
        return tierpage_error_set(err, -ENOTSUP, NULL, "%s", s->fork.refusal);

    close(s->uffd); /* the parent's: reading it would take the parent's faults */
    char msg[256];
    s->uffd = tp_uffd_open(msg, sizeof msg);
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
        int rc = map_region(s, s->regions[i], err);
        if (rc < 0)
            return rc;
    }
    for (size_t i = 0; i < s->fork.protection_count; i++) {
        const struct tp_protection *p = &s->fork.protections[i];
        if (mprotect(p->start, p->length, p->prot) < 0)
            return tierpage_error_set(err, -errno, NULL, "cannot protect %zu bytes at %p in the child: %s",
                                      p->length, (void *)p->start, strerror(errno));
    }
    drop_protections(s);
    adopt_pages(s);
    tp_instance_id(s->instance, sizeof s->instance);
    int rc = tp_evictor_start(s, err);
    if (rc == 0)
        rc = tp_handlers_start(s, s->handler_threads, err);
    return rc;
}
