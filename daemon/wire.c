#include "wire.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock_ns.h"

/* `send_flags` go to sendmsg beside MSG_NOSIGNAL (MSG_DONTWAIT). */
static int send_message(int sock, uint16_t type, void *msg, size_t length, const int *fds, int fd_count,
                        int send_flags)
{
    struct tpd_header *h = msg;
    h->length = (uint32_t)length;
    h->version = TPD_VERSION;
    h->type = type;
    struct iovec iov = {.iov_base = msg, .iov_len = length};
    union {
        char buf[CMSG_SPACE(sizeof(int) * TPD_MAX_FDS)];
        struct cmsghdr align;
    } control;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd_count > 0) {
        memset(&control, 0, sizeof control);
        mh.msg_control = control.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)fd_count);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)fd_count);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)fd_count);
    }
    for (;;) {
        ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL | send_flags);
        if (n == (ssize_t)length)
            return 0;
        if (n >= 0)
            return -EMSGSIZE; /* a packet goes whole or not at all */
        if (errno != EINTR)
            return -errno;
    }
}

int tpd_send(int sock, uint16_t type, void *msg, size_t length, const int *fds, int fd_count)
{
    return send_message(sock, type, msg, length, fds, fd_count, 0);
}

static void close_fds(struct tpd_message *m)
{
    for (int i = 0; i < m->fd_count; i++)
        close(m->fds[i]);
    m->fd_count = 0;
}

/* -EPROTO with the reason, the message's descriptors closed. */
static int malformed(struct tpd_message *m, char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
    close_fds(m);
    return -EPROTO;
}

int tpd_recv(int sock, struct tpd_message *m, char *why, size_t why_len)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * 4)];
        struct cmsghdr align;
    } control;
    struct iovec iov = {.iov_base = m->buf, .iov_len = m->capacity};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                        .msg_controllen = sizeof control.buf};
    ssize_t n;
    m->fd_count = 0;
    m->length = 0;
    do
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        snprintf(why, why_len, "%s", strerror(errno));
        return -errno;
    }
    /* Keep every descriptor that came, so that all of them get closed. */
    int extra_fds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (m->fd_count < TPD_MAX_FDS)
                m->fds[m->fd_count++] = fd;
            else {
                close(fd);
                extra_fds++;
            }
        }
    }
    if (n == 0 && m->fd_count == 0)
        return 0;
    m->length = (size_t)n;
    if (mh.msg_flags & MSG_CTRUNC || extra_fds)
        return malformed(m, why, why_len, "more file descriptors than a message carries");
    if (mh.msg_flags & MSG_TRUNC)
        return malformed(m, why, why_len, "a message larger than %zu bytes", m->capacity);
    if ((size_t)n < sizeof(struct tpd_header))
        return malformed(m, why, why_len, "a message of %zd bytes, shorter than a header", n);
    const struct tpd_header *h = tpd_header_of(m);
    if (h->length != (uint32_t)n)
        return malformed(m, why, why_len, "header says %u bytes, the packet has %zd", h->length, n);
    if (h->version != TPD_VERSION)
        return malformed(m, why, why_len, "protocol version %u, this side speaks %u", h->version, TPD_VERSION);
    return 1;
}

size_t tpd_request_size(uint16_t type)
{
    switch (type) {
    case TPD_HELLO:
        return sizeof(struct tpd_hello);
    case TPD_ATTACH:
    case TPD_VM_INFO:
    case TPD_RESUME:
    case TPD_PROMOTE:
    case TPD_FLUSH:
    case TPD_PROMOTE_WAIT:
        return sizeof(struct tpd_vm_request);
    case TPD_REGION_ADD:
        return sizeof(struct tpd_region_add);
    case TPD_REGION_REMOVE:
    case TPD_DONTNEED:
        return sizeof(struct tpd_range);
    case TPD_LOCK:
        return sizeof(struct tpd_lock);
    case TPD_FORK_PREPARE:
    case TPD_RESUME_DONE:
        return sizeof(struct tpd_header);
    case TPD_FORK_ATTACH:
    case TPD_FORK_COPY:
    case TPD_FORK_DONE:
        return sizeof(struct tpd_fork);
    case TPD_STATUS:
    case TPD_DAEMON_INFO:
    case TPD_RESTART:
        return sizeof(struct tpd_header);
    case TPD_STATS:
        return sizeof(struct tpd_stats_request);
    case TPD_RESIZE:
        return sizeof(struct tpd_resize);
    case TPD_DEMOTE:
        return sizeof(struct tpd_demote);
    default:
        return 0;
    }
}

