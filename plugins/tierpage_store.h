/* tierpage page-store ABI.
 *
 * A page store is a shared object that exports one function,
 * TIERPAGE_STORE_ENTRY_SYMBOL, returning a const table of operations whose
 * first field is the ABI version it was built against. The core opens one
 * store instance per tier of a stack; the instance is an opaque pointer the
 * plugin owns. Nothing here needs global state in the plugin.
 *
 * Return values: 0 on success, or a negative errno value:
 *   -ENOENT  get/delete of a key the store does not hold
 *   -ENOSPC  put refused because the store is full (the core then demotes
 *            pages to the next tier and may retry); never used for failures
 *   -ESTALE  the instance lost its hold on its keys for good (a shared
 *            store's lease ran out, and another stack may own them now):
 *            every later call fails so, and the core stops the program at
 *            once instead of trying again
 *   anything else  a failure; the plugin should fill err->message.
 *
 * Concurrency: open and close are never called concurrently with any other
 * call on the same instance. get, put, del, get_batch, put_batch, del_batch
 * and usage may be called at the same time from several threads on one instance, but
 * never two calls for the same key at once. A plugin that cannot take
 * concurrent calls sets TIERPAGE_STORE_SERIAL and the core serialises them.
 *
 * Versioning: the table only grows at its end. The core reads
 * ops->struct_size to know which fields a plugin built against an older
 * header provides. ABI 2 added the host services (params->host); the core
 * still loads plugins built for ABI 1, which never look at them. ABI 3
 * added tierpage_store_usage.under_replicated_pages, which the core zeroes
 * before calling usage, so a store of ABI 1 or 2 reports none. The
 * optional operations forget, drop_child, instance_flags, list and
 * del_batch came later at the table's end with no new version: the core
 * reads those past a plugin's struct_size as NULL, and never calls them.
 *
 * Host services: at open the core hands the plugin a table of functions
 * (tierpage_host) that parse option values with the rules of the stack
 * file, with an error naming the key, and that log through the core. The
 * table stays valid until close returns; it too grows only at its end.
 */
#ifndef TIERPAGE_STORE_H
#define TIERPAGE_STORE_H

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TIERPAGE_STORE_ABI_VERSION 3u
/* The oldest ABI a plugin may be built for and still load. */
#define TIERPAGE_STORE_ABI_OLDEST 1u
#define TIERPAGE_STORE_ENTRY_SYMBOL "tierpage_store_entry"

/* Flags a plugin declares in its operations table. */
#define TIERPAGE_STORE_PERSISTENT (1u << 0) /* pages survive close + open with the same options and namespace */
#define TIERPAGE_STORE_SERIAL     (1u << 1) /* the core must not call it from several threads at once */
/* Each call is a network round trip: by default the core queues the pages
 * it puts into this store and sends them in batches from a thread of its
 * own, off the fault path (the tier key writeback_queue: sets the bound). */
#define TIERPAGE_STORE_REMOTE     (1u << 2)
/* The store's copy of a page is in local memory and cheap to read (since
 * ABI 2). The core may then map a page read from it writable at once and,
 * at eviction, compare the page with the copy instead of assuming it was
 * written. Without it a page comes back write-protected until written. */
#define TIERPAGE_STORE_LOCAL      (1u << 3)
/* The store instance is private memory of the process and nothing else:
 * no thread, no descriptor, no file or server another process reaches.
 * A forked child then keeps using its copy of the instance as its own
 * (the kernel copies the memory on write), as the dram store does. Other
 * stores are opened afresh in a forked child. */
#define TIERPAGE_STORE_FORK_PRIVATE (1u << 4)
/* Opened with params->forked_from (in a forked child), the instance keeps
 * the child's pages apart from the parent's, never touches the parent's,
 * and its pages go away with the child process (at its exit, also _exit,
 * or exec): either by themselves, as the pmem store's file of the child's
 * own does, and the rdma store's memserver session of the child's own
 * (freed by the memserver when the child's connection drops), or, when
 * they live on a server, through the parent's instance's drop_child once
 * the child is gone (memcached, redis). A stack whose every tier is
 * FORK_PRIVATE or FORK_APART gives forked children served memory; any
 * other tier keeps it from them. */
#define TIERPAGE_STORE_FORK_APART (1u << 5)

typedef struct tierpage_error {
    char message[256];
    /* The option key a failed open rejects, so the core can point at its
     * line in the stack file; empty when no single key is to blame. */
    char key[64];
} tierpage_error;

