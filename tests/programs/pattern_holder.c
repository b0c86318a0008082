/* Holds SIZE bytes of served memory with a pattern that names every word
 * of every page (the page's index, the word's offset and a seed), and acts on commands read from stdin, one per
 * line, answering each on stdout:
 *   fill SEED   write the pattern of SEED           -> "filled"
 *   verify      check every page                    -> "ok" or "bad PAGE"
 *   dontneed    madvise(MADV_DONTNEED) the first half, which must then read
 *               as zeros; the second half is refilled and left   -> "ok"/"bad"
 *   exit
 * It prints "ready PID" first, so that a test can drive it (and kill it)
 * while tierpaged serves it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096u

static unsigned char *mem;
static size_t pages;
static unsigned seed;

static uint64_t tag(size_t page)
{
    return (uint64_t)seed << 32 | page;
}

/* Every 8-byte word of a page holds its own value. */
static void fill_pages(size_t first, size_t count)
{
    for (size_t p = first; p < first + count; p++) {
        unsigned char *pg = mem + p * PAGE;
        for (size_t off = 0; off < PAGE; off += 8) {
            uint64_t t = tag(p) ^ (uint64_t)off << 48;
            memcpy(pg + off, &t, sizeof t);
        }
    }
}

/* The first page in [first, first+count) that is not as filled (or, with
 * zeros, not all zero); SIZE_MAX when none. */
static size_t first_bad(size_t first, size_t count, int zeros)
{
    for (size_t p = first; p < first + count; p++) {
        const unsigned char *pg = mem + p * PAGE;
        uint64_t got;
        for (size_t off = 0; off < PAGE; off += 8) {
            uint64_t want = zeros ? 0 : tag(p) ^ (uint64_t)off << 48;
            memcpy(&got, pg + off, sizeof got);
            if (got != want)
                return p;
        }
    }
    return SIZE_MAX;
}

static void answer(size_t bad)
{
    if (bad == SIZE_MAX)
        printf("ok\n");
    else
        printf("bad %zu\n", bad);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: pattern_holder MiB\n");
        return 2;
    }
    pages = (size_t)atol(argv[1]) * 256;
    mem = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    seed = 1;
    fill_pages(0, pages);
    printf("ready %ld\n", (long)getpid());
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        if (strncmp(line, "fill ", 5) == 0) {
            seed = (unsigned)atoi(line + 5);
            fill_pages(0, pages);
            printf("filled\n");
        } else if (strcmp(line, "verify\n") == 0) {
            answer(first_bad(0, pages, 0));
        } else if (strcmp(line, "dontneed\n") == 0) {
            size_t half = pages / 2;
            if (madvise(mem, half * PAGE, MADV_DONTNEED) < 0) {
                perror("madvise");
                return 1;
            }
            size_t bad = first_bad(0, half, 1);
            fill_pages(0, half);
            answer(bad != SIZE_MAX ? bad : first_bad(0, pages, 0));
        } else if (strcmp(line, "exit\n") == 0) {
            return 0;
        } else {
            printf("unknown command\n");
        }
    }
    return 0;
}
