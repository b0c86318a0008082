/* The pager's own threads (fault handlers, evictor, write-back senders, and
 * any a store starts). A process-directed signal goes to any thread that
 * does not block it: one delivered to a pager thread would run the
 * program's handler there, which may touch served memory and wait for the
 * very thread it interrupted. */
#ifndef TIERPAGE_PAGER_THREAD_H
#define TIERPAGE_PAGER_THREAD_H

#include <pthread.h>
#include <signal.h>

/* Block every asynchronous signal in the calling thread, keeping its mask
 * in `old`: threads it starts inherit the mask. The synchronous ones
 * (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP) stay open, so a fault of the
 * pager itself still shows. Undo with pthread_sigmask(SIG_SETMASK, old). */
void tp_block_async_signals(sigset_t *old);

/* pthread_create for a pager thread: every asynchronous signal blocked in
 * it. Returns 0 or an error number, as pthread_create does. */
int tp_pager_thread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg);

/* tierpage_host.thread_create: tp_pager_thread_create for a store's own
 * thread, marked a pager thread before `start` runs. */
struct tierpage_host;
int tp_store_thread_create(const struct tierpage_host *host, pthread_t *thread, void *(*start)(void *), void *arg);

/* A descriptor the core made without the C library's creators (a
 * userfaultfd): the shim keeps the program from closing it, and may move
 * it to another number. Returns the number to use from now on. */
int tp_note_pager_fd(int fd);

/* For a pager thread that waits on one descriptor until told to leave:
 * blocks until `fd` has one of `events` (or an error or hang-up) or the
 * eventfd `stop_fd` is written. Returns fd's revents (> 0), 0 when told to
 * leave, -errno when poll fails. */
int tp_wait_or_stop(int fd, short events, int stop_fd);
/* Tell the thread waiting on the eventfd `stop_fd` to leave. */
void tp_tell_stop(int stop_fd);

/* The first call of a pager thread: marks it a pager thread (below) and
 * names it `name` (at most 15 characters), which `top -H`, `ps -L` and
 * /proc/PID/task/TID/comm show. */
void tp_pager_thread_begin(const char *name);

/* Marks the calling thread as part of the pager: the preload shim then
 * never serves that thread's own allocations, which could fault into it. */
extern __thread int tp_pager_thread;

#endif
