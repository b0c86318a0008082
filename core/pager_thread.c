#include "pager_thread.h"

#include <signal.h>

int tp_pager_thread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg)
{
    sigset_t blocked, old;
    sigfillset(&blocked);
    static const int synchronous[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP};
    for (size_t i = 0; i < sizeof synchronous / sizeof synchronous[0]; i++)
        sigdelset(&blocked, synchronous[i]);
    /* The new thread inherits the mask of the one creating it. */
    pthread_sigmask(SIG_SETMASK, &blocked, &old);
    int rc = pthread_create(thread, attr, start, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}
