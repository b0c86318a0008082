/* Run under `tierpage run` with a small resident cap: exercises every way a
 * program can create, change and drop memory the shim serves, and checks
 * every byte. Prints one line per failed check; exits 0 when all pass. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "program_checks.h"

static int all_zero(const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return 0;
    return 1;
}

static void malloc_family(void)
{
    unsigned char *a = malloc(8 * MiB);
    CHECK(a, "malloc 8MiB");
    fill(a, 8 * MiB, 1);
    a = realloc(a, 16 * MiB);
    CHECK(a && first_bad(a, 8 * MiB, 1) == SIZE_MAX, "realloc grow kept the data");
    fill(a + 8 * MiB, 8 * MiB, 2);
    CHECK(first_bad(a + 8 * MiB, 8 * MiB, 2) == SIZE_MAX, "realloc grown part");
    a = realloc(a, 4 * MiB);
    CHECK(a && first_bad(a, 4 * MiB, 1) == SIZE_MAX, "realloc shrink kept the data");
    CHECK(malloc_usable_size(a) >= 4 * MiB, "usable size %zu", malloc_usable_size(a));
    free(a);

    unsigned char *small = malloc(100);
    CHECK(small, "malloc 100 bytes");
    if (small) {
        strcpy((char *)small, "small");
        unsigned char *grown = realloc(small, 3 * MiB); /* from glibc to served */
        CHECK(grown && strcmp((char *)grown, "small") == 0, "realloc small to large");
        free(grown ? grown : small);
    }

    unsigned char *z = calloc(4, MiB);
    CHECK(z && all_zero(z, 4 * MiB), "calloc zeroed");
    free(z);

    void *p = NULL;
    CHECK(posix_memalign(&p, 65536, 2 * MiB) == 0 && ((uintptr_t)p & 65535) == 0, "posix_memalign 64KiB");
    fill(p, 2 * MiB, 3);
    CHECK(first_bad(p, 2 * MiB, 3) == SIZE_MAX, "posix_memalign data");
    free(p);
    p = aligned_alloc(2 * MiB, 4 * MiB);
    CHECK(p && ((uintptr_t)p & (2 * MiB - 1)) == 0, "aligned_alloc 2MiB");
    fill(p, 4 * MiB, 4);
    CHECK(first_bad(p, 4 * MiB, 4) == SIZE_MAX, "aligned_alloc data");
    free(p);
}

static void mmap_family(void)
{
    size_t len = 8 * MiB;
    unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED, "mmap");
    fill(m, len, 5);
    unsigned char *g = mremap(m, len, 2 * len, MREMAP_MAYMOVE);
    CHECK(g != MAP_FAILED && first_bad(g, len, 5) == SIZE_MAX, "mremap grow kept the data");
    CHECK(all_zero(g + len, len), "mremap grown part is zero");
    fill(g + len, len, 6);
    unsigned char *s = mremap(g, 2 * len, len, 0);
    CHECK(s == g && first_bad(s, len, 5) == SIZE_MAX, "mremap shrink in place");

    CHECK(madvise(s + MiB, MiB, MADV_DONTNEED) == 0, "madvise");
    CHECK(all_zero(s + MiB, MiB), "MADV_DONTNEED pages read as zeros");
    CHECK(first_bad(s, MiB, 5) == SIZE_MAX, "data before the discarded part");
    CHECK(munmap(s + 4 * MiB, 2 * MiB) == 0, "partial munmap");
    for (size_t off = 2 * MiB; off < 4 * MiB; off += 64)
        if (s[off] != (unsigned char)(off / 64 * 31 + 5)) {
            CHECK(0, "data after partial munmap at %zu", off);
            break;
        }
    CHECK(munmap(s, 4 * MiB) == 0 && munmap(s + 6 * MiB, 2 * MiB) == 0, "munmap the rest");
}

static unsigned char *map_anon(void *at, size_t len, int prot)
{
    unsigned char *m = mmap(at, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | (at ? MAP_FIXED : 0), -1, 0);
    return m == MAP_FAILED ? NULL : m;
}

/* Served memory replaced under the pager: a hole mapped again, MAP_FIXED
 * over live served pages (served or not served again), mremap onto them. */
