/* The host services table each store gets at open, and where the stores'
 * messages go. */
#include "store_host.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "tierpage.h"

static void log_to_stderr(void *arg, int level, const char *tier, const char *message)
{
    (void)arg;
    const char *label = level == TIERPAGE_LOG_ERROR ? "error: " : level == TIERPAGE_LOG_WARNING ? "warning: " : "";
    fprintf(stderr, "tierpage: %s: %s%s\n", tier, label, message);
}

/* Guards the sink: set rarely, read on every message. */
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static tp_log_sink sink = log_to_stderr;
static void *sink_arg;

void tp_set_store_log(tp_log_sink new_sink, void *arg)
{
    pthread_mutex_lock(&sink_lock);
    sink = new_sink;
    sink_arg = arg;
    pthread_mutex_unlock(&sink_lock);
}

static void host_log(const tierpage_host *table, int level, const char *message)
{
    const struct tp_store_host *host = table->context;
    pthread_mutex_lock(&sink_lock);
    /* Under the lock, so that a sink is never called after it was replaced. */
    if (sink)
        sink(sink_arg, level, host->tier, message ? message : "");
    pthread_mutex_unlock(&sink_lock);
}

void tp_store_log_as(const char *source, int level, const char *message)
{
    pthread_mutex_lock(&sink_lock);
    if (sink)
        sink(sink_arg, level, source, message);
    pthread_mutex_unlock(&sink_lock);
}

/* Set by the core; a copy of this file in a plugin (faulty's loader)
 * leaves it NULL, and its tables have no thread_create. */
static tp_store_thread_create_fn *thread_create;

void tp_store_host_set_thread_create(tp_store_thread_create_fn *fn)
{
    __atomic_store_n(&thread_create, fn, __ATOMIC_RELAXED);
}

const tierpage_host *tp_store_host_init(struct tp_store_host *host, const char *tier_name)
{
    memset(host, 0, sizeof *host);
    snprintf(host->tier, sizeof host->tier, "%s", tier_name ? tier_name : "store");
    host->table = (tierpage_host){
        .version = TIERPAGE_HOST_VERSION,
        .struct_size = sizeof(tierpage_host),
        .context = host,
        .log = host_log,
        .parse_uint = tp_option_uint,
        .parse_size = tp_option_size,
        .parse_duration_ms = tp_option_duration_ms,
        .parse_bool = tp_option_bool,
        .parse_servers = tp_option_servers,
        .thread_create = __atomic_load_n(&thread_create, __ATOMIC_RELAXED),
    };
    return &host->table;
}
