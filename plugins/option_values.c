/* The option parsers of the host services: one set of rules for every
 * store's integers, sizes, durations, booleans and server lists, and one
 * form of message, "KEY: expected ..., got 'VALUE'", with err->key set. */
#include "store_host.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "units.h" /* the stack file's integers, sizes and durations */

/* A unix socket path fits sockaddr_un.sun_path with its NUL. */
#define SOCKET_PATH_MAX 107

__attribute__((format(printf, 4, 5))) static int refuse(tierpage_error *err, const char *key, const char *value,
                                                        const char *expected, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, expected);
    vsnprintf(what, sizeof what, expected, ap);
    va_end(ap);
    if (!value || !value[0])
        return tierpage_error_set(err, -EINVAL, key, "%s: expected %s, got nothing", key, what);
    return tierpage_error_set(err, -EINVAL, key, "%s: expected %s, got '%.80s'", key, what, value);
}

int tp_option_uint(const char *key, const char *value, uint64_t min, uint64_t max, uint64_t *out,
                   tierpage_error *err)
{
    uint64_t n;
    if (tp_parse_uint(value, &n) != 0 || n < min || n > max)
        return refuse(err, key, value, "an integer from %" PRIu64 " to %" PRIu64, min, max);
    *out = n;
    return 0;
}

int tp_option_size(const char *key, const char *value, uint64_t min, uint64_t max, uint64_t *out,
                   tierpage_error *err)
{
    uint64_t n;
    if (!value || tp_parse_size(value, &n) != 0)
        return refuse(err, key, value, "a size such as 64MiB");
    if (n < min || n > max) {
        char low[32], high[32];
        tp_format_size(min, low, sizeof low);
        tp_format_size(max, high, sizeof high);
        return refuse(err, key, value, "a size from %s to %s", low, high);
    }
    *out = n;
    return 0;
}

int tp_option_duration_ms(const char *key, const char *value, uint64_t min_ms, uint64_t max_ms, uint64_t *out,
                          tierpage_error *err)
{
    uint64_t ms;
    if (tp_parse_duration_ms(value, &ms) != 0 || ms < min_ms || ms > max_ms) {
        char low[32], high[32];
        tp_format_duration_ms(min_ms, low, sizeof low);
        tp_format_duration_ms(max_ms, high, sizeof high);
        return refuse(err, key, value, "a duration from %s to %s such as 500ms or 2s", low, high);
    }
    *out = ms;
    return 0;
}

int tp_option_bool(const char *key, const char *value, int *out, tierpage_error *err)
{
    if (value && (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0))
        *out = 1;
    else if (value && (strcmp(value, "false") == 0 || strcmp(value, "no") == 0))
        *out = 0;
    else
        return refuse(err, key, value, "true or false");
    return 0;
}

/* ---------------------------------------------------------------- servers */

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Characters of a host name or IPv4 address, and of a bracketed IPv6
 * address (with a zone such as %eth0). */
static int host_chars_ok(const char *host, size_t len, int bracketed)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)host[i];
        if (isalnum(c) || c == '.' || c == '-' || c == '_')
            continue;
        if (bracketed && (c == ':' || c == '%'))
            continue;
        return 0;
    }
    return 1;
}

/* One entry, `len` bytes at `text`, blanks already dropped. */
static int parse_server(const char *key, const char *text, size_t len, uint16_t default_port, uint32_t flags,
                        tierpage_server *out, tierpage_error *err)
{
    const char *form = flags & TIERPAGE_SERVERS_UNIX ? "host:port or a unix socket path" : "host:port";
    memset(out, 0, sizeof *out);
    if (len >= sizeof out->name)
        return tierpage_error_set(err, -EINVAL, key, "%s: '%.40s...' is too long, expected %s", key, text, form);
    memcpy(out->name, text, len);
    const char *name = out->name;

    const char *path = strncmp(name, "unix:", 5) == 0 ? name + 5 : name[0] == '/' || name[0] == '.' ? name : NULL;
    if (path) {
        if (!(flags & TIERPAGE_SERVERS_UNIX))
            return tierpage_error_set(err, -EINVAL, key, "%s: '%s': this store cannot use a unix socket, "
                                      "expected host:port", key, name);
        if (!path[0])
            return tierpage_error_set(err, -EINVAL, key, "%s: expected unix:PATH, got '%s'", key, name);
        if (strlen(path) > SOCKET_PATH_MAX)
            return tierpage_error_set(err, -EINVAL, key, "%s: '%.40s...': a socket path has at most %d characters",
                                      key, name, SOCKET_PATH_MAX);
        snprintf(out->host, sizeof out->host, "%s", path);
        out->port = 0;
        return 0;
    }

    const char *host = name, *colon;
    size_t host_len;
    int bracketed = name[0] == '[';
    if (bracketed) {
        const char *close = strchr(name, ']');
        if (!close || (close[1] != '\0' && close[1] != ':'))
            return tierpage_error_set(err, -EINVAL, key, "%s: expected [IPv6 address]:port, got '%s'", key, name);
        host = name + 1;
        host_len = (size_t)(close - host);
        colon = close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = strchr(name, ':');
        if (colon && strchr(colon + 1, ':'))
            return tierpage_error_set(err, -EINVAL, key, "%s: '%s': write an IPv6 address in brackets, as "
                                      "[address]:port", key, name);
        host_len = colon ? (size_t)(colon - name) : len;
    }
    if (host_len == 0)
        return tierpage_error_set(err, -EINVAL, key, "%s: '%s' has no host, expected %s", key, name, form);
    if (!host_chars_ok(host, host_len, bracketed))
        return tierpage_error_set(err, -EINVAL, key, "%s: expected %s, got '%s'", key, form, name);
    memcpy(out->host, host, host_len);

    if (!colon) {
        if (default_port == 0)
            return tierpage_error_set(err, -EINVAL, key, "%s: '%s' has no port, expected host:port", key, name);
        out->port = default_port;
        return 0;
    }
    uint64_t port;
    if (tp_parse_uint(colon + 1, &port) != 0 || port < 1 || port > 65535)
        return tierpage_error_set(err, -EINVAL, key, "%s: '%s': expected a port from 1 to 65535", key, name);
    out->port = (uint16_t)port;
    return 0;
}

int tp_option_servers(const char *key, const char *value, uint16_t default_port, uint32_t flags,
                      tierpage_server *servers, size_t max, size_t *count, tierpage_error *err)
{
    *count = 0;
    const char *p = value ? value : "";
    while (is_blank(*p))
        p++;
    if (!*p)
        return refuse(err, key, NULL, "a list of servers such as [host:port, ...]");
    for (size_t entry = 1;; entry++) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && is_blank(*a))
            a++;
        while (b > a && is_blank(b[-1]))
            b--;
        if (a == b)
            return tierpage_error_set(err, -EINVAL, key, "%s: entry %zu of the list is empty, expected %s", key,
                                      entry, flags & TIERPAGE_SERVERS_UNIX ? "host:port or a unix socket path"
                                                                           : "host:port");
        if (*count == max)
            return tierpage_error_set(err, -EINVAL, key, "%s: expected at most %zu servers, got more", key, max);
        tierpage_server *s = &servers[*count];
        int rc = parse_server(key, a, (size_t)(b - a), default_port, flags, s, err);
        if (rc)
            return rc;
        for (size_t i = 0; i < *count; i++)
            if (servers[i].port == s->port && strcmp(servers[i].host, s->host) == 0)
                return tierpage_error_set(err, -EINVAL, key, "%s: '%s' is listed twice", key, s->name);
        ++*count;
        if (!*end)
            return 0;
        p = end + 1;
    }
}
