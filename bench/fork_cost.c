/* The cost of fork() in a process with a large private anonymous mapping,
 * and of the first writes after it, in the parent and in the child. A
 * plain program that does not link tierpage: the same binary runs alone
 * and under `tierpage run` (bench/RESULTS.md, "fork").
 *
 *   tierpage-fork-cost [--size SIZE_MiB] [--writes PAGES] [--rounds N]
 *
 * Each round: the PAGES pages (spread over the mapping) that are written
 * after the fork are read, so that they are in memory at the fork; fork
 * (timed in the parent, until fork() returns); the child writes one byte
 * into each of them and reports its time through a pipe, exits, and the
 * parent does the same writes (each side's first writes after the fork). Medians over the
 * rounds are printed, one line each. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double median_ms(uint64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, by_value);
    return (n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2) / 1e6;
}

/* Read each of the pages first_writes() writes, so that they are in
 * memory (and, under tierpage, resident) at the fork. */
static void warm(const unsigned char *m, size_t pages, size_t writes)
{
    size_t stride = pages / writes ? pages / writes : 1;
    unsigned sum = 0;
    for (size_t i = 0; i < writes; i++)
        sum += ((const volatile unsigned char *)m)[(i * stride % pages) * PAGE + 8];
    (void)sum;
}

/* One byte into each of `writes` pages spread evenly over the mapping. */
static uint64_t first_writes(unsigned char *m, size_t pages, size_t writes, unsigned char value)
{
    size_t stride = pages / writes ? pages / writes : 1;
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < writes; i++)
        m[(i * stride % pages) * PAGE + 8] = value;
    return now_ns() - t0;
}

int main(int argc, char **argv)
{
    size_t size_mib = 1024, writes = 16384;
    int rounds = 7;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
            size_mib = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--writes") == 0 && i + 1 < argc)
            writes = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: tierpage-fork-cost [--size MiB] [--writes PAGES] [--rounds N]\n");
            return 2;
        }
    }
    if (size_mib == 0 || writes == 0 || rounds < 1 || rounds > 100) {
        fprintf(stderr, "tierpage-fork-cost: --size and --writes must be above 0, --rounds 1 to 100\n");
        return 2;
    }
    size_t len = size_mib << 20, pages = len / PAGE;
    if (writes > pages)
        writes = pages;
    unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    for (size_t p = 0; p < pages; p++)
        memset(m + p * PAGE, (int)(p * 31 + 7), PAGE);

    uint64_t fork_ns[100], child_ns[100], parent_ns[100];
    for (int r = 0; r < rounds; r++) {
        int fds[2];
        if (pipe(fds) < 0) {
            perror("pipe");
            return 1;
        }
        warm(m, pages, writes);
        uint64_t t0 = now_ns();
        pid_t pid = fork();
        if (pid == 0) {
            uint64_t t = first_writes(m, pages, writes, (unsigned char)(r + 1));
            _exit(write(fds[1], &t, sizeof t) == sizeof t ? 0 : 1);
        }
        fork_ns[r] = now_ns() - t0;
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        close(fds[1]);
        int st = -1;
        if (read(fds[0], &child_ns[r], sizeof child_ns[r]) != sizeof child_ns[r] || waitpid(pid, &st, 0) != pid ||
            !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "tierpage-fork-cost: the child failed (status 0x%x)\n", st);
            return 1;
        }
        close(fds[0]);
        parent_ns[r] = first_writes(m, pages, writes, (unsigned char)(r + 101));
    }
    /* The data must still be the parent's: what the last round wrote. */
    size_t stride = pages / writes ? pages / writes : 1;
    for (size_t i = 0; i < writes; i++) {
        size_t p = i * stride % pages;
        if (m[p * PAGE + 8] != (unsigned char)(rounds + 100) || m[p * PAGE] != (unsigned char)(p * 31 + 7)) {
            fprintf(stderr, "tierpage-fork-cost: page %zu is wrong after the rounds\n", p);
            return 1;
        }
    }
    printf("size %zu MiB, %zu first writes a side, %d rounds (medians)\n", size_mib, writes, rounds);
    printf("fork_ms %.3f\n", median_ms(fork_ns, rounds));
    printf("child_first_writes_ms %.3f\n", median_ms(child_ns, rounds));
    printf("parent_first_writes_ms %.3f\n", median_ms(parent_ns, rounds));
    return 0;
}
