/* The page map kept in a file (page_map_file.h): read back as it was
 * written, after a clean end and after the writer was SIGKILLed at random
 * moments; a truncated or foreign file is refused with a message naming
 * it. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "killed_child.h"
#include "page_map.h"
#include "page_map_file.h"

#define INSTANCE "0123456789abcdef"
/* Chunks touched: enough for three slabs of the file. */
#define CHUNKS 9000u

static char path[128];

static void make_path(void)
{
    snprintf(path, sizeof path, "/dev/shm/tierpage-test-%d-map", (int)getpid());
}

/* A page the test marks: stored in tier id % 3, or resident. */
static struct tp_page marked(uint32_t id)
{
    return (struct tp_page){TP_NIL, TP_NIL, TP_NIL, id % 5 ? TP_PAGE_STORED : TP_PAGE_RESIDENT,
                            (uint8_t)(id % 3), 0, 0};
}

static void open_map(struct tp_page_map *m)
{
    char msg[256];
    struct tp_page_map_file *f;
    memset(m, 0, sizeof *m);
    ck_assert_msg(tp_page_map_file_create(path, INSTANCE, 4096, &f, msg, sizeof msg) == 0, "%s", msg);
    ck_assert_int_eq(tp_page_map_keep_in(m, f), 0);
}

/* Pages 0, 7 and 15 of each touched chunk marked; chunks [first, end). */
static void mark_chunks(struct tp_page_map *m, uint32_t first, uint32_t end)
{
    static const uint32_t which[] = {0, 7, 15};
    for (uint32_t c = first; c < end; c++)
        for (size_t k = 0; k < 3; k++) {
            uint32_t id = c * TP_PAGE_CHUNK + which[k];
            struct tp_page *p = tp_page_touch(m, id);
            ck_assert_ptr_nonnull(p);
            *p = marked(id);
        }
}

struct seen {
    uint64_t chunks, marked, bad;
    unsigned char *index_seen; /* per chunk number */
    uint32_t index_limit;
};

static int check_chunk(void *ctx, const struct tp_page_chunk *c)
{
    struct seen *s = ctx;
    s->chunks++;
    if (c->index >= s->index_limit || s->index_seen[c->index]++) {
        s->bad++;
        return 0;
    }
    for (uint32_t i = 0; i < TP_PAGE_CHUNK; i++) {
        uint32_t id = c->index * TP_PAGE_CHUNK + i;
        const struct tp_page *p = &c->pages[i];
        struct tp_page want = marked(id);
        /* EMPTY whatever its tier: the writer sets the tier, then the
         * state, and a kill may fall between. */
        if (p->state == TP_PAGE_EMPTY)
            continue;
        if (p->state == want.state && p->tier == want.tier)
            s->marked++;
        else
            s->bad++;
    }
    return 0;
}

static int read_map(struct seen *s, struct tp_page_map_file_info *info, char *msg, size_t len)
{
    memset(s, 0, sizeof *s);
    s->index_limit = 4 * CHUNKS;
    s->index_seen = calloc(s->index_limit, 1);
    ck_assert_ptr_nonnull(s->index_seen);
    int rc = tp_page_map_file_read(path, check_chunk, s, info, msg, len);
    free(s->index_seen);
    return rc;
}

START_TEST(the_file_holds_the_live_chunks)
{
    make_path();
    struct tp_page_map m;
    open_map(&m);
    uint32_t first;
    ck_assert_int_eq(tp_page_map_alloc(&m, CHUNKS * TP_PAGE_CHUNK, &first), 0);
    ck_assert_uint_eq(first, 0);
    mark_chunks(&m, 0, CHUNKS);
    /* The first 1000 chunks go back: all new, given back, not live. */
    tp_page_map_release(&m, 0, 1000 * TP_PAGE_CHUNK);
    /* 500 of them made again for other ids (taken from the spares). */
    uint32_t again;
    ck_assert_int_eq(tp_page_map_alloc(&m, 3 * CHUNKS * TP_PAGE_CHUNK, &again), 0);
    mark_chunks(&m, CHUNKS * 2, CHUNKS * 2 + 500);
    tp_page_map_destroy(&m);

    struct seen s;
    struct tp_page_map_file_info info;
    char msg[256];
    ck_assert_msg(read_map(&s, &info, msg, sizeof msg) == 0, "%s", msg);
    ck_assert_str_eq(info.instance, INSTANCE);
    ck_assert_uint_eq(info.page_size, 4096);
    ck_assert_uint_ge(info.slabs, 3);
    ck_assert_uint_eq(s.chunks, CHUNKS - 1000 + 500);
    ck_assert_uint_eq(info.chunks, s.chunks);
    ck_assert_uint_eq(s.bad, 0);
    ck_assert_uint_eq(s.marked, 3 * s.chunks);
    unlink(path);
}
END_TEST

