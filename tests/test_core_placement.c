/* With `handler_threads: auto`, only the handlers on the CPUs the program
 * faults from read the userfaultfd; the rest park, and the stack still
 * closes. Every page reads back as written while the readers move. */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core_fixture.h"
#include "stack_internal.h"

enum { PAGES = 256 };

static const char *auto_stack = "name: placement\n"
                                "resident: 64KiB\n"
                                "tiers:\n"
                                "  - plugin: dram\n"
                                "    capacity: 4MiB\n";

static uint64_t readers(tp_stack *s)
{
    pthread_mutex_lock(&s->placement.lock);
    uint64_t r = s->placement.reading;
    pthread_mutex_unlock(&s->placement.lock);
    return r;
}

static uint64_t handler_on(tp_stack *s, int cpu)
{
    for (unsigned i = 0; i < s->placement.count; i++)
        if (s->placement.cpus[i] == cpu)
            return 1ull << i;
    return 0;
}

static void run_on(int cpu)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    ck_assert_int_eq(sched_setaffinity(0, sizeof one, &one), 0);
}

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Rewrites every page (each a fault through the 16-page resident set),
 * checking the last version, until the readers are `want` or 5 s pass.
 * Returns the version written last; *reached says whether they were. */
static uint32_t churn(char *m, uint32_t version, tp_stack *s, uint64_t want, int *reached)
{
    double end = seconds() + 5;
    do {
        for (size_t i = 0; i < PAGES; i++) {
            ck_assert_msg(page_matches(m, i, version), "page %zu lost version %u", i, version);
            fill_page(m, i, version + 1);
        }
        version++;
        *reached = readers(s) == want;
    } while (!*reached && seconds() < end);
    return version;
}

static int two_cpus(int *a, int *b)
{
    cpu_set_t set;
    ck_assert_int_eq(sched_getaffinity(0, sizeof set, &set), 0);
    int n = 0;
    for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
        if (CPU_ISSET(c, &set))
            *(n++ ? b : a) = c;
    return n == 2;
}

