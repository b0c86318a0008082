/* A stack file, parsed and checked: the typed form the core starts from. */
#ifndef TIERPAGE_STACK_CONFIG_H
#define TIERPAGE_STACK_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "tierpage_store.h"

enum tp_eviction_policy {
    TP_POLICY_CLOCK = 0, /* second chance, references seen through minor faults */
    TP_POLICY_FIFO,      /* oldest fault first */
};

/* How the pager learns which resident pages the program wrote. */
enum tp_write_tracking {
    TP_WRITES_AUTO = 0, /* the kernel's where it offers it, else faults */
    TP_WRITES_KERNEL,   /* UFFD_FEATURE_WP_ASYNC + PAGEMAP_SCAN; refused where missing */
    TP_WRITES_FAULTS,   /* write-protect faults, and comparison for local tiers */
};

/* The CPU share of the thread that evicts ahead of the faults. */
enum tp_evictor_priority {
    TP_EVICTOR_BACKGROUND = 0, /* nice 19: it runs on CPU time the program leaves */
    TP_EVICTOR_NORMAL,         /* the program's own priority */
};

/* One handler thread pinned to each CPU the process may run on: a fault is
 * then picked up on the CPU where it happened, without a cross-CPU wake. */
#define TP_HANDLERS_AUTO 0u

/* `prefetch_window:`: pages fetched ahead at most, default and bound. */
#define TP_CONF_DEFAULT_PREFETCH_WINDOW 256u
#define TP_CONF_MAX_PREFETCH_WINDOW 256

/* A tier without `writeback_queue:` gets the default of its plugin. */
#define TP_CONF_DEFAULT_QUEUE UINT64_MAX

struct tp_conf_option {
    char *key;
    char *value;      /* scalar as written; a sequence's items joined by ',' */
    int line, column; /* 1-based position of the key */
};

struct tp_conf_tier {
    char *plugin;     /* as written: a name ("dram") or a path to a .so */
    char *name;       /* `name:` or, when absent, the plugin name (unique in the stack) */
    uint64_t capacity;          /* bytes; 0 when `capacity:` is absent */
    uint64_t writeback_queue;   /* `writeback_queue:` bytes; TP_CONF_DEFAULT_QUEUE when absent */
    struct tp_conf_option *options; /* every other key of the tier */
    size_t option_count;
    int line, column;           /* position of the tier's mapping */
    int plugin_line, plugin_column; /* position of the `plugin:` value */
};

struct tp_conf {
    char *source;               /* the file name, or the name given for a string */
    char *name;                 /* `name:`: the namespace */
    int exclusive_namespace;    /* `namespace: exclusive`; 0 for per-instance, the default */
    uint64_t resident;          /* `resident:` bytes */
    uint64_t malloc_threshold;  /* `malloc_threshold:`, default 1 MiB */
    unsigned handler_threads;   /* `handler_threads:`, default TP_HANDLERS_AUTO */
    enum tp_eviction_policy policy; /* `policy: clock|fifo`, default clock */
    /* `store_timeout:`, default 30 s: how long a store may keep failing
     * (its calls retried) before the program is stopped. */
    uint64_t store_timeout_ms;
    int prefetch;               /* `prefetch: on|off`, default on */
    unsigned prefetch_window;   /* `prefetch_window:` pages, default TP_CONF_DEFAULT_PREFETCH_WINDOW */
    int prefetch_map_ahead;     /* `prefetch_map_ahead: on|off`, default on */
    enum tp_write_tracking write_tracking; /* `write_tracking: auto|kernel|faults`, default auto */
    enum tp_evictor_priority evictor_priority; /* `evictor_priority: background|normal`, default background */
    /* `allowed_uids:`: the users whose processes may attach to this stack
     * under tierpaged; none given: the daemon's own user (and root). */
    uint32_t *allowed_uids;
    size_t allowed_uid_count;
    struct tp_conf_tier *tiers;
    size_t tier_count;
};

/* Parse a stack file. On failure returns -1 with err->message like
 *   "conf/x.yaml:4:13: resident: expected a size such as 64MiB, got 'lots'"
 * and *out untouched. */
int tp_conf_load_file(const char *path, struct tp_conf **out, tierpage_error *err);
int tp_conf_load_string(const char *yaml, size_t len, const char *source_name,
                        struct tp_conf **out, tierpage_error *err);
/* The same, where something else names the stack (tierpaged's stacks
 * directory: the file NAME.yaml): a file without `name:` gets
 * default_name, when that is a valid name. */
int tp_conf_load_string_named(const char *yaml, size_t len, const char *source_name, const char *default_name,
                              struct tp_conf **out, tierpage_error *err);
int tp_conf_load_file_named(const char *path, const char *default_name, struct tp_conf **out, tierpage_error *err);
void tp_conf_free(struct tp_conf *conf);

/* Position of a tier option key, for errors a plugin reports about it;
 * the tier's own position when the key is not there. */
void tp_conf_option_position(const struct tp_conf_tier *tier, const char *key, int *line, int *column);

/* The value of a tier option, or NULL when the tier does not give it. */
const char *tp_conf_option_value(const struct tp_conf_tier *tier, const char *key);

#endif
