/* Helpers for tests that drive the pager through the library API. */
#ifndef TIERPAGE_TEST_CORE_FIXTURE_H
#define TIERPAGE_TEST_CORE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "tierpage.h"

#define PAGE 4096u

/* Open a stack from YAML text; on failure, fail the test with the message. */
tp_stack *open_stack(const char *yaml);
/* A dram -> pmem stack with these sizes in KiB; pmem on /dev/shm. */
tp_stack *open_two_tier(unsigned resident_kib, unsigned dram_kib, unsigned pmem_kib, const char *policy,
                        unsigned handler_threads);
/* Fill page i of mem with a pattern derived from (i, version). */
void fill_page(void *mem, size_t i, uint32_t version);
/* 1 when page i holds the pattern of (i, version). */
int page_matches(const void *mem, size_t i, uint32_t version);
struct tp_stats stats_of(tp_stack *s);
/* Four threads, each on its own quarter of the pages, write every page
 * and read it back, `rounds` times; fails the test on wrong data. */
void write_from_threads(char *mem, size_t pages, uint32_t rounds);
/* A unique path under /dev/shm for this test process. */
const char *shm_path(const char *tag);
/* Remove the file shm_path last named. */
void remove_shm(void);

#endif
