/* The tierpaged control protocol on the wire (daemon/PROTOCOL.md): message
 * layouts, and sending and receiving one message with its descriptors. */
#ifndef TIERPAGE_WIRE_H
#define TIERPAGE_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TPD_VERSION 2             /* 2: fork of a client (FORK_*) */
#define TPD_MAX_MESSAGE 65536u
#define TPD_NAME_MAX 64           /* vm and tier names, NUL included */
#define TPD_MAX_FDS 1
#define TPD_DEFAULT_SOCKET "/run/tierpage/tierpaged.sock"

enum tpd_type {
    TPD_HELLO = 1,
    TPD_ATTACH = 2,
    TPD_REGION_ADD = 3,
    TPD_REGION_REMOVE = 4,
    TPD_DONTNEED = 5,
    TPD_VM_INFO = 6,
    TPD_LOCK = 7,
    TPD_FORK_PREPARE = 8, /* a client about to fork: its pages stop moving */
    TPD_FORK_ATTACH = 9,  /* the forked child attaches, with its userfaultfd */
    TPD_FORK_COPY = 10,   /* the child's regions are added: copy the parent's pages */
    TPD_FORK_DONE = 11,   /* the parent after the fork: its pages move again */
    TPD_RESUME = 12,      /* a client of a daemon that died, back to a new one, with its userfaultfd */
    TPD_RESUME_DONE = 13, /* its regions are given again: serve its faults */
    TPD_STATUS = 16,
    TPD_STATS = 17,
    TPD_RESIZE = 18,
    TPD_DEMOTE = 19,
    TPD_PROMOTE = 20,
    TPD_FLUSH = 21,
    TPD_PROMOTE_WAIT = 22,
    TPD_DAEMON_INFO = 23, /* the daemon itself: pid, binary, restarts, VMs waiting for their clients */
    TPD_RESTART = 24,     /* flush, hand the state over, and execute the binary on disk again */
    TPD_REPLY = 64,
    TPD_STOP = 65,       /* daemon to client, unasked: the layout of a REPLY */
    TPD_RESTARTING = 66, /* daemon to client, unasked, as a REPLY: the daemon restarts; come back at once */
    TPD_PROGRESS = 67,   /* daemon to operator, unasked, as a REPLY: a long request moved on (HELLO's flags ask) */
};

#define TPD_STATS_JSON 1u

struct tpd_header {
    uint32_t length;  /* whole message, header included */
    uint16_t version;
    uint16_t type;
};

/* HELLO's flags: what the peer asks of the daemon; the reply's values[1]
 * holds those the daemon grants. */
#define TPD_HELLO_PROGRESS 1u /* send PROGRESS while a long operator request runs */

struct tpd_hello {
    struct tpd_header h;
    uint32_t version;
    uint32_t flags;    /* TPD_HELLO_*; was reserved (0) */
};

/* ATTACH, VM_INFO, RESUME (with the userfaultfd), PROMOTE, FLUSH, PROMOTE_WAIT */
struct tpd_vm_request {
    struct tpd_header h;
    char vm[TPD_NAME_MAX];
};

/* REGION_REMOVE, DONTNEED */
struct tpd_range {
    struct tpd_header h;
    uint64_t addr;
    uint64_t length;
};

/* REGION_ADD (with the memfd): the range, and where in the memfd it
 * starts. `offset` was appended: a REGION_ADD without it (the size of a
 * tpd_range) means offset 0 (tpd_region_add_of). */
struct tpd_region_add {
    struct tpd_header h;
    uint64_t addr;
    uint64_t length;
    uint64_t offset; /* of addr in the memfd, page-aligned: not 0 for what is left of a region whose front was unmapped */
};

/* LOCK: mlock (lock 1) or munlock (lock 0) of a served range */
struct tpd_lock {
    struct tpd_header h;
    uint64_t addr;
    uint64_t length;
    uint32_t lock;
    uint32_t reserved;
};

/* FORK_ATTACH (with the child's userfaultfd), FORK_COPY, FORK_DONE: the
 * fork, named by the token FORK_PREPARE's reply gave the parent. */
struct tpd_fork {
    struct tpd_header h;
    uint64_t token;
    uint64_t reserved;
};

struct tpd_stats_request {
    struct tpd_header h;
    char vm[TPD_NAME_MAX];
    uint32_t flags;
    uint32_t reserved;
};

struct tpd_resize {
    struct tpd_header h;
    char vm[TPD_NAME_MAX];
    uint64_t bytes;
};

