/* Preload shim: serves a program's large private anonymous mappings from a
 * tier stack: the mmap family, and the fork hooks. When the stack opens and
 * closes, and what the environment `tierpage run` sets says, is in
 * stack_life.c; the malloc family in allocations.c, the mlock family in
 * locks.c. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pager_heap.h"
#include "shim.h"
#include "tierpage_private.h"

int shim_in_child;
/* Every address ever served lies in [served_low, served_high): a cheap test
 * that keeps most free() calls away from the stack lock. */
static uintptr_t served_low = UINTPTR_MAX, served_high;

void *real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    long r = syscall(SYS_mmap, addr, len, prot, flags, fd, off);
    return (void *)r;
}

int real_munmap(void *addr, size_t len)
{
    return (int)syscall(SYS_munmap, addr, len);
}

void shim_enter(void)
{
    tp_private_pager_enter();
}

void shim_leave(void)
{
    tp_private_pager_leave();
}

int shim_in_pager(void)
{
    return tp_private_in_pager();
}


void *shim_map(void *hint, size_t size)
{
    tierpage_error err = {{0}, {0}};
    shim_enter();
    void *p = tp_map(shim_stack, hint, size, &err);
    /* After mlockall(MCL_FUTURE), served memory that cannot be locked is
     * not served: plain memory, which the kernel locks. */
    if (p && __atomic_load_n(&shim_lock_future, __ATOMIC_RELAXED) && tp_lock(shim_stack, p, size, 1, &err) < 0) {
        tp_unmap(shim_stack, p, size, NULL);
        p = NULL;
    }
    shim_leave();
    if (p) {
        uintptr_t lo = (uintptr_t)p, hi = lo + size;
        uintptr_t cur = __atomic_load_n(&served_low, __ATOMIC_RELAXED);
        while (lo < cur && !__atomic_compare_exchange_n(&served_low, &cur, lo, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            ;
        cur = __atomic_load_n(&served_high, __ATOMIC_RELAXED);
        while (hi > cur && !__atomic_compare_exchange_n(&served_high, &cur, hi, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            ;
    } else {
        static int warned;
        if (!warned++)
            fprintf(stderr, "tierpage: cannot serve a %zu-byte allocation, using plain memory: %s\n", size,
                    err.message);
    }
    return p;
}

int shim_lookup(const void *addr, void **start, size_t *length)
{
    /* Pager threads never hold served memory, and may hold the stack lock. */
    if (!shim_stack || shim_in_child || !addr)
        return -1;
    uintptr_t a = (uintptr_t)addr;
    if (a < __atomic_load_n(&served_low, __ATOMIC_RELAXED) || a >= __atomic_load_n(&served_high, __ATOMIC_RELAXED))
        return -1;
    if (shim_in_pager())
        return -1;
    shim_enter();
    int rc = tp_region_bounds(shim_stack, addr, start, length);
    shim_leave();
    return rc;
}

void shim_unmap_region(void *addr)
{
    void *start;
    size_t length;
    if (shim_lookup(addr, &start, &length) < 0)
        return;
    shim_enter();
    tp_unmap(shim_stack, start, length, NULL);
    shim_leave();
}

/* mmap family */

static int servable_mapping(size_t len, int prot, int flags)
{
    return (flags & MAP_ANONYMOUS) && (flags & MAP_TYPE) == MAP_PRIVATE &&
           !(flags & (MAP_GROWSDOWN | MAP_HUGETLB | MAP_STACK | MAP_FIXED_NOREPLACE | MAP_LOCKED)) &&
           prot == (PROT_READ | PROT_WRITE) && shim_serves(len);
}

static int overlaps_served(void *addr, size_t len)
{
    void *s;
    size_t l;
    return shim_lookup(addr, &s, &l) == 0 || shim_lookup((char *)addr + len - 1, &s, &l) == 0;
}

static int page_aligned(const void *addr)
{
    return ((uintptr_t)addr & 4095) == 0;
}

/* The program is about to unmap or map over [addr, addr+len): whatever of
 * it is served stops being served, its range left reserved (PROT_NONE) so
 * that the program's own call replaces it in one step. */
static void unserve(void *addr, size_t len)
{
    uintptr_t a = (uintptr_t)addr;
    if (!shim_stack || shim_in_child || shim_in_pager() || !len || a + len < a)
        return;
    if (a + len <= __atomic_load_n(&served_low, __ATOMIC_RELAXED) ||
        a >= __atomic_load_n(&served_high, __ATOMIC_RELAXED))
        return;
    tierpage_error err = {{0}, {0}};
    shim_enter();
    int rc = tp_unserve(shim_stack, addr, len, &err);
    shim_leave();
    if (rc < 0)
        fprintf(stderr, "tierpage: unmapping served memory: %s\n", err.message);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if ((flags & MAP_FIXED) && page_aligned(addr))
        unserve(addr, len);
    if (len && servable_mapping(len, prot, flags)) {
        void *p = shim_map((flags & MAP_FIXED) ? addr : NULL, len);
        if (p)
            return p;
    }
    return real_mmap(addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) __attribute__((alias("mmap")));

int munmap(void *addr, size_t len)
{
    if (page_aligned(addr))
        unserve(addr, len);
    return real_munmap(addr, len);
}

void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
    void *new_addr = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        new_addr = va_arg(ap, void *);
        va_end(ap);
    }
    void *start;
    size_t length;
    if (shim_lookup(old, &start, &length) < 0) {
        /* Moving onto served memory replaces it, as MAP_FIXED does. */
        if ((flags & MREMAP_FIXED) && page_aligned(new_addr) &&
            ((char *)new_addr + new_len <= (char *)old || (char *)old + old_len <= (char *)new_addr))
            unserve(new_addr, new_len);
        return (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
    }

    size_t page = tp_page_size(shim_stack);
    old_len = (old_len + page - 1) & ~(page - 1);
    new_len = (new_len + page - 1) & ~(page - 1);
    if (new_len <= old_len && !(flags & MREMAP_FIXED)) {
        if (new_len < old_len)
            munmap((char *)old + new_len, old_len - new_len);
        return old;
    }
    if ((flags & MREMAP_FIXED) &&
        !((char *)new_addr + new_len <= (char *)old || (char *)old + old_len <= (char *)new_addr)) {
        errno = EINVAL; /* as the kernel says of overlapping ranges */
        return MAP_FAILED;
    }
    if (!(flags & MREMAP_FIXED)) {
        /* Grow in place when the addresses after it are free, as the
         * kernel would: the growth is served memory of its own. */
        char *tail = (char *)old + old_len;
        size_t grow = new_len - old_len;
        void *probe = real_mmap(tail, grow, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | MAP_NORESERVE,
                                -1, 0);
        if (probe == tail && shim_map(tail, grow))
            return old;
        if (probe != MAP_FAILED)
            real_munmap(probe, grow);
        if (!(flags & MREMAP_MAYMOVE)) {
            errno = ENOMEM;
            return MAP_FAILED;
        }
    }
    /* Served memory moves by copy: a new region, then the old one goes. */
    void *p = shim_map((flags & MREMAP_FIXED) ? new_addr : NULL, new_len);
    if (!p) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    memcpy(p, old, old_len < new_len ? old_len : new_len);
    munmap(old, old_len);
    return p;
}

int madvise(void *addr, size_t len, int advice)
{
    if (len && overlaps_served(addr, len)) {
        if (advice == MADV_DONTNEED || advice == MADV_FREE || advice == MADV_REMOVE) {
            tierpage_error err = {{0}, {0}};
            shim_enter();
            int rc = tp_discard(shim_stack, addr, len, &err);
            shim_leave();
            if (rc < 0) {
                fprintf(stderr, "tierpage: madvise: %s\n", err.message);
                errno = -rc;
                return -1;
            }
            return 0;
        }
        /* A child gets served memory from the pager's copy at the fork
         * (core/stack_fork.c), which these flags do not steer. */
        if (advice == MADV_DOFORK || advice == MADV_WIPEONFORK) {
            static int told;
            if (!told++)
                fprintf(stderr, "tierpage: madvise(%s) on served memory is refused: a child gets served "
                                "memory from tierpage's copy at the fork, which it does not steer\n", advice == MADV_DOFORK ? "MADV_DOFORK" : "MADV_WIPEONFORK");
            errno = EINVAL;
            return -1;
        }
        /* Hints about residency are the pager's business. */
        return 0;
    }
    return (int)syscall(SYS_madvise, addr, len, advice);
}

/* fork: the child gets its own copy of the served memory and a pager of
 * its own (core/stack_fork.c). A stack that cannot give it one keeps the
 * memory with the parent (the regions are MADV_DONTFORK), and a child that
 * touches it gets a clear message, not a silent crash. */

static char fork_refusal[256];
int shim_forked_child;

static void child_segv(int sig, siginfo_t *info, void *ctx)
{
    (void)ctx;
    void *start;
    size_t length;
    if (info && shim_stack && tp_region_bounds(shim_stack, info->si_addr, &start, &length) == 0) {
        static const char msg[] = "tierpage: a forked child touched memory served to its parent; served memory "
                                  "is not shared with children (use exec, or run the child outside tierpage): ";
        ssize_t w = write(2, msg, sizeof msg - 1);
        w = write(2, fork_refusal, strlen(fork_refusal));
        w = write(2, "\n", 1);
        (void)w;
        _exit(TP_EXIT_PAGER_FAILURE);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void before_fork(void)
{
    if (!shim_stack || shim_in_child)
        return;
    shim_enter(); /* left in the handlers after the fork, in the parent and the child */
    tp_private_stack_fork_prepare(shim_stack);
    pager_heap_fork_prepare();
}

static void after_fork_parent(void)
{
    if (!shim_stack || shim_in_child)
        return;
    pager_heap_fork_done();
    tp_private_stack_fork_parent(shim_stack);
    shim_leave();
}

static void after_fork_child(void)
{
    if (!shim_stack || shim_in_child)
        return;
    pager_heap_fork_done();
    tierpage_error err = {{0}, {0}};
    int rc = tp_private_stack_fork_child(shim_stack, &err);
    shim_leave();
    __atomic_store_n(&shim_lock_future, 0, __ATOMIC_RELAXED); /* memory locks are not inherited */
    if (rc == 0) {
        shim_forked_child = 1;
        shim_stack_now_ours();
        return;
    }
    if (rc != -ENOTSUP) {
        fprintf(stderr, "tierpage: a forked child cannot have its own copy of the served memory: %s\n",
                err.message);
        _exit(TP_EXIT_PAGER_FAILURE);
    }
    snprintf(fork_refusal, sizeof fork_refusal, "%s", err.message);
    shim_in_child = 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = child_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
}

void shim_install_fork_hooks(void)
{
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

int shim_served_any(void)
{
    return __atomic_load_n(&served_high, __ATOMIC_RELAXED) != 0;
}
