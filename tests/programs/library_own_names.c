/* A program linked against libtierpage.so with -rdynamic that defines
 * functions of its own named as the library's: tp_unmap (public: the
 * library's tp_stack_close calls its own) and tp_fatal, tp_evict_one
 * (internal). Each stops the program when anything but the program calls
 * it. The library must keep to its own: it pages 16 MiB over a 64 KiB cap,
 * every byte read back, then closes the stack. */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "tierpage.h"

static int in_main_call;

static void not_mine(const char *name)
{
    if (in_main_call)
        return;
    fprintf(stderr, "library_own_names: the library called the program's %s\n", name);
    _exit(3);
}

int tp_unmap(tp_stack *stack, void *addr, size_t length, tierpage_error *err)
{
    (void)stack, (void)addr, (void)length, (void)err;
    not_mine("tp_unmap");
    return 7;
}

void tp_fatal(const char *fmt, ...)
{
    (void)fmt;
    not_mine("tp_fatal");
}

int tp_evict_one(void *stack, void *err)
{
    (void)stack, (void)err;
    not_mine("tp_evict_one");
    return 7;
}

static const char stack_yaml[] = "name: library-own-names\n"
                                 "resident: 64KiB\n"
                                 "tiers:\n"
                                 "  - plugin: dram\n"
                                 "    capacity: 32MiB\n";

int main(void)
{
    in_main_call = 1;
    int own = tp_unmap(NULL, NULL, 0, NULL) == 7 && tp_evict_one(NULL, NULL) == 7;
    tp_fatal("not fatal here");
    in_main_call = 0;
    if (!own) {
        fprintf(stderr, "library_own_names: the program's own functions\n");
        return 1;
    }

    tierpage_error err = {{0}, {0}};
    tp_stack *stack = tp_stack_open_string(stack_yaml, "library-own-names", &err);
    if (!stack) {
        fprintf(stderr, "library_own_names: %s\n", err.message);
        return 1;
    }
    size_t bytes = 16u << 20;
    uint64_t *mem = tp_map(stack, NULL, bytes, &err);
    if (!mem) {
        fprintf(stderr, "library_own_names: tp_map: %s\n", err.message);
        return 1;
    }
    for (size_t i = 0; i < bytes / 8; i++)
        mem[i] = (i + 1) * 0x9E3779B97F4A7C15ull;
    size_t bad = 0;
    for (size_t i = 0; i < bytes / 8; i++)
        bad += mem[i] != (i + 1) * 0x9E3779B97F4A7C15ull;
    struct tp_stats stats;
    tp_stack_stats(stack, &stats);
    tp_stack_close(stack); /* unmaps the region through the library's own tp_unmap */
    printf("library_own_names: %zu words differ, %llu evictions\n", bad, (unsigned long long)stats.evictions);
    return bad == 0 && stats.evictions > 1000 ? 0 : 1;
}
