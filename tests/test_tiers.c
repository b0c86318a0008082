/* Tests of the plugin loader and the conformance kit; main() of test_tiers. */
#include "test_tiers.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conformance.h"
#include "loader.h"

/* ---------------------------------------------------------------- helpers */

const char *tt_build_dir(void)
{
    const char *dir = getenv("TIERPAGE_BUILD_DIR");
    return dir && dir[0] ? dir : TT_BUILD_DIR;
}

void tt_plugin_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/lib/tierpage/tierpage-%s.so", tt_build_dir(), name);
}

void tt_fixture_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/tests/fixtures/%s.so", tt_build_dir(), name);
}

void tt_make_temp_dir(char *buf, size_t len)
{
    snprintf(buf, len, "%s/tierpage-tiers-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(buf));
}

void tt_remove_temp_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

void tt_fill_page(void *page, size_t size, uint64_t key, uint64_t generation)
{
    uint64_t *words = page;
    for (size_t i = 0; i < size / 8; i++)
        words[i] = key * 1000003u + generation * 7919u + i;
}

int tt_page_is(const void *page, size_t size, uint64_t key, uint64_t generation)
{
    const uint64_t *words = page;
    for (size_t i = 0; i < size / 8; i++)
        if (words[i] != key * 1000003u + generation * 7919u + i)
            return 0;
    return 1;
}

/* Loads a fixture expecting refusal; returns the message. */
static const char *refusal(const char *fixture, int expect_rc)
{
    static tierpage_error err;
    char path[4096];
    struct tp_plugin plugin;
    tt_fixture_path(path, sizeof path, fixture);
    memset(&err, 0, sizeof err);
    int rc = tp_plugin_load(path, &plugin, &err);
    ck_assert_int_eq(rc, expect_rc);
    ck_assert_ptr_nonnull(strstr(err.message, path)); /* names the file */
    return err.message;
}

/* ----------------------------------------------------------------- loader */

START_TEST(test_load_by_name_from_env_path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "/nonexistent-tierpage-dir::%s/lib/tierpage", tt_build_dir());
    setenv("TIERPAGE_PLUGIN_PATH", dir, 1);
    struct tp_plugin plugin;
    tierpage_error err = { { 0 }, { 0 } };
    ck_assert_int_eq(tp_plugin_load("dram", &plugin, &err), 0);
    ck_assert_str_eq(plugin.ops->name, "dram");
    ck_assert_uint_eq(plugin.ops->abi_version, TIERPAGE_STORE_ABI_VERSION);
    ck_assert_ptr_nonnull(strstr(plugin.path, "/lib/tierpage/tierpage-dram.so"));
    tp_plugin_unload(&plugin);
    ck_assert_ptr_null(plugin.ops);
}
END_TEST

START_TEST(test_load_by_name_from_default_dir)
{
    unsetenv("TIERPAGE_PLUGIN_PATH");
    char dir[4096];
    ck_assert_int_eq(tp_plugin_default_dir(dir, sizeof dir), 0);
    size_t len = strlen(dir);
    ck_assert_uint_ge(len, strlen("/lib/tierpage"));
    ck_assert_str_eq(dir + len - strlen("/lib/tierpage"), "/lib/tierpage");

    struct tp_plugin plugin;
    tierpage_error err = { { 0 }, { 0 } };
    ck_assert_msg(tp_plugin_load("pmem", &plugin, &err) == 0, "%s", err.message);
    ck_assert_str_eq(plugin.ops->name, "pmem");
    ck_assert(plugin.ops->flags & TIERPAGE_STORE_PERSISTENT);
    tp_plugin_unload(&plugin);
}
END_TEST

START_TEST(test_refuses_unknown_name_listing_dirs)
{
    setenv("TIERPAGE_PLUGIN_PATH", "/nonexistent-a:/nonexistent-b", 1);
    struct tp_plugin plugin;
    tierpage_error err = { { 0 }, { 0 } };
    ck_assert_int_eq(tp_plugin_load("nosuch", &plugin, &err), -ENOENT);
    ck_assert_ptr_nonnull(strstr(err.message, "tierpage-nosuch.so not found"));
    ck_assert_ptr_nonnull(strstr(err.message, "/nonexistent-a, /nonexistent-b, "));
    ck_assert_ptr_nonnull(strstr(err.message, "/lib/tierpage"));
}
END_TEST

START_TEST(test_refuses_missing_path)
{
    struct tp_plugin plugin;
    tierpage_error err = { { 0 }, { 0 } };
    ck_assert_int_eq(tp_plugin_load("/nonexistent/store.so", &plugin, &err), -ENOENT);
    ck_assert_str_eq(err.message, "plugin /nonexistent/store.so: file not found");
}
END_TEST

