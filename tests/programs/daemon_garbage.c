/* A client of tierpaged that sends it malformed messages, each on a
 * connection of its own, and checks that each gets an error reply and a
 * closed connection, and that the daemon still answers afterwards.
 * usage: daemon_garbage SOCKET; prints one line per case, exits 1 on any
 * failure. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "wire.h"

static const char *path;
static int failures;

static int connect_daemon(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
        printf("FAIL cannot connect to %s: %s\n", path, strerror(errno));
        exit(1);
    }
    return s;
}

static void send_raw(int s, const void *buf, size_t len, int fd_count)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    union {
        char buf[CMSG_SPACE(sizeof(int) * 2)];
        struct cmsghdr align;
    } control;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd_count) {
        int fds[2] = {open("/dev/null", O_RDONLY), open("/dev/null", O_RDONLY)};
        mh.msg_control = control.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)fd_count);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)fd_count);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)fd_count);
    }
    if (sendmsg(s, &mh, 0) < 0) {
        printf("FAIL sendmsg: %s\n", strerror(errno));
        exit(1);
    }
}

/* A message with one descriptor of the caller's. */
static void send_fd(int s, const void *buf, size_t len, int fd)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                        .msg_controllen = CMSG_SPACE(sizeof(int))};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    if (sendmsg(s, &mh, 0) < 0) {
        printf("FAIL sendmsg: %s\n", strerror(errno));
        exit(1);
    }
}

/* A userfaultfd as a client hands it over. */
static int userfaultfd(void)
{
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    struct uffdio_api api = {.api = UFFD_API};
    if (fd < 0 || ioctl(fd, UFFDIO_API, &api) < 0) {
        printf("FAIL userfaultfd: %s\n", strerror(errno));
        exit(1);
    }
    return fd;
}

/* The status of the reply to what was sent, the connection kept; its
 * first value in *value. */
static int reply_status(int s, uint64_t *value)
{
    char buf[1024];
    ssize_t n = recv(s, buf, sizeof buf, 0);
    if (n < (ssize_t)sizeof(struct tpd_reply))
        return 1;
    if (value)
        *value = ((struct tpd_reply *)buf)->values[0];
    return ((struct tpd_reply *)buf)->status;
}

static void hello(int s)
{
    struct tpd_hello h = {{sizeof h, TPD_VERSION, TPD_HELLO}, TPD_VERSION, 0};
    send_raw(s, &h, sizeof h, 0);
    char buf[512];
    ssize_t n = recv(s, buf, sizeof buf, 0);
    if (n < (ssize_t)sizeof(struct tpd_reply) || ((struct tpd_reply *)buf)->status != 0) {
        printf("FAIL HELLO was not answered with OK\n");
        exit(1);
    }
}

/* The reply to what was sent has status `want`, and then the connection
 * closes (when `closes`). */
static void expect(int s, const char *what, int want, int closes)
{
    char buf[1024];
    ssize_t n = recv(s, buf, sizeof buf - 1, 0);
    if (n < (ssize_t)sizeof(struct tpd_reply)) {
        printf("FAIL %s: no reply (%zd)\n", what, n);
        failures++;
        close(s);
        return;
    }
    struct tpd_reply *r = (struct tpd_reply *)buf;
    buf[n] = '\0';
    const char *text = buf + sizeof *r;
    if (r->h.type != TPD_REPLY || r->status != want) {
        printf("FAIL %s: reply status %d (%s), expected %d\n", what, r->status, text, want);
        failures++;
    } else if (closes && recv(s, buf, sizeof buf, 0) != 0) {
        printf("FAIL %s: the connection stayed open\n", what);
        failures++;
    } else {
        printf("ok   %s: %s\n", what, text);
    }
    close(s);
}

/* One packet on a connection of its own, sent before HELLO or after
 * (`greet`), with `fds` descriptors: its reply must be `want`, and the
 * connection then close when `closes`. */
