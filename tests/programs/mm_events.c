/* Run under `tierpage run` with a small resident cap: exercises every way a
 * program can create, change and drop memory the shim serves, and checks
 * every byte. Prints one line per failed check; exits 0 when all pass. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096u
#define MiB (1024u * 1024u)

static int failures;

#define CHECK(cond, ...)                                                                                       \
    do {                                                                                                       \
        if (!(cond)) {                                                                                         \
            failures++;                                                                                        \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                       \
            printf(__VA_ARGS__);                                                                               \
            printf("\n");                                                                                      \
        }                                                                                                      \
    } while (0)

static void fill(unsigned char *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i += 64)
        p[i] = (unsigned char)(i / 64 * 31 + seed);
}

static size_t first_bad(const unsigned char *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i += 64)
        if (p[i] != (unsigned char)(i / 64 * 31 + seed))
            return i;
    return SIZE_MAX;
}

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
    strcpy((char *)small, "small");
    small = realloc(small, 3 * MiB); /* from glibc to served */
    CHECK(small && strcmp((char *)small, "small") == 0, "realloc small to large");
    free(small);

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
        volatile unsigned char c = m[12345]; /* not shared with children */
        (void)c;
        _exit(0);
    }
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 125,
          "a child touching served memory stops with status 125 (got 0x%x)", st);
    CHECK(first_bad(m, len, 8) == SIZE_MAX, "parent data after fork");
    free(m);
}

int main(void)
{
    malloc_family();
    mmap_family();
    syscalls_into_served_memory();
    fork_children();
    if (failures) {
        printf("mm_events: %d checks failed\n", failures);
        return 1;
    }
    printf("mm_events: all checks passed\n");
    return 0;
}
