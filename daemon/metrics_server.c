#include "metrics_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics_text.h"

#define MAX_CLIENTS 16
#define REQUEST_MAX 8192
/* A client gets this long to send its request and read the answer, then
 * its connection is closed: one that never finishes holds a slot only so
 * long. */
#define CLIENT_DEADLINE_MS 10000

struct http_client {
    int fd;              /* -1: free slot */
    long long deadline;  /* monotonic ms */
    char request[REQUEST_MAX];
    size_t request_len;
    char *reply;         /* once the request is read */
    size_t reply_len, reply_sent;
    int draining;        /* answered: reading what it still sends until it closes */
};

struct tpd_metrics {
    struct tpd_daemon *d;
    int listen_fd;
    int stop_fd;         /* eventfd: written by tpd_metrics_stop */
    pthread_t thread;
    struct http_client clients[MAX_CLIENTS];
};

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void drop(struct http_client *c)
{
    close(c->fd);
    free(c->reply);
    c->fd = -1;
    c->reply = NULL;
    c->draining = 0;
}

/* Set c->reply to a whole HTTP response. */
static void respond(struct http_client *c, const char *status, const char *type, const char *body, size_t body_len,
                    int head_only)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return;
    fprintf(out, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
            type, body_len);
    if (!head_only)
        fwrite(body, 1, body_len, out);
    fclose(out);
    c->reply = text;
    c->reply_len = len;
    c->reply_sent = 0;
}

static void respond_text(struct http_client *c, const char *status, const char *body)
{
    respond(c, status, "text/plain; charset=utf-8", body, strlen(body), 0);
}

/* The request's head is complete in c->request: answer it. */
static void answer(struct tpd_metrics *m, struct http_client *c)
{
    char method[8], target[256], version[16];
    char *eol = strpbrk(c->request, "\r\n");
    if (eol)
        *eol = 0;
    /* "METHOD TARGET HTTP/1.x" and nothing else on the line. */
    int fields = 0;
    char extra;
    fields = sscanf(c->request, "%7s %255s %15s %c", method, target, version, &extra);
    if (fields != 3 || strncmp(version, "HTTP/1.", 7) != 0) {
        respond_text(c, "400 Bad Request", "tierpaged: expected a request line such as 'GET /metrics HTTP/1.1'\n");
        return;
    }
    int head = strcmp(method, "HEAD") == 0;
    if (strcmp(method, "GET") != 0 && !head) {
        respond_text(c, "405 Method Not Allowed", "tierpaged: only GET /metrics\n");
        return;
    }
    size_t path_len = strcspn(target, "?");
    if (path_len != strlen("/metrics") || strncmp(target, "/metrics", path_len) != 0) {
        respond_text(c, "404 Not Found", "tierpaged: the metrics are at /metrics\n");
        return;
    }
    char *body = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&body, &len);
    if (!out) {
        respond_text(c, "500 Internal Server Error", "tierpaged: out of memory\n");
        return;
    }
    tpd_metrics_write(out, m->d);
    fclose(out);
    respond(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body, len, head);
    free(body);
}

