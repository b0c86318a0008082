#include "mc_server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mc_server_init(struct mc_server *s, const tierpage_server *where, unsigned connect_timeout_ms,
                    unsigned io_timeout_ms, unsigned reply_spin_us, const tierpage_host *log_host)
{
    memset(s, 0, sizeof *s);
    s->log_host = log_host;
    s->connect_timeout_ms = connect_timeout_ms;
    s->io_timeout_ms = io_timeout_ms;
    s->reply_spin_us = reply_spin_us;
    snprintf(s->name, sizeof s->name, "%s", where->name);
    snprintf(s->host, sizeof s->host, "%s", where->host);
    s->port = where->port;
    pthread_mutex_init(&s->lock, NULL);
    atomic_init(&s->out_of_service, 0);
}

void mc_server_destroy(struct mc_server *s)
{
    for (size_t i = 0; i < s->idle_count; i++)
        memcached_free(s->idle[i]);
    free(s->idle);
    s->idle = NULL;
    s->idle_count = s->idle_cap = 0;
    for (size_t i = 0; i < s->idle_conn_count; i++)
        mc_conn_close(s->idle_conns[i]);
    free(s->idle_conns);
    s->idle_conns = NULL;
    s->idle_conn_count = s->idle_conn_cap = 0;
    pthread_mutex_destroy(&s->lock);
}

static memcached_st *connection_new(struct mc_server *s)
{
    memcached_st *m = memcached_create(NULL);
    if (!m)
        return NULL;
    memcached_return_t rc = s->port ? memcached_server_add(m, s->host, s->port)
                                    : memcached_server_add_unix_socket(m, s->host);
    if (rc != MEMCACHED_SUCCESS) {
        memcached_free(m);
        return NULL;
    }
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, s->connect_timeout_ms);
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, s->io_timeout_ms);
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_SND_TIMEOUT, (uint64_t)s->io_timeout_ms * 1000);
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_RCV_TIMEOUT, (uint64_t)s->io_timeout_ms * 1000);
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
    return m;
}

memcached_st *mc_server_take(struct mc_server *s, tierpage_error *err)
{
    memcached_st *m = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->idle_count > 0)
        m = s->idle[--s->idle_count];
    pthread_mutex_unlock(&s->lock);
    if (!m && !(m = connection_new(s)))
        tierpage_error_set(err, -ENOMEM, NULL, "memcached: %s: cannot make a connection handle", s->name);
    return m;
}

/* Failures after which the connection, and the server, are not to be trusted. */
static int connection_failure(memcached_return_t rc)
{
    switch (rc) {
    case MEMCACHED_CONNECTION_FAILURE:
    case MEMCACHED_CONNECTION_SOCKET_CREATE_FAILURE:
    case MEMCACHED_HOST_LOOKUP_FAILURE:
    case MEMCACHED_WRITE_FAILURE:
    case MEMCACHED_READ_FAILURE:
    case MEMCACHED_UNKNOWN_READ_FAILURE:
    case MEMCACHED_PROTOCOL_ERROR:
    case MEMCACHED_ERRNO:
    case MEMCACHED_TIMEOUT:
    case MEMCACHED_SERVER_MARKED_DEAD:
    case MEMCACHED_SERVER_TEMPORARILY_DISABLED:
    case MEMCACHED_NO_SERVERS:
    case MEMCACHED_SOME_ERRORS:
    case MEMCACHED_CONNECTION_BIND_FAILURE:
        return 1;
    default:
        return 0;
    }
}

void mc_server_give(struct mc_server *s, memcached_st *m, memcached_return_t rc)
{
    if (connection_failure(rc)) {
        memcached_free(m);
        return;
    }
    pthread_mutex_lock(&s->lock);
    if (s->idle_count == s->idle_cap) {
        size_t cap = s->idle_cap ? s->idle_cap * 2 : 8;
        memcached_st **grown = realloc(s->idle, cap * sizeof *grown);
        if (!grown) {
            pthread_mutex_unlock(&s->lock);
            memcached_free(m);
            return;
        }
        s->idle = grown;
        s->idle_cap = cap;
    }
    s->idle[s->idle_count++] = m;
    pthread_mutex_unlock(&s->lock);
}

