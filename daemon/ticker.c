#include "ticker.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct tpd_ticker {
    unsigned interval_ms;
    void (*tick)(void *arg);
    void *arg;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop; /* under lock */
};

static void *ticker_main(void *arg)
{
    struct tpd_ticker *t = arg;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    pthread_mutex_lock(&t->lock);
    while (!t->stop) {
        until.tv_nsec += (long)t->interval_ms * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (!t->stop && pthread_cond_timedwait(&t->wake, &t->lock, &until) != ETIMEDOUT)
            ;
        if (t->stop)
            break;
        pthread_mutex_unlock(&t->lock);
        clock_gettime(CLOCK_MONOTONIC, &until);
        t->tick(t->arg);
        pthread_mutex_lock(&t->lock);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

struct tpd_ticker *tpd_ticker_start(unsigned interval_ms, void (*tick)(void *arg), void *arg, int *error)
{
    struct tpd_ticker *t = calloc(1, sizeof *t);
    if (!t) {
        *error = ENOMEM;
        return NULL;
    }
    *t = (struct tpd_ticker){.interval_ms = interval_ms, .tick = tick, .arg = arg};
    pthread_mutex_init(&t->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&t->wake, &attr);
    pthread_condattr_destroy(&attr);
    int rc = pthread_create(&t->thread, NULL, ticker_main, t);
    if (rc) {
        pthread_cond_destroy(&t->wake);
        pthread_mutex_destroy(&t->lock);
        free(t);
        *error = rc;
        return NULL;
    }
    return t;
}

void tpd_ticker_stop(struct tpd_ticker *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->stop = 1;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t);
}
