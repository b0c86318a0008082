/* The pager's threads carry names (`top -H`, `ps -L`): one tp-fault/N for
 * each fault handler and a tp-evictor; the program's own threads keep
 * theirs. The evictor runs at nice 19 unless `evictor_priority: normal`.
 * Pages still read back as written. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "core_fixture.h"

enum { PAGES = 64 };

static const char *stack_yaml = "name: thread-names\n"
                                "resident: 64KiB\n"
                                "handler_threads: 2\n"
                                "tiers:\n"
                                "  - plugin: dram\n"
                                "    capacity: 1MiB\n";

/* How many of this process's threads are named `name`, from each
 * thread's stat; *nice is the nice value of one of them (field 19,
 * counted after the parenthesised name), -100 when none is. */
static int threads_named_nice(const char *name, int *nice)
{
    DIR *d = opendir("/proc/self/task");
    ck_assert_msg(d != NULL, "cannot list /proc/self/task");
    int n = 0;
    *nice = -100;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], stat[1024] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* the thread left meanwhile */
        size_t got = fread(stat, 1, sizeof stat - 1, f);
        fclose(f);
        stat[got] = '\0';
        char *open = strchr(stat, '('), *close = strrchr(stat, ')');
        if (!open || !close || (size_t)(close - open - 1) != strlen(name) || strncmp(open + 1, name, strlen(name)) != 0)
            continue;
        n++;
        /* Field 3 (the state) starts two characters after the name. */
        const char *field = close + 2;
        for (int k = 3; k < 19 && field; k++) {
            field = strchr(field, ' ');
            if (field)
                field++;
        }
        ck_assert_msg(field != NULL, "cannot read %s", path);
        *nice = atoi(field);
    }
    closedir(d);
    return n;
}

static int threads_named(const char *name)
{
    int nice;
    return threads_named_nice(name, &nice);
}

/* The pager's threads name themselves, and the evictor sets its nice
 * value, as they start: on a busy machine that may come after the stack's
 * open returned. So the checks give them up to 10 s to show `want`. */
static int threads_named_soon(const char *name, int want)
{
    int n = threads_named(name);
    for (int i = 0; i < 1000 && n != want; i++) {
        usleep(10000);
        n = threads_named(name);
    }
    return n;
}

static int nice_soon(const char *name, int want)
{
    int nice;
    threads_named_nice(name, &nice);
    for (int i = 0; i < 1000 && nice != want; i++) {
        usleep(10000);
        threads_named_nice(name, &nice);
    }
    return nice;
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
    ck_assert_int_eq(threads_named_soon("tp-fault/0", 1), 1);
    ck_assert_int_eq(threads_named_soon("tp-fault/1", 1), 1);
    ck_assert_int_eq(threads_named_soon("tp-evictor", 1), 1);
    ck_assert_int_eq(threads_named("names-program"), 1);
    ck_assert_int_eq(nice_soon("tp-evictor", 19), 19);
    ck_assert_int_eq(nice_soon("names-program", 0), 0);
    for (size_t i = 0; i < PAGES; i++)
        ck_assert_msg(page_matches(m, i, 1), "page %zu", i);
    tp_stack_close(s);
    ck_assert_int_eq(threads_named("tp-fault/0"), 0);
    ck_assert_int_eq(threads_named("tp-evictor"), 0);
}
END_TEST

START_TEST(evictor_priority_normal_keeps_the_programs)
{
    tp_stack *s = open_stack("name: evictor-normal\n"
                             "resident: 64KiB\n"
                             "evictor_priority: normal\n"
                             "tiers:\n"
                             "  - plugin: dram\n"
                             "    capacity: 1MiB\n");
    tierpage_error err = {{0}, {0}};
    char *m = tp_map(s, NULL, PAGES * PAGE, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    for (size_t i = 0; i < PAGES; i++)
        fill_page(m, i, 2);
    ck_assert_int_eq(nice_soon("tp-evictor", 0), 0);
    for (size_t i = 0; i < PAGES; i++)
        ck_assert_msg(page_matches(m, i, 2), "page %zu", i);
    tp_stack_close(s);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("core thread names");
    TCase *tc = tcase_create("names");
    tcase_add_test(tc, pager_threads_are_named);
    tcase_add_test(tc, evictor_priority_normal_keeps_the_programs);
    suite_add_tcase(suite, tc);
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
