#include "uffd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pager_thread.h"

static int uffd_new(void)
{
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
    if (fd >= 0)
        return tp_note_pager_fd(fd);
    int err = errno;
    /* The device hands out descriptors where the syscall is restricted. */
    int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
    if (dev < 0) {
        errno = err;
        return -1;
    }
    fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC);
    close(dev);
    return tp_note_pager_fd(fd);
}

/* UFFDIO_CONTINUE_MODE_WP: learned at its first use, refused by kernels
 * before 6.4 (or taken as refused: TIERPAGE_CONTINUE_WP=off, to test
 * that way on a newer kernel). */
static int continue_wp_refused;
static int continue_wp_works;

void (*tp_uffd_two_step_gap)(void *dst, size_t len);

uint64_t tp_uffd_offered_features(void)
{
    int fd = uffd_new();
    if (fd < 0)
        return 0;
    struct uffdio_api api = {.api = UFFD_API, .features = 0};
    uint64_t offered = ioctl(fd, UFFDIO_API, &api) < 0 ? 0 : api.features;
    close(fd);
    return offered;
}

int tp_uffd_open(int async_wp, char *msg, size_t msg_len)
{
    int fd = uffd_new();
    if (fd < 0) {
        int e = errno;
        snprintf(msg, msg_len,
                 "userfaultfd is not available: %s (run as root, or set vm.unprivileged_userfaultfd=1)",
                 strerror(e));
        return -e;
    }
    const char *continue_wp_env = getenv("TIERPAGE_CONTINUE_WP");
    if (continue_wp_env && strcmp(continue_wp_env, "off") == 0) {
        __atomic_store_n(&continue_wp_refused, 1, __ATOMIC_RELAXED);
    } else if (continue_wp_env && *continue_wp_env && strcmp(continue_wp_env, "auto") != 0) {
        snprintf(msg, msg_len, "TIERPAGE_CONTINUE_WP: expected auto or off, got '%.40s'", continue_wp_env);
        close(fd);
        return -EINVAL;
    }
    struct uffdio_api api = {.api = UFFD_API, .features = TP_UFFD_FEATURES | (async_wp ? UFFD_FEATURE_WP_ASYNC : 0)};
    if (ioctl(fd, UFFDIO_API, &api) < 0) {
        int e = errno;
        snprintf(msg, msg_len,
                 "this kernel's userfaultfd lacks shmem missing, write-protect or minor faults: %s",
                 strerror(e));
        close(fd);
        return -e;
    }
    return fd;
}

int tp_uffd_register(int uffd, void *addr, size_t len, int with_minor)
{
    struct uffdio_register reg = {
        .range = {.start = (uintptr_t)addr, .len = len},
        .mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP |
                (with_minor ? UFFDIO_REGISTER_MODE_MINOR : 0),
    };
    return ioctl(uffd, UFFDIO_REGISTER, &reg) < 0 ? -errno : 0;
}

int tp_uffd_unregister(int uffd, void *addr, size_t len)
{
    struct uffdio_range r = {.start = (uintptr_t)addr, .len = len};
    return ioctl(uffd, UFFDIO_UNREGISTER, &r) < 0 ? -errno : 0;
}

int tp_uffd_copy(int uffd, void *dst, const void *src, size_t len, int write_protect)
{
    struct uffdio_copy c = {
        .dst = (uintptr_t)dst, .src = (uintptr_t)src, .len = len,
        .mode = write_protect ? UFFDIO_COPY_MODE_WP : 0,
    };
    while (ioctl(uffd, UFFDIO_COPY, &c) < 0) {
        if (errno != EAGAIN)
            return -errno;
        if (c.copy > 0) { /* partial copy: go on from where it stopped */
            c.dst += (uint64_t)c.copy;
            c.src += (uint64_t)c.copy;
            c.len -= (uint64_t)c.copy;
        }
        c.copy = 0;
    }
    return 0;
}

int tp_uffd_zeropage(int uffd, void *dst, size_t len)
{
    struct uffdio_zeropage z = {.range = {.start = (uintptr_t)dst, .len = len}};
    while (ioctl(uffd, UFFDIO_ZEROPAGE, &z) < 0) {
        if (errno != EAGAIN)
            return -errno;
        z.zeropage = 0;
    }
    return 0;
}

static int continue_once(int uffd, void *dst, size_t len, uint64_t mode)
{
    struct uffdio_continue c = {.range = {.start = (uintptr_t)dst, .len = len}, .mode = mode};
    while (ioctl(uffd, UFFDIO_CONTINUE, &c) < 0) {
        if (errno != EAGAIN)
            return -errno;
        c.mapped = 0;
    }
    return 0;
}

int tp_uffd_continue_wp_is_exact(void)
{
    return __atomic_load_n(&continue_wp_works, __ATOMIC_RELAXED) &&
           !__atomic_load_n(&continue_wp_refused, __ATOMIC_RELAXED);
}

int tp_uffd_continue(int uffd, void *dst, size_t len, int write_protect)
{
    if (!write_protect)
        return continue_once(uffd, dst, len, 0);
    if (!__atomic_load_n(&continue_wp_refused, __ATOMIC_RELAXED)) {
        int rc = continue_once(uffd, dst, len, UFFDIO_CONTINUE_MODE_WP);
        if (rc != -EINVAL) {
            if (rc == 0)
                __atomic_store_n(&continue_wp_works, 1, __ATOMIC_RELAXED);
            return rc;
        }
        __atomic_store_n(&continue_wp_refused, 1, __ATOMIC_RELAXED);
    }
    /* Map it without waking the threads that wait on it, protect it, then
     * wake them. Whatever part was mapped is protected, also when the
     * mapping failed part way. */
    int rc = continue_once(uffd, dst, len, UFFDIO_CONTINUE_MODE_DONTWAKE);
    void (*gap)(void *, size_t) = __atomic_load_n(&tp_uffd_two_step_gap, __ATOMIC_SEQ_CST);
    if (rc == 0 && gap)
        gap(dst, len);
    int protected = tp_uffd_writeprotect(uffd, dst, len, 1, 0);
    tp_uffd_wake(uffd, dst, len);
    return rc < 0 ? rc : protected;
}

int tp_uffd_writeprotect(int uffd, void *addr, size_t len, int protect, int wake)
{
    struct uffdio_writeprotect wp = {
        .range = {.start = (uintptr_t)addr, .len = len},
        .mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : (wake ? 0 : UFFDIO_WRITEPROTECT_MODE_DONTWAKE),
    };
    while (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) < 0) {
        if (errno != EAGAIN)
            return -errno;
    }
    return 0;
}

int tp_uffd_wake(int uffd, void *addr, size_t len)
{
    struct uffdio_range r = {.start = (uintptr_t)addr, .len = len};
    return ioctl(uffd, UFFDIO_WAKE, &r) < 0 ? -errno : 0;
}
