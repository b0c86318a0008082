/* The pager's threads carry names (`top -H`, `ps -L`): one tp-fault/N for
 * each fault handler and a tp-evictor; the program's own threads keep
 * theirs. Pages still read back as written. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "core_fixture.h"

enum { PAGES = 64 };

static const char *stack_yaml = "name: thread-names\n"
                                "resident: 64KiB\n"
                                "handler_threads: 2\n"
                                "tiers:\n"
                                "  - plugin: dram\n"
                                "    capacity: 1MiB\n";

/* How many of this process's threads are named `name`. */
static int threads_named(const char *name)
{
    DIR *d = opendir("/proc/self/task");
    ck_assert_msg(d != NULL, "cannot list /proc/self/task");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* the thread left meanwhile */
        if (fgets(comm, sizeof comm, f))
            comm[strcspn(comm, "\n")] = '\0';
        fclose(f);
        n += strcmp(comm, name) == 0;
    }
    closedir(d);
    return n;
}

START_TEST(pager_threads_are_named)
{
    ck_assert_int_eq(prctl(PR_SET_NAME, "names-program"), 0);
    tp_stack *s = open_stack(stack_yaml);
    tierpage_error err = {{0}, {0}};
    char *m = tp_map(s, NULL, PAGES * PAGE, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    for (size_t i = 0; i < PAGES; i++)
        fill_page(m, i, 1);
    ck_assert_int_eq(threads_named("tp-fault/0"), 1);
    ck_assert_int_eq(threads_named("tp-fault/1"), 1);
    ck_assert_int_eq(threads_named("tp-evictor"), 1);
    ck_assert_int_eq(threads_named("names-program"), 1);
    for (size_t i = 0; i < PAGES; i++)
        ck_assert_msg(page_matches(m, i, 1), "page %zu", i);
    tp_stack_close(s);
    ck_assert_int_eq(threads_named("tp-fault/0"), 0);
    ck_assert_int_eq(threads_named("tp-evictor"), 0);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("core thread names");
    TCase *tc = tcase_create("names");
    tcase_add_test(tc, pager_threads_are_named);
    suite_add_tcase(suite, tc);
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
