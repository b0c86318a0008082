#include "redis_options.h"

#include "reply_wait.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REDIS_DEFAULT_PORT 6379
#define REDIS_MAX_TIMEOUT_MS 600000u

#define OPTION_NAMES "servers, cluster, replicas, password, user, connect_timeout_ms, io_timeout_ms, " \
                     "eviction_policy_check, reply_spin_us, lease_ms"

/* "host:port", "[v6]:port" or the socket path: as the cluster names its nodes. */
static void address_name(struct redis_address *addr)
{
    if (addr->port == 0)
        snprintf(addr->name, sizeof addr->name, "%s", addr->host);
    else if (strchr(addr->host, ':'))
        snprintf(addr->name, sizeof addr->name, "[%s]:%d", addr->host, addr->port);
    else
        snprintf(addr->name, sizeof addr->name, "%s:%d", addr->host, addr->port);
}

int redis_address_parse(const char *text, size_t len, struct redis_address *addr)
{
    memset(addr, 0, sizeof *addr);
    if (len == 0 || len >= REDIS_HOST_MAX)
        return -EINVAL;
    if (text[0] == '/' || text[0] == '.') {
        memcpy(addr->host, text, len);
        addr->port = 0;
        address_name(addr);
        return 0;
    }
    const char *host = text, *colon;
    size_t host_len;
    if (text[0] == '[') {
        const char *close = memchr(text, ']', len);
        if (!close || close + 1 >= text + len || close[1] != ':')
            return -EINVAL;
        host = text + 1;
        host_len = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = NULL;
        for (const char *p = text; p < text + len; p++)
            if (*p == ':')
                colon = p;
        if (!colon)
            return -EINVAL;
        host_len = (size_t)(colon - text);
        if (memchr(text, ':', host_len))
            return -EINVAL; /* an IPv6 address needs brackets */
    }
    if (host_len == 0)
        return -EINVAL;
    const char *port = colon + 1, *end = text + len;
    if (port == end || end - port > 5)
        return -EINVAL;
    long value = 0;
    for (const char *p = port; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        value = value * 10 + (*p - '0');
    }
    if (value < 1 || value > 65535)
        return -EINVAL;
    for (size_t i = 0; i < host_len; i++)
        if (host[i] == ' ' || host[i] == '\t')
            return -EINVAL;
    memcpy(addr->host, host, host_len);
    addr->port = (int)value;
    address_name(addr);
    return 0;
}

/* The servers option, through the host's parser, as redis addresses named
 * as the cluster names its nodes ("host:port", "[v6]:port" or the path). */
static int parse_servers(const tierpage_host *host, const char *key, const char *value,
                         struct redis_options *opts, tierpage_error *err)
{
    tierpage_server *list = calloc(REDIS_MAX_SERVERS, sizeof *list);
    size_t count = 0;
    if (!list)
        return tierpage_error_set(err, -ENOMEM, NULL, "redis: out of memory");
    int rc = host->parse_servers(key, value, REDIS_DEFAULT_PORT, TIERPAGE_SERVERS_UNIX, list, REDIS_MAX_SERVERS,
                                 &count, err);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        struct redis_address *a = &opts->servers[i];
        if (strlen(list[i].host) >= sizeof a->host) {
            rc = tierpage_error_set(err, -EINVAL, key, "%s: '%s': the host is longer than %zu characters", key,
                                    list[i].name, sizeof a->host - 1);
            break;
        }
        memcpy(a->host, list[i].host, strlen(list[i].host) + 1);
        a->port = list[i].port;
        address_name(a);
    }
    opts->server_count = rc == 0 ? count : 0;
    free(list);
    return rc;
}

static int copy_string(const char *key, const char *value, char *dst, size_t size, tierpage_error *err)
{
    size_t len = strlen(value);
    if (len == 0 || len >= size)
        return tierpage_error_set(err, -EINVAL, key, "redis: %s: expected 1 to %zu characters", key, size - 1);
    memcpy(dst, value, len + 1);
    return 0;
}

