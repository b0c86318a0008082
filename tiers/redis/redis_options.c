#include "redis_options.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define OPTION_NAMES "servers, cluster, replicas, password, user, connect_timeout_ms, io_timeout_ms, " \
                     "eviction_policy_check, lease_ms"

int redis_address_parse(const char *text, size_t len, struct redis_address *addr)
{
    memset(addr, 0, sizeof *addr);
    if (len == 0 || len >= REDIS_HOST_MAX)
        return -EINVAL;
    if (text[0] == '/' || text[0] == '.') {
        memcpy(addr->host, text, len);
        addr->port = 0;
        snprintf(addr->name, sizeof addr->name, "%s", addr->host);
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
    if (text[0] == '[')
        snprintf(addr->name, sizeof addr->name, "[%s]:%d", addr->host, addr->port);
    else
        snprintf(addr->name, sizeof addr->name, "%s:%d", addr->host, addr->port);
    return 0;
}

static int parse_servers(const char *value, struct redis_options *opts, tierpage_error *err)
{
    const char *p = value;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *last = end;
        while (last > p && last[-1] == ' ')
            last--;
        if (opts->server_count == REDIS_MAX_SERVERS)
            return tierpage_error_set(err, -EINVAL, "servers", "redis: servers: at most %d servers",
                                      REDIS_MAX_SERVERS);
        struct redis_address *a = &opts->servers[opts->server_count];
        if (redis_address_parse(p, (size_t)(last - p), a) < 0)
            return tierpage_error_set(err, -EINVAL, "servers",
                                      "redis: servers: expected host:port or a unix socket path, got '%.*s'",
                                      (int)(last - p), p);
        for (size_t i = 0; i < opts->server_count; i++)
            if (strcmp(opts->servers[i].name, a->name) == 0)
                return tierpage_error_set(err, -EINVAL, "servers", "redis: servers: '%s' is listed twice",
                                          a->name);
        opts->server_count++;
        p = *end ? end + 1 : end;
    }
    if (opts->server_count == 0)
        return tierpage_error_set(err, -EINVAL, "servers", "redis: servers: expected at least one host:port "
                                  "or unix socket path");
    return 0;
}

static int parse_int(const char *key, const char *value, long min, long max, int *out, tierpage_error *err)
{
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (!*value || *end || errno || v < min || v > max || value[0] == '+' || value[0] == ' ')
        return tierpage_error_set(err, -EINVAL, key, "redis: %s: expected an integer from %ld to %ld, got '%s'",
                                  key, min, max, value);
    *out = (int)v;
    return 0;
}

static int parse_bool(const char *key, const char *value, int *out, tierpage_error *err)
{
    if (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0)
        *out = 1;
    else if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0)
        *out = 0;
    else
        return tierpage_error_set(err, -EINVAL, key, "redis: %s: expected true or false, got '%s'", key, value);
    return 0;
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
    memset(opts, 0, sizeof *opts);
    opts->replicas = 1;
    opts->connect_timeout_ms = 1000;
    opts->io_timeout_ms = 5000;
    opts->policy_check = REDIS_POLICY_REFUSE;
    opts->lease_ms = NS_LEASE_DEFAULT_MS;
    int have_servers = 0, have_replicas = 0, rc = 0;

    for (size_t i = 0; i < params->option_count && rc == 0; i++) {
        const char *key = params->options[i].key, *value = params->options[i].value ? params->options[i].value : "";
        for (size_t j = 0; j < i; j++)
            if (strcmp(params->options[j].key, key) == 0)
                return tierpage_error_set(err, -EINVAL, key, "redis: %s: given twice", key);
        if (strcmp(key, "servers") == 0) {
            rc = parse_servers(value, opts, err);
            have_servers = 1;
        } else if (strcmp(key, "cluster") == 0) {
            rc = parse_bool(key, value, &opts->cluster, err);
        } else if (strcmp(key, "replicas") == 0) {
            int n = (int)opts->replicas; /* parse_int leaves it as it is on an error */
            rc = parse_int(key, value, 1, REDIS_MAX_SERVERS, &n, err);
            opts->replicas = (unsigned)n;
            have_replicas = 1;
        } else if (strcmp(key, "password") == 0) {
            rc = copy_string(key, value, opts->password, sizeof opts->password, err);
            opts->has_password = 1;
        } else if (strcmp(key, "user") == 0) {
            rc = copy_string(key, value, opts->user, sizeof opts->user, err);
        } else if (strcmp(key, "connect_timeout_ms") == 0) {
            rc = parse_int(key, value, 1, 600000, &opts->connect_timeout_ms, err);
        } else if (strcmp(key, "io_timeout_ms") == 0) {
            rc = parse_int(key, value, 1, 600000, &opts->io_timeout_ms, err);
        } else if (strcmp(key, "eviction_policy_check") == 0) {
            if (strcmp(value, "refuse") == 0)
                opts->policy_check = REDIS_POLICY_REFUSE;
            else if (strcmp(value, "warn") == 0)
                opts->policy_check = REDIS_POLICY_WARN;
            else
                rc = tierpage_error_set(err, -EINVAL, key, "redis: %s: expected refuse or warn, got '%s'", key,
                                        value);
        } else if (strcmp(key, "lease_ms") == 0) {
            rc = ns_parse_lease_ms("redis", value, &opts->lease_ms, err);
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