static inline int tierpage_error_set(tierpage_error *err, int code, const char *key, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        snprintf(err->key, sizeof err->key, "%s", key ? key : "");
    }
    return code;
}
#ifdef __clang_analyzer__
/* The static analyzer does not follow calls into variadic functions: show
 * it that the call returns `code`, or it reports paths where an error
 * returned 0. */
#define tierpage_error_set(err, code, ...) \
    __extension__({ int tierpage_code_ = (code); (tierpage_error_set)((err), tierpage_code_, __VA_ARGS__); tierpage_code_; })
#endif

/* ------------------------------------------------------- host services */

/* 1: the services below. 2: tierpage_store_params.forked_from is there
 * (the table itself is unchanged). 3: thread_create. 4:
 * tierpage_store_params.recovering is there. */
#define TIERPAGE_HOST_VERSION 4u

/* Levels of tierpage_host.log: the core decides what it shows, and where. */
#define TIERPAGE_LOG_ERROR   0
#define TIERPAGE_LOG_WARNING 1
#define TIERPAGE_LOG_INFO    2
#define TIERPAGE_LOG_DEBUG   3

/* One entry of a list of servers. The layout is fixed: a new form gets a
 * new function, never a change here. */
#define TIERPAGE_SERVER_TEXT_MAX 256
typedef struct tierpage_server {
    char name[TIERPAGE_SERVER_TEXT_MAX]; /* the entry as written, blanks around it dropped */
    char host[TIERPAGE_SERVER_TEXT_MAX]; /* host name or address (IPv6 without brackets), or the socket path */
    uint16_t port;                       /* 0 for a unix socket */
} tierpage_server;

/* parse_servers flag: the store can reach a server through a unix socket. */
#define TIERPAGE_SERVERS_UNIX (1u << 0)

typedef struct tierpage_host {
    uint32_t version;     /* TIERPAGE_HOST_VERSION of the core that filled it */
    uint32_t struct_size; /* sizeof(tierpage_host) as the core was built */
    void *context;        /* the core's, for log */

    /* Version 1. */

    /* One message, without a trailing newline; the core prefixes the tier's
     * name and sends it where the program's owner said (stderr by default,
     * nowhere under `tierpage run --quiet`). Any thread, any time between
     * open and the return of close. tierpage_log() below formats. */
    void (*log)(const struct tierpage_host *host, int level, const char *message);

    /* Option parsers. Each takes the option's key (for the message) and its
     * value as the stack file wrote it, and returns 0 with *out set, or
     * -EINVAL with err->message "KEY: expected ..., got 'VALUE'" and
     * err->key = KEY. Nothing but the value itself is accepted: no blanks,
     * no sign, no fractions. */

    /* Decimal digits, from min to max. */
    int (*parse_uint)(const char *key, const char *value, uint64_t min, uint64_t max, uint64_t *out,
                      tierpage_error *err);
    /* A size as stack files write them (4096, 64MiB, 64 MiB, 8G: binary
     * units B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB), in bytes, from min
     * to max. */
    int (*parse_size)(const char *key, const char *value, uint64_t min, uint64_t max, uint64_t *out,
                      tierpage_error *err);
    /* A duration in milliseconds from min_ms to max_ms, as the stack file
     * writes them: a whole number with a unit, us, ms, s, min or h (500ms,
     * 2s, 2 s, 1h), or a bare number of milliseconds (the unit of options
     * named *_ms); whole milliseconds only. */
    int (*parse_duration_ms)(const char *key, const char *value, uint64_t min_ms, uint64_t max_ms,
                             uint64_t *out, tierpage_error *err);
    /* true or yes: 1; false or no: 0. */
    int (*parse_bool)(const char *key, const char *value, int *out, tierpage_error *err);
    /* A list of servers, entries separated by ',' with blanks around them
     * allowed: host:port, host (default_port), [IPv6 address]:port or
     * [IPv6 address], and with TIERPAGE_SERVERS_UNIX a unix socket as
     * unix:PATH or a path starting with '/' or '.'. An empty entry, a port
     * outside 1-65535, one server twice (same host and port) or more than
     * `max` entries is an error. Fills servers[0..*count). */
    int (*parse_servers)(const char *key, const char *value, uint16_t default_port, uint32_t flags,
                         tierpage_server *servers, size_t max, size_t *count, tierpage_error *err);

    /* Version 3. */

    /* pthread_create for a thread of the store's own (a heartbeat, a
     * sender, a poller): the thread belongs to the pager. Every
     * asynchronous signal is blocked in it, so the program's handlers never
     * run there, and what it allocates never lands in memory the core
     * serves (a program with its own allocator would otherwise hand it
     * served memory, and a fault on it could wait for the very thread that
     * must resolve it). Start every thread of a store with it; join with
     * pthread_join. Returns 0 or an error number. With an older core
     * (!TIERPAGE_HOST_HAS(host, thread_create)), call pthread_create with
     * every signal blocked. */
    int (*thread_create)(const struct tierpage_host *host, pthread_t *thread, void *(*start)(void *), void *arg);
} tierpage_host;

