#include "pager_thread.h"
#include "tierpage_private.h"

__thread int tp_pager_thread;

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
