/* Shared helpers of the tiers tests (loader, conformance kit, dram, pmem). */
#ifndef TIERPAGE_TEST_TIERS_H
#define TIERPAGE_TEST_TIERS_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

/* The build tree: $TIERPAGE_BUILD_DIR, or the one these tests were built in. */
const char *tt_build_dir(void);
/* build/lib/tierpage/tierpage-NAME.so */
void tt_plugin_path(char *buf, size_t len, const char *name);
/* build/tests/fixtures/NAME.so */
void tt_fixture_path(char *buf, size_t len, const char *name);
/* A fresh empty directory (on /dev/shm when there is one), and its removal. */
void tt_make_temp_dir(char *buf, size_t len);
void tt_remove_temp_dir(const char *dir);

/* The page of `key` at `generation`, as the tests fill and check it. */
void tt_fill_page(void *page, size_t size, uint64_t key, uint64_t generation);
int tt_page_is(const void *page, size_t size, uint64_t key, uint64_t generation);

Suite *tt_loader_suite(void);
Suite *tt_conformance_suite(void);
Suite *tt_dram_suite(void);
Suite *tt_pmem_suite(void);
Suite *tt_host_suite(void);

#endif
