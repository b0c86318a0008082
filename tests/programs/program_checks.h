/* Shared by the programs the tests run under `tierpage run`: a counted
 * check that prints what failed, and a byte pattern to fill and verify
 * memory with (one byte in 64, enough to see a lost or stale page). */
#ifndef TIERPAGE_PROGRAM_CHECKS_H
#define TIERPAGE_PROGRAM_CHECKS_H

#include <stdint.h>
#include <stdio.h>

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

static inline void fill(unsigned char *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i += 64)
        p[i] = (unsigned char)(i / 64 * 31 + seed);
}

/* Offset of the first byte not as fill() left it; SIZE_MAX when none. */
static inline size_t first_bad(const unsigned char *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i += 64)
        if (p[i] != (unsigned char)(i / 64 * 31 + seed))
            return i;
    return SIZE_MAX;
}

static inline int intact(const unsigned char *p, size_t len, unsigned seed)
{
    return first_bad(p, len, seed) == SIZE_MAX;
}

#endif