/* Only when it leaves service does the reason go to the log: the error
 * itself may be one of many a batch's caller sees, and only the last may
 * be shown. */
static void take_out_of_service(struct mc_server *s, const tierpage_error *err)
{
    if (atomic_exchange(&s->out_of_service, 1) != 0)
        return;
    if (s->log_host)
        tierpage_log(s->log_host, TIERPAGE_LOG_WARNING, "%s", err->message);
    if (s->left_service)
        s->left_service(s->left_service_arg);
}

void mc_server_close_idle(struct mc_server *s)
{
    pthread_mutex_lock(&s->lock);
    size_t idle = s->idle_count, idle_conns = s->idle_conn_count;
    memcached_st **handles = s->idle;
    struct mc_conn **conns = s->idle_conns;
    s->idle = NULL;
    s->idle_conns = NULL;
    s->idle_count = s->idle_cap = s->idle_conn_count = s->idle_conn_cap = 0;
    pthread_mutex_unlock(&s->lock);
    for (size_t i = 0; i < idle; i++)
        memcached_free(handles[i]);
    for (size_t i = 0; i < idle_conns; i++)
        mc_conn_close(conns[i]);
    free(handles);
    free(conns);
}

void mc_server_return_to_service(struct mc_server *s)
{
    mc_server_close_idle(s);
    atomic_store(&s->out_of_service, 0);
}

int mc_server_take_conn(struct mc_server *s, const char *what, struct mc_conn **out, tierpage_error *err)
{
    struct mc_conn *c = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->idle_conn_count > 0)
        c = s->idle_conns[--s->idle_conn_count];
    pthread_mutex_unlock(&s->lock);
    if (!c) {
        int e;
        char why[128];
        c = mc_conn_open(s->host, s->port, s->connect_timeout_ms, s->io_timeout_ms, s->reply_spin_us, &e, why,
                         sizeof why);
        if (!c && e == ENOMEM)
            return tierpage_error_set(err, -ENOMEM, NULL, "memcached: %s: %s: out of memory", s->name, what);
        if (!c) {
            tierpage_error_set(err, -e, NULL, "memcached: %s: %s: cannot connect: %s (server taken out of service)",
                               s->name, what, why);
            take_out_of_service(s, err);
            return -e;
        }
    }
    *out = c;
    return 0;
}

void mc_server_give_conn(struct mc_server *s, struct mc_conn *c, int rc)
{
    if (rc < 0) {
        mc_conn_close(c);
        return;
    }
    pthread_mutex_lock(&s->lock);
    if (s->idle_conn_count == s->idle_conn_cap) {
        size_t cap = s->idle_conn_cap ? s->idle_conn_cap * 2 : 8;
        struct mc_conn **grown = realloc(s->idle_conns, cap * sizeof *grown);
        if (!grown) {
            pthread_mutex_unlock(&s->lock);
            mc_conn_close(c);
            return;
        }
        s->idle_conns = grown;
        s->idle_conn_cap = cap;
    }
    s->idle_conns[s->idle_conn_count++] = c;
    pthread_mutex_unlock(&s->lock);
}

int mc_server_fail_conn(struct mc_server *s, struct mc_conn *c, int code, const char *what, tierpage_error *err)
{
    if (code == -ENOMEM)
        return tierpage_error_set(err, code, NULL, "memcached: %s: %s: out of memory", s->name, what);
    code = tierpage_error_set(err, code == -EPROTO ? -EIO : code, NULL, "memcached: %s: %s: %s (server taken out "
                              "of service)", s->name, what, mc_conn_why(c));
    take_out_of_service(s, err);
    return code;
}

int mc_server_in_service(const struct mc_server *s)
{
    return !atomic_load(&s->out_of_service);
}

/* The reason for a failure, as plain words: the system's when there is an
 * errno behind it, libmemcached's otherwise (which it writes in capitals). */
