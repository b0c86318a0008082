/* The pager's shared state: one per open stack. Everything here is guarded
 * by stack->lock unless a comment says otherwise. Page-sized buffers are
 * arrays of page_size on the stack of the thread moving the page. */
#ifndef TIERPAGE_STACK_INTERNAL_H
#define TIERPAGE_STACK_INTERNAL_H

#include <stdatomic.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "checked_lock.h"
#include "fatal.h"
#include "fault_latency.h"
#include "loader.h"
#include "handler_placement.h"
#include "page_state.h"
#include "prefetch_stream.h"
#include "stack_config.h"
#include "tierpage.h"

struct tp_tier {
    struct tp_stack *stack;
    size_t index;              /* in stack->tiers */
    struct tp_plugin plugin;
    const tierpage_store_ops *ops;
    void *store;
    char name[64];
    uint64_t capacity_pages;   /* 0 = bounded only by the store itself */
    tierpage_store_option *options; /* what the store was opened with, kept until it is closed */
    size_t option_count;
    uint32_t flags;            /* the open instance's TIERPAGE_STORE_* (the table's, or instance_flags) */
    bool serial;               /* plugin asked for one call at a time */
    struct tp_writeback *writeback; /* queue of puts for a remote store, or NULL */
    uint64_t writeback_bytes;  /* its size, 0 without one */
    pthread_mutex_t serial_lock;
    uint64_t hits, puts, demotions, bytes_in, bytes_out, full_events;
};

/* The memfd behind one tp_map; the pieces a partial unmap leaves share it. */
struct tp_region_file {
    int memfd;
    unsigned pieces;
    int child_memfd;     /* across a fork: the copy of its resident pages the child takes, else -1 */
};

/* A region is always wholly mapped: unmapping part of one trims it or
 * splits it in two pieces, keeping each page's id, address, alias and file
 * offset. A piece with a BUSY page is never trimmed past it nor freed. */
struct tp_region {
    char *start;         /* the program's mapping */
    char *alias;         /* the pager's own mapping of the same pages */
    size_t length;
    size_t page_count;
    uint32_t first_id;
    off_t offset;        /* of start in the file */
    struct tp_region_file *file;
    struct tp_prefetch_stream stream; /* its recent faults, for prefetch */
    int uffd;            /* the userfaultfd start is registered with */
    /* Pages [cut_first, cut_first + cut_count) are being unmapped: no
     * fault brings them in before they are cut from the region. */
    size_t cut_first, cut_count;
    /* start lies in another process (a tierpaged client): the pager reaches
     * it only through uffd and the file, never maps or unmaps it itself. */
    bool foreign;
};

/* A range of served memory the program mprotected (stack_fork.c). */
struct tp_protection {
    char *start;
    size_t length;
    int prot;
};

/* What a fork in progress prepared for the child (stack_fork.c). */
struct tp_fork {
    int copied;                 /* the child has a copy of every resident page */
    char refusal[200];          /* else why the child cannot have served memory */
    struct tp_protection *protections;
    size_t protection_count;
    int stream[2];              /* socket: [1] the parent sends its tiers' pages, [0] the child reads them */
    char child_instance[17];    /* the instance id the child's stores open under */
    int lifeline[2];            /* pipe, when a tier drops children's pages (fork_reaper.h): [0] the
                                 * parent watches, [1] the child holds; else -1 */
    int own_lifeline;           /* in a forked child: its end of its parent's pipe, else -1 */
    uint64_t daemon_token;      /* a tierpaged client's fork: its name at the daemon (daemon_fork.c) */
};

/* The background eviction thread's state (evictor_thread.c). */
struct tp_evictor {
    pthread_t thread;
    pthread_cond_t wake;
    int running, stop, busy;
    bool background;     /* `evictor_priority: background`: at nice 19 */
    uint64_t low, high;  /* free room (pages) that wakes it / that it makes */
};

/* struct tp_stats' write_tracking, of the same size. */
#define TP_WRITE_TRACKING_NOTE 160

struct tp_stack {
    struct tp_mutex lock;
    char instance[17];          /* this open's id in shared stores (tierpage_store_params.instance) */
    enum tp_eviction_policy policy; /* settings copied from the stack file at open */
    uint64_t malloc_threshold;
    uint64_t store_timeout_ns;  /* how long a store may keep failing */
    uint32_t prefetch_window;   /* most pages fetched ahead; 0: prefetch off */
    int prefetch_map_ahead;     /* map pages fetched ahead as they come in (prefetch.h) */
    char *namespace_name;       /* the stores keep a pointer to it until closed */
    int exclusive_namespace;    /* `namespace: exclusive` */
    size_t page_size;
    const unsigned char *zero_page; /* page_size zeros, for first reads */
    uint64_t digest_seed;       /* of the pages' digests (page_digest.h) */
    int uffd;
    /* How writes to resident pages are learnt (write_tracking.c), and
     * what the stats say of it (the reason, when not by the kernel).
     * pagemap_fd: /proc/self/pagemap with TP_WRITES_KERNEL, else -1;
     * batch_unmap: runs of pages are unmapped in one system call. */
    enum tp_write_tracking write_tracking;
    char write_tracking_note[TP_WRITE_TRACKING_NOTE];
    int pagemap_fd;
    atomic_int batch_unmap;
    pthread_t *handlers;
    char *doorbell;             /* one page per handler, touched to stop it */
    size_t doorbell_len;
    unsigned handler_count;
    unsigned handler_threads;   /* the setting they were started with (a forked child starts its own) */
    struct tp_handler_arg *handler_args;
    struct tp_placement placement;

