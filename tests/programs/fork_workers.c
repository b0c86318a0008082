/* Workers forked by a parent that serves nothing itself, as stress-ng's
 * are: each maps more than the resident cap, writes every 8-byte word,
 * checks every word twice (the second pass reads back what the first
 * evicted), and ends with _exit (odd workers) or exit (even ones). The
 * parent prints each worker's pid, for the test to find its stats.
 *
 *   fork_workers WORKERS MiB
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "program_checks.h"

static uint64_t word(unsigned seed, size_t i)
{
    uint64_t x = ((uint64_t)seed << 40) ^ (i * 0x9e3779b97f4a7c15ull);
    x ^= x >> 31;
    return x * 0xbf58476d1ce4e5b9ull;
}

/* 0 when every word of the worker's memory was as written, in both passes. */
static int work(unsigned seed, size_t bytes)
{
    uint64_t *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    size_t words = bytes / 8;
    for (size_t i = 0; i < words; i++)
        m[i] = word(seed, i);
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < words; i++)
            if (m[i] != word(seed, i)) {
                printf("FAIL worker %u: word %zu of %zu wrong in pass %d\n", seed, i, words, pass + 1);
                return 1;
            }
    munmap(m, bytes);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3 || atoi(argv[1]) < 1 || atoi(argv[2]) < 1) {
        fprintf(stderr, "usage: fork_workers WORKERS MiB\n");
        return 2;
    }
    int workers = atoi(argv[1]);
    size_t bytes = (size_t)atoi(argv[2]) * MiB;
    for (int w = 0; w < workers; w++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 2;
        }
        if (pid == 0) {
            int rc = work((unsigned)w + 1, bytes);
            fflush(stdout);
            if (w % 2)
                _exit(rc);
            exit(rc);
        }
        printf("worker %d: pid %ld\n", w, (long)pid);
        int st;
        CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "worker %d ended with status 0x%x", w, st);
    }
    if (failures)
        return 1;
    printf("fork_workers: all checks passed\n");
    return 0;
}
