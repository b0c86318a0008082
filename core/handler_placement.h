/* Where faults are handled. With `handler_threads: auto` one handler is
 * pinned to each CPU, but only the handlers on CPUs where the program's
 * faulting threads ran lately read the userfaultfd; the others park. Every
 * reader is woken by every fault, and a wake across CPUs costs tens of µs
 * on these VMs. (Eviction is not placed: the background evictor runs where
 * the scheduler puts it, see evictor_thread.c.) */
#ifndef TIERPAGE_HANDLER_PLACEMENT_H
#define TIERPAGE_HANDLER_PLACEMENT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "tierpage.h"

#define TP_PLACEMENT_MAX_THREADS 64

/* A program thread seen faulting, and the CPU it was on. */
struct tp_faulting_thread {
    pid_t tid;
    int stat_fd;        /* its /proc stat file, kept open: a read is ~3 µs */
    int cpu;
    uint64_t seen_ns;
};

struct tp_placement {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int follow;         /* 0: every handler reads (not pinned, or one CPU) */
    int stopping;
    unsigned count;     /* handler i is pinned to cpus[i] */
    int cpus[TP_MAX_HANDLER_THREADS];
    struct tp_faulting_thread threads[TP_PLACEMENT_MAX_THREADS];
    unsigned thread_count;
    uint64_t reading;   /* bit i: handler i reads the userfaultfd */
    uint64_t next_sample_ns;
};

_Static_assert(TP_MAX_HANDLER_THREADS <= 64, "one bit of `reading` for each handler");

/* Handler i is pinned to cpus[i]; with count 0 (unpinned handlers) or 1,
 * every handler always reads. */
void tp_placement_init(struct tp_placement *p, const int *cpus, unsigned count);
void tp_placement_destroy(struct tp_placement *p);
/* A handler calls this before each read: it returns at once while the
 * handler should read, and parks it otherwise (until needed or stopping). */
void tp_placement_wait_turn(struct tp_placement *p, unsigned handler);
/* A fault from thread `tid` was read: now and then, look up the CPU it ran
 * on and let the handlers on the faulting threads' CPUs read. */
void tp_placement_note_fault(struct tp_placement *p, pid_t tid);
/* Every handler reads from now on (the stack is stopping them). */
void tp_placement_stop(struct tp_placement *p);

/* The reader of one tierpaged client (remote.c) is pinned to the CPU its
 * client's faulting thread ran on last: the client's fault then wakes it
 * on its own CPU, not across CPUs (under the daemon a random fault took
 * 1.7x as long unpinned). Used by the reader thread alone, no lock. */
struct tp_reader_placement {
    pid_t client;        /* its pid in the daemon's namespace */
    pid_t tid;           /* the faulting thread whose stat file is open */
    int stat_fd;
    int cpu;             /* where the reader is pinned; -1 before that */
    uint64_t next_sample_ns;
};

void tp_reader_placement_init(struct tp_reader_placement *p, pid_t client);
/* A fault from the client's thread `tid` (the userfaultfd message's, in
 * the client's pid namespace: a thread not found under the client's pid
 * in the daemon's /proc is not followed) was read: now and then, pin the
 * calling thread to the CPU that thread ran on. */
void tp_reader_placement_note_fault(struct tp_reader_placement *p, pid_t tid);
void tp_reader_placement_destroy(struct tp_reader_placement *p);

#endif
