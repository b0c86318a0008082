#include "pager_thread.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "tierpage_private.h"

__thread int tp_pager_thread;

void tp_pager_thread_begin(const char *name)
{
    tp_pager_thread = 1;
    pthread_setname_np(pthread_self(), name); /* a name too long is left out, not fatal */
}

void tp_block_async_signals(sigset_t *old)
{
    sigset_t blocked;
    sigfillset(&blocked);
    static const int synchronous[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP};
    for (size_t i = 0; i < sizeof synchronous / sizeof synchronous[0]; i++)
        sigdelset(&blocked, synchronous[i]);
    pthread_sigmask(SIG_SETMASK, &blocked, old);
}

int tp_pager_thread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg)
{
    sigset_t old;
    tp_block_async_signals(&old);
    int rc = pthread_create(thread, attr, start, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

struct store_thread_start {
    void *(*start)(void *);
    void *arg;
};

static void *store_thread_main(void *arg)
{
    struct store_thread_start begin = *(struct store_thread_start *)arg;
    free(arg);
    tp_pager_thread_begin("tp-store");
    return begin.start(begin.arg);
}

int tp_store_thread_create(const struct tierpage_host *host, pthread_t *thread, void *(*start)(void *), void *arg)
{
    (void)host;
    struct store_thread_start *begin = malloc(sizeof *begin);
    if (!begin)
        return ENOMEM;
    *begin = (struct store_thread_start){start, arg};
    int rc = tp_pager_thread_create(thread, NULL, store_thread_main, begin);
    if (rc != 0)
        free(begin);
    return rc;
}

static int (*pager_fd_hook)(int fd);

void tp_private_on_pager_fd(int (*hook)(int fd))
{
    __atomic_store_n(&pager_fd_hook, hook, __ATOMIC_RELEASE);
}

int tp_note_pager_fd(int fd)
{
    int (*hook)(int) = __atomic_load_n(&pager_fd_hook, __ATOMIC_ACQUIRE);
    return hook && fd >= 0 ? hook(fd) : fd;
}

void tp_private_pager_enter(void)
{
    tp_pager_thread++;
}

void tp_private_pager_leave(void)
{
    tp_pager_thread--;
}

int tp_private_in_pager(void)
{
    return tp_pager_thread != 0;
}

int tp_wait_or_stop(int fd, short events, int stop_fd)
{
    struct pollfd p[2] = {{.fd = fd, .events = events}, {.fd = stop_fd, .events = POLLIN}};
    for (;;) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (p[1].revents)
            return 0;
        if (p[0].revents)
            return p[0].revents;
    }
}

void tp_tell_stop(int stop_fd)
{
    uint64_t one = 1;
    if (write(stop_fd, &one, sizeof one) != sizeof one)
        abort(); /* an eventfd takes a write of 8 bytes */
}
