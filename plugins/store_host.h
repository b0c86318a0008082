/* The host services the core hands each store at open (tierpage_host in
 * tierpage_store.h): option parsers with the stack file's rules, and a log
 * whose destination the program's owner chooses (tp_set_store_log). */
#ifndef TIERPAGE_STORE_HOST_H
#define TIERPAGE_STORE_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "tierpage_store.h"

/* The table one store instance gets, and the tier it logs as. */
struct tp_store_host {
    tierpage_host table;
    char tier[64];
};

/* The table's thread_create (tierpage_host): the core sets it before it
 * opens a store, to start a store's threads as pager threads. */
typedef int tp_store_thread_create_fn(const tierpage_host *host, pthread_t *thread, void *(*start)(void *),
                                      void *arg);
void tp_store_host_set_thread_create(tp_store_thread_create_fn *fn);

/* Fills `host` for a store of tier `tier_name` and returns its table. */
const tierpage_host *tp_store_host_init(struct tp_store_host *host, const char *tier_name);

/* A message of the core's own about a server it depends on, as the stores'
 * are (`source` in place of the tier's name): to the same sink, silenced
 * with them (tierpage run --quiet). */
void tp_store_log_as(const char *source, int level, const char *message);

/* The parsers of the table (option_values.c). */
int tp_option_uint(const char *key, const char *value, uint64_t min, uint64_t max, uint64_t *out,
                   tierpage_error *err);
int tp_option_size(const char *key, const char *value, uint64_t min, uint64_t max, uint64_t *out,
                   tierpage_error *err);
int tp_option_duration_ms(const char *key, const char *value, uint64_t min_ms, uint64_t max_ms, uint64_t *out,
                          tierpage_error *err);
int tp_option_bool(const char *key, const char *value, int *out, tierpage_error *err);
int tp_option_servers(const char *key, const char *value, uint16_t default_port, uint32_t flags,
                      tierpage_server *servers, size_t max, size_t *count, tierpage_error *err);

#endif
