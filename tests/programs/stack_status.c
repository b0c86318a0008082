/* A program that holds a stack open and answers commands on stdin, one a
 * line, so that a test can act on the stores (kill a server, restart it)
 * between them and read the stack's stats while it runs:
 *   write V       write version V into every page
 *   verify V      read every page, compare with version V
 *   count TIER    the tier's under_replicated_pages now
 *   refilled TIER the same, once it is 0 or 30 s have passed
 *   quit
 * Each answer is one line "N: ...", N counting the commands from 1.
 * usage: stack_status STACK_FILE PAGES */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tierpage.h"

static uint64_t word(size_t page, size_t i, unsigned version)
{
    return (page + 1) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)version << 40) ^ i;
}

static int tier_index(const struct tp_stats *st, const char *name)
{
    for (size_t i = 0; i < st->tier_count; i++)
        if (strcmp(st->tiers[i].name, name) == 0)
            return (int)i;
    return -1;
}

static long long under_replicated(tp_stack *stack, const char *tier)
{
    struct tp_stats st;
    tp_stack_stats(stack, &st);
    int t = tier_index(&st, tier);
    return t < 0 ? -1 : (long long)st.tiers[t].under_replicated_pages;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: stack_status STACK_FILE PAGES\n");
        return 2;
    }
    tierpage_error err = {{0}, {0}};
    tp_stack *stack = tp_stack_open_file(argv[1], &err);
    if (!stack) {
        fprintf(stderr, "stack_status: %s\n", err.message);
        return 2;
    }
    size_t pages = strtoull(argv[2], NULL, 10), page = tp_page_size(stack), words = page / 8;
    uint64_t *mem = tp_map(stack, NULL, pages * page, &err);
    if (!mem) {
        fprintf(stderr, "stack_status: tp_map: %s\n", err.message);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    char line[256], arg[128];
    unsigned version;
    for (unsigned n = 1; fgets(line, sizeof line, stdin); n++) {
        if (sscanf(line, "write %u", &version) == 1) {
            for (size_t p = 0; p < pages; p++)
                for (size_t i = 0; i < words; i++)
                    mem[p * words + i] = word(p, i, version);
            printf("%u: written %u\n", n, version);
        } else if (sscanf(line, "verify %u", &version) == 1) {
            size_t bad = 0;
            for (size_t p = 0; p < pages; p++)
                for (size_t i = 0; i < words; i++)
                    bad += mem[p * words + i] != word(p, i, version);
            printf("%u: %s\n", n, bad ? "wrong" : "verified");
        } else if (sscanf(line, "count %127s", arg) == 1) {
            printf("%u: %lld\n", n, under_replicated(stack, arg));
        } else if (sscanf(line, "refilled %127s", arg) == 1) {
            long long count = under_replicated(stack, arg);
            for (int tries = 0; count > 0 && tries < 300; tries++) {
                nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
                count = under_replicated(stack, arg);
            }
            printf("%u: %lld\n", n, count);
        } else if (strncmp(line, "quit", 4) == 0) {
            break;
        } else {
            printf("%u: unknown command\n", n);
        }
    }
    tp_unmap(stack, mem, pages * page, &err);
    tp_stack_close(stack);
    return 0;
}
