/* A program with functions and data of its own named as the pager's
 * (public ones, tp_stack_open_file, tp_map, tp_region_bounds; internal ones,
 * tp_fatal, tp_evict_one; and tp_stack), linked with -rdynamic as programs
 * that host plugins are: they are in its dynamic symbol table, first in the
 * global lookup order. Under `tierpage run` with paging, the pager must
 * never call them, and the program's data must read back as written. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "program_checks.h"

/* The program's own: each counts its calls. The program calls each once;
 * a call from anywhere else shows in the count (or crashes the program, as
 * these do nothing the pager's do). */
static int own_calls;
int tp_stack = 42;

void *tp_stack_open_file(const char *path)
{
    (void)path;
    own_calls++;
    return NULL;
}

void *tp_map(void *stack, void *hint, size_t length, void *err)
{
    (void)stack, (void)hint, (void)length, (void)err;
    own_calls++;
    return NULL;
}

int tp_region_bounds(void *stack, const void *addr, void **start, size_t *length)
{
    (void)stack, (void)addr, (void)start, (void)length;
    own_calls++;
    return 7;
}

void tp_fatal(const char *fmt, ...)
{
    (void)fmt;
    own_calls++;
}

int tp_evict_one(void *stack, void *err)
{
    (void)stack, (void)err;
    own_calls++;
    return 7;
}

static uint64_t word(size_t i, uint64_t seed)
{
    uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed;
    x ^= x >> 31;
    return x * 0xBF58476D1CE4E5B9ull;
}

static void fill_words(uint64_t *p, size_t bytes, uint64_t seed)
{
    for (size_t i = 0; i < bytes / 8; i++)
        p[i] = word(i, seed);
}

static size_t bad_words(const uint64_t *p, size_t bytes, uint64_t seed)
{
    size_t bad = 0;
    for (size_t i = 0; i < bytes / 8; i++)
        bad += p[i] != word(i, seed);
    return bad;
}

int main(void)
{
    /* The names are the program's in the global scope: what a library
     * would bind to, were it to look them up there. */
    CHECK(dlsym(RTLD_DEFAULT, "tp_map") == (void *)tp_map, "tp_map is not the program's in the global scope");
    CHECK(dlsym(RTLD_DEFAULT, "tp_stack") == (void *)&tp_stack, "tp_stack is not the program's");

    CHECK(tp_stack_open_file("x") == NULL && tp_map(NULL, NULL, 0, NULL) == NULL &&
              tp_region_bounds(NULL, NULL, NULL, NULL) == 7 && tp_evict_one(NULL, NULL) == 7,
          "the program's own functions");
    tp_fatal("not fatal here");
    int expected_calls = 5;

    /* 24 MiB from malloc and 16 MiB from mmap over a 4 MiB resident cap:
     * both served, both paged out and back, twice. */
    size_t heap_bytes = 24 * MiB, map_bytes = 16 * MiB;
    uint64_t *heap = malloc(heap_bytes);
    uint64_t *map = mmap(NULL, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(heap != NULL && map != MAP_FAILED, "allocations");
    if (!heap || map == MAP_FAILED)
        return 1;
    for (uint64_t round = 1; round <= 2; round++) {
        fill_words(heap, heap_bytes, round);
        fill_words(map, map_bytes, round + 100);
        size_t bad = bad_words(heap, heap_bytes, round);
        CHECK(bad == 0, "round %llu: %zu words of the malloc'd block read back wrong", (unsigned long long)round,
              bad);
        bad = bad_words(map, map_bytes, round + 100);
        CHECK(bad == 0, "round %llu: %zu words of the mapping read back wrong", (unsigned long long)round, bad);
    }
    free(heap);
    munmap(map, map_bytes);

    CHECK(own_calls == expected_calls, "the program's tp_* functions were called %d times, by it %d times",
          own_calls, expected_calls);
    CHECK(tp_stack == 42, "the program's tp_stack changed to %d", tp_stack);
    if (failures)
        return 1;
    printf("own_tp_names: all checks passed\n");
    return 0;
}
