#include "daemon_link.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock_ns.h"
#include "daemon_handover.h"
#include "fatal.h"
#include "pager_thread.h"
#include "store_host.h"
#include "uffd.h"
#include "units.h"
#include "wire.h"

/* Back-off between tries to reach a daemon that went away; shorter for
 * one that said it restarts (RESTARTING): it is back within moments, and
 * its listening socket holds a connection made meanwhile until it is. */
#define COME_BACK_FIRST_MS 10
#define COME_BACK_MAX_MS 1000
#define COME_BACK_RESTART_MAX_MS 50

struct tp_daemon_link {
    pthread_mutex_t lock;     /* one request and its reply at a time; guards every field below it */
    pthread_cond_t back;      /* broadcast when a lost connection is made again */
    int sock;                 /* -1 while the daemon is away */
    uint64_t generation;      /* connections made: a request whose connection was lost waits for the next */
    int uffd;                 /* the stack's userfaultfd: not owned; handed over again on a new connection */
    struct tp_handover handed; /* the regions the daemon serves, to hand over again */
    int handover_lost;        /* a region's cut could not be recorded: it cannot be handed over again */
    int resumable;            /* a lost connection is made again: the VM's client, not a forked child's */
    int restarting;           /* the daemon said RESTARTING: the connection's end is its restart */
    char restart_why[300];    /* what it said */
    uint64_t timeout_ms;      /* daemon_timeout: how long the daemon may stay away; 0: stop at once */
    char vm[TPD_NAME_MAX];
    char path[108];
    int watch_stop;           /* eventfd: the watcher leaves when it is written */
    pthread_t watcher;
    int watching;
};

static const char gone_text[] = "the daemon went away (its connection closed: tierpaged was stopped, killed or "
                                "crashed)";

/* The daemon could not serve a page of this program and stopped serving
 * it, or went away for good: the program ends as it would in-process, with
 * the reason. */
__attribute__((noreturn, format(printf, 2, 3))) static void stopped(const struct tp_daemon_link *l,
                                                                    const char *fmt, ...)
{
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    tp_fatal("tierpaged at %s, VM %s: %s", l->path, l->vm, why);
}