static const char *failure_reason(memcached_st *m, memcached_return_t rc, char *buf, size_t len, int *sys_errno)
{
    int e = m ? memcached_last_error_errno(m) : 0;
    *sys_errno = e;
    /* Calls over several servers (version, stats) sum up as SOME_ERRORS;
     * the connection's own failure is the last error. */
    if (rc == MEMCACHED_SOME_ERRORS && m && memcached_last_error(m) != MEMCACHED_SUCCESS)
        rc = memcached_last_error(m);
    if (rc == MEMCACHED_TIMEOUT)
        return "timed out";
    if (e)
        return strerror(e);
    snprintf(buf, len, "%s", memcached_strerror(m, rc));
    for (char *c = buf; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    return buf;
}

int mc_server_fail(struct mc_server *s, memcached_st *m, memcached_return_t rc, const char *what,
                   tierpage_error *err)
{
    int sys_errno;
    char buf[128];
    const char *reason = failure_reason(m, rc, buf, sizeof buf, &sys_errno);
    if (rc == MEMCACHED_NOTFOUND)
        return tierpage_error_set(err, -ENOENT, NULL, "memcached: %s: %s: not found", s->name, what);
    if (rc == MEMCACHED_SERVER_MEMORY_ALLOCATION_FAILURE ||
        (rc == MEMCACHED_SERVER_ERROR && m && strstr(memcached_last_error_message(m), "out of memory")))
        return tierpage_error_set(err, -ENOSPC, NULL, "memcached: %s: %s: server out of memory (tier full)",
                                  s->name, what);
    if (rc == MEMCACHED_E2BIG)
        return tierpage_error_set(err, -E2BIG, NULL, "memcached: %s: %s: the page is larger than the server's "
                                  "item size limit (memcached -I)", s->name, what);
    int code = -EIO;
    if (connection_failure(rc))
        code = rc == MEMCACHED_TIMEOUT ? -ETIMEDOUT : sys_errno > 0 ? -sys_errno : -EHOSTDOWN;
    tierpage_error_set(err, code, NULL, "memcached: %s: %s: %s%s", s->name, what, reason,
                       connection_failure(rc) ? " (server taken out of service)" : "");
    if (connection_failure(rc))
        take_out_of_service(s, err);
    return code;
}

/* A server that did not answer: the negative errno for `rc`, and the
 * reason in words. */
static int unreachable(memcached_st *m, memcached_return_t rc, char *buf, size_t len, const char **reason)
{
    int sys_errno;
    *reason = failure_reason(m, rc, buf, len, &sys_errno);
    return rc == MEMCACHED_TIMEOUT ? -ETIMEDOUT : sys_errno > 0 ? -sys_errno : -EHOSTDOWN;
}

int mc_server_answers(struct mc_server *s, tierpage_error *err)
{
    memcached_st *m = connection_new(s);
    if (!m)
        return tierpage_error_set(err, -ENOMEM, NULL, "memcached: %s: cannot make a connection handle", s->name);
    memcached_return_t rc = memcached_version(m);
    int code = 0;
    if (rc != MEMCACHED_SUCCESS) {
        char buf[128];
        const char *reason;
        code = unreachable(m, rc, buf, sizeof buf, &reason);
        tierpage_error_set(err, code, NULL, "memcached: %s: version: %s", s->name, reason);
    }
    memcached_free(m);
    return code;
}

int mc_server_probe(struct mc_server *s, uint64_t *limit_maxbytes, tierpage_error *err)
{
    *limit_maxbytes = 0;
    memcached_st *m = mc_server_take(s, err);
    if (!m)
        return -ENOMEM;
    memcached_return_t rc = memcached_version(m);
    memcached_stat_st *stats = NULL;
    if (rc == MEMCACHED_SUCCESS)
        stats = memcached_stat(m, NULL, &rc);
    if (rc != MEMCACHED_SUCCESS || !stats) {
        char buf[128];
        const char *reason;
        int code = unreachable(m, rc, buf, sizeof buf, &reason);
        tierpage_error_set(err, code, "servers", "memcached: cannot reach %s: %s", s->name, reason);
        memcached_stat_free(m, stats);
        memcached_free(m);
        return code;
    }
    char *value = memcached_stat_get_value(m, stats, "limit_maxbytes", &rc);
    if (value && rc == MEMCACHED_SUCCESS)
        *limit_maxbytes = strtoull(value, NULL, 10);
    free(value);
    memcached_stat_free(m, stats);
    mc_server_give(s, m, MEMCACHED_SUCCESS);
    return 0;
}