START_TEST(test_refuses_file_dlopen_cannot_load)
{
    char dir[4096], path[4200];
    tt_make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/garbage.so", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("this is not an ELF object\n", f);
    fclose(f);
    struct tp_plugin plugin;
    tierpage_error err = { { 0 }, { 0 } };
    int rc = tp_plugin_load(path, &plugin, &err);
    tt_remove_temp_dir(dir);
    ck_assert_int_lt(rc, 0);
    ck_assert_ptr_nonnull(strstr(err.message, path));
    ck_assert_ptr_nonnull(strstr(err.message, "cannot load"));
}
END_TEST

START_TEST(test_refuses_missing_entry_symbol)
{
    const char *msg = refusal("bad-no-symbol", -ENOEXEC);
    ck_assert_ptr_nonnull(strstr(msg, "no entry symbol 'tierpage_store_entry'"));
}
END_TEST

START_TEST(test_refuses_null_table)
{
    const char *msg = refusal("bad-null-table", -ENOEXEC);
    ck_assert_ptr_nonnull(strstr(msg, "tierpage_store_entry() returned NULL"));
}
END_TEST

START_TEST(test_refuses_other_abi_version)
{
    const char *msg = refusal("bad-abi-next", -EPROTO);
    char want[64];
    snprintf(want, sizeof want, "built for ABI %u, this tierpage speaks ABI %u to %u", TIERPAGE_STORE_ABI_VERSION + 1,
             TIERPAGE_STORE_ABI_OLDEST, TIERPAGE_STORE_ABI_VERSION);
    ck_assert_msg(strstr(msg, want), "'%s' lacks '%s'", msg, want);
}
END_TEST

START_TEST(test_refuses_short_table)
{
    const char *msg = refusal("bad-small", -EPROTO);
    ck_assert_ptr_nonnull(strstr(msg, "operations table is 16 bytes, smaller than"));
}
END_TEST

START_TEST(test_refuses_missing_mandatory_op)
{
    const char *msg = refusal("bad-no-get", -ENOEXEC);
    ck_assert_ptr_nonnull(strstr(msg, "mandatory operation 'get' is missing"));
}
END_TEST

START_TEST(test_older_table_hides_fields_past_its_size)
{
    char path[4096];
    tt_fixture_path(path, sizeof path, "bad-old-header");
    struct tp_plugin plugin;
    tierpage_error err = { { 0 }, { 0 } };
    ck_assert_msg(tp_plugin_load(path, &plugin, &err) == 0, "%s", err.message);
    ck_assert_ptr_nonnull(plugin.ops->get);
    ck_assert_ptr_null(plugin.ops->get_batch); /* the fixture sets it past struct_size */
    ck_assert_ptr_null(plugin.ops->put_batch);
    tp_plugin_unload(&plugin);
}
END_TEST

Suite *tt_loader_suite(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("load");
    tcase_add_test(tc, test_load_by_name_from_env_path);
    tcase_add_test(tc, test_load_by_name_from_default_dir);
    tcase_add_test(tc, test_refuses_unknown_name_listing_dirs);
    tcase_add_test(tc, test_refuses_missing_path);
    tcase_add_test(tc, test_refuses_file_dlopen_cannot_load);
    tcase_add_test(tc, test_refuses_missing_entry_symbol);
    tcase_add_test(tc, test_refuses_null_table);
    tcase_add_test(tc, test_refuses_other_abi_version);
    tcase_add_test(tc, test_refuses_short_table);
    tcase_add_test(tc, test_refuses_missing_mandatory_op);
    tcase_add_test(tc, test_older_table_hides_fields_past_its_size);
    suite_add_tcase(s, tc);
    return s;
}

/* ------------------------------------------------------- conformance kit */

static int run_kit(int argc, const char **argv)
{
    fflush(stdout);
    return tp_cmd_plugin_test(argc, (char **)argv);
}

START_TEST(test_kit_passes_dram)
{
    unsetenv("TIERPAGE_PLUGIN_PATH");
    const char *argv[] = { "plugin-test", "dram", "--option", "capacity=16MiB" };
    ck_assert_int_eq(run_kit(4, argv), 0);
}
END_TEST

START_TEST(test_kit_passes_pmem)
{
    char dir[4096], opt[4200];
    tt_make_temp_dir(dir, sizeof dir);
    snprintf(opt, sizeof opt, "path=%s/kit.pmem", dir);
    char plugin[4096];
    tt_plugin_path(plugin, sizeof plugin, "pmem");
    const char *argv[] = { "plugin-test", plugin, "--option", opt, "--option=capacity=4MiB",
                           "--namespace", "conformance" };
    int rc = run_kit(7, argv);
    tt_remove_temp_dir(dir);
    ck_assert_int_eq(rc, 0);
}
END_TEST

