/* `lru_crawler metadump all` on a connection of its own (libmemcached does
 * not speak it): one line per item, "key=<URL-encoded key> exp=... ...",
 * then END. A crawler already running (another client's dump, the
 * server's own crawl) answers BUSY: try again for a while. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mc_lease.h"

#define BUSY_TRIES 100
#define BUSY_PAUSE_MS 50
/* The least time the dump may go silent: a listing of every item is bulk
 * work off the data path, which a loaded server streams in bursts; a wait
 * as short as a page's (io_timeout_ms, 300 ms in the tests) failed opens
 * on a loaded machine. */
#define LISTING_TIMEOUT_MS 5000u

static int dial(struct mc_server *srv, tierpage_error *err)
{
    int fd = -1;
    if (srv->port == 0) {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        size_t len = strlen(srv->host);
        if (len >= sizeof a.sun_path)
            return tierpage_error_set(err, -ENAMETOOLONG, NULL, "memcached: %s: the socket path is too long",
                                      srv->name);
        memcpy(a.sun_path, srv->host, len + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
            close(fd);
            fd = -1;
        }
    } else {
        char port[8];
        snprintf(port, sizeof port, "%u", (unsigned)srv->port);
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
        if (getaddrinfo(srv->host, port, &hints, &res) == 0) {
            for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
                fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
                if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
                    close(fd);
                    fd = -1;
                }
            }
            freeaddrinfo(res);
        }
    }
    if (fd < 0)
        return tierpage_error_set(err, -EHOSTUNREACH, NULL, "memcached: %s: cannot connect to list its keys: %s",
                                  srv->name, strerror(errno));
    unsigned timeout_ms = srv->io_timeout_ms > LISTING_TIMEOUT_MS ? srv->io_timeout_ms : LISTING_TIMEOUT_MS;
    struct timeval tv = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes the key of a "key=..." line in place; its length, -1 if bad. */
static long decode_key(char *line)
{
    char *in = line + 4, *out = line;
    while (*in && *in != ' ') {
        if (*in == '%') {
            int hi = hex_digit(in[1]), lo = hi < 0 ? -1 : hex_digit(in[2]);
            if (lo < 0)
                return -1;
            *out++ = (char)(hi << 4 | lo);
            in += 3;
        } else {
            *out++ = *in++;
        }
    }
    return out - line;
}

/* One dump on a new connection: 0 when it reached END, 1 when BUSY. */
static int dump_once(struct mc_server *srv, int (*fn)(void *, const char *, size_t), void *arg, tierpage_error *err)
{
    int fd = dial(srv, err);
    if (fd < 0)
        return fd;
    static const char cmd[] = "lru_crawler metadump all\r\n";
    if (write(fd, cmd, sizeof cmd - 1) != (ssize_t)(sizeof cmd - 1)) {
        close(fd);
        return tierpage_error_set(err, -EIO, NULL, "memcached: %s: cannot send lru_crawler metadump", srv->name);
    }
    size_t cap = 65536, have = 0;
    char *buf = malloc(cap);
    int rc = buf ? -EAGAIN : -ENOMEM;
    while (buf) {
        char *nl;
        while ((nl = memchr(buf, '\n', have))) {
            *nl = '\0';
            if (nl > buf && nl[-1] == '\r')
                nl[-1] = '\0';
            if (strncmp(buf, "key=", 4) == 0) {
                long len = decode_key(buf);
                int r = len < 0 ? 0 : fn(arg, buf, (size_t)len);
                if (r < 0) {
                    rc = r;
                    goto out;
                }
            } else if (strcmp(buf, "END") == 0) {
                rc = 0;
                goto out;
            } else if (strncmp(buf, "BUSY", 4) == 0) {
                rc = 1;
                goto out;
            } else if (buf[0]) {
                rc = tierpage_error_set(err, -ENOTSUP, NULL, "memcached: %s: lru_crawler metadump: %s (the tier "
                                        "lists a server's keys with it: run memcached 1.4.31 or newer, without "
                                        "-o no_lru_crawler)", srv->name, buf);
                goto out;
            }
            have -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, have);
        }
        if (have == cap) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                rc = tierpage_error_set(err, -ENOMEM, NULL, "memcached: out of memory");
                goto out;
            }
            buf = grown;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + have, cap - have);
        if (n <= 0) {
            rc = tierpage_error_set(err, -EIO, NULL, "memcached: %s: lru_crawler metadump: %s", srv->name,
                                    n == 0 ? "connection closed" : strerror(errno));
            goto out;
        }
        have += (size_t)n;
    }
    if (!buf)
        tierpage_error_set(err, -ENOMEM, NULL, "memcached: out of memory");
out:
    free(buf);
    close(fd);
    return rc;
}

int mc_metadump(struct mc_server *srv, int (*fn)(void *arg, const char *key, size_t len), void *arg,
                tierpage_error *err)
{
    for (int i = 0; i < BUSY_TRIES; i++) {
        int rc = dump_once(srv, fn, arg, err);
        if (rc <= 0)
            return rc;
        struct timespec pause = {0, BUSY_PAUSE_MS * 1000000L};
        nanosleep(&pause, NULL);
    }
    return tierpage_error_set(err, -EAGAIN, NULL, "memcached: %s: lru_crawler metadump stayed busy for %d ms",
                              srv->name, BUSY_TRIES * BUSY_PAUSE_MS);
}
