/* A mutex that, in debug builds, knows which thread holds it, so that a
 * function can assert the lock contract its comment states. Release builds
 * (NDEBUG) keep no owner and check nothing. */
#ifndef TIERPAGE_CHECKED_LOCK_H
#define TIERPAGE_CHECKED_LOCK_H

#include <assert.h>
#include <pthread.h>
#include <stdint.h>

#ifdef NDEBUG
#define TP_LOCK_CHECKS 0
#else
#define TP_LOCK_CHECKS 1
#endif

struct tp_mutex {
    pthread_mutex_t mutex;
    uintptr_t owner; /* the holding thread, 0 when free; kept only with TP_LOCK_CHECKS */
};

static inline uintptr_t tp_lock_self(void)
{
    return (uintptr_t)pthread_self();
}

static inline void tp_lock_note_owner(struct tp_mutex *l, uintptr_t owner)
{
    if (TP_LOCK_CHECKS)
        __atomic_store_n(&l->owner, owner, __ATOMIC_RELAXED);
}

static inline void tp_lock_init(struct tp_mutex *l)
{
    pthread_mutex_init(&l->mutex, NULL);
    l->owner = 0;
}

static inline void tp_lock_destroy(struct tp_mutex *l)
{
    pthread_mutex_destroy(&l->mutex);
}

static inline void tp_lock_take(struct tp_mutex *l)
{
    pthread_mutex_lock(&l->mutex);
    tp_lock_note_owner(l, tp_lock_self());
}

static inline void tp_lock_drop(struct tp_mutex *l)
{
    tp_lock_note_owner(l, 0);
    pthread_mutex_unlock(&l->mutex);
}

/* Called with l held; drops it while waiting and holds it again on return. */
static inline void tp_lock_wait(pthread_cond_t *cond, struct tp_mutex *l)
{
    tp_lock_note_owner(l, 0);
    pthread_cond_wait(cond, &l->mutex);
    tp_lock_note_owner(l, tp_lock_self());
}

/* Only the answer "held by this thread" is exact: another thread's value
 * is never this thread's, whatever it reads. */
static inline int tp_lock_held(struct tp_mutex *l)
{
    return __atomic_load_n(&l->owner, __ATOMIC_RELAXED) == tp_lock_self();
}

#define TP_ASSERT_HELD(l) assert(!TP_LOCK_CHECKS || tp_lock_held(l))
#define TP_ASSERT_NOT_HELD(l) assert(!TP_LOCK_CHECKS || !tp_lock_held(l))

#endif
