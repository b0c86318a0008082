/* The mlock family on served memory. Locked served pages carry the pager's
 * own lock (tp_lock): never evicted, counted against the resident cap; the
 * kernel's lock, applied as well, then brings them in by faulting them. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

int shim_lock_future;

static int serving(void)
{
    return shim_stack && !shim_in_child && !shim_in_pager();
}

static int pager_lock(const void *addr, size_t len, int lock)
{
    if (!serving() || !len)
        return 0;
    tierpage_error err = {{0}, {0}};
    shim_enter();
    int rc = tp_lock(shim_stack, (void *)addr, len, lock, &err);
    shim_leave();
    if (rc < 0) {
        fprintf(stderr, "tierpage: mlock of served memory refused: %s\n", err.message);
        errno = -rc;
        return -1;
    }
    return 0;
}

/* The kernel's lock, undoing the pager's when it fails. */
static int kernel_lock(long rc, const void *addr, size_t len)
{
    if (rc < 0) {
        int e = errno;
        pager_lock(addr, len, 0);
        errno = e;
        return -1;
    }
    return 0;
}

/* The kernel checks a caller's right to lock (CAP_IPC_LOCK or a non-zero
 * RLIMIT_MEMLOCK, else EPERM) before anything else, and does it for an
 * empty range too: asked first, so that a program without the right gets
 * the kernel's EPERM rather than the pager's ENOMEM. memtester run
 * unprivileged, for one, tests its whole buffer unlocked after EPERM but
 * shrinks it after ENOMEM. */
static int kernel_permits(long empty_lock_rc)
{
    return empty_lock_rc == 0;
}

int mlock(const void *addr, size_t len)
{
    if (!kernel_permits(syscall(SYS_mlock, addr, 0)) || pager_lock(addr, len, 1) < 0)
        return -1;
    return kernel_lock(syscall(SYS_mlock, addr, len), addr, len);
}

int mlock2(const void *addr, size_t len, unsigned int flags)
{
    if (!kernel_permits(syscall(SYS_mlock2, addr, 0, flags)) || pager_lock(addr, len, 1) < 0)
        return -1;
    return kernel_lock(syscall(SYS_mlock2, addr, len, flags), addr, len);
}

int munlock(const void *addr, size_t len)
{
    pager_lock(addr, len, 0);
    return (int)syscall(SYS_munlock, addr, len);
}

int mlockall(int flags)
{
    if (shim_threshold != UINT64_MAX) {
        if (!kernel_permits(syscall(SYS_mlock, NULL, 0)))
            return -1;
        if ((flags & MCL_CURRENT) && pager_lock(NULL, SIZE_MAX, 1) < 0)
            return -1;
        /* Faulting everything in at once would reach the pager's own
         * doorbell pages, which are answered only when it stops, and would
         * fill new served mappings before they are registered: lock each
         * page as it comes in instead. */
        flags |= MCL_ONFAULT;
        __atomic_store_n(&shim_lock_future, (flags & MCL_FUTURE) != 0, __ATOMIC_RELAXED);
    }
    if (syscall(SYS_mlockall, flags) < 0) {
        int e = errno;
        munlockall();
        errno = e;
        return -1;
    }
    return 0;
}

int munlockall(void)
{
    __atomic_store_n(&shim_lock_future, 0, __ATOMIC_RELAXED);
    pager_lock(NULL, SIZE_MAX, 0);
    return (int)syscall(SYS_munlockall);
}
