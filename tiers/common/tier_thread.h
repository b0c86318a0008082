/* Starting a thread of a tier's own (a heartbeat, a prober) as a thread of
 * the pager: through the host's thread_create (tierpage_store.h), or, with
 * an older core, pthread_create with every signal blocked so that the
 * program's handlers at least never run there. */
#ifndef TIERPAGE_TIER_THREAD_H
#define TIERPAGE_TIER_THREAD_H

#include <pthread.h>
#include <signal.h>

#include "tierpage_store.h"

/* 0 or an error number, as pthread_create. */
static inline int tier_thread_start(const tierpage_host *host, pthread_t *thread, void *(*start)(void *), void *arg)
{
    if (TIERPAGE_HOST_HAS(host, thread_create) && host->thread_create)
        return host->thread_create(host, thread, start, arg);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(thread, NULL, start, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

#endif
