#include "handler_placement.h"

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock_ns.h"

/* A thread's CPU is looked up at most every 200 µs; a thread with no fault
 * seen for 10 ms no longer keeps its CPU's handler reading. */
#define SAMPLE_EVERY_NS 200000ull
#define FORGET_AFTER_NS 10000000ull

static uint64_t all_handlers(const struct tp_placement *p)
{
    return p->count >= 64 ? ~0ull : (1ull << p->count) - 1;
}

void tp_placement_init(struct tp_placement *p, const int *cpus, unsigned count)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->changed, NULL);
    if (count > TP_MAX_HANDLER_THREADS)
        count = TP_MAX_HANDLER_THREADS;
    p->count = count;
    p->follow = count > 1;
    for (unsigned i = 0; cpus && i < count; i++)
        p->cpus[i] = cpus[i];
    p->reading = all_handlers(p);
}

void tp_placement_wait_turn(struct tp_placement *p, unsigned handler)
{
    if (!p->follow)
        return;
    pthread_mutex_lock(&p->lock);
    while (!p->stopping && !(p->reading & (1ull << handler)))
        pthread_cond_wait(&p->changed, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

void tp_placement_stop(struct tp_placement *p)
{
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    __atomic_store_n(&p->reading, all_handlers(p), __ATOMIC_RELAXED);
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
}

static void forget_thread(struct tp_placement *p, unsigned i)
{
    if (p->threads[i].stat_fd >= 0)
        close(p->threads[i].stat_fd);
    p->threads[i] = p->threads[--p->thread_count];
}

void tp_placement_destroy(struct tp_placement *p)
{
    while (p->thread_count)
        forget_thread(p, 0);
    pthread_cond_destroy(&p->changed);
    pthread_mutex_destroy(&p->lock);
}

/* The entry for `tid`, made (in place of the longest unseen) if new. */
static struct tp_faulting_thread *thread_entry(struct tp_placement *p, pid_t tid)
{
    unsigned oldest = 0;
    for (unsigned i = 0; i < p->thread_count; i++) {
        if (p->threads[i].tid == tid)
            return &p->threads[i];
        if (p->threads[i].seen_ns < p->threads[oldest].seen_ns)
            oldest = i;
    }
    if (p->thread_count == TP_PLACEMENT_MAX_THREADS)
        forget_thread(p, oldest);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct tp_faulting_thread *t = &p->threads[p->thread_count++];
    *t = (struct tp_faulting_thread){.tid = tid, .stat_fd = fd, .cpu = -1};
    return t;
}

/* Field 39 of the thread's stat file: the CPU it last ran on. */
static int read_cpu(int stat_fd)
{
    char buf[1024];
    ssize_t n = pread(stat_fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *field = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!field)
        return -1;
    /* After ") " comes field 3; the CPU is 36 fields further on. */
    for (int i = 0; i < 37 && field; i++)
        field = strchr(field + 1, ' ');
    return field ? atoi(field + 1) : -1;
}

static uint64_t readers_for(struct tp_placement *p, uint64_t now)
{
    uint64_t reading = 0;
    for (unsigned t = 0; t < p->thread_count; t++) {
        if (now - p->threads[t].seen_ns >= FORGET_AFTER_NS)
            continue;
        for (unsigned i = 0; i < p->count; i++)
            if (p->cpus[i] == p->threads[t].cpu)
                reading |= 1ull << i;
    }
    /* A program on CPUs without a handler: every handler reads. */
    return reading ? reading : all_handlers(p);
}

void tp_placement_note_fault(struct tp_placement *p, pid_t tid)
{
    if (!p->follow || tid <= 0)
        return;
    uint64_t now = tp_now_ns();
    if (now < __atomic_load_n(&p->next_sample_ns, __ATOMIC_RELAXED))
        return;
    __atomic_store_n(&p->next_sample_ns, now + SAMPLE_EVERY_NS, __ATOMIC_RELAXED);

    pthread_mutex_lock(&p->lock);
    struct tp_faulting_thread *t = thread_entry(p, tid);
    if (t) {
        t->cpu = read_cpu(t->stat_fd);
        t->seen_ns = now;
        if (t->cpu < 0)
            forget_thread(p, (unsigned)(t - p->threads));
    }
    uint64_t reading = readers_for(p, now);
    if (!p->stopping && reading != p->reading) {
        __atomic_store_n(&p->reading, reading, __ATOMIC_RELAXED);
        pthread_cond_broadcast(&p->changed);
    }
    pthread_mutex_unlock(&p->lock);
}

void tp_reader_placement_init(struct tp_reader_placement *p, pid_t client)
{
    *p = (struct tp_reader_placement){.client = client, .stat_fd = -1, .cpu = -1};
}

void tp_reader_placement_destroy(struct tp_reader_placement *p)
{
    if (p->stat_fd >= 0)
        close(p->stat_fd);
    p->stat_fd = -1;
}

void tp_reader_placement_note_fault(struct tp_reader_placement *p, pid_t tid)
{
    if (p->client <= 0 || tid <= 0)
        return;
    uint64_t now = tp_now_ns();
    if (now < p->next_sample_ns)
        return;
    p->next_sample_ns = now + SAMPLE_EVERY_NS;
    if (tid != p->tid) {
        tp_reader_placement_destroy(p);
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)p->client, (int)tid);
        p->stat_fd = open(path, O_RDONLY | O_CLOEXEC);
        p->tid = p->stat_fd >= 0 ? tid : 0;
    }
    int cpu = p->stat_fd >= 0 ? read_cpu(p->stat_fd) : -1;
    if (cpu < 0 || cpu == p->cpu || cpu >= CPU_SETSIZE)
        return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    /* Refused (a CPU outside the daemon's cpuset): stays where it is. */
    if (sched_setaffinity(0, sizeof one, &one) == 0)
        p->cpu = cpu;
}
