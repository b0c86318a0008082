/* A program built against an installed libtierpage with nothing but
 * `pkg-config --cflags --libs tierpage`: opens a stack with a dram tier and
 * a resident cap of 16 pages, writes 256 pages so that most of them are
 * evicted, and reads every byte back. Exits 0 when all match. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <tierpage.h>

#define PAGES 256

static const char stack_yaml[] = "name: library-client\n"
                                 "resident: 64KiB\n"
                                 "tiers:\n"
                                 "  - plugin: dram\n"
                                 "    capacity: 4MiB\n";

int main(void)
{
    tierpage_error err = { { 0 }, { 0 } };
    tp_stack *stack = tp_stack_open_string(stack_yaml, "library-client", &err);
    if (!stack) {
        fprintf(stderr, "library-client: %s\n", err.message);
        return 1;
    }
    size_t page = tp_page_size(stack);
    unsigned char *mem = tp_map(stack, NULL, PAGES * page, &err);
    if (!mem) {
        fprintf(stderr, "library-client: tp_map: %s\n", err.message);
        tp_stack_close(stack);
        return 1;
    }
    for (size_t i = 0; i < PAGES * page; i++)
        mem[i] = (unsigned char)(i * 7 + i / page);
    size_t bad = 0;
    for (size_t i = 0; i < PAGES * page; i++)
        bad += mem[i] != (unsigned char)(i * 7 + i / page);
    struct tp_stats stats;
    tp_stack_stats(stack, &stats);
    tp_stack_close(stack);
    printf("library-client: %zu bytes differ, %llu evictions\n", bad, (unsigned long long)stats.evictions);
    return bad == 0 && stats.evictions > 0 ? 0 : 1;
}