int redis_options_parse(const tierpage_store_params *params, struct redis_options *opts, tierpage_error *err)
{
    const tierpage_host *host = params->host;
    if (!TIERPAGE_HOST_HAS(host, parse_servers))
        return tierpage_error_set(err, -EPROTO, NULL, "redis: the host gave no option parsers");
    memset(opts, 0, sizeof *opts);
    opts->replicas = 1;
    opts->connect_timeout_ms = 1000;
    opts->io_timeout_ms = 5000;
    opts->policy_check = REDIS_POLICY_REFUSE;
    opts->lease_ms = NS_LEASE_DEFAULT_MS;
    opts->reply_spin_us = REPLY_SPIN_US_DEFAULT;
    int have_servers = 0, have_replicas = 0, rc = 0;
    uint64_t number = 0;

    for (size_t i = 0; i < params->option_count && rc == 0; i++) {
        const char *key = params->options[i].key, *value = params->options[i].value ? params->options[i].value : "";
        for (size_t j = 0; j < i; j++)
            if (strcmp(params->options[j].key, key) == 0)
                return tierpage_error_set(err, -EINVAL, key, "redis: %s: given twice", key);
        if (strcmp(key, "servers") == 0) {
            rc = parse_servers(host, key, value, opts, err);
            have_servers = 1;
        } else if (strcmp(key, "cluster") == 0) {
            rc = host->parse_bool(key, value, &opts->cluster, err);
        } else if (strcmp(key, "replicas") == 0) {
            rc = host->parse_uint(key, value, 1, REDIS_MAX_SERVERS, &number, err);
            opts->replicas = (unsigned)number;
            have_replicas = 1;
        } else if (strcmp(key, "password") == 0) {
            rc = copy_string(key, value, opts->password, sizeof opts->password, err);
            opts->has_password = 1;
        } else if (strcmp(key, "user") == 0) {
            rc = copy_string(key, value, opts->user, sizeof opts->user, err);
        } else if (strcmp(key, "connect_timeout_ms") == 0) {
            rc = host->parse_duration_ms(key, value, 1, REDIS_MAX_TIMEOUT_MS, &number, err);
            opts->connect_timeout_ms = (int)number;
        } else if (strcmp(key, "io_timeout_ms") == 0) {
            rc = host->parse_duration_ms(key, value, 1, REDIS_MAX_TIMEOUT_MS, &number, err);
            opts->io_timeout_ms = (int)number;
        } else if (strcmp(key, "eviction_policy_check") == 0) {
            if (strcmp(value, "refuse") == 0)
                opts->policy_check = REDIS_POLICY_REFUSE;
            else if (strcmp(value, "warn") == 0)
                opts->policy_check = REDIS_POLICY_WARN;
            else
                rc = tierpage_error_set(err, -EINVAL, key, "redis: %s: expected refuse or warn, got '%s'", key,
                                        value);
        } else if (strcmp(key, "reply_spin_us") == 0) {
            rc = host->parse_uint(key, value, 0, REPLY_SPIN_US_MAX, &number, err);
            opts->reply_spin_us = (unsigned)number;
        } else if (strcmp(key, "lease_ms") == 0) {
            rc = host->parse_duration_ms(key, value, NS_LEASE_MIN_MS, NS_LEASE_MAX_MS, &number, err);
            opts->lease_ms = (unsigned)number;
        } else {
            rc = tierpage_error_set(err, -EINVAL, key, "redis: unknown option '%s' (expected one of %s)", key,
                                    OPTION_NAMES);
        }
    }
    if (rc)
        return rc;
    if (!have_servers)
        return tierpage_error_set(err, -EINVAL, "servers", "redis: servers is required: a list of host:port "
                                  "or unix socket paths");
    if (opts->user[0] && !opts->has_password)
        return tierpage_error_set(err, -EINVAL, "user", "redis: user needs a password");
    if (opts->cluster && opts->replicas > 1)
        return tierpage_error_set(err, -EINVAL, "replicas", "redis: replicas must be 1 with cluster: true (a "
                                  "Redis Cluster keeps its own replicas of each master)");
    if (!opts->cluster && opts->replicas > opts->server_count)
        return tierpage_error_set(err, -EINVAL, have_replicas ? "replicas" : "servers",
                                  "redis: replicas is %u but only %zu servers are listed: each copy needs a "
                                  "server of its own", opts->replicas, opts->server_count);
    return 0;
}