START_TEST(test_kit_passes_example_store)
{
    char plugin[4096];
    tt_fixture_path(plugin, sizeof plugin, "example");
    const char *bounded[] = { "plugin-test", plugin, "--option", "capacity=1MiB" };
    ck_assert_int_eq(run_kit(4, bounded), 0);
    const char *unbounded[] = { "plugin-test", plugin, "--option", "capacity=0", "--page-size", "8KiB" };
    ck_assert_int_eq(run_kit(6, unbounded), 0);
}
END_TEST

/* Stores built against the ABI 1 header, before the host services, and
 * the ABI 2 header, before usage's under_replicated_pages: each loads, and
 * passes the kit, as it did then. */
START_TEST(test_kit_passes_an_older_abi_store)
{
    char plugin[4096], name[32];
    unsigned abi = (unsigned)_i;
    snprintf(name, sizeof name, "example-abi%u", abi);
    tt_fixture_path(plugin, sizeof plugin, name);
    struct tp_plugin loaded;
    tierpage_error err = { { 0 }, { 0 } };
    ck_assert_msg(tp_plugin_load(plugin, &loaded, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(loaded.ops->abi_version, abi); /* really built against the old header */
    tp_plugin_unload(&loaded);
    const char *bounded[] = { "plugin-test", plugin, "--option", "capacity=1MiB" };
    ck_assert_int_eq(run_kit(4, bounded), 0);
    const char *unbounded[] = { "plugin-test", plugin, "--option", "capacity=0", "--page-size", "8KiB" };
    ck_assert_int_eq(run_kit(6, unbounded), 0);
}
END_TEST

START_TEST(test_kit_fails_a_store_that_forgets)
{
    char plugin[4096];
    tt_fixture_path(plugin, sizeof plugin, "bad-forgetful");
    const char *argv[] = { "plugin-test", plugin };
    ck_assert_int_eq(run_kit(2, argv), 1);
}
END_TEST

START_TEST(test_kit_fails_a_plugin_the_loader_refuses)
{
    char plugin[4096];
    tt_fixture_path(plugin, sizeof plugin, "bad-abi-next");
    const char *argv[] = { "plugin-test", plugin };
    ck_assert_int_eq(run_kit(2, argv), 1);
    const char *missing[] = { "plugin-test", "/nonexistent/store.so" };
    ck_assert_int_eq(run_kit(2, missing), 1);
}
END_TEST

START_TEST(test_kit_usage_errors)
{
    const char *unknown[] = { "plugin-test", "dram", "--frobnicate" };
    ck_assert_int_eq(run_kit(3, unknown), 2);
    const char *none[] = { "plugin-test" };
    ck_assert_int_eq(run_kit(1, none), 2);
    const char *no_eq[] = { "plugin-test", "dram", "--option", "capacity" };
    ck_assert_int_eq(run_kit(4, no_eq), 2);
    const char *bad_size[] = { "plugin-test", "dram", "--option", "capacity=lots" };
    ck_assert_int_eq(run_kit(4, bad_size), 2);
    const char *no_value[] = { "plugin-test", "dram", "--namespace" };
    ck_assert_int_eq(run_kit(3, no_value), 2);
    const char *two[] = { "plugin-test", "dram", "pmem" };
    ck_assert_int_eq(run_kit(3, two), 2);
    const char *help[] = { "plugin-test", "--help" };
    ck_assert_int_eq(run_kit(2, help), 0);
}
END_TEST

START_TEST(test_kit_reports_a_store_refusing_its_options)
{
    /* dram takes no option but capacity: open fails, and so does the run. */
    unsetenv("TIERPAGE_PLUGIN_PATH");
    const char *argv[] = { "plugin-test", "dram", "--option", "colour=blue" };
    ck_assert_int_eq(run_kit(4, argv), 1);
}
END_TEST

Suite *tt_conformance_suite(void)
{
    Suite *s = suite_create("conformance");
    TCase *tc = tcase_create("plugin-test");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_kit_passes_dram);
    tcase_add_test(tc, test_kit_passes_pmem);
    tcase_add_test(tc, test_kit_passes_example_store);
    tcase_add_loop_test(tc, test_kit_passes_an_older_abi_store, 1, 3);
    tcase_add_test(tc, test_kit_fails_a_store_that_forgets);
    tcase_add_test(tc, test_kit_fails_a_plugin_the_loader_refuses);
    tcase_add_test(tc, test_kit_usage_errors);
    tcase_add_test(tc, test_kit_reports_a_store_refusing_its_options);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tt_loader_suite());
    srunner_add_suite(sr, tt_conformance_suite());
    srunner_add_suite(sr, tt_dram_suite());
    srunner_add_suite(sr, tt_pmem_suite());
    srunner_add_suite(sr, tt_host_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
