/* tierpage library API: serve memory regions from a tier stack. */
#ifndef TIERPAGE_H
#define TIERPAGE_H

#include <stddef.h>
#include <stdint.h>

#include "tierpage_limits.h"
#include "tierpage_store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The library's exported functions are the ones marked TP_API: they are
 * all it exports (it is built with hidden visibility and a version script,
 * core/libtierpage.map), and its own calls to them never go to a program's
 * function of the same name. */
#define TP_API __attribute__((visibility("default")))

typedef struct tp_stack tp_stack;

/* The exit status of a program stopped because one of its pages could not
 * be served (lost, unreadable, or with no tier left to hold it). */
#define TP_EXIT_PAGER_FAILURE 125

struct tp_tier_stats {
    char name[64];
    char plugin[64];
    uint64_t capacity_bytes; /* 0 = unbounded */
    uint64_t pages;          /* pages the tier holds now */
    uint64_t hits;           /* faults served from this tier */
    uint64_t puts;           /* pages written into this tier */
    uint64_t demotions;      /* pages moved from this tier to a slower one */
    uint64_t bytes_in;       /* bytes written into the tier */
    uint64_t bytes_out;      /* bytes read from the tier */
    uint64_t full_events;    /* puts refused with "full" */
    uint64_t under_replicated_pages; /* pages with fewer copies than the store keeps (its usage) */
};

struct tp_stats {
    uint64_t faults;         /* missing-page faults served */
    uint64_t zero_fills;     /* first touches answered with zeros */
    uint64_t minor_faults;   /* reference checks (clock policy) */
    uint64_t write_faults;   /* first writes to clean pages */
    uint64_t evictions;      /* pages taken out of the resident set */
    uint64_t writebacks;     /* evictions that wrote the page */
    uint64_t clean_drops;    /* evictions that dropped a page a tier still held */
    uint64_t resident_bytes;
    uint64_t peak_resident_bytes;
    uint64_t resident_cap_bytes;
    uint64_t mapped_bytes;
    uint64_t metadata_bytes; /* the page map: grows with the pages touched, not with mapped_bytes */
    size_t tier_count;
    struct tp_tier_stats tiers[TP_MAX_TIERS];
    /* Prefetch (`prefetch:`): pages brought in ahead of a fault; those the
     * program used before they were evicted (each one a fault avoided:
     * accuracy is prefetch_hits / prefetched_pages, coverage prefetch_hits
     * / (prefetch_hits + faults - zero_fills)); those evicted unused. */
    uint64_t prefetched_pages;
    uint64_t prefetch_hits;
    uint64_t prefetch_wasted;
    /* How the pager learns which pages the program wrote (`write_tracking:`):
     * "kernel" (the kernel records writes, read at eviction: no write
     * fault reaches the pager), or "faults" followed by why not. */
    char write_tracking[160];
    /* Pages found written by the kernel at eviction (or at a reference
     * check) that the pager had mapped write-protected. */
    uint64_t kernel_written;
    /* Of prefetched_pages, those mapped in the program as they came in
     * (`prefetch_map_ahead:`), whose use costs no fault. */
    uint64_t prefetch_mapped;
    /* Of prefetch_hits, those counted because the program's stream went
     * past them (it faulted further along the stride) rather than from a
     * fault or a write on the page itself: reading a mapped page leaves no
     * trace the pager can see. */
    uint64_t prefetch_inferred;
};

/* Open a stack: parse, load plugins, open stores, start handler threads. */
TP_API tp_stack *tp_stack_open_file(const char *path, tierpage_error *err);
TP_API tp_stack *tp_stack_open_string(const char *yaml, const char *source_name, tierpage_error *err);
/* A stack whose pages the tierpaged at `socket` serves, with the stack of
 * VM `vm`: regions are created here (memfd, mapping, userfaultfd) and handed
 * to the daemon, which serves their faults; no plugin is loaded here. A
 * daemon that goes away is waited for up to 60 s to come back and take
 * them again; past that the process is stopped (exit 125). */
TP_API tp_stack *tp_stack_open_daemon(const char *socket, const char *vm, tierpage_error *err);
/* Flushes nothing it has not already made durable, unmaps every region,
 * closes the stores. */
TP_API void tp_stack_close(tp_stack *stack);

/* Map `length` bytes served by the stack (rounded up to the page size).
 * With `hint` non-NULL, map exactly there (MAP_FIXED semantics). */
TP_API void *tp_map(tp_stack *stack, void *hint, size_t length, tierpage_error *err);
TP_API int tp_unmap(tp_stack *stack, void *addr, size_t length, tierpage_error *err);
/* Stop serving whatever of [addr, addr+length) the stack serves, but keep
 * the address range: it is left mapped PROT_NONE for the caller to unmap or
 * map over in one system call, so no other mapping can land in between. */
TP_API int tp_unserve(tp_stack *stack, void *addr, size_t length, tierpage_error *err);
/* Forget the content of the pages in [addr, addr+length): they read back as
 * zeros, as after madvise(MADV_DONTNEED) on private anonymous memory. */
TP_API int tp_discard(tp_stack *stack, void *addr, size_t length, tierpage_error *err);
/* mlock for served pages: with `lock`, the served pages of [addr,
 * addr+length) are never evicted once in (they count against the resident
 * cap; -ENOMEM, and nothing locked, when they would leave too little of it
 * for the rest); without, they may go again. Bringing them in is the
 * caller's (the kernel's mlock does it by faulting them). */
TP_API int tp_lock(tp_stack *stack, void *addr, size_t length, int lock, tierpage_error *err);
/* True when addr lies in a region this stack serves. */
TP_API int tp_owns(tp_stack *stack, const void *addr);

TP_API void tp_stack_stats(tp_stack *stack, struct tp_stats *out);
/* Wait until every page queued for a remote tier has been acknowledged. */
TP_API void tp_stack_flush(tp_stack *stack);
/* Change the resident cap; shrinking evicts at once. */
TP_API int tp_set_resident(tp_stack *stack, uint64_t bytes, tierpage_error *err);
/* Move every page of the region containing addr to the named tier. */
TP_API int tp_demote_region(tp_stack *stack, void *addr, const char *tier_name, tierpage_error *err);
/* The same for every region the stack serves. */
TP_API int tp_demote_all(tp_stack *stack, const char *tier_name, tierpage_error *err);
/* Bring pages held by the tiers back into the resident set, in order of
 * address, until it is full (less the evictor's margin): the faults they
 * spare are served the same way. Returns the number brought in, or -errno. */
TP_API long tp_promote(tp_stack *stack, tierpage_error *err);

TP_API size_t tp_page_size(const tp_stack *stack);
/* The region containing addr: its start and length; -1 when none. */
TP_API int tp_region_bounds(tp_stack *stack, const void *addr, void **start, size_t *length);
/* Allocations at or above this size are served by the preload shim. */
TP_API uint64_t tp_malloc_threshold(const tp_stack *stack);

/* Where the stores' messages go (a server that went away or came back, a
 * warning at open): each is passed to `sink` with its level
 * (TIERPAGE_LOG_*), the tier's name and the text; a NULL sink silences
 * them. Process-wide. Until it is called they go to stderr, as
 * "tierpage: TIER: TEXT". */
typedef void (*tp_log_sink)(void *arg, int level, const char *tier, const char *message);
TP_API void tp_set_store_log(tp_log_sink sink, void *arg);

/* Human summary and JSON of the stats. */
TP_API void tp_stats_print(const struct tp_stats *stats, FILE *out);
TP_API int tp_stats_write_json(const struct tp_stats *stats, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