static void replaced_ranges(void)
{
    size_t len = 16 * MiB, half = len / 2;
    for (int which = 0; which < 2; which++) {
        unsigned char *m = map_anon(NULL, len, PROT_READ | PROT_WRITE);
        CHECK(m, "mmap");
        fill(m, len, 10);
        unsigned char *hole = m + (which ? half : 0), *kept = m + (which ? 0 : half);
        CHECK(munmap(hole, half) == 0, "munmap half");
        CHECK(map_anon(hole, half, PROT_READ | PROT_WRITE) == hole, "MAP_FIXED into the hole");
        CHECK(all_zero(hole, half), "the new mapping in the %s half reads as zeros", which ? "second" : "first");
        fill(hole, half, 11);
        CHECK(first_bad(hole, half, 11) == SIZE_MAX, "the new mapping keeps what is written");
        CHECK(first_bad(kept, half, (unsigned)10 + (which ? 0 : (unsigned)(half / 64 * 31))) == SIZE_MAX,
              "the other half keeps its data");
        CHECK(munmap(m, len) == 0, "munmap both");
    }

    /* MAP_FIXED over the middle of live served pages, then over the whole. */
    unsigned char *m = map_anon(NULL, len, PROT_READ | PROT_WRITE);
    fill(m, len, 12);
    CHECK(map_anon(m + 4 * MiB, 4 * MiB, PROT_READ | PROT_WRITE) == m + 4 * MiB, "MAP_FIXED over served pages");
    CHECK(all_zero(m + 4 * MiB, 4 * MiB), "the replaced pages read as zeros");
    fill(m + 4 * MiB, 4 * MiB, 13);
    CHECK(first_bad(m, 4 * MiB, 12) == SIZE_MAX, "pages before the replaced ones keep their data");
    CHECK(first_bad(m + 8 * MiB, 8 * MiB, (unsigned)12 + (unsigned)(8 * MiB / 64 * 31)) == SIZE_MAX,
          "pages after the replaced ones keep their data");
    CHECK(first_bad(m + 4 * MiB, 4 * MiB, 13) == SIZE_MAX, "the replacing mapping keeps its data");
    /* A mapping the pager does not serve (read-only) over served pages. */
    CHECK(map_anon(m + 12 * MiB, 2 * MiB, PROT_READ) == m + 12 * MiB, "read-only MAP_FIXED over served pages");
    CHECK(all_zero(m + 12 * MiB, 2 * MiB), "the read-only mapping reads as zeros");
    CHECK(mprotect(m + 12 * MiB, 2 * MiB, PROT_READ | PROT_WRITE) == 0, "mprotect the read-only mapping");
    fill(m + 12 * MiB, 2 * MiB, 14);
    /* One mapping over everything, served pages and not. */
    unsigned char *whole = map_anon(m, len, PROT_READ | PROT_WRITE);
    CHECK(whole == m, "MAP_FIXED over the whole range");
    CHECK(all_zero(m, len), "the whole range reads as zeros");
    fill(m, len, 15);
    CHECK(first_bad(m, len, 15) == SIZE_MAX, "the whole range keeps its data");

    /* mremap onto served pages: from memory not served, then from served. */
    size_t small = 256 * 1024; /* below malloc_threshold: not served */
    unsigned char *plain = map_anon(NULL, small, PROT_READ | PROT_WRITE);
    fill(plain, small, 16);
    unsigned char *moved = mremap(plain, small, small, MREMAP_MAYMOVE | MREMAP_FIXED, m + MiB);
    CHECK(moved == m + MiB && first_bad(moved, small, 16) == SIZE_MAX, "mremap onto served pages");
    CHECK(first_bad(m, MiB, 15) == SIZE_MAX && first_bad(m + 2 * MiB, 2 * MiB, (unsigned)15 + (unsigned)(2 * MiB / 64 * 31)) == SIZE_MAX,
          "served pages around the moved ones keep their data");
    unsigned char *other = map_anon(NULL, 4 * MiB, PROT_READ | PROT_WRITE);
    fill(other, 4 * MiB, 17);
    moved = mremap(other, 4 * MiB, 4 * MiB, MREMAP_MAYMOVE | MREMAP_FIXED, m + 8 * MiB);
    CHECK(moved == m + 8 * MiB && first_bad(moved, 4 * MiB, 17) == SIZE_MAX, "served mremap onto served pages");
    CHECK(first_bad(m + 12 * MiB, 4 * MiB, (unsigned)15 + (unsigned)(12 * MiB / 64 * 31)) == SIZE_MAX,
          "served pages after the moved ones keep their data");
    CHECK(munmap(m, len) == 0, "munmap all");
    CHECK(mmap(m, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) == m,
          "the range is free after munmap");
    munmap(m, len);
}