int tpd_request_size_ok(uint16_t type, size_t length)
{
    size_t want = tpd_request_size(type);
    /* A REGION_ADD from before its offset was appended: a client of an
     * older build resuming with this daemon. */
    return length == want || (type == TPD_REGION_ADD && length == offsetof(struct tpd_region_add, offset));
}

struct tpd_region_add tpd_region_add_of(const struct tpd_message *m)
{
    struct tpd_region_add r;
    memset(&r, 0, sizeof r);
    memcpy(&r, m->buf, m->length < sizeof r ? m->length : sizeof r);
    return r;
}

int tpd_name_ok(const char name[TPD_NAME_MAX])
{
    size_t n = strnlen(name, TPD_NAME_MAX);
    if (n == 0 || n == TPD_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

int tpd_entry_name_ok(const char name[TPD_NAME_MAX])
{
    size_t n = strnlen(name, TPD_NAME_MAX);
    const char *slash = n < TPD_NAME_MAX ? memchr(name, '/', n) : NULL;
    if (!slash)
        return tpd_name_ok(name);
    char vm[TPD_NAME_MAX] = {0};
    memcpy(vm, name, (size_t)(slash - name));
    const char *pid = slash + 1, *end = name + n;
    if (!tpd_name_ok(vm) || pid == end)
        return 0;
    for (; pid < end; pid++)
        if (*pid < '0' || *pid > '9')
            return 0;
    return 1;
}

static int send_reply(int sock, uint16_t type, int send_flags, int32_t status, uint64_t v0, uint64_t v1,
                      const char *fmt, va_list ap)
{
    static const size_t text_max = TPD_MAX_MESSAGE - sizeof(struct tpd_reply);
    /* Built on the heap: a 64 KiB frame is too much for some callers' stacks. */
    unsigned char *buf = malloc(TPD_MAX_MESSAGE + 1);
    if (!buf)
        return -ENOMEM;
    struct tpd_reply r = {.status = status, .values = {v0, v1}};
    int n = vsnprintf((char *)buf + sizeof r, text_max + 1, fmt, ap);
    size_t text = n < 0 ? 0 : (size_t)n > text_max ? text_max : (size_t)n;
    memcpy(buf, &r, sizeof r);
    int rc = send_message(sock, type, buf, sizeof r + text, NULL, 0, send_flags);
    free(buf);
    return rc;
}

int tpd_reply(int sock, int32_t status, uint64_t v0, uint64_t v1, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = send_reply(sock, TPD_REPLY, 0, status, v0, v1, fmt, ap);
    va_end(ap);
    return rc;
}

static int send_stop(int sock, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = send_reply(sock, TPD_STOP, 0, -EIO, 0, 0, fmt, ap);
    va_end(ap);
    return rc;
}

int tpd_send_stop(int sock, const char *why)
{
    return send_stop(sock, "%s", why);
}

static int send_restarting(int sock, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = send_reply(sock, TPD_RESTARTING, 0, 0, 0, 0, fmt, ap);
    va_end(ap);
    return rc;
}

int tpd_send_restarting(int sock, const char *why)
{
    return send_restarting(sock, "%s", why);
}

int tpd_send_progress(int sock, uint64_t count, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    /* Never blocks: an operator that stopped reading must not hold the
     * request up. */
    int rc = send_reply(sock, TPD_PROGRESS, MSG_DONTWAIT, 0, count, 0, fmt, ap);
    va_end(ap);
    return rc;
}

const char *tpd_reply_text(struct tpd_message *m)
{
    char *text = (char *)m->buf + sizeof(struct tpd_reply);
    size_t n = m->length > sizeof(struct tpd_reply) ? m->length - sizeof(struct tpd_reply) : 0;
    if (sizeof(struct tpd_reply) + n >= m->capacity)
        n = m->capacity - sizeof(struct tpd_reply) - 1;
    text[n] = '\0';
    return text;
}

/* Until sock is readable or deadline_ns (0: none) passes: 0, or -ETIMEDOUT. */
static int wait_readable(int sock, uint64_t deadline_ns)
{
    for (;;) {
        int ms = -1;
        if (deadline_ns) {
            uint64_t now = tp_now_ns();
            if (now >= deadline_ns)
                return -ETIMEDOUT;
            ms = (int)((deadline_ns - now + 999999) / 1000000);
        }
        struct pollfd p = {.fd = sock, .events = POLLIN};
        int n = poll(&p, 1, ms);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return 0; /* the receive says what is wrong */
    }
}

static uint64_t deadline_after(unsigned timeout_ms)
{
    return timeout_ms ? tp_now_ns() + (uint64_t)timeout_ms * 1000000u : 0;
}

int tpd_call_within(int sock, uint16_t type, void *msg, size_t length, const int *fds, int fd_count,
                    unsigned timeout_ms, struct tpd_message *reply, char *why, size_t why_len)
{
    int rc = tpd_send(sock, type, msg, length, fds, fd_count);
    if (rc == -EAGAIN && timeout_ms) { /* SO_SNDTIMEO ran out: the daemon reads nothing */
        snprintf(why, why_len, "the daemon took no request within %u ms", timeout_ms);
        return -ETIMEDOUT;
    }
    if (rc < 0) {
        snprintf(why, why_len, "sending to the daemon: %s", strerror(-rc));
        return rc;
    }
    for (uint64_t deadline = deadline_after(timeout_ms);; deadline = deadline_after(timeout_ms)) {
        if (timeout_ms && wait_readable(sock, deadline) < 0) {
            snprintf(why, why_len, "no reply within %u ms", timeout_ms);
            return -ETIMEDOUT;
        }
        rc = tpd_recv(sock, reply, why, why_len);
        if (rc == 0) {
            snprintf(why, why_len, "the daemon closed the connection before it replied");
            return -ECONNRESET;
        }
        if (rc < 0)
            return rc;
        if (tpd_header_of(reply)->type != TPD_PROGRESS)
            break;
        close_fds(reply);
    }
    if (tpd_header_of(reply)->type == TPD_STOP && reply->length >= sizeof(struct tpd_reply)) {
        snprintf(why, why_len, "%s", tpd_reply_text(reply));
        close_fds(reply);
        return -ESHUTDOWN;
    }
    if (tpd_header_of(reply)->type == TPD_RESTARTING && reply->length >= sizeof(struct tpd_reply)) {
        snprintf(why, why_len, "%s", tpd_reply_text(reply));
        close_fds(reply);
        return -ERESTART;
    }
    if (tpd_header_of(reply)->type != TPD_REPLY || reply->length < sizeof(struct tpd_reply)) {
        snprintf(why, why_len, "the daemon sent a message of type %u instead of a reply",
                 tpd_header_of(reply)->type);
        close_fds(reply);
        return -EPROTO;
    }
    return 0;
}

int tpd_call(int sock, uint16_t type, void *msg, size_t length, const int *fds, int fd_count,
             struct tpd_message *reply, char *why, size_t why_len)
{
    return tpd_call_within(sock, type, msg, length, fds, fd_count, 0, reply, why, why_len);
}

int tpd_connect_within(const char *path, unsigned timeout_ms, uint32_t flags, uint32_t *granted, char *why,
                       size_t why_len)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(why, why_len, "socket path %s is too long", path);
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (sock < 0) {
        snprintf(why, why_len, "socket: %s", strerror(errno));
        return -errno;
    }
    /* On a unix socket the send timeout bounds connect too: a daemon that
     * takes up no connection fills its listening socket's backlog, and
     * connect then waits for room. */
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    if (timeout_ms && setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0) {
        snprintf(why, why_len, "setsockopt SO_SNDTIMEO: %s", strerror(errno));
        close(sock);
        return -EINVAL;
    }
    if (connect(sock, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        if (e == EAGAIN && timeout_ms) {
            snprintf(why, why_len, "tierpaged at %s took up no connection within %u ms", path, timeout_ms);
            e = ETIMEDOUT;
        } else {
            snprintf(why, why_len, "cannot reach tierpaged at %s: %s%s", path, strerror(e),
                     e == ENOENT || e == ECONNREFUSED ? " (is the daemon running?)" : "");
        }
        close(sock);
        return -e;
    }
    struct tpd_hello hello = {.version = TPD_VERSION, .flags = flags};
    unsigned char buf[sizeof(struct tpd_reply) + 256];
    struct tpd_message reply = {.buf = buf, .capacity = sizeof buf};
    char failed[256];
    int rc = tpd_call_within(sock, TPD_HELLO, &hello, sizeof hello, NULL, 0, timeout_ms, &reply, failed,
                             sizeof failed);
    if (rc == 0 && tpd_reply_of(&reply)->status < 0) {
        rc = tpd_reply_of(&reply)->status;
        snprintf(why, why_len, "tierpaged at %s: %s", path, tpd_reply_text(&reply));
    } else if (rc < 0) {
        snprintf(why, why_len, "tierpaged at %s: %s", path, failed);
    }
    if (rc < 0) {
        close(sock);
        return rc;
    }
    if (granted)
        *granted = (uint32_t)tpd_reply_of(&reply)->values[1] & flags;
    return sock;
}

int tpd_connect(const char *path, char *why, size_t why_len)
{
    return tpd_connect_within(path, 0, 0, NULL, why, why_len);
}