static void one_packet(int greet, const void *msg, size_t len, int fds, const char *what, int want, int closes)
{
    int s = connect_daemon();
    if (greet)
        hello(s);
    send_raw(s, msg, len, fds);
    expect(s, what, want, closes);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: daemon_garbage SOCKET\n");
        return 2;
    }
    path = argv[1];
    int s;

    one_packet(0, "\x01\x02", 2, 0, "a packet shorter than a header", -EPROTO, 1);

    struct tpd_hello h = {{999, TPD_VERSION, TPD_HELLO}, TPD_VERSION, 0};
    one_packet(0, &h, sizeof h, 0, "a length that is not the packet's", -EPROTO, 1);

    h = (struct tpd_hello){{sizeof h, 7, TPD_HELLO}, 7, 0};
    one_packet(0, &h, sizeof h, 0, "a header of another version", -EPROTO, 1);

    h = (struct tpd_hello){{sizeof h, TPD_VERSION, TPD_HELLO}, TPD_VERSION + 1, 0};
    one_packet(0, &h, sizeof h, 0, "HELLO asking for a later version", -EPROTONOSUPPORT, 1);

    struct tpd_header status = {sizeof status, TPD_VERSION, TPD_STATUS};
    one_packet(0, &status, sizeof status, 0, "a request before HELLO", -EPROTO, 1);

    struct tpd_header unknown = {sizeof unknown, TPD_VERSION, 4242};
    one_packet(1, &unknown, sizeof unknown, 0, "an unknown type", -EPROTO, 1);

    struct tpd_stats_request st = {{sizeof st, TPD_VERSION, TPD_STATS}, {0}, 0, 0};
    memset(st.vm, 'a', sizeof st.vm);
    one_packet(1, &st, sizeof st, 0, "a VM name without its NUL", -EPROTO, 1);

    struct tpd_demote dm = {{sizeof dm, TPD_VERSION, TPD_DEMOTE}, "vm1", "../x"};
    one_packet(1, &dm, sizeof dm, 0, "a tier name with a slash", -EPROTO, 1);

    struct tpd_resize rs = {{sizeof rs - 4, TPD_VERSION, TPD_RESIZE}, "vm1", 1};
    one_packet(1, &rs, sizeof rs - 4, 0, "a request cut short", -EPROTO, 1);

    one_packet(1, &status, sizeof status, 2, "descriptors on a request that takes none", -EPROTO, 1);

    struct tpd_region_add add = {{sizeof add, TPD_VERSION, TPD_REGION_ADD}, 0x10000, 4096, 0};
    one_packet(1, &add, sizeof add, 0, "REGION_ADD without its memfd", -EPROTO, 1);

    one_packet(1, &add, sizeof add, 1, "REGION_ADD before ATTACH (refused, not malformed)", -ENOTCONN, 0);

    /* Its size before `offset` was appended is one it may still have. */
    struct tpd_range add_short = {{sizeof add_short, TPD_VERSION, TPD_REGION_ADD}, 0x10000, 4096};
    one_packet(1, &add_short, sizeof add_short, 1, "REGION_ADD without offset, before ATTACH (refused, not "
               "malformed)", -ENOTCONN, 0);
    struct tpd_region_add add_odd = add;
    add_odd.h.length = sizeof add_odd - 4;
    one_packet(1, &add_odd, sizeof add_odd - 4, 1, "REGION_ADD of neither of its sizes", -EPROTO, 1);

    static char big[TPD_MAX_MESSAGE + 4096];
    struct tpd_header *bh = (struct tpd_header *)big;
    *bh = (struct tpd_header){sizeof big, TPD_VERSION, TPD_STATUS};
    one_packet(1, big, sizeof big, 0, "a packet larger than 64 KiB", -EPROTO, 1);

    /* fork requests that fit no fork. */
    struct tpd_header prepare = {sizeof prepare, TPD_VERSION, TPD_FORK_PREPARE};
    one_packet(1, &prepare, sizeof prepare, 0, "FORK_PREPARE before ATTACH", -EPROTO, 1);

    struct tpd_fork fork = {{sizeof fork, TPD_VERSION, TPD_FORK_COPY}, 12345, 0};
    one_packet(1, &fork, sizeof fork, 0, "FORK_COPY before FORK_ATTACH", -EPROTO, 1);

    fork.h.type = TPD_FORK_ATTACH;
    one_packet(1, &fork, sizeof fork, 0, "FORK_ATTACH without its userfaultfd", -EPROTO, 1);

    struct tpd_fork cut = fork;
    cut.h.length = sizeof cut - 8;
    one_packet(1, &cut, sizeof cut - 8, 1, "FORK_ATTACH cut short", -EPROTO, 1);

    /* RESUME and RESUME_DONE out of place: without the userfaultfd, RESUME
     * is malformed; a RESUME of a VM this daemon keeps no state of is
     * refused; RESUME_DONE without RESUME is malformed. */
    struct tpd_vm_request resume = {{sizeof resume, TPD_VERSION, TPD_RESUME}, "vm1"};
    one_packet(1, &resume, sizeof resume, 0, "RESUME without its userfaultfd", -EPROTO, 1);
    one_packet(1, &resume, sizeof resume, 1, "RESUME of a VM without kept state", -ENOENT, 0);
    struct tpd_header resume_done = {sizeof resume_done, TPD_VERSION, TPD_RESUME_DONE};
    one_packet(1, &resume_done, sizeof resume_done, 0, "RESUME_DONE without RESUME", -EPROTO, 1);

    /* A client of vm1 prepares a fork; a FORK_ATTACH with another token,
     * and its own FORK_DONE with another token, are refused and close
     * their connections (the client's releases its pages and thaws them),
     * and vm1 takes a client again. */
    s = connect_daemon();
    hello(s);
    struct tpd_vm_request attach = {{sizeof attach, TPD_VERSION, TPD_ATTACH}, "vm1"};
    int uffd = userfaultfd();
    send_fd(s, &attach, sizeof attach, uffd);
    uint64_t token = 0;
    int rc = reply_status(s, NULL);
    send_raw(s, &prepare, sizeof prepare, 0);
    rc = rc ? rc : reply_status(s, &token);
    if (rc != 0 || token == 0) {
        printf("FAIL a client of vm1 cannot prepare a fork: status %d\n", rc);
        failures++;
    }
    int s2 = connect_daemon();
    hello(s2);
    fork = (struct tpd_fork){{sizeof fork, TPD_VERSION, TPD_FORK_ATTACH}, token + 1, 0};
    send_fd(s2, &fork, sizeof fork, uffd);
    expect(s2, "FORK_ATTACH naming another fork", -EPROTO, 1);
    fork = (struct tpd_fork){{sizeof fork, TPD_VERSION, TPD_FORK_DONE}, token + 1, 0};
    send_raw(s, &fork, sizeof fork, 0);
    expect(s, "FORK_DONE naming another fork", -EPROTO, 1);
    s = connect_daemon();
    hello(s);
    send_fd(s, &attach, sizeof attach, uffd);
    expect(s, "vm1 takes a client again after that", 0, 0);
    close(uffd);

    /* The daemon is still there, and answers. */
    one_packet(1, &status, sizeof status, 0, "STATUS after all of the above", 0, 0);

    printf("%d failures\n", failures);
    return failures ? 1 : 0;
}
