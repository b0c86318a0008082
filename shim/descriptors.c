/* The pager's own descriptors (its userfaultfd, memfds, eventfds, pipes,
 * the sockets of its servers, its pmem files) are in the program's table.
 * A program that closes descriptors it did not open (closefrom, a loop
 * over every number, close_range) would close them under the pager: a
 * closed userfaultfd unregisters the served ranges, which then read the
 * memfd's holes as zeros, and a number the program opens next could take
 * a store's writes. So every descriptor the pager creates is noted here
 * (a creator called on a pager thread, or the core's userfaultfd), and a
 * close of one from the program fails with EBADF, as if the number were
 * not open: it never was the program's. A note holds the descriptor's
 * device and inode, so a number the pager closed through a path not seen
 * here (the C library's own) is not kept from the program.
 *
 * A program may also make a number its own with dup2 (a shell's `exec
 * 3>file`, a daemon's dup2 of /dev/null over 0, 1 and 2), which closes
 * whatever was there: the pager's descriptors are moved up to PAGER_FLOOR
 * or above when the limit on open files allows, out of the way of the
 * numbers programs pick. Not covered: dup2/dup3 onto a pager descriptor
 * that stayed low, and raw syscalls. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"
#include "tierpage_private.h"

#define GUARDED_MAX 65536
/* Below 1024 (select()'s limit, and the usual soft limit on open files),
 * above what programs number by hand. */
#define PAGER_FLOOR 512

struct guarded_fd {
    uint64_t dev; /* 0: not the pager's */
    uint64_t ino;
};

static struct guarded_fd guarded[GUARDED_MAX];
/* One past the highest number ever noted: bounds the walks of a range. */
static int guarded_end;

static int identity(int fd, uint64_t *dev, uint64_t *ino)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -1;
    *dev = (uint64_t)st.st_dev | 1; /* never 0: 0 marks a free entry */
    *ino = (uint64_t)st.st_ino;
    return 0;
}

/* fd at PAGER_FLOOR or above, with its close-on-exec flag; fd itself
 * when that cannot be done. */
static int move_up(int fd)
{
    if (fd >= PAGER_FLOOR)
        return fd;
    int flags = fcntl(fd, F_GETFD);
    int high = flags < 0 ? -1 : fcntl(fd, (flags & FD_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD, PAGER_FLOOR);
    if (high < 0)
        return fd;
    syscall(SYS_close, fd);
    return high;
}

static void note(int fd)
{
    uint64_t dev, ino;
    if (fd < 0 || fd >= GUARDED_MAX || identity(fd, &dev, &ino) < 0)
        return;
    __atomic_store_n(&guarded[fd].ino, ino, __ATOMIC_RELAXED);
    __atomic_store_n(&guarded[fd].dev, dev, __ATOMIC_RELEASE);
    int end = __atomic_load_n(&guarded_end, __ATOMIC_RELAXED);
    while (fd + 1 > end && !__atomic_compare_exchange_n(&guarded_end, &end, fd + 1, 1, __ATOMIC_RELAXED,
                                                        __ATOMIC_RELAXED))
        ;
}

static void forget(int fd)
{
    if (fd >= 0 && fd < GUARDED_MAX)
        __atomic_store_n(&guarded[fd].dev, 0, __ATOMIC_RELEASE);
}

/* A descriptor the caller just got: moved up and noted when the pager is
 * the caller. */
static int created(int fd)
{
    if (fd >= 0 && shim_in_pager()) {
        fd = move_up(fd);
        note(fd);
    }
    return fd;
}

/* Whether fd is the pager's now (its noted identity still matches). */
static int is_guarded(int fd)
{
    if (fd < 0 || fd >= GUARDED_MAX)
        return 0;
    uint64_t dev = __atomic_load_n(&guarded[fd].dev, __ATOMIC_ACQUIRE);
    if (!dev)
        return 0;
    uint64_t now_dev, now_ino;
    if (identity(fd, &now_dev, &now_ino) == 0 && now_dev == dev &&
        now_ino == __atomic_load_n(&guarded[fd].ino, __ATOMIC_RELAXED))
        return 1;
    forget(fd);
    return 0;
}

static int note_pager_fd(int fd)
{
    fd = move_up(fd);
    note(fd);
    return fd;
}

void shim_guard_descriptors(void)
{
    tp_private_on_pager_fd(note_pager_fd);
}

/* ------------------------------------------------------------ creators */

int socket(int domain, int type, int protocol)
{
    return created((int)syscall(SYS_socket, domain, type, protocol));
}

int socketpair(int domain, int type, int protocol, int sv[2])
{
    int rc = (int)syscall(SYS_socketpair, domain, type, protocol, sv);
    if (rc == 0) {
        sv[0] = created(sv[0]);
        sv[1] = created(sv[1]);
    }
    return rc;
}

int pipe2(int fds[2], int flags)
{
    int rc = (int)syscall(SYS_pipe2, fds, flags);
    if (rc == 0) {
        fds[0] = created(fds[0]);
        fds[1] = created(fds[1]);
    }
    return rc;
}

int pipe(int fds[2])
{
    return pipe2(fds, 0);
}

int eventfd(unsigned int initval, int flags)
{
    return created((int)syscall(SYS_eventfd2, initval, flags));
}

int memfd_create(const char *name, unsigned int flags)
{
    return created((int)syscall(SYS_memfd_create, name, flags));
}

int epoll_create1(int flags)
{
    return created((int)syscall(SYS_epoll_create1, flags));
}

/* open's mode is there only with O_CREAT or O_TMPFILE. */
static mode_t open_mode(int flags, va_list ap)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

int openat(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = open_mode(flags, ap);
    va_end(ap);
    return created((int)syscall(SYS_openat, dirfd, path, flags, mode));
}

int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = open_mode(flags, ap);
    va_end(ap);
    return created((int)syscall(SYS_openat, AT_FDCWD, path, flags, mode));
}

int open64(const char *path, int flags, ...) __attribute__((alias("open")));
int openat64(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat")));

/* -------------------------------------------------------------- closers */

int close(int fd)
{
    if (shim_in_pager()) {
        forget(fd);
    } else if (is_guarded(fd)) {
        errno = EBADF;
        return -1;
    }
    return (int)syscall(SYS_close, fd);
}

/* close_range: the parts of [first, last] between the pager's descriptors. */
int close_range(unsigned int first, unsigned int last, int flags)
{
    if (shim_in_pager() || first > last)
        return (int)syscall(SYS_close_range, first, last, flags);
    unsigned int end = (unsigned int)__atomic_load_n(&guarded_end, __ATOMIC_RELAXED);
    unsigned int from = first;
    for (unsigned int fd = first; fd < end && fd <= last; fd++) {
        if (!is_guarded((int)fd))
            continue;
        if (fd > from && syscall(SYS_close_range, from, fd - 1, flags) != 0)
            return -1;
        from = fd + 1;
    }
    if (from > last)
        return 0;
    return (int)syscall(SYS_close_range, from, last, flags);
}

void closefrom(int lowfd)
{
    close_range(lowfd < 0 ? 0u : (unsigned int)lowfd, ~0u, 0);
}
