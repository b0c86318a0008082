/* The parent's watch over its forked children's pages on servers
 * (fork_reaper.h). One thread per stack, started at the first fork that
 * needs it; it polls the children's pipes and an eventfd that wakes it
 * for a new child or a stop. A child's instance is dropped exactly once:
 * whichever thread takes its entry out of the list (the reaper, or one
 * that settles before exit) drops it. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "fork_reaper.h"
#include "instance_id.h"
#include "pager_thread.h"
#include "stack_internal.h"
#include "tierpage_private.h"

struct child {
    int lifeline;                           /* read end of the child's pipe */
    char instance[TP_INSTANCE_ID_LEN + 1];
};

struct tp_reaper {
    pthread_mutex_t lock;   /* guards everything below */
    pthread_cond_t idle;    /* dropping fell to 0 */
    struct child *children;
    size_t count, alloc;
    unsigned dropping;      /* children taken out of the list, not yet dropped */
    uint64_t generation;    /* counts takings out: a descriptor polled before one may be another's now */
    int wake;               /* eventfd: the list changed, or stop */
    int stop;
    int running;
    pthread_t thread;
};

/* Every store of the parent that keeps children's pages on a server drops
 * the child's. A store that fails leaves them to the child's lease. */
static void drop_child(struct tp_stack *s, const char *instance)
{
    for (size_t t = 0; t < s->tier_count; t++) {
        struct tp_tier *tier = &s->tiers[t];
        if (!tier->ops->drop_child)
            continue;
        tierpage_error err = {{0}, {0}};
        if (tier->ops->drop_child(tier->store, instance, &err) < 0)
            tierpage_log(tp_plugin_host(&tier->plugin, tier->name), TIERPAGE_LOG_WARNING,
                         "cannot remove the pages of a forked child that ended (instance %s): %s; they stay until "
                         "its lease runs out and the namespace is opened again", instance, err.message);
    }
}

/* Lock held. Takes out of the list the children whose pipe the first
 * `n` entries of `fds` show ended, closing their pipes, into `gone`;
 * their count. */
