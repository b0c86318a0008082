/* A client process whose memory the stack serves from outside it
 * (tierpaged): one thread reads its userfaultfd. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fault_handler.h"
#include "handler_placement.h"
#include "pager_thread.h"
#include "stack_internal.h"
#include "tierpage_daemon.h"

struct tp_remote {
    struct tp_stack *stack;
    pid_t pid;    /* the client */
    int uffd;
    int stop_fd;  /* eventfd: the reader leaves when it is written */
    pthread_t reader;
    int reading;  /* the reader runs */
};

static void *reader_main(void *arg)
{
    struct tp_remote *c = arg;
    struct tp_stack *s = c->stack;
    tp_pager_thread_begin("tp-remote");
    struct tp_reader_placement placement;
    tp_reader_placement_init(&placement, c->pid);
    struct uffd_msg msgs[16];
    for (;;) {
        int revents = tp_wait_or_stop(c->uffd, POLLIN, c->stop_fd);
        if (revents <= 0 || (revents & (POLLERR | POLLNVAL)))
            break;
        uint32_t newest;
        int n = tp_fault_read(s, c->uffd, msgs, sizeof msgs / sizeof msgs[0], &newest);
        if (n < 0) {
            tp_stack_fail(s, "reading the program's userfaultfd: %s", strerror(-n));
            break;
        }
        if (n > 0 && msgs[0].event == UFFD_EVENT_PAGEFAULT)
            tp_reader_placement_note_fault(&placement, (pid_t)msgs[0].arg.pagefault.feat.ptid);
        /* After a failure the client is stopped: its faults wait for that. */
        for (int i = 0; i < n && !tp_stack_failed(s); i++)
            tp_fault_handle(s, c->uffd, &msgs[i], newest - (uint32_t)i);
        if (tp_stack_failed(s))
            break;
    }
    tp_reader_placement_destroy(&placement);
    return NULL;
}

struct tp_stack *tp_remote_stack(const struct tp_remote *c)
{
    return c->stack;
}

int tp_remote_uffd(const struct tp_remote *c)
{
    return c->uffd;
}

int tp_remote_start(struct tp_remote *c, tierpage_error *err)
{
    if (c->reading)
        return 0;
    int rc = tp_pager_thread_create(&c->reader, NULL, reader_main, c);
    if (rc)
        return tierpage_error_set(err, -rc, NULL, "cannot start the client's fault thread: %s", strerror(rc));
    c->reading = 1;
    return 0;
}

int tp_remote_attach(tp_stack *s, int uffd, pid_t pid, struct tp_remote **out, tierpage_error *err)
{
    int rc = tp_remote_attach_held(s, uffd, pid, out, err);
    if (rc == 0 && (rc = tp_remote_start(*out, err)) < 0) {
        close((*out)->stop_fd);
        free(*out);
    }
    return rc;
}

int tp_remote_attach_held(tp_stack *s, int uffd, pid_t pid, struct tp_remote **out, tierpage_error *err)
{
    /* poll() on a userfaultfd answers only when it does not block. */
    int fl = fcntl(uffd, F_GETFL);
    if (fl < 0 || fcntl(uffd, F_SETFL, fl | O_NONBLOCK) < 0)
        return tierpage_error_set(err, -errno, NULL, "the client's userfaultfd: %s", strerror(errno));
    struct tp_remote *c = calloc(1, sizeof *c);
    if (!c)
        return tierpage_error_set(err, -ENOMEM, NULL, "out of memory");
    c->stack = s;
    c->pid = pid;
    c->uffd = uffd;
    tp_stack_failure_clear(s); /* a failure stopped the client before this one */
    c->stop_fd = eventfd(0, EFD_CLOEXEC);
    if (c->stop_fd < 0) {
        int e = errno;
        free(c);
        return tierpage_error_set(err, -e, NULL, "eventfd: %s", strerror(e));
    }
    *out = c;
    return 0;
}

int tp_remote_add_region(struct tp_remote *c, int memfd, uint64_t addr, uint64_t length, uint64_t offset,
                         tierpage_error *err)
{
    return tp_region_adopt(c->stack, memfd, c->uffd, addr, (size_t)length, offset, TP_NIL, err);
}

int tp_remote_release(struct tp_remote *c, uint64_t addr, uint64_t length, int discard, tierpage_error *err)
{
    char *a = (char *)(uintptr_t)addr;
    if (addr + length < addr)
        return tierpage_error_set(err, -EINVAL, NULL, "range at 0x%llx of %llu bytes wraps around",
                                  (unsigned long long)addr, (unsigned long long)length);
    return discard ? tp_discard(c->stack, a, (size_t)length, err) : tp_unmap(c->stack, a, (size_t)length, err);
}

size_t tp_remote_regions(struct tp_remote *c, struct tp_remote_region *out, size_t max)
{
    struct tp_stack *s = c->stack;
    tp_lock_take(&s->lock);
    size_t n = s->region_count;
    for (size_t i = 0; i < n && i < max; i++) {
        const struct tp_region *r = s->regions[i];
        out[i] = (struct tp_remote_region){(uint64_t)(uintptr_t)r->start, r->length, (uint64_t)r->offset, r->first_id};
    }
    tp_lock_drop(&s->lock);
    return n;
}

int tp_remote_lock(struct tp_remote *c, uint64_t addr, uint64_t length, int lock, tierpage_error *err)
{
    return tp_lock(c->stack, (void *)(uintptr_t)addr, (size_t)length, lock, err);
}

void tp_remote_detach(struct tp_remote *c)
{
    struct tp_stack *s = c->stack;
    tp_tell_stop(c->stop_fd);
    if (c->reading)
        pthread_join(c->reader, NULL);
    /* Every region of the stack is this client's (one client at a time). */
    for (;;) {
        tp_lock_take(&s->lock);
        struct tp_region *r = s->region_count ? s->regions[0] : NULL;
        char *start = r ? r->start : NULL;
        size_t length = r ? r->length : 0;
        tp_lock_drop(&s->lock);
        if (!r)
            break;
        tp_unmap(s, start, length, NULL);
    }
    close(c->stop_fd);
    close(c->uffd);
    free(c);
}
