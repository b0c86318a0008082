#include "core_fixture.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

tp_stack *open_stack(const char *yaml)
{
    tierpage_error err = {{0}, {0}};
    tp_stack *s = tp_stack_open_string(yaml, "test", &err);
    ck_assert_msg(s != NULL, "stack did not open: %s", err.message);
    return s;
}

static char path[128];

void remove_shm(void)
{
    if (path[0])
        unlink(path);
}

const char *shm_path(const char *tag)
{
    snprintf(path, sizeof path, "/dev/shm/tierpage-test-%s-%ld.pmem", tag, (long)getpid());
    unlink(path);
    return path;
}

tp_stack *open_two_tier(unsigned resident_kib, unsigned dram_kib, unsigned pmem_kib, const char *policy,
                        unsigned handler_threads)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "name: test\n"
             "resident: %uKiB\n"
             "policy: %s\n"
             "handler_threads: %u\n"
             "tiers:\n"
             "  - plugin: dram\n"
             "    capacity: %uKiB\n"
             "  - plugin: pmem\n"
             "    path: %s\n"
             "    capacity: %uKiB\n",
             resident_kib, policy, handler_threads, dram_kib, shm_path("two-tier"), pmem_kib);
    return open_stack(yaml);
}

void fill_page(void *mem, size_t i, uint32_t version)
{
    uint64_t *w = (uint64_t *)((char *)mem + i * PAGE);
    uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ version;
    for (size_t k = 0; k < PAGE / 8; k++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        w[k] = x;
    }
}

int page_matches(const void *mem, size_t i, uint32_t version)
{
    const uint64_t *w = (const uint64_t *)((const char *)mem + i * PAGE);
    uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ version;
    for (size_t k = 0; k < PAGE / 8; k++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (w[k] != x)
            return 0;
    }
    return 1;
}

struct tp_stats stats_of(tp_stack *s)
{
    struct tp_stats st;
    tp_stack_stats(s, &st);
    return st;
}

struct worker {
    char *mem;
    size_t first, count;
    uint32_t rounds;
    int ok;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    w->ok = 1;
    for (uint32_t r = 1; r <= w->rounds; r++) {
        for (size_t i = w->first; i < w->first + w->count; i++)
            fill_page(w->mem, i, r);
        for (size_t i = w->first; i < w->first + w->count; i++)
            if (!page_matches(w->mem, i, r))
                w->ok = 0;
    }
    return NULL;
}

void write_from_threads(char *mem, size_t pages, uint32_t rounds)
{
    struct worker w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){mem, (size_t)i * (pages / 4), pages / 4, rounds, 0};
        pthread_create(&t[i], NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ck_assert_msg(w[i].ok, "thread %d read wrong data", i);
    }
}
