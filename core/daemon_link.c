#include "daemon_link.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fatal.h"
#include "pager_thread.h"
#include "wire.h"

struct tp_daemon_link {
    int sock;
    pthread_mutex_t lock; /* one request and its reply at a time */
    char vm[TPD_NAME_MAX];
    char path[108];
    int watch_stop;       /* eventfd: the watcher leaves when it is written */
    pthread_t watcher;
    int watching;
};

/* The daemon could not serve a page of this program and stopped serving
 * it: the program ends as it would in-process, with the reason. */
__attribute__((noreturn)) static void stopped(const struct tp_daemon_link *l, const char *why)
{
    tp_fatal("tierpaged at %s, VM %s: %s", l->path, l->vm, why);
}

/* Waits for a STOP the daemon sends unasked, or for the end of the
 * connection. A request in progress reads its own reply under l->lock:
 * whatever is still there once the lock is taken came unasked. A daemon
 * that went away (killed, crashed, stopped) took with it what it held of
 * the program's pages, and the program's next fault would wait for ever:
 * the program is stopped instead. tp_daemon_link_close stops the watch
 * before it ends the connection itself. */
static void *watch_main(void *arg)
{
    struct tp_daemon_link *l = arg;
    tp_pager_thread = 1;
    while (tp_wait_or_stop(l->sock, POLLIN, l->watch_stop) > 0) {
        pthread_mutex_lock(&l->lock);
        struct pollfd now = {.fd = l->sock, .events = POLLIN};
        if (poll(&now, 1, 0) == 1) {
            unsigned char buf[sizeof(struct tpd_reply) + 1024];
            struct tpd_message m = {.buf = buf, .capacity = sizeof buf};
            char why[256];
            int rc = tpd_recv(l->sock, &m, why, sizeof why);
            if (rc > 0 && tpd_header_of(&m)->type == TPD_STOP && m.length >= sizeof(struct tpd_reply))
                stopped(l, tpd_reply_text(&m));
            if (rc == 0 || (rc < 0 && rc != -EPROTO))
                stopped(l, "the daemon went away (its connection closed: tierpaged was stopped, killed or "
                           "crashed), and the pages it held for this program with it");
            for (int i = 0; rc > 0 && i < m.fd_count; i++)
                close(m.fds[i]);
        }
        pthread_mutex_unlock(&l->lock);
    }
    return NULL;
}

/* One request and its reply, l->lock held: 0, or the reply's status with
 * its text; the reply's values in value[0] and value[1] when asked. */
static int call_locked(struct tp_daemon_link *l, uint16_t type, void *msg, size_t length, int fd, uint64_t *value,
                       tierpage_error *err)
{
    unsigned char buf[sizeof(struct tpd_reply) + 512];
    struct tpd_message reply = {.buf = buf, .capacity = sizeof buf};
    char why[256];
    int rc = tpd_call(l->sock, type, msg, length, &fd, fd >= 0 ? 1 : 0, &reply, why, sizeof why);
    if (rc == -ESHUTDOWN)
        stopped(l, why);
    if (rc < 0)
        return tierpage_error_set(err, rc, NULL, "tierpaged at %s: %s", l->path, why);
    rc = tpd_reply_of(&reply)->status;
    if (rc < 0)
        return tierpage_error_set(err, rc, NULL, "tierpaged at %s: %s", l->path, tpd_reply_text(&reply));
    if (value) {
        value[0] = tpd_reply_of(&reply)->values[0];
        value[1] = tpd_reply_of(&reply)->values[1];
    }
    return 0;
}

static int call(struct tp_daemon_link *l, uint16_t type, void *msg, size_t length, int fd, uint64_t *value,
                tierpage_error *err)
{
    pthread_mutex_lock(&l->lock);
    int rc = call_locked(l, type, msg, length, fd, value, err);
    pthread_mutex_unlock(&l->lock);
    return rc;
}

/* Connect to the daemon, send `attach` (ATTACH or FORK_ATTACH) with uffd,
 * and watch the connection for a STOP. */
static int link_open(const char *socket, const char *vm, uint16_t type, void *attach, size_t attach_len, int uffd,
                     struct tp_daemon_link **out, uint64_t *malloc_threshold, tierpage_error *err)
{
    struct tp_daemon_link *l = calloc(1, sizeof *l);
    if (!l)
        return tierpage_error_set(err, -ENOMEM, NULL, "out of memory");
    pthread_mutex_init(&l->lock, NULL);
    snprintf(l->vm, sizeof l->vm, "%s", vm);
    snprintf(l->path, sizeof l->path, "%s", socket);
    l->watch_stop = -1;
    char why[256];
    l->sock = tpd_connect(socket, why, sizeof why);
    if (l->sock < 0) {
        int rc = l->sock;
        free(l);
        return tierpage_error_set(err, rc, NULL, "%s", why);
    }
    uint64_t values[2];
    int rc = call(l, type, attach, attach_len, uffd, values, err);
    if (rc == 0) {
        *malloc_threshold = values[1];
        l->watch_stop = eventfd(0, EFD_CLOEXEC);
        rc = l->watch_stop < 0 ? -errno : -tp_pager_thread_create(&l->watcher, NULL, watch_main, l);
        l->watching = rc == 0;
        if (rc < 0)
            tierpage_error_set(err, rc, NULL, "cannot watch the connection to tierpaged: %s", strerror(-rc));
    }
    if (rc < 0) {
        tp_daemon_link_close(l);
        return rc;
    }
    *out = l;
    return 0;
}