static size_t take_gone(struct tp_reaper *r, const struct pollfd *fds, size_t n, struct child *gone)
{
    size_t taken = 0;
    for (size_t j = 0; j < n; j++) {
        if (!(fds[j].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        for (size_t i = 0; i < r->count; i++) {
            if (r->children[i].lifeline != fds[j].fd)
                continue;
            close(r->children[i].lifeline);
            gone[taken++] = r->children[i];
            r->children[i] = r->children[--r->count];
            break;
        }
    }
    r->dropping += (unsigned)taken;
    r->generation += taken > 0;
    return taken;
}

/* Lock held on entry and on return, dropped while the stores work. */
static void drop_all(struct tp_stack *s, struct tp_reaper *r, struct child *gone, size_t n)
{
    pthread_mutex_unlock(&r->lock);
    for (size_t i = 0; i < n; i++)
        drop_child(s, gone[i].instance);
    pthread_mutex_lock(&r->lock);
    r->dropping -= (unsigned)n;
    if (!r->dropping)
        pthread_cond_broadcast(&r->idle);
}

/* Lock held: the children's pipes as a poll set, the eventfd last. NULL
 * when out of memory. */
static struct pollfd *poll_set(struct tp_reaper *r)
{
    struct pollfd *fds = calloc(r->count + 1, sizeof *fds);
    if (!fds)
        return NULL;
    for (size_t i = 0; i < r->count; i++)
        fds[i] = (struct pollfd){.fd = r->children[i].lifeline, .events = POLLIN};
    fds[r->count] = (struct pollfd){.fd = r->wake, .events = POLLIN};
    return fds;
}

static void *reaper_main(void *arg)
{
    struct tp_stack *s = arg;
    struct tp_reaper *r = s->reaper;
    tp_pager_thread_begin("tp-fork-reaper");
    pthread_mutex_lock(&r->lock);
    while (!r->stop) {
        size_t count = r->count;
        uint64_t generation = r->generation;
        struct pollfd *fds = poll_set(r);
        struct child *gone = calloc(count + 1, sizeof *gone);
        pthread_mutex_unlock(&r->lock);
        int ready = fds && gone ? poll(fds, count + 1, -1) : -1;
        if (ready < 0) {
            /* Out of memory, or a signal: look again shortly. */
            struct timespec pause = {0, 100 * 1000000L};
            nanosleep(&pause, NULL);
        }
        if (ready > 0 && (fds[count].revents & POLLIN)) {
            uint64_t v;
            if (read(r->wake, &v, sizeof v) < 0)
                v = 0;
        }
        pthread_mutex_lock(&r->lock);
        /* New children only add entries; a settle that took some out
         * meanwhile makes the answers stale: poll again. */
        if (ready > 0 && r->generation == generation) {
            size_t n = take_gone(r, fds, count, gone);
            if (n)
                drop_all(s, r, gone, n);
        }
        free(fds);
        free(gone);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

static void wake(struct tp_reaper *r)
{
    uint64_t one = 1;
    if (write(r->wake, &one, sizeof one) < 0)
        return; /* the counter is full: the thread is woken already */
}

/* The stack's reaper, made at its first use; NULL when out of resources. */
static struct tp_reaper *reaper_of(struct tp_stack *s)
{
    if (s->reaper)
        return s->reaper;
    struct tp_reaper *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->wake < 0) {
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->idle, NULL);
    s->reaper = r;
    return r;
}

void tp_reaper_fork_prepare(struct tp_stack *s)
{
    if (s->reaper)
        pthread_mutex_lock(&s->reaper->lock);
}

void tp_reaper_fork_parent(struct tp_stack *s, int lifeline, const char *child_instance)
{
    int locked = s->reaper != NULL; /* by prepare */
    if (lifeline < 0)
        goto out;
    struct tp_reaper *r = reaper_of(s);
    if (r && !locked)
        pthread_mutex_lock(&r->lock);
    locked = r != NULL;
    if (r && r->count == r->alloc) {
        size_t alloc = r->alloc ? r->alloc * 2 : 8;
        struct child *bigger = realloc(r->children, alloc * sizeof *bigger);
        if (bigger) {
            r->children = bigger;
            r->alloc = alloc;
        }
    }
    if (r && !r->running && tp_pager_thread_create(&r->thread, NULL, reaper_main, s) == 0)
        r->running = 1;
    if (!r || r->count == r->alloc || !r->running) {
        close(lifeline);
        for (size_t t = 0; t < s->tier_count; t++)
            if (s->tiers[t].ops->drop_child) {
                tierpage_log(tp_plugin_host(&s->tiers[t].plugin, s->tiers[t].name), TIERPAGE_LOG_WARNING,
                             "out of memory to watch a forked child (instance %s): its pages stay until its lease "
                             "runs out and the namespace is opened again", child_instance);
                break;
            }
        goto out;
    }
    r->children[r->count].lifeline = lifeline;
    memcpy(r->children[r->count].instance, child_instance, sizeof r->children[r->count].instance);
    r->count++;
    wake(r);
out:
    if (locked)
        pthread_mutex_unlock(&s->reaper->lock);
}

void tp_reaper_fork_child(struct tp_stack *s)
{
    struct tp_reaper *r = s->reaper;
    if (!r)
        return;
    /* The lock was taken by this thread in prepare; the thread is the
     * parent's. What the list holds is the parent's to watch. */
    for (size_t i = 0; i < r->count; i++)
        close(r->children[i].lifeline);
    close(r->wake);
    free(r->children);
    free(r);
    s->reaper = NULL;
}

void tp_reaper_settle(struct tp_stack *s)
{
    struct tp_reaper *r = s->reaper;
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    size_t count = r->count;
    struct pollfd *fds = poll_set(r);
    struct child *gone = calloc(count + 1, sizeof *gone);
    if (fds && gone && poll(fds, count, 0) > 0) {
        size_t n = take_gone(r, fds, count, gone);
        if (n)
            drop_all(s, r, gone, n);
    }
    free(fds);
    free(gone);
    while (r->dropping)
        pthread_cond_wait(&r->idle, &r->lock);
    pthread_mutex_unlock(&r->lock);
}

void tp_private_stack_reap_children(tp_stack *s)
{
    tp_reaper_settle(s);
}

void tp_reaper_stop(struct tp_stack *s)
{
    struct tp_reaper *r = s->reaper;
    if (!r)
        return;
    tp_reaper_settle(s);
    pthread_mutex_lock(&r->lock);
    r->stop = 1;
    wake(r);
    pthread_mutex_unlock(&r->lock);
    if (r->running)
        pthread_join(r->thread, NULL);
    for (size_t i = 0; i < r->count; i++)
        close(r->children[i].lifeline);
    close(r->wake);
    free(r->children);
    pthread_cond_destroy(&r->idle);
    pthread_mutex_destroy(&r->lock);
    free(r);
    s->reaper = NULL;
}