/* A child marks and releases chunks for ever until it is killed; each
 * time the file reads back with every live chunk once and every page of
 * it either new or as the child marked it. */
static void mark_until_killed(void *arg, int ready_fd)
{
    (void)arg;
    struct tp_page_map m;
    char msg[256];
    struct tp_page_map_file *f;
    memset(&m, 0, sizeof m);
    uint32_t first;
    if (tp_page_map_file_create(path, INSTANCE, 4096, &f, msg, sizeof msg) != 0 || tp_page_map_keep_in(&m, f) != 0 ||
        tp_page_map_alloc(&m, 4 * CHUNKS * TP_PAGE_CHUNK, &first) != 0)
        return;
    for (uint32_t round = 0;; round++) {
        uint32_t lo = (round * 7919u) % (3 * CHUNKS);
        for (uint32_t c = lo; c < lo + 300; c++)
            for (uint32_t i = 0; i < TP_PAGE_CHUNK; i += 5) {
                uint32_t id = c * TP_PAGE_CHUNK + i;
                struct tp_page *p = tp_page_touch(&m, id);
                if (!p)
                    _exit(4);
                /* The tier first, then the state: a release store, as
                 * plain stores may be emitted state first and a kill
                 * between would leave a stored page with no tier. */
                p->tier = marked(id).tier;
                __atomic_store_n(&p->state, marked(id).state, __ATOMIC_RELEASE);
            }
        /* Ready once chunks are live: a kill before would find none. */
        if (round == 0 && write(ready_fd, "r", 1) != 1)
            return;
        if (round % 3 == 2)
            tp_page_map_release(&m, lo * TP_PAGE_CHUNK, 150 * TP_PAGE_CHUNK);
    }
}

START_TEST(a_writer_killed_at_any_moment_leaves_a_readable_map)
{
    make_path();
    srand((unsigned)getpid());
    for (int kill_no = 0; kill_no < 10; kill_no++) {
        pid_t pid = killed_child_start(mark_until_killed, NULL);
        ck_assert_int_gt(pid, 0);
        ck_assert_int_eq(killed_child_kill(pid, 30000), 0);

        struct seen s;
        struct tp_page_map_file_info info;
        char msg[256];
        ck_assert_msg(read_map(&s, &info, msg, sizeof msg) == 0, "kill %d: %s", kill_no, msg);
        ck_assert_msg(s.bad == 0, "kill %d: %llu chunks or pages read back wrong", kill_no,
                      (unsigned long long)s.bad);
        ck_assert_uint_gt(s.chunks, 0);
    }
    unlink(path);
}
END_TEST

static void expect_refused(const char *says)
{
    struct seen s;
    struct tp_page_map_file_info info;
    char msg[256];
    ck_assert_int_ne(read_map(&s, &info, msg, sizeof msg), 0);
    ck_assert_msg(strstr(msg, path) && strstr(msg, says), "'%s' names %s and says '%s'", msg, path, says);
}

START_TEST(a_truncated_or_foreign_file_is_refused_by_name)
{
    make_path();
    struct tp_page_map m;
    open_map(&m);
    uint32_t first;
    ck_assert_int_eq(tp_page_map_alloc(&m, CHUNKS * TP_PAGE_CHUNK, &first), 0);
    mark_chunks(&m, 0, CHUNKS);
    tp_page_map_destroy(&m);

    ck_assert_int_eq(truncate(path, 4096 + (1 << 20)), 0);
    expect_refused("is truncated");
    ck_assert_int_eq(truncate(path, 100), 0);
    expect_refused("less than its 4096-byte header");
    ck_assert_int_eq(truncate(path, 8192), 0);
    FILE *f = fopen(path, "r+");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite("TIERPMAP\2\0\0\0", 1, 12, f), 12);
    fclose(f);
    expect_refused("has version 2");
    f = fopen(path, "r+");
    ck_assert_int_eq(fwrite("NOTAMAP!", 1, 8, f), 8);
    fclose(f);
    expect_refused("is not a tierpage page map file");
    unlink(path);
    expect_refused("No such file");
}
END_TEST

int main(void)
{
    Suite *su = suite_create("page map file");
    TCase *tc = tcase_create("file");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, the_file_holds_the_live_chunks);
    tcase_add_test(tc, a_writer_killed_at_any_moment_leaves_a_readable_map);
    tcase_add_test(tc, a_truncated_or_foreign_file_is_refused_by_name);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