int tp_daemon_link_open(const char *socket, const char *vm, int uffd, struct tp_daemon_link **out,
                        uint64_t *malloc_threshold, tierpage_error *err)
{
    struct tpd_vm_request attach;
    memset(&attach, 0, sizeof attach);
    if (strlen(vm) >= sizeof attach.vm)
        return tierpage_error_set(err, -EINVAL, NULL, "VM name '%s' is too long", vm);
    memcpy(attach.vm, vm, strlen(vm));
    return link_open(socket, vm, TPD_ATTACH, &attach, sizeof attach, uffd, out, malloc_threshold, err);
}

int tp_daemon_link_fork_prepare(struct tp_daemon_link *l, uint64_t *token, tierpage_error *err)
{
    struct tpd_header m;
    uint64_t values[2];
    pthread_mutex_lock(&l->lock);
    int rc = call_locked(l, TPD_FORK_PREPARE, &m, sizeof m, -1, values, err);
    if (rc < 0)
        pthread_mutex_unlock(&l->lock);
    else
        *token = values[0];
    return rc;
}

int tp_daemon_link_fork_done(struct tp_daemon_link *l, uint64_t token, tierpage_error *err)
{
    struct tpd_fork m = {.token = token};
    int rc = call_locked(l, TPD_FORK_DONE, &m, sizeof m, -1, NULL, err);
    pthread_mutex_unlock(&l->lock);
    return rc;
}

void tp_daemon_link_forget(struct tp_daemon_link *l)
{
    if (!l)
        return;
    /* No shutdown: the connection is the parent's too. Its lock may be
     * held (by a thread that is not here): it is not used again. */
    close(l->sock);
    if (l->watch_stop >= 0)
        close(l->watch_stop);
    free(l);
}

int tp_daemon_link_fork_child(struct tp_daemon_link *parent, uint64_t token, int uffd, struct tp_daemon_link **out,
                              uint64_t *malloc_threshold, tierpage_error *err)
{
    char socket[sizeof parent->path], vm[sizeof parent->vm];
    memcpy(socket, parent->path, sizeof socket);
    memcpy(vm, parent->vm, sizeof vm);
    tp_daemon_link_forget(parent);
    struct tpd_fork m = {.token = token};
    return link_open(socket, vm, TPD_FORK_ATTACH, &m, sizeof m, uffd, out, malloc_threshold, err);
}

int tp_daemon_link_fork_copy(struct tp_daemon_link *l, uint64_t token, tierpage_error *err)
{
    struct tpd_fork m = {.token = token};
    return call(l, TPD_FORK_COPY, &m, sizeof m, -1, NULL, err);
}

int tp_daemon_link_add(struct tp_daemon_link *l, int memfd, void *addr, size_t length, tierpage_error *err)
{
    struct tpd_range m = {.addr = (uintptr_t)addr, .length = length};
    return call(l, TPD_REGION_ADD, &m, sizeof m, memfd, NULL, err);
}

int tp_daemon_link_release(struct tp_daemon_link *l, void *addr, size_t length, int discard, tierpage_error *err)
{
    struct tpd_range m = {.addr = (uintptr_t)addr, .length = length};
    return call(l, discard ? TPD_DONTNEED : TPD_REGION_REMOVE, &m, sizeof m, -1, NULL, err);
}

int tp_daemon_link_lock(struct tp_daemon_link *l, void *addr, size_t length, int lock, tierpage_error *err)
{
    struct tpd_lock m = {.addr = (uintptr_t)addr, .length = length, .lock = lock ? 1u : 0u};
    return call(l, TPD_LOCK, &m, sizeof m, -1, NULL, err);
}

void tp_daemon_link_close(struct tp_daemon_link *l)
{
    if (!l)
        return;
    if (l->watching) {
        tp_tell_stop(l->watch_stop);
        pthread_join(l->watcher, NULL);
    }
    if (l->watch_stop >= 0)
        close(l->watch_stop);
    /* The daemon closes its end once it has released this process's pages. */
    if (shutdown(l->sock, SHUT_WR) == 0) {
        char byte;
        while (recv(l->sock, &byte, 1, 0) > 0)
            ;
    }
    close(l->sock);
    pthread_mutex_destroy(&l->lock);
    free(l);
}