/* Threads fault on served pages while another unmaps them: each read sees
 * the data or, once its page is gone, SIGSEGV; none hangs. */
static unsigned char *racing;
static size_t racing_len;
static __thread sigjmp_buf *racing_jump;
static volatile int racing_stop;

static void racing_segv(int sig)
{
    (void)sig;
    if (racing_jump)
        siglongjmp(*racing_jump, 1);
    _exit(97); /* a SIGSEGV outside the readers */
}

static void *racing_reader(void *arg)
{
    volatile unsigned seed = (unsigned)(uintptr_t)arg;
    volatile long bad = 0;
    sigjmp_buf jump;
    racing_jump = &jump;
    while (!racing_stop) {
        seed = seed * 1103515245u + 12345u;
        size_t off = (seed % (racing_len / 64)) * 64;
        if (sigsetjmp(jump, 1) == 0) {
            unsigned char c = racing[off];
            if (c != (unsigned char)(off / 64 * 31 + 18))
                bad++;
        }
    }
    racing_jump = NULL;
    return (void *)bad;
}

static void unmap_while_faulting(void)
{
    racing_len = 32 * MiB;
    racing = map_anon(NULL, racing_len, PROT_READ | PROT_WRITE);
    fill(racing, racing_len, 18);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = racing_segv;
    sa.sa_flags = SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, racing_reader, (void *)(uintptr_t)(i + 1));
    usleep(100000);
    /* Unmap piece by piece from the middle out, then map fresh served
     * memory into the first hole while the readers still fault. */
    for (size_t off = 0; off < racing_len / 2; off += MiB) {
        CHECK(munmap(racing + racing_len / 2 + off, MiB) == 0, "munmap while faulting");
        CHECK(munmap(racing + racing_len / 2 - off - MiB, MiB) == 0, "munmap while faulting");
        usleep(5000);
    }
    racing_stop = 1;
    for (int i = 0; i < 2; i++) {
        void *bad;
        pthread_join(t[i], &bad);
        CHECK(bad == NULL, "reader %d saw %ld wrong bytes", i, (long)(intptr_t)bad);
    }
    signal(SIGSEGV, SIG_DFL);
    unsigned char *again = map_anon(racing, racing_len, PROT_READ | PROT_WRITE);
    CHECK(again == racing && all_zero(again, racing_len), "fresh memory where the unmapped pages were");
    munmap(again, racing_len);
}

static void syscalls_into_served_memory(void)
{
    size_t len = 16 * MiB;
    unsigned char *m = malloc(len);
    fill(m, len, 7);
    int fds[2];
    CHECK(pipe(fds) == 0, "pipe");
    /* The kernel writes into pages that are out: it faults like the program. */
    char msg[] = "written by the kernel";
    CHECK(write(fds[1], msg, sizeof msg) == (ssize_t)sizeof msg, "write");
    CHECK(read(fds[0], m + 123, sizeof msg) == (ssize_t)sizeof msg, "read into served memory");
    CHECK(memcmp(m + 123, msg, sizeof msg) == 0, "read() data");
    CHECK(write(fds[1], m + len - 64, 64) == 64, "write from served memory");
    unsigned char back[64];
    CHECK(read(fds[0], back, 64) == 64 && memcmp(back, m + len - 64, 64) == 0, "write() data");
    close(fds[0]);
    close(fds[1]);
    free(m);
}

static void fork_children(void)
{
    size_t len = 8 * MiB;
    unsigned char *m = malloc(len);
    fill(m, len, 8);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/true", "true", (char *)NULL);
        _exit(99);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork + exec child");
    pid = fork();
    if (pid == 0) {
        /* Its own copy, as at the fork (tests/cli_fork.sh goes further). */
        int same = first_bad(m, len, 8) == SIZE_MAX;
        fill(m, len, 9);
        _exit(same && first_bad(m, len, 9) == SIZE_MAX ? 0 : 1);
    }
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "a child sees served memory as at the fork and writes its own copy (status 0x%x)", st);
    CHECK(first_bad(m, len, 8) == SIZE_MAX, "parent data after fork");
    free(m);
}

int main(void)
{
    malloc_family();
    mmap_family();
    replaced_ranges();
    unmap_while_faulting();
    syscalls_into_served_memory();
    fork_children();
    if (failures) {
        printf("mm_events: %d checks failed\n", failures);
        return 1;
    }
    printf("mm_events: all checks passed\n");
    return 0;
}
