/* fork of a process whose served memory tierpaged serves (client mode).
 * The daemon makes the child's copy (core/remote_fork.c); this side
 * frames it:
 *   prepare (the forking thread, both stack locks held, as in-process):
 *     the protections of served ranges are read, a pipe made, and the
 *     daemon asked to freeze the VM's pages (FORK_PREPARE, which names the
 *     fork by a token); the connection stays held, so no other thread of
 *     the program changes its served memory at the daemon meanwhile.
 *   child: a new userfaultfd and a new memfd per region, mapped where the
 *     parent's were (the parent's are MADV_DONTFORK), connected to the
 *     daemon as the child of that fork (FORK_ATTACH), each region handed
 *     over (REGION_ADD), then FORK_COPY: the daemon copies every page of
 *     the parent into the child's memfds and stores before it replies.
 *     The child then writes a byte on the pipe and returns from fork().
 *   parent: waits for that byte, or for the end of the pipe (the child
 *     ended or exec'd first), then FORK_DONE thaws its pages.
 * The child's pages go when its connection closes (exit, a signal, exec:
 * the socket is close-on-exec), as any client's do. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon_link.h"
#include "stack_internal.h"
#include "uffd.h"

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

void tp_daemon_fork_prepare(struct tp_stack *s)
{
    char *why = s->fork.refusal;
    size_t len = sizeof s->fork.refusal;
    s->fork.copied = 0;
    s->fork.stream[0] = s->fork.stream[1] = -1;
    if (tp_fork_read_protections(s, why, len) < 0)
        return;
    if (pipe2(s->fork.stream, O_CLOEXEC) < 0) {
        snprintf(why, len, "cannot make a pipe to wait for it: %s", strerror(errno));
        s->fork.stream[0] = s->fork.stream[1] = -1;
        tp_fork_drop_protections(s);
        return;
    }
    tierpage_error err = {{0}, {0}};
    if (tp_daemon_link_fork_prepare(s->daemon, &s->fork.daemon_token, &err) < 0) {
        snprintf(why, len, "%.*s", (int)len - 1, err.message);
        close_fd(&s->fork.stream[0]);
        close_fd(&s->fork.stream[1]);
        tp_fork_drop_protections(s);
        return;
    }
    s->fork.copied = 1;
}

void tp_daemon_fork_parent(struct tp_stack *s)
{
    tp_fork_drop_protections(s);
    if (!s->fork.copied)
        return;
    close_fd(&s->fork.stream[1]);
    /* One byte: the child has its copy; the end: it is gone, or exec'd. */
    char byte;
    while (read(s->fork.stream[0], &byte, 1) < 0 && errno == EINTR)
        ;
    close_fd(&s->fork.stream[0]);
    tierpage_error err = {{0}, {0}};
    if (tp_daemon_link_fork_done(s->daemon, s->fork.daemon_token, &err) < 0)
        tp_fatal("after a fork: %s", err.message);
}

/* In the child: a memfd of its own for each region, mapped where the
 * parent's region was; the parent's files are let go of. */
static int map_new_files(struct tp_stack *s, tierpage_error *err)
{
    for (size_t i = 0; i < s->region_count; i++) {
        struct tp_region *r = s->regions[i];
        struct tp_region_file *old = r->file;
        if (--old->pieces == 0) {
            close(old->memfd);
            free(old);
        }
        struct tp_region_file *f = calloc(1, sizeof *f);
        if (!f)
            return tierpage_error_set(err, -ENOMEM, NULL, "out of memory");
        f->pieces = 1;
        f->child_memfd = -1;
        f->memfd = memfd_create("tierpage", MFD_CLOEXEC);
        r->file = f;
        r->offset = 0;
        if (f->memfd < 0 || ftruncate(f->memfd, (off_t)r->length) < 0)
            return tierpage_error_set(err, -errno, NULL, "cannot make the child's memory: %s", strerror(errno));
        int rc = tp_fork_map_region(s, r, err);
        if (rc < 0)
            return rc;
    }
    return tp_fork_restore_protections(s, err);
}

int tp_daemon_fork_child(struct tp_stack *s, tierpage_error *err)
{
    close_fd(&s->fork.stream[0]);
    close_fd(&s->uffd); /* the parent's */
    struct tp_daemon_link *parent = s->daemon;
    s->daemon = NULL;
    if (!s->fork.copied) {
        tp_daemon_link_forget(parent);
        return tierpage_error_set(err, -ENOTSUP, NULL, "%s", s->fork.refusal);
    }
    char msg[256];
    s->uffd = tp_uffd_open(0, msg, sizeof msg); /* a daemon client: write faults (write_tracking.h) */
    int rc = s->uffd < 0 ? tierpage_error_set(err, s->uffd, NULL, "%s", msg) : map_new_files(s, err);
    if (rc < 0) {
        tp_daemon_link_forget(parent);
    } else {
        uint64_t threshold;
        rc = tp_daemon_link_fork_child(parent, s->fork.daemon_token, s->uffd, &s->daemon, &threshold, err);
    }
    for (size_t i = 0; i < s->region_count && rc == 0; i++) {
        struct tp_region *r = s->regions[i];
        rc = tp_daemon_link_add(s->daemon, r->file->memfd, r->start, r->length, err);
    }
    if (rc == 0)
        rc = tp_daemon_link_fork_copy(s->daemon, s->fork.daemon_token, err);
    /* The parent thaws at this byte, or at the pipe's end should the
     * child fail. */
    if (rc == 0 && write(s->fork.stream[1], "", 1) != 1)
        rc = tierpage_error_set(err, -errno, NULL, "cannot tell the parent the copy is made: %s", strerror(errno));
    close_fd(&s->fork.stream[1]);
    return rc;
}