/* Read what the client sent; answer once its request's head is complete. */
static void on_readable(struct tpd_metrics *m, struct http_client *c)
{
    if (c->draining) {
        char sink[4096];
        ssize_t n = recv(c->fd, sink, sizeof sink, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            drop(c);
        return;
    }
    ssize_t n = recv(c->fd, c->request + c->request_len, REQUEST_MAX - 1 - c->request_len, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        drop(c);
        return;
    }
    if (n < 0)
        return;
    c->request_len += (size_t)n;
    c->request[c->request_len] = 0;
    if (memchr(c->request, 0, c->request_len))
        respond_text(c, "400 Bad Request", "tierpaged: a NUL byte in the request\n");
    else if (strstr(c->request, "\r\n\r\n") || strstr(c->request, "\n\n"))
        answer(m, c);
    else if (c->request_len == REQUEST_MAX - 1)
        respond_text(c, "431 Request Header Fields Too Large", "tierpaged: the request is too long\n");
    else
        return; /* more to come */
    if (!c->reply)
        drop(c); /* no memory for the answer */
}

static void on_writable(struct http_client *c)
{
    ssize_t n = send(c->fd, c->reply + c->reply_sent, c->reply_len - c->reply_sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        drop(c);
        return;
    }
    c->reply_sent += (size_t)n;
    if (c->reply_sent < c->reply_len)
        return;
    /* Closing with unread input would reset the connection, and the
     * client could lose the answer: end ours, and read until it ends its. */
    free(c->reply);
    c->reply = NULL;
    c->draining = 1;
    shutdown(c->fd, SHUT_WR);
}

static void accept_clients(struct tpd_metrics *m)
{
    for (;;) {
        int fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return;
        struct http_client *c = NULL;
        for (size_t i = 0; i < MAX_CLIENTS && !c; i++)
            if (m->clients[i].fd < 0)
                c = &m->clients[i];
        if (!c) { /* every slot taken: this one is turned away at once */
            close(fd);
            continue;
        }
        c->fd = fd;
        c->deadline = now_ms() + CLIENT_DEADLINE_MS;
        c->request_len = 0;
        c->request[0] = 0;
    }
}

static void *metrics_main(void *arg)
{
    struct tpd_metrics *m = arg;
    struct pollfd p[2 + MAX_CLIENTS];
    for (;;) {
        long long now = now_ms(), wait = -1;
        size_t n = 0;
        p[n++] = (struct pollfd){.fd = m->stop_fd, .events = POLLIN};
        p[n++] = (struct pollfd){.fd = m->listen_fd, .events = POLLIN};
        struct http_client *polled[MAX_CLIENTS];
        for (size_t i = 0; i < MAX_CLIENTS; i++) {
            struct http_client *c = &m->clients[i];
            if (c->fd < 0)
                continue;
            if (now >= c->deadline) {
                drop(c);
                continue;
            }
            if (wait < 0 || c->deadline - now < wait)
                wait = c->deadline - now;
            polled[n - 2] = c;
            p[n++] = (struct pollfd){.fd = c->fd, .events = c->reply ? POLLOUT : POLLIN};
        }
        if (poll(p, n, (int)wait) < 0 && errno != EINTR) {
            tpd_log("error", "metrics: poll: %s", strerror(errno));
            return NULL;
        }
        if (p[0].revents)
            return NULL;
        for (size_t i = 2; i < n; i++) {
            struct http_client *c = polled[i - 2];
            if (!p[i].revents)
                continue;
            if (c->reply)
                on_writable(c);
            else
                on_readable(m, c);
            if (c->fd >= 0 && c->reply && c->reply_sent == 0)
                on_writable(c); /* most answers fit the socket's buffer at once */
        }
        if (p[1].revents & POLLIN)
            accept_clients(m);
    }
}

int tpd_metrics_start(struct tpd_daemon *d, const struct tpd_address *addr, struct tpd_metrics **out, char *why,
                      size_t why_len)
{
    char where[80];
    tpd_address_text((const struct sockaddr *)&addr->sa, where, sizeof where);
    struct tpd_metrics *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(why, why_len, "metrics: out of memory");
        return -1;
    }
    m->d = d;
    m->stop_fd = -1;
    for (size_t i = 0; i < MAX_CLIENTS; i++)
        m->clients[i].fd = -1;
    int one = 1;
    m->listen_fd = socket(addr->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (m->listen_fd < 0 || setsockopt(m->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(m->listen_fd, (const struct sockaddr *)&addr->sa, addr->len) < 0 || listen(m->listen_fd, 16) < 0) {
        snprintf(why, why_len, "metrics: cannot listen on %s: %s", where, strerror(errno));
        goto fail;
    }
    m->stop_fd = eventfd(0, EFD_CLOEXEC);
    if (m->stop_fd < 0) {
        snprintf(why, why_len, "metrics: eventfd: %s", strerror(errno));
        goto fail;
    }
    int rc = pthread_create(&m->thread, NULL, metrics_main, m);
    if (rc) {
        snprintf(why, why_len, "metrics: cannot start its thread: %s", strerror(rc));
        goto fail;
    }
    struct sockaddr_storage bound;
    socklen_t len = sizeof bound;
    if (getsockname(m->listen_fd, (struct sockaddr *)&bound, &len) == 0)
        tpd_address_text((const struct sockaddr *)&bound, where, sizeof where);
    tpd_log("info", "metrics on http://%s/metrics", where);
    *out = m;
    return 0;
fail:
    if (m->listen_fd >= 0)
        close(m->listen_fd);
    if (m->stop_fd >= 0)
        close(m->stop_fd);
    free(m);
    return -1;
}

void tpd_metrics_stop(struct tpd_metrics *m)
{
    if (!m)
        return;
    uint64_t one = 1;
    if (write(m->stop_fd, &one, sizeof one) != sizeof one)
        tpd_log("error", "metrics: cannot stop its thread: %s", strerror(errno));
    pthread_join(m->thread, NULL);
    for (size_t i = 0; i < MAX_CLIENTS; i++)
        if (m->clients[i].fd >= 0)
            drop(&m->clients[i]);
    close(m->listen_fd);
    close(m->stop_fd);
    free(m);
}
