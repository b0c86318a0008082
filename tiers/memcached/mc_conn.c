#include "mc_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "reply_wait.h"

/* Keys of one get request: memcached reads a request line in pieces of 24
 * keys, and a line of a few KiB at most keeps every version happy. */
#define GET_KEYS_PER_LINE 24
/* Commands written with one writev (three pieces each). */
#define STORES_PER_WRITE 64
#define LINE_MAX_BYTES 1024

struct mc_conn {
    int fd;
    unsigned io_timeout_ms, spin_us;
    unsigned wait_spin_us;     /* this call's: spin_us for gets, 0 for stores */
    char *in;                  /* bytes read and not yet used: in[off, len) */
    size_t off, len, cap;
    char why[160];
};

static int fail(struct mc_conn *c, int code, const char *fmt, const char *detail)
{
    snprintf(c->why, sizeof c->why, fmt, detail);
    return code;
}

static int io_fail(struct mc_conn *c, int code)
{
    return fail(c, code, "%s", code == -ETIMEDOUT ? "timed out" : strerror(-code));
}

/* ---------------------------------------------------------------- connect */

static int connect_within(int fd, const struct sockaddr *addr, socklen_t len, unsigned timeout_ms)
{
    /* A unix socket whose listener's backlog is full answers EAGAIN at
     * once (TCP waits instead): try again until the timeout. */
    uint64_t deadline = reply_wait_now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        if (connect(fd, addr, len) == 0)
            return 0;
        if (errno == EINPROGRESS)
            break;
        if (errno != EAGAIN || addr->sa_family != AF_UNIX)
            return errno;
        if (reply_wait_now_ns() >= deadline)
            return ETIMEDOUT;
        struct pollfd none = {.fd = -1};
        poll(&none, 1, 1);
    }
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int n;
    do
        n = poll(&p, 1, (int)timeout_ms);
    while (n < 0 && errno == EINTR);
    if (n == 0)
        return ETIMEDOUT;
    if (n < 0)
        return errno;
    int e = 0;
    socklen_t elen = sizeof e;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
        return errno;
    return e;
}

static int open_unix(const char *path, unsigned timeout_ms, int *fd_out)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path)
        return ENAMETOOLONG;
    memcpy(a.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    int e = connect_within(fd, (struct sockaddr *)&a, sizeof a, timeout_ms);
    if (e) {
        close(fd);
        return e;
    }
    *fd_out = fd;
    return 0;
}

static int open_tcp(const char *host, in_port_t port, unsigned timeout_ms, int *fd_out)
{
    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *list;
    int g = getaddrinfo(host, service, &hints, &list);
    if (g)
        return g == EAI_SYSTEM ? errno : EHOSTUNREACH;
    int e = EHOSTUNREACH;
    for (struct addrinfo *a = list; a; a = a->ai_next) {
        int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            e = errno;
            continue;
        }
        if ((e = connect_within(fd, a->ai_addr, a->ai_addrlen, timeout_ms)) == 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            *fd_out = fd;
            break;
        }
        close(fd);
    }
    freeaddrinfo(list);
    return e;
}