/* Whether `host` has `field`: a table from an older core is shorter. */
#define TIERPAGE_HOST_HAS(host, field) \
    ((host) && (host)->struct_size >= offsetof(tierpage_host, field) + sizeof((host)->field))

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline void tierpage_log(const tierpage_host *host, int level, const char *fmt, ...)
{
    if (!TIERPAGE_HOST_HAS(host, log) || !host->log)
        return;
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    host->log(host, level, message);
}

/* ------------------------------------------------------------- the store */

typedef struct tierpage_store_option {
    const char *key;
    const char *value; /* scalars as written; a YAML list as its items joined by ',' */
} tierpage_store_option;

typedef struct tierpage_store_params {
    const char *namespace_name;  /* keeps this stack's pages apart from others' in shared stores */
    size_t page_size;            /* bytes in every page passed to get and put */
    uint64_t capacity;           /* bytes the tier may hold, 0 when the stack file gives none */
    const tierpage_store_option *options; /* tier keys other than plugin, name and capacity */
    size_t option_count;
    /* One running stack per namespace in a shared store (a server several
     * stacks may use). `instance` names this open of the stack: 16 hex
     * digits, different for every stack opened, also two opens of one
     * stack file. Unless `exclusive`, a shared store keeps this instance's
     * pages apart from every other instance's (the built-in stores put
     * `instance` in their keys). With `exclusive` (the stack file's
     * `namespace: exclusive`) the pages go under namespace_name alone, and
     * a shared store refuses the open while another running stack holds
     * that namespace, with a message naming the server and the namespace.
     * NULL `instance` (a caller built before these fields): exclusive. */
    const char *instance;
    int exclusive;
    /* Since ABI 2: the core's services; valid until close returns. */
    const tierpage_host *host;
    /* Present when host->version is 2 or more. Non-NULL when the stack is
     * a forked child's: the instance id of the stack it was forked from,
     * whose store the child must not touch (the parent goes on using it).
     * The core then copies the child's pages into this store itself. Also
     * non-NULL in a process of a `tierpage run` other than the program (one
     * it started with exec): the program's instance id ("" when unknown),
     * whose store the program may be holding; nothing is copied then. Only
     * stores that declare TIERPAGE_STORE_FORK_APART are opened so. */
    const char *forked_from;
    /* Present when host->version is 4 or more. 1 when the core opens the
     * store to recover the stack of a pager that was killed (the same
     * `instance` as that pager's; clear is not called): the store's pages
     * are the stack's, though what the dead process knew of them (which
     * server holds a copy, its version) is gone, and a lease or lock that
     * process held under `instance` is this open's to take over. 0
     * otherwise: a lease held under `instance` is another running open's. */
    int recovering;
} tierpage_store_params;

typedef struct tierpage_store_usage {
    uint64_t capacity_bytes; /* 0 when unbounded or unknown */
    uint64_t used_bytes;
    uint64_t pages;
    /* Since ABI 3 (a core that loads an ABI 3 store has it): pages the
     * store keeps fewer copies of than it should (replicas), such as the
     * pages of a server that went away, until it has copied them again.
     * The core shows it in its stats. */
    uint64_t under_replicated_pages;
} tierpage_store_usage;

