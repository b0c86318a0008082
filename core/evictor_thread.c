#include "evictor_thread.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fault_handler.h"
#include "eviction.h"
#include "pager_thread.h"

/* Free room kept: 1/64 of the cap, 8 to 512 pages; none for caps under 64
 * pages, where every page of the cap matters more than latency. */
void tp_evictor_set_marks(struct tp_stack *s)
{
    TP_ASSERT_HELD(&s->lock);
    uint64_t cap = s->pages.resident.cap_pages;
    uint64_t low = cap / 64;
    if (low > 512)
        low = 512;
    if (low < 8)
        low = 8;
    if (cap < 64)
        low = 0;
    s->evictor.low = low;
    s->evictor.high = low * 2 < cap ? low * 2 : low;
}

static uint64_t free_room(const struct tp_stack *s)
{
    return tp_resident_free_room(&s->pages.resident);
}

/* Also while the program faults from one CPU: the evictor then runs on
 * another (or, on a busy machine, wherever the scheduler finds room), and
 * a fault finds its room made instead of evicting on its own path. On two
 * idle vCPUs that halves the time of a miss through a dram tier (the
 * eviction, ~15 µs, leaves the fault's path); the wake it costs comes once
 * for each batch of up to 2 x low pages (bench/RESULTS.md, "Why
 * in-process was slower than the daemon"). */
void tp_evictor_poke(struct tp_stack *s)
{
    TP_ASSERT_HELD(&s->lock);
    if (s->evictor.running && !s->evictor.busy && free_room(s) < s->evictor.low)
        pthread_cond_signal(&s->evictor.wake);
}

/* Background: the evictor only makes room ahead of the faults, and a
 * fault that finds none makes its own; at nice 19 it no longer takes the
 * CPU from the program's threads (or a client on the same host) when
 * they want it. On two vCPUs that cut redis-server's p99 under
 * redis-benchmark by two thirds (bench/RESULTS.md, "The evictor in the
 * background"). Raising one's own nice value needs no privilege; where
 * it fails anyway the evictor runs at the program's priority. */
static void evictor_set_priority(const struct tp_stack *s)
{
    if (s->evictor.background)
        (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
}

static void *evictor_main(void *arg)
{
    struct tp_stack *s = arg;
    tp_pager_thread_begin("tp-evictor");
    evictor_set_priority(s);
    tp_lock_take(&s->lock);
    while (!s->evictor.stop) {
        /* Frozen: a fork is copying the pages; thawing wakes this thread. */
        /* Failed (tierpaged): the client is being stopped; evicting its
         * pages would only meet the failure again. */
        if (free_room(s) >= s->evictor.low || tp_pages_frozen(&s->pages) || tp_stack_failed(s)) {
            tp_lock_wait(&s->evictor.wake, &s->lock);
            continue;
        }
        s->evictor.busy = 1;
        while (!s->evictor.stop && free_room(s) < s->evictor.high) {
            tierpage_error err = {{0}, {0}};
            int rc = tp_evict_some(s, s->evictor.high - free_room(s), &err);
            if (rc == -EAGAIN)
                break;
            if (rc < 0) {
                tp_lock_drop(&s->lock);
                tp_stack_fail(s, "cannot evict a page: %s", err.message);
                tp_lock_take(&s->lock);
                break;
            }
        }
        s->evictor.busy = 0;
    }
    tp_lock_drop(&s->lock);
    return NULL;
}

int tp_evictor_start(struct tp_stack *s, tierpage_error *err)
{
    pthread_cond_init(&s->evictor.wake, NULL);
    tp_lock_take(&s->lock);
    tp_evictor_set_marks(s);
    tp_lock_drop(&s->lock);
    int rc = tp_pager_thread_create(&s->evictor.thread, NULL, evictor_main, s);
    if (rc)
        return tierpage_error_set(err, -rc, NULL, "cannot start the eviction thread: %s", strerror(rc));
    s->evictor.running = 1;
    return 0;
}

void tp_evictor_stop(struct tp_stack *s)
{
    if (!s->evictor.running)
        return;
    tp_lock_take(&s->lock);
    s->evictor.stop = 1;
    pthread_cond_signal(&s->evictor.wake);
    tp_lock_drop(&s->lock);
    pthread_join(s->evictor.thread, NULL);
    s->evictor.running = 0;
    pthread_cond_destroy(&s->evictor.wake);
}

void tp_evictor_forget(struct tp_stack *s)
{
    s->evictor.running = s->evictor.stop = s->evictor.busy = 0;
}