struct mc_conn *mc_conn_open(const char *host, in_port_t port, unsigned connect_timeout_ms, unsigned io_timeout_ms,
                             unsigned spin_us, int *sys_err, char *why, size_t why_len)
{
    struct mc_conn *c = calloc(1, sizeof *c);
    if (!c || !(c->in = malloc(c->cap = 16384))) {
        free(c);
        *sys_err = ENOMEM;
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    int fd = -1;
    int e = port ? open_tcp(host, port, connect_timeout_ms, &fd) : open_unix(host, connect_timeout_ms, &fd);
    if (e) {
        *sys_err = e;
        snprintf(why, why_len, "%s", e == ETIMEDOUT ? "connection timed out" : strerror(e));
        free(c->in);
        free(c);
        return NULL;
    }
    c->fd = fd;
    c->io_timeout_ms = io_timeout_ms;
    c->spin_us = spin_us;
    return c;
}

void mc_conn_close(struct mc_conn *c)
{
    if (!c)
        return;
    close(c->fd);
    free(c->in);
    free(c);
}

const char *mc_conn_why(const struct mc_conn *c)
{
    return c->why;
}

/* ---------------------------------------------------------------- writing */

/* Writes every byte of iov[0..count), waiting while the socket is full. */
static int write_all(struct mc_conn *c, struct iovec *iov, int count)
{
    while (count > 0) {
        ssize_t n = writev(c->fd, iov, count);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                return io_fail(c, -errno);
            struct pollfd p = {.fd = c->fd, .events = POLLOUT};
            int r = poll(&p, 1, (int)c->io_timeout_ms);
            if (r == 0)
                return io_fail(c, -ETIMEDOUT);
            if (r < 0 && errno != EINTR)
                return io_fail(c, -errno);
            continue;
        }
        while (count > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            count--;
        }
        if (count > 0) {
            iov->iov_base = (char *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- reading */

/* Reads more bytes into the buffer, keeping what is unread; room for at
 * least `want` bytes in all. */
static int fill(struct mc_conn *c, size_t want)
{
    if (c->off > 0) {
        memmove(c->in, c->in + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
    }
    if (want < c->len + 4096)
        want = c->len + 4096;
    if (want > c->cap) {
        char *grown = realloc(c->in, want);
        if (!grown)
            return fail(c, -ENOMEM, "%s", "out of memory");
        c->in = grown;
        c->cap = want;
    }
    for (;;) {
        ssize_t n = recv(c->fd, c->in + c->len, c->cap - c->len, MSG_DONTWAIT);
        if (n > 0) {
            c->len += (size_t)n;
            return 0;
        }
        if (n == 0)
            return fail(c, -ECONNRESET, "%s", "the server closed the connection");
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return io_fail(c, -errno);
        int r = reply_wait(c->fd, c->wait_spin_us, c->io_timeout_ms);
        if (r == 0)
            return io_fail(c, -ETIMEDOUT);
        if (r < 0)
            return io_fail(c, r);
    }
}

/* The next line, without its "\r\n", NUL-terminated in the buffer. */
static int read_line(struct mc_conn *c, char **line, size_t *line_len)
{
    size_t scanned = c->off;
    for (;;) {
        char *start = c->in + c->off;
        char *end = scanned + 1 < c->len ? memmem(c->in + scanned, c->len - scanned, "\r\n", 2) : NULL;
        if (end) {
            *end = '\0';
            *line = start;
            *line_len = (size_t)(end - start);
            c->off = (size_t)(end - c->in) + 2;
            return 0;
        }
        if (c->len - c->off > LINE_MAX_BYTES)
            return fail(c, -EPROTO, "%s", "a reply line longer than the protocol allows");
        size_t seen = c->len - c->off;
        int rc = fill(c, 0);
        if (rc)
            return rc;
        scanned = seen > 0 ? seen - 1 : 0; /* fill moved the unread bytes to the start */
    }
}

/* Makes the next n bytes contiguous in the buffer. */
static int need(struct mc_conn *c, size_t n)
{
    while (c->len - c->off < n) {
        int rc = fill(c, n);
        if (rc)
            return rc;
    }
    return 0;
}

/* A reply that is not what the protocol allows here. */
static int unexpected(struct mc_conn *c, const char *line)
{
    return fail(c, -EPROTO, "unexpected reply '%.80s'", line);
}

/* ------------------------------------------------------------------ store */

static int store_result(const char *line)
{
    if (strcmp(line, "STORED") == 0)
        return 0;
    if (strcmp(line, "NOT_STORED") == 0 || strcmp(line, "EXISTS") == 0 || strcmp(line, "NOT_FOUND") == 0)
        return MC_NOT_STORED;
    if (strstr(line, "out of memory"))
        return -ENOSPC;
    if (strstr(line, "too large"))
        return -E2BIG;
    return -EIO;
}

/* One chunk of a pipeline: writes iov (three pieces a command, k commands)
 * at once, then reads the k replies, each line given to take(ctx, j, line).
 * take returns 0, or a negative errno that ends the exchange (the
 * connection is out of step). *replied counts the replies taken. The
 * replies of a chunk are read before the next is sent: a server whose
 * replies nobody reads stops reading in turn (a unix socket charges each
 * small reply ~1 KiB of buffer), and both sides would wait for the other
 * until the timeout. */
static int exchange_chunk(struct mc_conn *c, struct iovec *iov, size_t k,
                          int (*take)(void *ctx, size_t j, const char *line), void *ctx, size_t *replied)
{
    int rc = write_all(c, iov, (int)(3 * k));
    for (*replied = 0; rc == 0 && *replied < k;) {
        char *line;
        size_t len;
        if ((rc = read_line(c, &line, &len)) == 0)
            rc = take(ctx, (*replied)++, line);
    }
    return rc;
}

/* An error the server answers with, as opposed to a reply out of step. */
static int is_refusal(const char *line)
{
    return strncmp(line, "SERVER_ERROR", 12) == 0 || strncmp(line, "CLIENT_ERROR", 12) == 0;
}

struct store_replies {
    struct mc_conn *c;
    int *results;   /* of this chunk's first command */
};

static int take_store_reply(void *ctx, size_t j, const char *line)
{
    struct store_replies *r = ctx;
    r->results[j] = store_result(line);
    return r->results[j] == -EIO && !is_refusal(line) ? unexpected(r->c, line) : 0;
}

int mc_conn_store(struct mc_conn *c, size_t n, const char *const *verbs, const char *const *keys,
                  const size_t *key_lens, const uint32_t *flags, const void *const *values, size_t value_len,
                  int *results)
{
    static const char crlf[] = "\r\n";
    struct iovec iov[STORES_PER_WRITE * 3];
    char heads[STORES_PER_WRITE][320];
    int rc = 0;
    size_t done = 0;
    /* Stores come from the write-back queue's thread, which no program
     * waits for: spinning there would only take a CPU from the program. */
    c->wait_spin_us = 0;
    while (done < n && rc == 0) {
        size_t k = n - done < STORES_PER_WRITE ? n - done : STORES_PER_WRITE, replied;
        for (size_t j = 0; j < k; j++) {
            size_t i = done + j;
            int h = snprintf(heads[j], sizeof heads[j], "%s %.*s %" PRIu32 " 0 %zu\r\n", verbs[i], (int)key_lens[i],
                             keys[i], flags[i], value_len);
            iov[3 * j] = (struct iovec){heads[j], (size_t)h};
            iov[3 * j + 1] = (struct iovec){(void *)values[i], value_len};
            iov[3 * j + 2] = (struct iovec){(void *)crlf, 2};
        }
        struct store_replies r = {c, results + done};
        rc = exchange_chunk(c, iov, k, take_store_reply, &r, &replied);
        done += replied;
    }
    for (size_t i = done; i < n; i++)
        results[i] = rc;
    return rc;
}

/* ----------------------------------------------------------------- delete */

struct delete_replies {
    struct mc_conn *c;
    int refused;
    int *results;   /* of this chunk's first key, or NULL */
};

static int take_delete_reply(void *ctx, size_t j, const char *line)
{
    struct delete_replies *r = ctx;
    int result = 0;
    if (strcmp(line, "DELETED") != 0 && strcmp(line, "NOT_FOUND") != 0) {
        if (!is_refusal(line))
            return unexpected(r->c, line);
        r->refused = 1;
        result = -EIO;
    }
    if (r->results)
        r->results[j] = result;
    return 0;
}

int mc_conn_delete(struct mc_conn *c, size_t n, const char *const *keys, const size_t *key_lens, int *results)
{
    static const char verb[] = "delete ", crlf[] = "\r\n";
    struct iovec iov[STORES_PER_WRITE * 3];
    struct delete_replies r = {c, 0, NULL};
    int rc = 0;
    size_t done = 0;
    /* The prober's thread or the write-back queue's: no program waits for
     * it, so spinning would only take a CPU from one. */
    c->wait_spin_us = 0;
    while (done < n && rc == 0) {
        size_t k = n - done < STORES_PER_WRITE ? n - done : STORES_PER_WRITE, replied;
        for (size_t j = 0; j < k; j++) {
            iov[3 * j] = (struct iovec){(void *)verb, sizeof verb - 1};
            iov[3 * j + 1] = (struct iovec){(void *)keys[done + j], key_lens[done + j]};
            iov[3 * j + 2] = (struct iovec){(void *)crlf, 2};
        }
        r.results = results ? results + done : NULL;
        rc = exchange_chunk(c, iov, k, take_delete_reply, &r, &replied);
        done += replied;
    }
    for (size_t i = done; results && i < n; i++)
        results[i] = rc;
    return rc ? rc : r.refused ? -EIO : 0;
}

/* -------------------------------------------------------------------- get */

/* "VALUE <key> <flags> <bytes>[ <cas>]": the key, the flags and the byte
 * count. */
static int parse_value_line(char *line, char **key, size_t *key_len, uint32_t *flags, size_t *bytes)
{
    char *k = line + 6, *sp = strchr(k, ' ');
    if (!sp || sp[1] < '0' || sp[1] > '9')
        return -1;
    char *flags_end;
    unsigned long long f = strtoull(sp + 1, &flags_end, 10);
    if (*flags_end != ' ' || f > UINT32_MAX)
        return -1;
    char *bytes_end;
    unsigned long long b = strtoull(flags_end + 1, &bytes_end, 10);
    if (bytes_end == flags_end + 1 || (*bytes_end != '\0' && *bytes_end != ' ') || b > INT_MAX)
        return -1;
    *key = k;
    *key_len = (size_t)(sp - k);
    *flags = (uint32_t)f;
    *bytes = (size_t)b;
    return 0;
}

int mc_conn_get(struct mc_conn *c, size_t n, const char *const *keys, const size_t *key_lens, mc_conn_item_fn *item,
                void *ctx)
{
    /* Every request line first, then every answer: one round trip. */
    size_t lines = (n + GET_KEYS_PER_LINE - 1) / GET_KEYS_PER_LINE;
    struct iovec iov[2 * GET_KEYS_PER_LINE + 2];
    static const char get[] = "get", space[] = " ", crlf[] = "\r\n";
    c->wait_spin_us = c->spin_us;
    for (size_t l = 0; l < lines; l++) {
        size_t first = l * GET_KEYS_PER_LINE, last = first + GET_KEYS_PER_LINE < n ? first + GET_KEYS_PER_LINE : n;
        int v = 0;
        iov[v++] = (struct iovec){(void *)get, 3};
        for (size_t i = first; i < last; i++) {
            iov[v++] = (struct iovec){(void *)space, 1};
            iov[v++] = (struct iovec){(void *)keys[i], key_lens[i]};
        }
        iov[v++] = (struct iovec){(void *)crlf, 2};
        int rc = write_all(c, iov, v);
        if (rc)
            return rc;
    }
    for (size_t ended = 0; ended < lines;) {
        char *line;
        size_t len;
        int rc = read_line(c, &line, &len);
        if (rc)
            return rc;
        if (strcmp(line, "END") == 0) {
            ended++;
            continue;
        }
        char *key;
        size_t key_len, bytes;
        uint32_t flags;
        if (strncmp(line, "VALUE ", 6) != 0 || parse_value_line(line, &key, &key_len, &flags, &bytes))
            return unexpected(c, line);
        /* The key is in the line just read, which `need` may move: copy it. */
        char key_copy[256];
        if (key_len >= sizeof key_copy)
            return unexpected(c, line);
        memcpy(key_copy, key, key_len);
        if ((rc = need(c, bytes + 2)))
            return rc;
        const char *value = c->in + c->off;
        if (value[bytes] != '\r' || value[bytes + 1] != '\n')
            return fail(c, -EPROTO, "%s", "an item's data did not end where its length said");
        item(ctx, key_copy, key_len, flags, value, bytes);
        c->off += bytes + 2;
    }
    return 0;
}
