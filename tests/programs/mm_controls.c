/* Run under `tierpage run` with a small resident cap (4 MiB): what else
 * programs do to their memory, on served memory — mprotect and guard pages,
 * shared anonymous mappings, mlock and mlockall, madvise advice, MAP_POPULATE,
 * mremap growing in place, /proc/self/mem and process_vm_readv, vfork and
 * posix_spawn. Prints one line per failed check; exits 0 when all pass. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "program_checks.h"
#include "touch_faults.h"

extern char **environ;

static unsigned char *served(size_t len, unsigned seed)
{
    unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    fill(m, len, seed);
    return m;
}

static void protections(void)
{
    size_t len = 16 * MiB;
    unsigned char *m = served(len, 1);
    CHECK(m, "mmap");
    /* Guard pages at both ends, as thread stacks and arenas have. */
    CHECK(mprotect(m, PAGE, PROT_NONE) == 0 && mprotect(m + len - PAGE, PAGE, PROT_NONE) == 0, "guard pages");
    CHECK(touch_faults(m, 0) && touch_faults(m + len - PAGE, 0), "a guard page faults");
    CHECK(intact(m + PAGE, len - 2 * PAGE, (unsigned)1 + (unsigned)(PAGE / 64 * 31)), "data between the guards");
    /* Read-only: reads of pages that are out still come back; writes fault. */
    CHECK(mprotect(m + MiB, 4 * MiB, PROT_READ) == 0, "mprotect read-only");
    CHECK(intact(m + MiB, 4 * MiB, (unsigned)1 + (unsigned)(MiB / 64 * 31)), "read-only data");
    CHECK(touch_faults(m + 2 * MiB, 1), "a write to a read-only page faults");
    CHECK(mprotect(m, len, PROT_READ | PROT_WRITE) == 0, "mprotect back to read-write");
    CHECK(intact(m, len, 1), "all data after the guards went");
    fill(m, len, 2);
    CHECK(intact(m, len, 2), "written again");
    munmap(m, len);

    /* Arenas as glibc makes them for threads: reserved PROT_NONE, opened
     * read-write piece by piece. */
    unsigned char *arena = mmap(NULL, 8 * MiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(arena != MAP_FAILED, "reserve");
    for (size_t off = 0; off < 8 * MiB; off += 2 * MiB) {
        CHECK(mprotect(arena + off, 2 * MiB, PROT_READ | PROT_WRITE) == 0, "open a piece");
        fill(arena + off, 2 * MiB, 3);
    }
    CHECK(intact(arena, 2 * MiB, 3) && intact(arena + 6 * MiB, 2 * MiB, 3), "arena pieces");
    munmap(arena, 8 * MiB);
}

static void *thread_mallocs(void *arg)
{
    (void)arg;
    intptr_t bad = 0;
    for (int i = 0; i < 2000; i++) {
        size_t size = 16 + (size_t)(i * 37 % 3000);
        unsigned char *p = malloc(size);
        memset(p, i & 0xff, size);
        for (size_t k = 0; k < size; k += 97)
            bad += p[k] != (unsigned char)(i & 0xff);
        free(p);
    }
    unsigned char *big = malloc(6 * MiB);
    fill(big, 6 * MiB, 4);
    bad += !intact(big, 6 * MiB, 4);
    free(big);
    return (void *)bad;
}

static void thread_arenas(void)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, thread_mallocs, NULL);
    for (int i = 0; i < 4; i++) {
        void *bad;
        pthread_join(t[i], &bad);
        CHECK(bad == NULL, "thread %d saw %ld wrong bytes", i, (long)(intptr_t)bad);
    }
}

static void shared_anonymous(void)
{
    /* Not served: it must stay shared with children. */
    size_t len = 4 * MiB;
    unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED, "mmap shared");
    fill(m, len, 5);
    pid_t pid = fork();
    if (pid == 0) {
        fill(m, len, 6);
        _exit(intact(m, len, 6) ? 0 : 1);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child wrote the shared mapping");
    CHECK(intact(m, len, 6), "the parent sees the child's writes");
    munmap(m, len);
}

