/* The host services table each store gets at open, and where the stores'
 * messages go. */
#include "store_host.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pager_thread.h"
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

struct store_thread_start {
    void *(*start)(void *);
    void *arg;
};

static void *store_thread_main(void *arg)
{
    struct store_thread_start begin = *(struct store_thread_start *)arg;
    free(arg);
    tp_pager_thread = 1;
    return begin.start(begin.arg);
}

static int host_thread_create(const tierpage_host *table, pthread_t *thread, void *(*start)(void *), void *arg)
{
    (void)table;
    struct store_thread_start *begin = malloc(sizeof *begin);
    if (!begin)
        return ENOMEM;
    *begin = (struct store_thread_start){start, arg};
    int rc = tp_pager_thread_create(thread, NULL, store_thread_main, begin);
    if (rc != 0)
        free(begin);
    return rc;
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
        .thread_create = host_thread_create,
    };
    return &host->table;
}