struct tpd_demote {
    struct tpd_header h;
    char vm[TPD_NAME_MAX];
    char tier[TPD_NAME_MAX];
};

/* Fixed part of a reply (and of a STOP); text follows up to h.length. */
struct tpd_reply {
    struct tpd_header h;
    int32_t status;
    uint32_t reserved;
    uint64_t values[2];
};

/* One received message: its bytes, in a buffer of the caller's, and the
 * descriptors it carried. */
struct tpd_message {
    void *buf;        /* at least sizeof(struct tpd_reply) + 1 bytes */
    size_t capacity;
    size_t length;
    int fds[TPD_MAX_FDS];
    int fd_count;
};

static inline struct tpd_header *tpd_header_of(const struct tpd_message *m)
{
    return (struct tpd_header *)m->buf;
}

static inline struct tpd_reply *tpd_reply_of(const struct tpd_message *m)
{
    return (struct tpd_reply *)m->buf;
}

/* Send one message (its header's length, version and type are filled in)
 * with `fd_count` descriptors. 0 or -errno. */
int tpd_send(int sock, uint16_t type, void *msg, size_t length, const int *fds, int fd_count);
/* Receive one message. 1 with *m filled; 0 at end of stream; -errno for a
 * system error; -EPROTO for a malformed one, with `why` saying what was
 * wrong. Descriptors of a malformed message are closed. */
int tpd_recv(int sock, struct tpd_message *m, char *why, size_t why_len);
/* The size a request of `type` has; 0 for an unknown type. */
size_t tpd_request_size(uint16_t type);
/* Whether `length` bytes are a size a request of `type` may have: its
 * size, or a size it had before fields were appended to it. */
int tpd_request_size_ok(uint16_t type, size_t length);
/* A REGION_ADD as received, in full: the fields it lacked are 0. */
struct tpd_region_add tpd_region_add_of(const struct tpd_message *m);
/* Whether a name field holds a NUL-terminated name of A-Z a-z 0-9 _ . - */
int tpd_name_ok(const char name[TPD_NAME_MAX]);
/* The same, or a forked client's entry: NAME/PID (PID decimal digits). */
int tpd_entry_name_ok(const char name[TPD_NAME_MAX]);
/* Send a REPLY: status, two values, and printf-style text. */
int tpd_reply(int sock, int32_t status, uint64_t v0, uint64_t v1, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Send a STOP: the client's program must end, for the reason given. */
int tpd_send_stop(int sock, const char *why);
/* Send a RESTARTING: the daemon restarts on its state; the client keeps
 * its program waiting and connects again at once (PROTOCOL.md). */
int tpd_send_restarting(int sock, const char *why);
/* Send a PROGRESS without waiting: `count` grew since the last one (or
 * since the request), and printf-style text. 0, or -errno; -EAGAIN when
 * the peer reads nothing now (this one is dropped). */
int tpd_send_progress(int sock, uint64_t count, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A reply's text, NUL-terminated in place (the buffer has room). */
const char *tpd_reply_text(struct tpd_message *m);

/* Connect to the daemon at `path` and say HELLO. The socket, or -errno
 * with a message naming the path in `why`. */
int tpd_connect(const char *path, char *why, size_t why_len);
/* The same, bounded: the connection, each send and HELLO's reply each
 * within timeout_ms (0: no limit), else -ETIMEDOUT. `flags` (TPD_HELLO_*)
 * go in HELLO; *granted (unless NULL) gets those the daemon grants. */
int tpd_connect_within(const char *path, unsigned timeout_ms, uint32_t flags, uint32_t *granted, char *why,
                       size_t why_len);
/* Send a request and wait for its REPLY into *reply. 0, or -errno with
 * `why` (the reply's own status is tpd_reply_of(reply)->status);
 * -ESHUTDOWN when a STOP came instead, in *reply; -ERESTART when a
 * RESTARTING came instead: the request is not answered, and the
 * connection ends once the daemon has handed its state over. */
int tpd_call(int sock, uint16_t type, void *msg, size_t length, const int *fds, int fd_count,
             struct tpd_message *reply, char *why, size_t why_len);
/* The same, bounded: the reply must come within timeout_ms (0: no limit)
 * of the request, or of the last PROGRESS (skipped: each says the work
 * moved on); -ETIMEDOUT when none did. */
int tpd_call_within(int sock, uint16_t type, void *msg, size_t length, const int *fds, int fd_count,
                    unsigned timeout_ms, struct tpd_message *reply, char *why, size_t why_len);

#endif