static void locking(void)
{
    size_t len = 2 * MiB;
    unsigned char *m = served(len, 7);
    CHECK(mlock(m, len) == 0, "mlock 2 MiB of served memory: %s", strerror(errno));
    /* Sweep far more than the cap: the locked pages must stay resident. */
    unsigned char *other = served(24 * MiB, 8);
    CHECK(intact(other, 24 * MiB, 8), "the sweep");
    unsigned char vec[512];
    CHECK(mincore(m, len, vec) == 0, "mincore");
    size_t in = 0;
    for (size_t i = 0; i < len / PAGE; i++)
        in += vec[i] & 1;
    CHECK(in == len / PAGE, "locked pages stayed resident (%zu of %zu)", in, (size_t)(len / PAGE));
    CHECK(intact(m, len, 7), "locked data");
    CHECK(munlock(m, len) == 0, "munlock");
    unsigned char *big = served(32 * MiB, 9);
    errno = 0;
    CHECK(mlock(big, 32 * MiB) == -1 && errno == ENOMEM, "mlock beyond the resident cap is refused with ENOMEM");
    CHECK(intact(big, 32 * MiB, 9), "data after the refused mlock");
    CHECK(mlockall(MCL_CURRENT | MCL_FUTURE) == -1 && errno == ENOMEM,
          "mlockall with more served than the cap is refused with ENOMEM");
    munmap(big, 32 * MiB);
    munmap(other, 24 * MiB);
    CHECK(mlockall(MCL_CURRENT | MCL_FUTURE) == 0, "mlockall with 2 MiB served: %s", strerror(errno));
    unsigned char *later = served(MiB, 10);
    CHECK(later && intact(later, MiB, 10), "memory mapped after mlockall");
    CHECK(munlockall() == 0, "munlockall");
    CHECK(intact(m, len, 7) && intact(later, MiB, 10), "data after munlockall");
    munmap(later, MiB);
    munmap(m, len);
}

/* Run without the right to lock (no CAP_IPC_LOCK, RLIMIT_MEMLOCK 0): the
 * kernel's EPERM, as without tierpage, even where the range is beyond the
 * cap (memtester tests its whole buffer unlocked after EPERM). */
static void locking_unprivileged(void)
{
    unsigned char *big = served(32 * MiB, 21);
    errno = 0;
    CHECK(mlock(big, 32 * MiB) == -1 && errno == EPERM, "mlock without the right to lock: EPERM (%s)", strerror(errno));
    errno = 0;
    CHECK(mlock2(big, PAGE, 0) == -1 && errno == EPERM, "mlock2 without the right to lock: EPERM (%s)", strerror(errno));
    errno = 0;
    CHECK(mlockall(MCL_CURRENT) == -1 && errno == EPERM, "mlockall without the right to lock: EPERM (%s)",
          strerror(errno));
    CHECK(intact(big, 32 * MiB, 21), "data after the refused locks");
    munmap(big, 32 * MiB);
}

static void advice(void)
{
    size_t len = 8 * MiB;
    unsigned char *m = served(len, 11);
    static const int hints[] = {MADV_WILLNEED, MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_DONTFORK, MADV_DONTDUMP,
                                MADV_DODUMP, MADV_COLD, MADV_PAGEOUT, MADV_NORMAL, MADV_SEQUENTIAL, MADV_RANDOM};
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++)
        CHECK(madvise(m, len, hints[i]) == 0, "madvise hint %d: %s", hints[i], strerror(errno));
    CHECK(intact(m, len, 11), "data after the hints");
    CHECK(madvise(m + MiB, MiB, MADV_FREE) == 0, "MADV_FREE");
    for (size_t i = MiB; i < 2 * MiB; i += PAGE) /* freed pages read as zeros or as they were */
        if (m[i] != 0 && m[i] != (unsigned char)(i / 64 * 31 + 11)) {
            CHECK(0, "MADV_FREE page at %zu", i);
            break;
        }
    errno = 0;
    CHECK(madvise(m, len, MADV_WIPEONFORK) == -1 && errno == EINVAL, "MADV_WIPEONFORK is refused with EINVAL");
    CHECK(madvise(m, len, MADV_DOFORK) == -1 && errno == EINVAL, "MADV_DOFORK is refused with EINVAL");
    CHECK(intact(m, MiB, 11) && intact(m + 2 * MiB, 6 * MiB, (unsigned)11 + (unsigned)(2 * MiB / 64 * 31)),
          "data after MADV_FREE");
    munmap(m, len);
}

