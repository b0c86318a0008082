/* The options every tier of servers takes (servers, replicas,
 * connect_timeout_ms, io_timeout_ms), read with the host's parsers. */
#ifndef TIERPAGE_SERVER_OPTIONS_H
#define TIERPAGE_SERVER_OPTIONS_H

#include <stdint.h>
#include <string.h>

#include "tierpage_store.h"

#define SERVER_OPTION_MAX_TIMEOUT_MS 600000u
/* server_option's answer for a key that is not one of the four. */
#define SERVER_OPTION_OTHER 1

struct server_options {
    const char *servers; /* the list as given, for parse_servers; NULL when absent */
    uint64_t replicas;
    uint64_t connect_timeout_ms, io_timeout_ms;
};

/* Reads `key` into o when it is one of the four: 0, or a negative errno
 * with err naming the key; SERVER_OPTION_OTHER for any other key. */
static inline int server_option(const tierpage_host *host, const char *key, const char *value,
                                uint64_t max_replicas, struct server_options *o, tierpage_error *err)
{
    if (strcmp(key, "servers") == 0) {
        o->servers = value ? value : "";
        return 0;
    }
    if (strcmp(key, "replicas") == 0)
        return host->parse_uint(key, value, 1, max_replicas, &o->replicas, err);
    if (strcmp(key, "connect_timeout_ms") == 0)
        return host->parse_duration_ms(key, value, 1, SERVER_OPTION_MAX_TIMEOUT_MS, &o->connect_timeout_ms, err);
    if (strcmp(key, "io_timeout_ms") == 0)
        return host->parse_duration_ms(key, value, 1, SERVER_OPTION_MAX_TIMEOUT_MS, &o->io_timeout_ms, err);
    return SERVER_OPTION_OTHER;
}

#endif