static void say(const struct tp_daemon_link *l, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(const struct tp_daemon_link *l, int level, const char *fmt, ...)
{
    char source[160], text[400];
    snprintf(source, sizeof source, "tierpaged at %s", l->path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    tp_store_log_as(source, level, text);
}

/* A request that failed this way lost its connection: the daemon went
 * (or, -ERESTART, is about to: it restarts). */
static int connection_lost(int rc)
{
    return rc == -ECONNRESET || rc == -EPIPE || rc == -ENOTCONN || rc == -ECONNABORTED || rc == -ERESTART;
}

/* The daemon said RESTARTING (unasked, or instead of a reply), l->lock
 * held: its connection ends once it has handed its state over. */
static void restart_said(struct tp_daemon_link *l, const char *why)
{
    l->restarting = 1;
    snprintf(l->restart_why, sizeof l->restart_why, "%.*s", (int)sizeof l->restart_why - 1, why);
}

/* One request and its reply on `sock`, for a new connection: 0; -EAGAIN
 * when the connection was lost (try again); else the reply's status. The
 * reason in `why` either way. */
static int ask(int sock, uint16_t type, void *msg, size_t length, int fd, char *why, size_t why_len)
{
    unsigned char buf[sizeof(struct tpd_reply) + 512];
    struct tpd_message reply = {.buf = buf, .capacity = sizeof buf};
    int rc = tpd_call(sock, type, msg, length, &fd, fd >= 0 ? 1 : 0, &reply, why, why_len);
    if (rc < 0)
        return -EAGAIN;
    rc = tpd_reply_of(&reply)->status;
    if (rc < 0)
        snprintf(why, why_len, "%s", tpd_reply_text(&reply));
    return rc;
}

/* One try at the daemon that went away, l->lock held: a new connection,
 * RESUME with the userfaultfd, every region again (the same memfds, where
 * the program maps them), RESUME_DONE. Then the threads whose faults the
 * old daemon had read and not answered are woken to fault again, into the
 * new one. 0 with l->sock set; -1 with `why` when it is not there (yet):
 * try again. A daemon that refuses to take the program back stops it. */
static int resume(struct tp_daemon_link *l, char *why, size_t why_len)
{
    int sock = tpd_connect(l->path, why, why_len);
    if (sock == -EPROTONOSUPPORT)
        stopped(l, "%s, and the one there now refuses this program's protocol: %s", gone_text, why);
    if (sock < 0)
        return -1;
    char text[300] = "";
    struct tpd_vm_request req;
    memset(&req, 0, sizeof req);
    memcpy(req.vm, l->vm, strlen(l->vm));
    int rc = ask(sock, TPD_RESUME, &req, sizeof req, l->uffd, text, sizeof text);
    if (rc == -ENOENT || rc == -EACCES || (rc < 0 && rc != -EAGAIN && rc != -EBUSY))
        stopped(l, "%s, and the tierpaged there now refused to take this program back: %s; the pages it held for "
                "this program are out of reach", gone_text, text);
    for (size_t i = 0; i < l->handed.count && rc == 0; i++) {
        const struct tp_handover_range *r = &l->handed.ranges[i];
        struct tpd_region_add add = {.addr = r->addr, .length = r->length, .offset = r->offset};
        rc = ask(sock, TPD_REGION_ADD, &add, sizeof add, r->memfd, text, sizeof text);
        if (rc < 0 && rc != -EAGAIN)
            stopped(l, "%s, and the tierpaged there now refused to take back the range at 0x%llx of %llu bytes: %s",
                    gone_text, (unsigned long long)r->addr, (unsigned long long)r->length, text);
    }
    if (rc == 0) {
        struct tpd_header done;
        rc = ask(sock, TPD_RESUME_DONE, &done, sizeof done, -1, text, sizeof text);
        if (rc < 0 && rc != -EAGAIN)
            stopped(l, "%s, and the tierpaged there now refused to resume this program: %s", gone_text, text);
    }
    if (rc < 0) {
        snprintf(why, why_len, "%s", text);
        close(sock);
        return -1;
    }
    l->sock = sock;
    for (size_t i = 0; i < l->handed.count; i++)
        tp_uffd_wake(l->uffd, (void *)(uintptr_t)l->handed.ranges[i].addr, l->handed.ranges[i].length);
    return 0;
}

/* The connection closed under a running program (l->sock is -1): reach
 * the daemon again, with back-off, for up to daemon_timeout, and hand it
 * everything again; or stop the program. Meanwhile the program's faults
 * wait in the kernel, queued on its userfaultfd, and its requests wait for
 * l->back. Called without l->lock; 0 once connected again, -1 when told to
 * leave (the link is closing). */
static int come_back(struct tp_daemon_link *l)
{
    /* A daemon keeps no forked child's entry across its restart. */
    if (!l->resumable)
        stopped(l, "%s, and the pages it held for this forked child with it (a restarted daemon does not take "
                "forked children back)", gone_text);
    if (l->timeout_ms == 0)
        stopped(l, "%s, and the pages it held for this program with it (daemon_timeout 0: no wait for it to come "
                "back)", gone_text);
    /* What cannot be handed over stops the program now rather than after
     * the wait. The record does not change meanwhile: requests wait. */
    pthread_mutex_lock(&l->lock);
    if (l->handover_lost)
        stopped(l, "%s, and its served memory cannot be handed over to a daemon that comes back: there was no "
                "memory to record an unmap", gone_text);
    pthread_mutex_unlock(&l->lock);
    char timeout[32];
    tp_format_duration_ms(l->timeout_ms, timeout, sizeof timeout);
    pthread_mutex_lock(&l->lock);
    int restarting = l->restarting;
    l->restarting = 0;
    if (restarting)
        say(l, TIERPAGE_LOG_INFO, "%s; VM %s waits up to %s (daemon_timeout) for it to come back", l->restart_why,
            l->vm, timeout);
    pthread_mutex_unlock(&l->lock);
    if (!restarting)
        say(l, TIERPAGE_LOG_WARNING, "the daemon went away; VM %s waits up to %s (daemon_timeout) for it to come "
            "back", l->vm, timeout);
    uint64_t start = tp_now_ns(), deadline = start + l->timeout_ms * 1000000u;
    uint64_t delay_ms = COME_BACK_FIRST_MS, max_delay_ms = restarting ? COME_BACK_RESTART_MAX_MS : COME_BACK_MAX_MS;
    char why[300] = "no try yet";
    for (;;) {
        uint64_t now = tp_now_ns();
        if (now >= deadline)
            stopped(l, "%s and did not come back within daemon_timeout (%s; tierpage run --daemon-timeout); the "
                    "last try: %s", gone_text, timeout, why);
        uint64_t left_ms = (deadline - now + 999999) / 1000000;
        struct pollfd leave = {.fd = l->watch_stop, .events = POLLIN};
        if (poll(&leave, 1, (int)(delay_ms < left_ms ? delay_ms : left_ms)) > 0)
            return -1;
        pthread_mutex_lock(&l->lock);
        int rc = resume(l, why, sizeof why);
        if (rc == 0) {
            l->generation++;
            pthread_cond_broadcast(&l->back);
        }
        pthread_mutex_unlock(&l->lock);
        if (rc == 0) {
            say(l, TIERPAGE_LOG_INFO, "the daemon is back: VM %s resumed after %.1f s", l->vm,
                (double)(tp_now_ns() - start) / 1e9);
            return 0;
        }
        delay_ms = delay_ms * 2 > max_delay_ms ? max_delay_ms : delay_ms * 2;
    }
}

/* Waits for a STOP or a RESTARTING the daemon sends unasked, or for the
 * end of the connection. A request in progress reads its own reply under
 * l->lock: whatever is still there once the lock is taken came unasked. A
 * daemon that went away (killed, crashed, stopped without a word, or
 * restarting) may come back: the connection is made again (come_back), or
 * the program is stopped.
 * Only this thread changes l->sock once the link is open.
 * tp_daemon_link_close stops the watch before it ends the connection
 * itself. */
static void *watch_main(void *arg)
{
    struct tp_daemon_link *l = arg;
    tp_pager_thread_begin("tp-daemon-link");
    while (tp_wait_or_stop(l->sock, POLLIN, l->watch_stop) > 0) {
        pthread_mutex_lock(&l->lock);
        struct pollfd now = {.fd = l->sock, .events = POLLIN};
        int lost = 0;
        if (poll(&now, 1, 0) == 1) {
            unsigned char buf[sizeof(struct tpd_reply) + 1024];
            struct tpd_message m = {.buf = buf, .capacity = sizeof buf};
            char why[256];
            int rc = tpd_recv(l->sock, &m, why, sizeof why);
            if (rc > 0 && tpd_header_of(&m)->type == TPD_STOP && m.length >= sizeof(struct tpd_reply))
                stopped(l, "%s", tpd_reply_text(&m));
            if (rc > 0 && tpd_header_of(&m)->type == TPD_RESTARTING && m.length >= sizeof(struct tpd_reply))
                restart_said(l, tpd_reply_text(&m));
            lost = rc == 0 || (rc < 0 && rc != -EPROTO);
            for (int i = 0; rc > 0 && i < m.fd_count; i++)
                close(m.fds[i]);
        }
        if (lost) {
            close(l->sock);
            l->sock = -1;
        }
        pthread_mutex_unlock(&l->lock);
        if (lost && come_back(l) < 0)
            break;
    }
    return NULL;
}

/* One request and its reply, l->lock held: 0, or the reply's status with
 * its text; the reply's values in value[0] and value[1] when asked. A
 * request whose connection is lost waits for the daemon to come back
 * (watch_main), l->lock let go meanwhile, and is sent again to the new
 * one; with `redo` 0 it is not, and counts as done: what it undoes (a
 * fork's freeze) died with the old daemon. */
static int call_locked(struct tp_daemon_link *l, uint16_t type, void *msg, size_t length, int fd, uint64_t *value,
                       int redo, tierpage_error *err)
{
    unsigned char buf[sizeof(struct tpd_reply) + 512];
    struct tpd_message reply = {.buf = buf, .capacity = sizeof buf};
    char why[256];
    int rc;
    for (;;) {
        while (l->sock < 0)
            pthread_cond_wait(&l->back, &l->lock);
        uint64_t generation = l->generation;
        rc = tpd_call(l->sock, type, msg, length, &fd, fd >= 0 ? 1 : 0, &reply, why, sizeof why);
        if (rc == -ESHUTDOWN)
            stopped(l, "%s", why);
        if (rc == -ERESTART)
            restart_said(l, why); /* not answered: asked again of the daemon that takes over */
        if (!connection_lost(rc) || !l->resumable)
            break;
        while (l->generation == generation)
            pthread_cond_wait(&l->back, &l->lock);
        if (!redo)
            return 0;
    }
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
    int rc = call_locked(l, type, msg, length, fd, value, 1, err);
    pthread_mutex_unlock(&l->lock);
    return rc;
}

/* Connect to the daemon, send `attach` (ATTACH or FORK_ATTACH) with uffd,
 * and watch the connection for a STOP or its end. */
static int link_open(const char *socket, const char *vm, uint64_t timeout_ms, int resumable, uint16_t type,
                     void *attach, size_t attach_len, int uffd, struct tp_daemon_link **out,
                     uint64_t *malloc_threshold, tierpage_error *err)
{
    struct tp_daemon_link *l = calloc(1, sizeof *l);
    if (!l)
        return tierpage_error_set(err, -ENOMEM, NULL, "out of memory");
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->back, NULL);
    snprintf(l->vm, sizeof l->vm, "%s", vm);
    snprintf(l->path, sizeof l->path, "%s", socket);
    l->uffd = uffd;
    l->timeout_ms = timeout_ms;
    l->watch_stop = -1;
    char why[256];
    l->sock = tpd_connect(socket, why, sizeof why);
    if (l->sock < 0) {
        int rc = l->sock;
        pthread_cond_destroy(&l->back);
        pthread_mutex_destroy(&l->lock);
        free(l);
        return tierpage_error_set(err, rc, NULL, "%s", why);
    }
    uint64_t values[2];
    int rc = call(l, type, attach, attach_len, uffd, values, err);
    if (rc == 0) {
        *malloc_threshold = values[1];
        l->resumable = resumable;
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

int tp_daemon_link_open(const char *socket, const char *vm, uint64_t timeout_ms, int uffd,
                        struct tp_daemon_link **out, uint64_t *malloc_threshold, tierpage_error *err)
{
    struct tpd_vm_request attach;
    memset(&attach, 0, sizeof attach);
    if (strlen(vm) >= sizeof attach.vm)
        return tierpage_error_set(err, -EINVAL, NULL, "VM name '%s' is too long", vm);
    memcpy(attach.vm, vm, strlen(vm));
    return link_open(socket, vm, timeout_ms, 1, TPD_ATTACH, &attach, sizeof attach, uffd, out, malloc_threshold,
                     err);
}

int tp_daemon_link_fork_prepare(struct tp_daemon_link *l, uint64_t *token, tierpage_error *err)
{
    struct tpd_header m;
    uint64_t values[2];
    pthread_mutex_lock(&l->lock);
    int rc = call_locked(l, TPD_FORK_PREPARE, &m, sizeof m, -1, values, 1, err);
    if (rc < 0)
        pthread_mutex_unlock(&l->lock);
    else
        *token = values[0];
    return rc;
}

int tp_daemon_link_fork_done(struct tp_daemon_link *l, uint64_t token, tierpage_error *err)
{
    struct tpd_fork m = {.token = token};
    /* A daemon that came back meanwhile never froze this VM's pages. */
    int rc = call_locked(l, TPD_FORK_DONE, &m, sizeof m, -1, NULL, 0, err);
    pthread_mutex_unlock(&l->lock);
    return rc;
}

void tp_daemon_link_forget(struct tp_daemon_link *l)
{
    if (!l)
        return;
    /* No shutdown: the connection is the parent's too. Its lock may be
     * held (by a thread that is not here): it is not used again. The
     * memfds of the record are the regions'. */
    if (l->sock >= 0)
        close(l->sock);
    if (l->watch_stop >= 0)
        close(l->watch_stop);
    tp_handover_free(&l->handed);
    free(l);
}

int tp_daemon_link_fork_child(struct tp_daemon_link *parent, uint64_t token, int uffd, struct tp_daemon_link **out,
                              uint64_t *malloc_threshold, tierpage_error *err)
{
    char socket[sizeof parent->path], vm[sizeof parent->vm];
    memcpy(socket, parent->path, sizeof socket);
    memcpy(vm, parent->vm, sizeof vm);
    uint64_t timeout_ms = parent->timeout_ms;
    tp_daemon_link_forget(parent);
    struct tpd_fork m = {.token = token};
    return link_open(socket, vm, timeout_ms, 0, TPD_FORK_ATTACH, &m, sizeof m, uffd, out, malloc_threshold,
                     err);
}

int tp_daemon_link_fork_copy(struct tp_daemon_link *l, uint64_t token, tierpage_error *err)
{
    struct tpd_fork m = {.token = token};
    return call(l, TPD_FORK_COPY, &m, sizeof m, -1, NULL, err);
}

int tp_daemon_link_add(struct tp_daemon_link *l, int memfd, void *addr, size_t length, tierpage_error *err)
{
    struct tpd_region_add m = {.addr = (uintptr_t)addr, .length = length};
    pthread_mutex_lock(&l->lock);
    /* Recorded first: a daemon that comes back before this one answers is
     * handed the region with the others, and that is its answer. */
    int rc = tp_handover_add(&l->handed, memfd, m.addr, m.length);
    if (rc < 0)
        tierpage_error_set(err, rc, NULL, "out of memory to record a region");
    else
        rc = call_locked(l, TPD_REGION_ADD, &m, sizeof m, memfd, NULL, 0, err);
    if (rc < 0 && tp_handover_cut(&l->handed, m.addr, m.length) < 0)
        l->handover_lost = 1; /* cannot happen: a whole range goes without room */
    pthread_mutex_unlock(&l->lock);
    return rc;
}

int tp_daemon_link_release(struct tp_daemon_link *l, void *addr, size_t length, int discard, tierpage_error *err)
{
    struct tpd_range m = {.addr = (uintptr_t)addr, .length = length};
    pthread_mutex_lock(&l->lock);
    /* A daemon that comes back before this one answers is handed the
     * range as it was, then asked again (PROTOCOL.md, RESUME). The range
     * goes whatever the answer: the caller unmaps it. */
    int rc = call_locked(l, discard ? TPD_DONTNEED : TPD_REGION_REMOVE, &m, sizeof m, -1, NULL, 1, err);
    if (!discard && tp_handover_cut(&l->handed, m.addr, m.length) < 0)
        l->handover_lost = 1;
    pthread_mutex_unlock(&l->lock);
    return rc;
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
    if (l->sock >= 0 && shutdown(l->sock, SHUT_WR) == 0) {
        char byte;
        while (recv(l->sock, &byte, 1, 0) > 0)
            ;
    }
    if (l->sock >= 0)
        close(l->sock);
    tp_handover_free(&l->handed);
    pthread_cond_destroy(&l->back);
    pthread_mutex_destroy(&l->lock);
    free(l);
}