static void populate_and_grow(void)
{
    size_t len = 8 * MiB;
    unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    CHECK(m != MAP_FAILED, "MAP_POPULATE");
    CHECK(m[0] == 0 && m[len - 1] == 0, "populated pages read as zeros");
    fill(m, len, 12);
    /* Grow in place: make room after it first. */
    unsigned char *room = mmap(NULL, 3 * len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned char *g = mremap(m, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, room);
    CHECK(g == room && intact(g, len, 12), "moved into the room");
    munmap(g + len, 2 * len);
    unsigned char *same = mremap(g, len, 2 * len, 0);
    CHECK(same == g, "mremap grows in place (no MREMAP_MAYMOVE): %s", same == MAP_FAILED ? strerror(errno) : "moved");
    if (same == g) {
        CHECK(intact(g, len, 12), "data after growing in place");
        CHECK(g[len] == 0 && g[2 * len - 1] == 0, "the grown part reads as zeros");
        fill(g + len, len, 13);
        CHECK(intact(g + len, len, 13), "the grown part keeps its data");
    }
    /* Blocked: growing in place fails as the kernel's would. */
    unsigned char *wall = mmap(g + 2 * len, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    errno = 0;
    CHECK(wall == g + 2 * len && mremap(g, 2 * len, 3 * len, 0) == MAP_FAILED && errno == ENOMEM,
          "growing into a mapping without MREMAP_MAYMOVE fails with ENOMEM");
    unsigned char *moved = mremap(g, 2 * len, 3 * len, MREMAP_MAYMOVE);
    CHECK(moved != MAP_FAILED && intact(moved, len, 12) && intact(moved + len, len, 13), "grown by moving");
    munmap(wall, PAGE);
    munmap(moved, 3 * len);
}

static void introspection(void)
{
    size_t len = 16 * MiB;
    unsigned char *m = served(len, 14);
    unsigned char *sweep = served(16 * MiB, 15); /* pushes m's pages out */
    (void)sweep;
    unsigned char buf[PAGE];
    int fd = open("/proc/self/mem", O_RDWR);
    CHECK(fd >= 0, "open /proc/self/mem");
    /* The kernel does not wait for the pager there: a page that is out
     * reads as an I/O error, never as wrong data; one that is in (held in
     * by mlock here) reads. */
    unsigned char *out = m + 5 * MiB;
    ssize_t n = pread(fd, buf, PAGE, (off_t)(uintptr_t)out);
    CHECK((n < 0 && errno == EIO) || (n == PAGE && intact(buf, PAGE, (unsigned)14 + (unsigned)(5 * MiB / 64 * 31))),
          "/proc/self/mem on a page that is out: %zd (%s)", n, n < 0 ? strerror(errno) : "");
    CHECK(mlock(out, PAGE) == 0, "mlock a page");
    n = pread(fd, buf, PAGE, (off_t)(uintptr_t)out);
    CHECK(n == PAGE && intact(buf, PAGE, (unsigned)14 + (unsigned)(5 * MiB / 64 * 31)),
          "/proc/self/mem reads a resident page (%zd: %s)", n, n < 0 ? strerror(errno) : "");
    unsigned char *target = m + 7 * MiB;
    CHECK(mlock(target, PAGE) == 0, "mlock a page");
    memset(buf, 0xab, PAGE);
    n = pwrite(fd, buf, PAGE, (off_t)(uintptr_t)target);
    CHECK(n == PAGE && target[0] == 0xab && target[PAGE - 1] == 0xab, "/proc/self/mem writes a resident page (%zd)",
          n);
    close(fd);
    fill(sweep, 16 * MiB, 16);
    struct iovec local = {buf, PAGE}, remote = {m + 9 * MiB, PAGE};
    n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    CHECK(n == PAGE && intact(buf, PAGE, (unsigned)14 + (unsigned)(9 * MiB / 64 * 31)),
          "process_vm_readv reads a page that was out (%zd: %s)", n, n < 0 ? strerror(errno) : "");
    munmap(sweep, 16 * MiB);
    munmap(m, len);
}

static void spawning(void)
{
    size_t len = 8 * MiB;
    unsigned char *m = served(len, 17);
    pid_t pid = vfork();
    if (pid == 0) {
        execl("/bin/true", "true", (char *)NULL);
        _exit(99);
    }
    int st;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "vfork + exec");
    char *argv[] = {"sh", "-c", "exit 3", NULL};
    CHECK(posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) == 0, "posix_spawn");
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 3, "posix_spawn child status");
    CHECK(intact(m, len, 17), "data after vfork and posix_spawn");
    munmap(m, len);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "unprivileged") == 0) {
        locking_unprivileged();
        printf("mm_controls unprivileged: %s\n", failures ? "checks failed" : "all checks passed");
        return failures != 0;
    }
    protections();
    thread_arenas();
    shared_anonymous();
    locking();
    advice();
    populate_and_grow();
    introspection();
    spawning();
    if (failures) {
        printf("mm_controls: %d checks failed\n", failures);
        return 1;
    }
    printf("mm_controls: all checks passed\n");
    return 0;
}