typedef struct tierpage_store_ops {
    uint32_t abi_version;   /* TIERPAGE_STORE_ABI_VERSION */
    uint32_t struct_size;   /* sizeof(tierpage_store_ops) as the plugin was built */
    const char *name;       /* short name, e.g. "dram" */
    const char *description;
    uint32_t flags;         /* TIERPAGE_STORE_* */

    /* Mandatory. */
    int (*open)(const tierpage_store_params *params, void **store, tierpage_error *err);
    void (*close)(void *store);
    int (*get)(void *store, uint64_t key, void *page, tierpage_error *err);
    int (*put)(void *store, uint64_t key, const void *page, tierpage_error *err);
    int (*del)(void *store, uint64_t key, tierpage_error *err);
    int (*usage)(void *store, tierpage_store_usage *usage, tierpage_error *err);

    /* Optional (NULL when absent): results[i] gets each page's own return
     * value; the function returns 0 when every page succeeded, otherwise
     * the first failure. */
    int (*get_batch)(void *store, size_t count, const uint64_t *keys, void *const *pages,
                     int *results, tierpage_error *err);
    int (*put_batch)(void *store, size_t count, const uint64_t *keys, const void *const *pages,
                     int *results, tierpage_error *err);

    /* Optional: drop every page this instance's namespace holds. The core
     * calls it right after open, because a stack starts with no pages and
     * anything a persistent store kept from an earlier run is garbage to
     * it; but not when it recovers a stack a killed pager left (see list):
     * then the pages are the stack's. Never called concurrently with
     * anything else. */
    int (*clear)(void *store, tierpage_error *err);

    /* Optional: called in a forked child on its copy of the parent's
     * instance, which the child will never use again: let go of what the
     * process holds for it (descriptors, file locks) without touching
     * anything the parent goes on using (no write, no delete, not a byte on
     * a connection); the instance's memory is not freed. Without it, a
     * child that outlives its parent keeps, say, the parent's file locked. */
    void (*forget)(void *store);

    /* Optional, for FORK_APART stores whose pages would outlive a child
     * process (kept on a server): called on the parent's instance, once a
     * child whose store was opened with forked_from = this instance's id
     * has exited, been killed or exec'd: remove every page of the child's
     * instance `child_instance` (16 hex digits) from the namespace, and
     * anything else the child's open left there (a lease). The child runs
     * no more, so nothing writes under that instance any longer. Called
     * from a thread of the core's, concurrently with any call on this
     * instance but open, close and clear. */
    int (*drop_child)(void *store, const char *child_instance, tierpage_error *err);

    /* Optional: the flags of this open instance, for a store whose options
     * change what an instance is (the dram store on a file is not private
     * memory, and keeps its pages across close and open). The core calls
     * it once after each open and uses its answer instead of the table's
     * for LOCAL, PERSISTENT and FORK_PRIVATE; SERIAL, REMOTE and FORK_APART
     * (whether open gets forked_from) it reads from the table alone, so a
     * store some of whose instances keep a child's pages apart declares
     * FORK_APART in the table. Without it an instance's flags are the
     * table's. */
    uint32_t (*instance_flags)(void *store);

    /* Optional: what the instance holds, for a pager that recovers its
     * state after it was killed (it opens its stores again without clear,
     * and must tell the pages it finds from ones a crash left behind).
     * Calls each(ctx, key) once for every key the instance holds a page of
     * (in no particular order), and returns 0; stops as soon as each
     * returns non-zero and returns that value. Never called concurrently
     * with any other call on the instance. A store that cannot enumerate
     * cheaply (a server shared by many stacks) leaves it NULL. */
    int (*list)(void *store, int (*each)(void *ctx, uint64_t key), void *ctx, tierpage_error *err);

    /* Optional: delete keys[i] for i < count, each as del would: results[i]
     * is 0, -ENOENT for a key the store does not hold, or a failure.
     * Returns the first result that is neither 0 nor -ENOENT, 0 when none.
     * For a store where each call is a round trip: the core sends the
     * deletes its write-back queue gathered through it, in one call. */
    int (*del_batch)(void *store, size_t count, const uint64_t *keys, int *results, tierpage_error *err);
} tierpage_store_ops;

typedef const tierpage_store_ops *(*tierpage_store_entry_fn)(void);

/* Every plugin defines exactly this function. It is declared with default
 * visibility so that a plugin built with -fvisibility=hidden (as the built-in
 * tiers are) still exports it. */
#if defined(__GNUC__)
#define TIERPAGE_STORE_EXPORT __attribute__((visibility("default")))
#else
#define TIERPAGE_STORE_EXPORT
#endif
TIERPAGE_STORE_EXPORT const tierpage_store_ops *tierpage_store_entry(void);

#ifdef __cplusplus
}
#endif
#endif