START_TEST(handlers_follow_the_faulting_thread)
{
    int a, b;
    if (!two_cpus(&a, &b))
        return; /* one CPU: one handler, nothing to follow */
    cpu_set_t saved;
    sched_getaffinity(0, sizeof saved, &saved);
    tp_stack *s = open_stack(auto_stack);
    ck_assert_uint_ge(s->placement.count, 2);
    tierpage_error err = {{0}, {0}};
    char *m = tp_map(s, NULL, PAGES * PAGE, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    for (size_t i = 0; i < PAGES; i++)
        fill_page(m, i, 0);

    int reached;
    run_on(a);
    uint32_t v = churn(m, 0, s, handler_on(s, a), &reached);
    ck_assert_msg(reached, "faults from CPU %d: readers %#llx", a, (unsigned long long)readers(s));
    run_on(b);
    v = churn(m, v, s, handler_on(s, b), &reached);
    ck_assert_msg(reached, "faults from CPU %d: readers %#llx", b, (unsigned long long)readers(s));
    for (size_t i = 0; i < PAGES; i++)
        ck_assert(page_matches(m, i, v));
    /* The handler on `a` is parked: closing must still stop it. */
    tp_stack_close(s);
    sched_setaffinity(0, sizeof saved, &saved);
}
END_TEST

struct worker {
    tp_stack *stack;
    char *mem;
    int cpu;
    uint64_t want;
    uint32_t version;
    int reached;
};

static void *work_on_half(void *arg)
{
    struct worker *w = arg;
    run_on(w->cpu);
    w->version = churn(w->mem, 0, w->stack, w->want, &w->reached);
    return NULL;
}

START_TEST(threads_on_two_cpus_keep_both_handlers_reading)
{
    int a, b;
    if (!two_cpus(&a, &b))
        return;
    tp_stack *s = open_stack(auto_stack);
    tierpage_error err = {{0}, {0}};
    char *m = tp_map(s, NULL, 2 * PAGES * PAGE, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    for (int h = 0; h < 2; h++) /* each half numbered from 0, as its worker sees it */
        for (size_t i = 0; i < PAGES; i++)
            fill_page(m + h * PAGES * PAGE, i, 0);
    uint64_t both = handler_on(s, a) | handler_on(s, b);
    struct worker w[2] = {{s, m, a, both, 0, 0}, {s, m + PAGES * PAGE, b, both, 0, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, work_on_half, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    ck_assert_msg(w[0].reached || w[1].reached, "readers %#llx", (unsigned long long)readers(s));
    for (int h = 0; h < 2; h++)
        for (size_t i = 0; i < PAGES; i++)
            ck_assert(page_matches(w[h].mem, i, w[h].version));
    tp_stack_close(s);
}
END_TEST

/* A program faulting from one CPU still has its room made by the
 * background evictor: once its faults stop, the resident set is below the
 * cap by at least the evictor's low mark, not at the cap (as it would be
 * if each fault only evicted the one page it needed). */
START_TEST(the_evictor_makes_room_while_one_cpu_faults)
{
    int a, b;
    if (!two_cpus(&a, &b))
        return;
    cpu_set_t saved;
    sched_getaffinity(0, sizeof saved, &saved);
    tp_stack *s = open_stack("name: placement-evictor\n"
                             "resident: 1MiB\n"
                             "tiers:\n"
                             "  - plugin: dram\n"
                             "    capacity: 8MiB\n");
    uint64_t cap = s->pages.resident.cap_pages, low = s->evictor.low;
    ck_assert_uint_eq(cap, 256);
    ck_assert_uint_eq(low, 8);
    tierpage_error err = {{0}, {0}};
    char *m = tp_map(s, NULL, 4 * PAGES * PAGE, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    /* In a shuffled order: a sweep in order would be prefetched, and the
     * prefetcher takes its room without waking the evictor. */
    static size_t order[4 * PAGES];
    uint64_t x = 42;
    for (size_t i = 0; i < 4 * PAGES; i++)
        order[i] = i;
    for (size_t i = 4 * PAGES - 1; i > 0; i--) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        size_t j = (size_t)((x >> 33) % (i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    run_on(a);
    for (size_t i = 0; i < 4 * PAGES; i++)
        fill_page(m, order[i], 0);
    int reached;
    uint32_t v = 0;
    for (int round = 0; round < 3; round++) { /* each pass over the 1024 pages faults on most */
        double end = seconds() + 5;
        do {
            for (size_t k = 0; k < 4 * PAGES; k++) {
                size_t i = order[k];
                ck_assert_msg(page_matches(m, i, v), "page %zu lost version %u", i, v);
                fill_page(m, i, v + 1);
            }
            v++;
            reached = readers(s) == handler_on(s, a);
        } while (!reached && seconds() < end);
    }
    ck_assert_msg(reached, "faults from CPU %d: readers %#llx", a, (unsigned long long)readers(s));
    /* The faults have stopped; the evictor finishes its batch. */
    uint64_t resident = 0;
    double end = seconds() + 30;
    do {
        resident = stats_of(s).resident_bytes / PAGE;
        if (resident + low <= cap)
            break;
        usleep(10000);
    } while (seconds() < end);
    ck_assert_msg(resident + low <= cap, "%llu of %llu pages resident: no room made by the evictor",
                  (unsigned long long)resident, (unsigned long long)cap);
    for (size_t i = 0; i < 4 * PAGES; i++)
        ck_assert(page_matches(m, i, v));
    tp_stack_close(s);
    sched_setaffinity(0, sizeof saved, &saved);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("core placement");
    TCase *tc = tcase_create("placement");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, handlers_follow_the_faulting_thread);
    tcase_add_test(tc, threads_on_two_cpus_keep_both_handlers_reading);
    tcase_add_test(tc, the_evictor_makes_room_while_one_cpu_faults);
    suite_add_tcase(suite, tc);
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