    struct tp_pages pages;      /* every page's state, the resident set, each tier's list */
    /* Serialises every change of the region table but adding a region
     * (unmap, discard, map over served memory, demote); taken before lock. */
    pthread_mutex_t regions_lock;
    struct tp_region **regions; /* sorted by start */
    struct tp_region **regions_by_id; /* the same, sorted by first_id */
    size_t region_count, region_alloc;

    struct tp_evictor evictor;
    struct tp_fork fork;
    struct tp_reaper *reaper;   /* its own lock; NULL until a child needs watching (fork_reaper.c) */
    struct tp_tier tiers[TP_MAX_TIERS];
    size_t tier_count;

    struct tp_stats counters;   /* tier fields are filled from tiers[] on read */
    struct tp_fault_latency fault_latency; /* atomic: no lock */
    /* A stack whose pages tierpaged serves (tp_stack_open_daemon): regions
     * are created here and handed to it; no tiers, no handlers. */
    struct tp_daemon_link *daemon;
    /* tierpaged: a failure stops the client served, not the process
     * (fatal.c). Read and written atomically, no lock. */
    struct {
        void (*handler)(void *arg, const char *why);
        void *arg;
        int failed;
    } failure;
};

/* In a forked child (stack.c): tier i's store opened afresh for the child
 * unless private memory (TIERPAGE_STORE_FORK_PRIVATE) without a queue,
 * and a queue of its own when the tier has one. */
int tp_tier_reopen_in_child(struct tp_stack *s, size_t i, const char *parent_instance, tierpage_error *err);

/* fork (stack_fork.c), both locks held. Remember the served ranges whose
 * protection the program changed (the child's new mappings start
 * read-write); -1 with `why` when it cannot. */
int tp_fork_read_protections(struct tp_stack *s, char *why, size_t len);
void tp_fork_drop_protections(struct tp_stack *s);
/* In the child: those protections applied to its new mappings, and
 * dropped. */
int tp_fork_restore_protections(struct tp_stack *s, tierpage_error *err);
/* In the child: its mapping of r, on r->file->memfd, where the parent's
 * was (kept out of the child by MADV_DONTFORK, so the addresses are
 * free), with the pager's alias, registered with s->uffd. */
int tp_fork_map_region(struct tp_stack *s, struct tp_region *r, tierpage_error *err);
/* The same three steps of a fork for a stack tierpaged serves
 * (daemon_fork.c): called with both locks held (prepare, parent), or in
 * the child with them new. */
void tp_daemon_fork_prepare(struct tp_stack *s);
void tp_daemon_fork_parent(struct tp_stack *s);
int tp_daemon_fork_child(struct tp_stack *s, tierpage_error *err);

/* The stack that serves a tierpaged client (remote.c). */
struct tp_remote;
struct tp_stack *tp_remote_stack(const struct tp_remote *client);
int tp_remote_uffd(const struct tp_remote *client);

/* lookups (stack->lock held) */
struct tp_region *tp_region_find(struct tp_stack *stack, const void *addr);
struct tp_region *tp_region_of_id(struct tp_stack *stack, uint32_t id);
/* The first region that ends after addr, or NULL. */
struct tp_region *tp_region_from(struct tp_stack *stack, const char *addr);

/* Serve [addr, addr+length) of another process (daemon mode): `memfd`
 * backs it from `offset` (page-aligned) and is owned by the region on
 * success; `uffd` is the process's userfaultfd, on which the range is
 * registered. */
int tp_region_adopt(struct tp_stack *stack, int memfd, int uffd, uint64_t addr, size_t length, uint64_t offset,
                    uint32_t first_id, tierpage_error *err);
static inline char *tp_page_alias(const struct tp_stack *s, const struct tp_region *r, uint32_t id)
{
    return r->alias + (size_t)(id - r->first_id) * s->page_size;
}

/* Stack lock held: page `id` of r is being unmapped. */
static inline bool tp_region_cutting(const struct tp_region *r, uint32_t id)
{
    return (size_t)(id - r->first_id) - r->cut_first < r->cut_count;
}

static inline char *tp_page_addr(const struct tp_stack *s, const struct tp_region *r, uint32_t id)
{
    return r->start + (size_t)(id - r->first_id) * s->page_size;
}
static inline off_t tp_page_offset(const struct tp_stack *s, const struct tp_region *r, uint32_t id)
{
    return r->offset + (off_t)(id - r->first_id) * (off_t)s->page_size;
}

/* The kernel records the writes to r's pages (write_tracking.h): not for
 * another process's pages, whose userfaultfd that process opened. */
static inline bool tp_kernel_tracks_writes(const struct tp_stack *s, const struct tp_region *r)
{
    return s->write_tracking == TP_WRITES_KERNEL && !r->foreign;
}

/* Stack lock held: the page map is kept in a file (tierpaged's stacks,
 * tp_private_stack_keep_map_in), so the stack's state must outlive the
 * process: a page's copy queued for a remote tier is not its only copy
 * until the store has acknowledged it (tier_chain.c). */
static inline bool tp_stack_state_outlives(struct tp_stack *s)
{
    TP_ASSERT_HELD(&s->lock);
    return s->pages.map.file != NULL;
}

/* Regions are registered for minor faults: they show the clock policy a
 * page's use and prefetch the first use of a page it brought in, and with
 * the kernel tracking writes, eviction stops writes by unmapping the page
 * from the program (its next touch is a minor fault that waits). */
static inline int tp_stack_minor_faults(const struct tp_stack *s)
{
    return s->policy == TP_POLICY_CLOCK || s->prefetch_window > 0 || s->write_tracking == TP_WRITES_KERNEL;
}

#endif
