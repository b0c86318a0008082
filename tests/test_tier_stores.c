/* Tests of the built-in dram and pmem stores, through their shared objects. */
#include "test_tiers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "killed_child.h"
#include "loader.h"
#include "store_host.h"

#define PAGE 4096

struct opened {
    struct tp_plugin plugin;
    const tierpage_store_ops *ops;
    void *store;
};

static void load(struct opened *o, const char *name)
{
    char path[4096];
    tierpage_error err = { { 0 }, { 0 } };
    tt_plugin_path(path, sizeof path, name);
    ck_assert_msg(tp_plugin_load(path, &o->plugin, &err) == 0, "%s", err.message);
    o->ops = o->plugin.ops;
    o->store = NULL;
}

/* Opens with up to two options; returns open's result, err filled. */
static int open_with(struct opened *o, const char *ns, size_t page_size, uint64_t capacity, const char *k1,
                     const char *v1, const char *k2, const char *v2, tierpage_error *err)
{
    tierpage_store_option options[2] = { { k1, v1 }, { k2, v2 } };
    struct tp_store_host host;
    tierpage_store_params params = {
        .namespace_name = ns, .page_size = page_size, .capacity = capacity,
        .options = options, .option_count = k2 ? 2 : k1 ? 1 : 0,
        .host = tp_store_host_init(&host, "t"),
    };
    memset(err, 0, sizeof *err);
    o->store = NULL;
    return o->ops->open(&params, &o->store, err);
}

static void put_page(struct opened *o, uint64_t key, uint64_t gen, int expect)
{
    static unsigned char page[PAGE];
    tierpage_error err = { { 0 }, { 0 } };
    tt_fill_page(page, PAGE, key, gen);
    ck_assert_int_eq(o->ops->put(o->store, key, page, &err), expect);
}

static void expect_page(struct opened *o, uint64_t key, uint64_t gen)
{
    static unsigned char page[PAGE];
    tierpage_error err = { { 0 }, { 0 } };
    ck_assert_int_eq(o->ops->get(o->store, key, page, &err), 0);
    ck_assert_msg(tt_page_is(page, PAGE, key, gen), "key %llu is not at generation %llu", (unsigned long long)key,
                  (unsigned long long)gen);
}

static void expect_missing(struct opened *o, uint64_t key)
{
    static unsigned char page[PAGE];
    tierpage_error err = { { 0 }, { 0 } };
    ck_assert_int_eq(o->ops->get(o->store, key, page, &err), -ENOENT);
}

static tierpage_store_usage usage_of(struct opened *o)
{
    tierpage_store_usage u;
    tierpage_error err = { { 0 }, { 0 } };
    ck_assert_int_eq(o->ops->usage(o->store, &u, &err), 0);
    return u;
}

static void close_store(struct opened *o)
{
    o->ops->close(o->store);
    o->store = NULL;
}

/* ------------------------------------------------------------------ dram */

START_TEST(test_dram_full_gives_enospc)
{
    struct opened o;
    tierpage_error err;
    load(&o, "dram");
    ck_assert_int_eq(open_with(&o, "t", PAGE, 16 * PAGE, NULL, NULL, NULL, NULL, &err), 0);
    for (uint64_t k = 0; k < 16; k++)
        put_page(&o, k, 1, 0);
    put_page(&o, 100, 1, -ENOSPC);
    tierpage_store_usage u = usage_of(&o);
    ck_assert_uint_eq(u.capacity_bytes, 16 * PAGE);
    ck_assert_uint_eq(u.used_bytes, 16 * PAGE);
    ck_assert_uint_eq(u.pages, 16);

    put_page(&o, 5, 2, 0); /* overwrite in place while full */
    expect_page(&o, 5, 2);
    ck_assert_int_eq(o.ops->del(o.store, 3, &err), 0);
    ck_assert_int_eq(o.ops->del(o.store, 3, &err), -ENOENT);
    put_page(&o, 100, 1, 0);
    expect_page(&o, 100, 1);
    expect_missing(&o, 3);
    for (uint64_t k = 0; k < 16; k++)
        if (k != 3 && k != 5)
            expect_page(&o, k, 1);
    close_store(&o);
    tp_plugin_unload(&o.plugin);
}
END_TEST

START_TEST(test_dram_batches_report_each_page)
{
    struct opened o;
    tierpage_error err;
    load(&o, "dram");
    ck_assert_int_eq(open_with(&o, "t", PAGE, 4 * PAGE, NULL, NULL, NULL, NULL, &err), 0);
    static unsigned char buf[6][PAGE];
    uint64_t keys[6];
    void *pages[6];
    int results[6];
    for (int i = 0; i < 6; i++) {
        keys[i] = 1000 + (uint64_t)i;
        pages[i] = buf[i];
        tt_fill_page(buf[i], PAGE, keys[i], 4);
    }
    ck_assert_int_eq(o.ops->put_batch(o.store, 6, keys, (const void *const *)pages, results, &err), -ENOSPC);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(results[i], i < 4 ? 0 : -ENOSPC);
    memset(buf, 0, sizeof buf);
    ck_assert_int_eq(o.ops->get_batch(o.store, 6, keys, pages, results, &err), -ENOENT);
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(results[i], i < 4 ? 0 : -ENOENT);
        if (i < 4)
            ck_assert(tt_page_is(buf[i], PAGE, keys[i], 4));
    }
    close_store(&o);
    tp_plugin_unload(&o.plugin);
}
END_TEST

START_TEST(test_dram_open_errors_name_the_key)
{
    struct opened o;
    tierpage_error err;
    load(&o, "dram");
    ck_assert_int_eq(open_with(&o, "t", PAGE, 0, NULL, NULL, NULL, NULL, &err), -EINVAL);
    ck_assert_str_eq(err.key, "capacity");
    ck_assert_ptr_nonnull(strstr(err.message, "capacity is required"));
    ck_assert_int_eq(open_with(&o, "t", PAGE, 100, NULL, NULL, NULL, NULL, &err), -EINVAL);
    ck_assert_str_eq(err.key, "capacity");
    ck_assert_int_eq(open_with(&o, "t", PAGE, 1 << 20, "colour", "blue", NULL, NULL, &err), -EINVAL);
    ck_assert_str_eq(err.key, "colour");
    ck_assert_ptr_nonnull(strstr(err.message, "unknown option 'colour'"));
    ck_assert_ptr_null(o.store);
    tp_plugin_unload(&o.plugin);
}
END_TEST

/* A store on a file (`path`) in a directory of its own. */
struct file_case {
    char dir[4096];
    char file[4200];
    const char *durable; /* pmem's `durable`, when given */
    struct opened o;
};

static void file_case_setup(struct file_case *c, const char *plugin)
{
    c->durable = NULL;
    tt_make_temp_dir(c->dir, sizeof c->dir);
    snprintf(c->file, sizeof c->file, "%s/tier.%s", c->dir, plugin);
    load(&c->o, plugin);
}

static void file_case_teardown(struct file_case *c)
{
    if (c->o.store)
        close_store(&c->o);
    tp_plugin_unload(&c->o.plugin);
    tt_remove_temp_dir(c->dir);
}

static int file_case_open(struct file_case *c, const char *ns, size_t page_size, uint64_t capacity,
                          tierpage_error *err)
{
    return open_with(&c->o, ns, page_size, capacity, "path", c->file, c->durable ? "durable" : NULL, c->durable,
                     err);
}

/* dram with `path`: the pool in a file that outlives the store. */

static uint32_t instance_flags(struct opened *o)
{
    ck_assert_ptr_nonnull(o->ops->instance_flags);
    return o->ops->instance_flags(o->store);
}

START_TEST(test_dram_file_reopen_keeps_pages)
{
    struct file_case c;
    tierpage_error err;
    file_case_setup(&c, "dram");
    ck_assert_msg(file_case_open(&c, "n", PAGE, 32 * PAGE, &err) == 0, "%s", err.message);
    uint32_t flags = instance_flags(&c.o);
    ck_assert(flags & TIERPAGE_STORE_PERSISTENT);
    ck_assert(!(flags & TIERPAGE_STORE_FORK_PRIVATE));
    for (uint64_t k = 0; k < 32; k++)
        put_page(&c.o, k, 1, 0);
    put_page(&c.o, 99, 1, -ENOSPC);
    put_page(&c.o, 4, 2, 0);
    ck_assert_int_eq(c.o.ops->del(c.o.store, 9, &err), 0);
    close_store(&c.o);

    ck_assert_msg(file_case_open(&c, "n", PAGE, 32 * PAGE, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(usage_of(&c.o).pages, 31);
    expect_page(&c.o, 4, 2);
    expect_missing(&c.o, 9);
    for (uint64_t k = 0; k < 32; k++)
        if (k != 4 && k != 9)
            expect_page(&c.o, k, 1);
    /* The slot freed by the delete takes one new key, and no more. */
    put_page(&c.o, 100, 1, 0);
    put_page(&c.o, 101, 1, -ENOSPC);
    ck_assert_int_eq(c.o.ops->clear(c.o.store, &err), 0);
    ck_assert_uint_eq(usage_of(&c.o).pages, 0);
    expect_missing(&c.o, 4);
    close_store(&c.o);
    ck_assert_msg(file_case_open(&c, "n", PAGE, 32 * PAGE, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(usage_of(&c.o).pages, 0);
    file_case_teardown(&c);
}
END_TEST

START_TEST(test_dram_without_file_is_private_memory)
{
    struct opened o;
    tierpage_error err;
    load(&o, "dram");
    ck_assert_int_eq(open_with(&o, "t", PAGE, 16 * PAGE, NULL, NULL, NULL, NULL, &err), 0);
    uint32_t flags = instance_flags(&o);
    ck_assert(flags & TIERPAGE_STORE_FORK_PRIVATE);
    ck_assert(!(flags & TIERPAGE_STORE_PERSISTENT));
    close_store(&o);
    tp_plugin_unload(&o.plugin);
}
END_TEST

enum { KILL_KEYS = 256, KILL_CAP = 192 };

struct putter {
    struct file_case *c;
    uint64_t first_round;
};

/* Puts, overwrites and deletes in rounds, so slots are reused, until it
 * is killed. */
static void put_until_killed(void *arg, int ready_fd)
{
    struct putter *p = arg;
    struct file_case *c = p->c;
    tierpage_error err;
    static unsigned char page[PAGE];
    if (file_case_open(c, "n", PAGE, KILL_CAP * PAGE, &err) != 0 || write(ready_fd, "r", 1) != 1)
        return;
    for (uint64_t round = p->first_round;; round++)
        for (uint64_t k = 0; k < KILL_KEYS; k++) {
            if ((k + round) % 5 == 0) {
                c->o.ops->del(c->o.store, k, &err);
                continue;
            }
            tt_fill_page(page, PAGE, k, round);
            c->o.ops->put(c->o.store, k, page, &err);
        }
}

/* A child puts pages into the file in rounds until it is SIGKILLed at a
 * random moment, many times over one file: after each kill, every page the
 * reopened store holds is whole, of its key, from a round the child
 * reached, and no key went back to an older round than a completed one. */
static void survives_kill_at_any_moment(const char *plugin, const char *durable)
{
    enum { KEYS = KILL_KEYS, CAP = KILL_CAP, KILLS = 12 };
    struct file_case c;
    tierpage_error err;
    file_case_setup(&c, plugin);
    c.durable = durable;
    srand((unsigned)getpid());
    /* Each key's round before the child ran, and the child's first round. */
    uint64_t held[KEYS] = { 0 };
    uint64_t first_round = 1;
    for (int kill_no = 0; kill_no < KILLS; kill_no++) {
        struct putter putter = { &c, first_round };
        pid_t pid = killed_child_start(put_until_killed, &putter);
        ck_assert_int_gt(pid, 0);
        ck_assert_int_eq(killed_child_kill(pid, 20000), 0);

        ck_assert_msg(file_case_open(&c, "n", PAGE, CAP * PAGE, &err) == 0, "%s", err.message);
        static unsigned char page[PAGE];
        uint64_t pages = 0, last = first_round;
        for (uint64_t k = 0; k < KEYS; k++) {
            int rc = c.o.ops->get(c.o.store, k, page, &err);
            if (rc == -ENOENT) {
                held[k] = 0;
                continue;
            }
            ck_assert_int_eq(rc, 0);
            pages++;
            uint64_t round = (((uint64_t *)page)[0] - k * 1000003u) / 7919u;
            ck_assert_msg(tt_page_is(page, PAGE, k, round), "kill %d: key %llu holds a torn page", kill_no,
                          (unsigned long long)k);
            ck_assert_msg(round >= 1 && round >= held[k], "kill %d: key %llu went back to round %llu from %llu",
                          kill_no, (unsigned long long)k, (unsigned long long)round, (unsigned long long)held[k]);
            held[k] = round;
            if (round > last)
                last = round;
        }
        ck_assert_uint_eq(usage_of(&c.o).pages, pages);
        ck_assert_uint_le(pages, CAP);
        close_store(&c.o);
        first_round = last + 1;
    }
    file_case_teardown(&c);
}

START_TEST(test_dram_file_survives_kill_at_any_moment)
{
    survives_kill_at_any_moment("dram", NULL);
}
END_TEST

/* Writes `len` bytes at `off` of the file. */
static void patch_file(const char *path, off_t off, const void *bytes, size_t len)
{
    int fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, bytes, len, off), (ssize_t)len);
    close(fd);
}

static void expect_refusal(struct file_case *c, const char *ns, uint64_t capacity, int rc, const char *key,
                           const char *says)
{
    tierpage_error err;
    ck_assert_int_eq(file_case_open(c, ns, PAGE, capacity, &err), rc);
    ck_assert_ptr_null(c->o.store);
    ck_assert_str_eq(err.key, key);
    ck_assert_msg(strstr(err.message, c->file), "the message names the file: %s", err.message);
    ck_assert_msg(strstr(err.message, says), "'%s' says '%s'", err.message, says);
}

START_TEST(test_dram_file_refuses_bad_files)
{
    struct file_case c;
    tierpage_error err;
    file_case_setup(&c, "dram");
    ck_assert_int_eq(file_case_open(&c, "n", PAGE, 8 * PAGE, &err), 0);
    put_page(&c.o, 1, 1, 0);
    struct opened second;
    load(&second, "dram");
    ck_assert_int_eq(open_with(&second, "n", PAGE, 8 * PAGE, "path", c.file, NULL, NULL, &err), -EBUSY);
    ck_assert_ptr_nonnull(strstr(err.message, "in use"));
    tp_plugin_unload(&second.plugin);
    close_store(&c.o);

    expect_refusal(&c, "other", 8 * PAGE, -EINVAL, "path", "belongs to namespace 'n'");
    expect_refusal(&c, "n", 16 * PAGE, -EINVAL, "capacity", "was made with capacity 32768 bytes");
    struct stat st;
    ck_assert_int_eq(stat(c.file, &st), 0);
    ck_assert_int_eq(truncate(c.file, st.st_size - PAGE), 0);
    expect_refusal(&c, "n", 8 * PAGE, -EINVAL, "path", "truncated or corrupt");
    ck_assert_int_eq(truncate(c.file, 100), 0);
    expect_refusal(&c, "n", 8 * PAGE, -EINVAL, "path", "truncated: 100 bytes");
    ck_assert_int_eq(truncate(c.file, 0), 0);

    ck_assert_int_eq(file_case_open(&c, "n", PAGE, 8 * PAGE, &err), 0);
    close_store(&c.o);
    uint32_t version = 2;
    patch_file(c.file, 8, &version, sizeof version);
    expect_refusal(&c, "n", 8 * PAGE, -EPROTO, "path", "layout version 2");
    patch_file(c.file, 0, "NOTDRAM!", 8);
    expect_refusal(&c, "n", 8 * PAGE, -EINVAL, "path", "not a tierpage dram pool file");
    file_case_teardown(&c);
}
END_TEST

/* A header of zeros (killed while formatting) is formatted afresh. */
START_TEST(test_dram_file_unformatted_is_formatted)
{
    struct file_case c;
    tierpage_error err;
    file_case_setup(&c, "dram");
    ck_assert_int_eq(file_case_open(&c, "n", PAGE, 8 * PAGE, &err), 0);
    put_page(&c.o, 1, 1, 0);
    close_store(&c.o);
    static unsigned char zeros[4096];
    patch_file(c.file, 0, zeros, sizeof zeros);
    ck_assert_msg(file_case_open(&c, "n", PAGE, 8 * PAGE, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(usage_of(&c.o).pages, 0);
    put_page(&c.o, 2, 1, 0);
    expect_page(&c.o, 2, 1);
    file_case_teardown(&c);
}
END_TEST

Suite *tt_dram_suite(void)
{
    Suite *s = suite_create("dram");
    TCase *tc = tcase_create("store");
    tcase_add_test(tc, test_dram_full_gives_enospc);
    tcase_add_test(tc, test_dram_batches_report_each_page);
    tcase_add_test(tc, test_dram_open_errors_name_the_key);
    tcase_add_test(tc, test_dram_without_file_is_private_memory);
    tcase_add_test(tc, test_dram_file_reopen_keeps_pages);
    tcase_add_test(tc, test_dram_file_survives_kill_at_any_moment);
    tcase_add_test(tc, test_dram_file_refuses_bad_files);
    tcase_add_test(tc, test_dram_file_unformatted_is_formatted);
    suite_add_tcase(s, tc);
    return s;
}

/* ------------------------------------------------------------------ pmem */


START_TEST(test_pmem_reopen_keeps_pages)
{
    struct file_case c;
    tierpage_error err;
    file_case_setup(&c, "pmem");
    ck_assert_msg(file_case_open(&c, "vm-a", PAGE, 1 << 20, &err) == 0, "%s", err.message);
    for (uint64_t k = 0; k < 100; k++)
        put_page(&c.o, k * 3, 1, 0);
    for (uint64_t k = 0; k < 10; k++)
        put_page(&c.o, k * 3, 2, 0);
    for (uint64_t k = 95; k < 100; k++)
        ck_assert_int_eq(c.o.ops->del(c.o.store, k * 3, &err), 0);
    close_store(&c.o);

    /* Reopen without a capacity: the file's is used. */
    ck_assert_msg(file_case_open(&c, "vm-a", PAGE, 0, &err) == 0, "%s", err.message);
    tierpage_store_usage u = usage_of(&c.o);
    ck_assert_uint_eq(u.pages, 95);
    ck_assert_uint_eq(u.capacity_bytes, 1 << 20);
    for (uint64_t k = 0; k < 95; k++)
        expect_page(&c.o, k * 3, k < 10 ? 2 : 1);
    for (uint64_t k = 95; k < 100; k++)
        expect_missing(&c.o, k * 3);
    close_store(&c.o);

    /* And with the same capacity given again. */
    ck_assert_msg(file_case_open(&c, "vm-a", PAGE, 1 << 20, &err) == 0, "%s", err.message);
    expect_page(&c.o, 0, 2);
    file_case_teardown(&c);
}
END_TEST

START_TEST(test_pmem_rejects_other_page_size_namespace_capacity)
{
    struct file_case c;
    tierpage_error err;
    file_case_setup(&c, "pmem");
    ck_assert_int_eq(file_case_open(&c, "vm-a", PAGE, 1 << 20, &err), 0);
    put_page(&c.o, 1, 1, 0);
    close_store(&c.o);

    ck_assert_int_eq(file_case_open(&c, "vm-a", 8192, 1 << 20, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "holds pages of 4096 bytes, this stack uses 8192-byte pages"));
    ck_assert_int_eq(file_case_open(&c, "vm-b", PAGE, 1 << 20, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "belongs to namespace 'vm-a', not 'vm-b'"));
    ck_assert_int_eq(file_case_open(&c, "vm-a", PAGE, 2 << 20, &err), -EINVAL);
    ck_assert_str_eq(err.key, "capacity");
    ck_assert_ptr_null(c.o.store);

    /* None of that harmed the file. */
    ck_assert_int_eq(file_case_open(&c, "vm-a", PAGE, 0, &err), 0);
    expect_page(&c.o, 1, 1);
    file_case_teardown(&c);
}
END_TEST

START_TEST(test_pmem_open_errors)
{
    struct file_case c;
    tierpage_error err;
    file_case_setup(&c, "pmem");
    ck_assert_int_eq(open_with(&c.o, "n", PAGE, 1 << 20, NULL, NULL, NULL, NULL, &err), -EINVAL);
    ck_assert_str_eq(err.key, "path");
    ck_assert_int_eq(open_with(&c.o, "n", PAGE, 1 << 20, "path", c.file, "sync", "always", &err), -EINVAL);
    ck_assert_str_eq(err.key, "sync");
    ck_assert_int_eq(file_case_open(&c, "n", PAGE, 0, &err), -EINVAL);
    ck_assert_str_eq(err.key, "capacity");
    ck_assert_int_eq(access(c.file, F_OK), -1); /* no file left behind */

    FILE *f = fopen(c.file, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 2000; i++)
        fputs("not a page store ", f);
    fclose(f);
    ck_assert_int_eq(file_case_open(&c, "n", PAGE, 1 << 20, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "is not a tierpage pmem file (bad magic)"));
    file_case_teardown(&c);
}
END_TEST

START_TEST(test_pmem_second_open_is_refused)
{
    struct file_case c;
    tierpage_error err;
    file_case_setup(&c, "pmem");
    ck_assert_int_eq(file_case_open(&c, "n", PAGE, 1 << 20, &err), 0);
    void *first = c.o.store;
    ck_assert_int_eq(file_case_open(&c, "n", PAGE, 1 << 20, &err), -EBUSY);
    ck_assert_ptr_nonnull(strstr(err.message, "in use"));
    c.o.store = first;
    file_case_teardown(&c);
}
END_TEST

START_TEST(test_pmem_full_and_overwrites_while_full)
{
    struct file_case c;
    tierpage_error err;
    file_case_setup(&c, "pmem");
    ck_assert_int_eq(file_case_open(&c, "n", PAGE, 8 * PAGE, &err), 0);
    for (uint64_t k = 0; k < 8; k++)
        put_page(&c.o, k, 1, 0);
    put_page(&c.o, 8, 1, -ENOSPC);
    for (uint64_t gen = 2; gen < 5; gen++)
        for (uint64_t k = 0; k < 8; k++)
            put_page(&c.o, k, gen, 0);
    put_page(&c.o, 8, 1, -ENOSPC);
    ck_assert_uint_eq(usage_of(&c.o).pages, 8);
    close_store(&c.o);
    ck_assert_int_eq(file_case_open(&c, "n", PAGE, 0, &err), 0);
    for (uint64_t k = 0; k < 8; k++)
        expect_page(&c.o, k, 4);
    put_page(&c.o, 8, 1, -ENOSPC);
    file_case_teardown(&c);
}
END_TEST

/* What a crash can leave, written into the file by hand as LAYOUT.md
 * describes it: an overwrite committed before its old slot was cleared, and
 * a put whose key reached the slot table but whose seq did not. */
static uint64_t read_u64(int fd, off_t off)
{
    uint64_t v;
    ck_assert_int_eq(pread(fd, &v, sizeof v, off), (ssize_t)sizeof v);
    return v;
}

static void write_u64(int fd, off_t off, uint64_t v)
{
    ck_assert_int_eq(pwrite(fd, &v, sizeof v, off), (ssize_t)sizeof v);
}

START_TEST(test_pmem_recovers_what_a_crash_leaves)
{
    struct file_case c;
    tierpage_error err;
    file_case_setup(&c, "pmem");
    ck_assert_int_eq(file_case_open(&c, "n", PAGE, 16 * PAGE, &err), 0);
    put_page(&c.o, 7, 1, 0); /* slot 0 */
    close_store(&c.o);

    int fd = open(c.file, O_RDWR);
    ck_assert_int_ge(fd, 0);
    char magic[8];
    ck_assert_int_eq(pread(fd, magic, 8, 0), 8);
    ck_assert(memcmp(magic, "TIERPMEM", 8) == 0);
    ck_assert_uint_eq(read_u64(fd, 8) & 0xffffffffu, 2); /* layout_version */
    ck_assert_uint_eq(read_u64(fd, 16), PAGE);
    ck_assert_uint_eq(read_u64(fd, 24), 16);     /* capacity_pages */
    uint64_t slot_count = read_u64(fd, 32);
    uint64_t table = read_u64(fd, 40), area = read_u64(fd, 48);
    ck_assert_uint_eq(slot_count, 16 + 8);
    ck_assert_uint_eq(table, 4096);
    ck_assert_uint_eq(read_u64(fd, 56), area + slot_count * PAGE);

    uint64_t slot_of_7 = slot_count;
    for (uint64_t i = 0; i < slot_count; i++)
        if (read_u64(fd, (off_t)(table + 16 * i + 8)) != 0) {
            ck_assert_uint_eq(read_u64(fd, (off_t)(table + 16 * i)), 7);
            slot_of_7 = i;
        }
    ck_assert_uint_lt(slot_of_7, slot_count);
    uint64_t seq = read_u64(fd, (off_t)(table + 16 * slot_of_7 + 8));

    /* The newer copy of key 7, committed in another slot. */
    static unsigned char page[PAGE];
    uint64_t newer = (slot_of_7 + 5) % slot_count;
    tt_fill_page(page, PAGE, 7, 2);
    ck_assert_int_eq(pwrite(fd, page, PAGE, (off_t)(area + newer * PAGE)), PAGE);
    write_u64(fd, (off_t)(table + 16 * newer), 7);
    write_u64(fd, (off_t)(table + 16 * newer + 8), seq + 1);
    /* A torn put of key 99: page and key written, seq still 0. */
    uint64_t torn = (slot_of_7 + 9) % slot_count;
    tt_fill_page(page, PAGE, 99, 1);
    ck_assert_int_eq(pwrite(fd, page, PAGE, (off_t)(area + torn * PAGE)), PAGE);
    write_u64(fd, (off_t)(table + 16 * torn), 99);
    close(fd);

    ck_assert_msg(file_case_open(&c, "n", PAGE, 0, &err) == 0, "%s", err.message);
    expect_page(&c.o, 7, 2);
    expect_missing(&c.o, 99);
    ck_assert_uint_eq(usage_of(&c.o).pages, 1);
    close_store(&c.o);

    /* Opening cleared the stale copy on media. */
    fd = open(c.file, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_uint_eq(read_u64(fd, (off_t)(table + 16 * slot_of_7 + 8)), 0);
    ck_assert_uint_eq(read_u64(fd, (off_t)(table + 16 * newer + 8)), seq + 1);
    close(fd);

    /* New puts take seqs above the ones found, and the store still fills
     * to exactly its capacity. */
    ck_assert_int_eq(file_case_open(&c, "n", PAGE, 0, &err), 0);
    for (uint64_t k = 100; k < 115; k++)
        put_page(&c.o, k, 1, 0);
    put_page(&c.o, 200, 1, -ENOSPC);
    put_page(&c.o, 7, 3, 0);
    close_store(&c.o);
    ck_assert_int_eq(file_case_open(&c, "n", PAGE, 0, &err), 0);
    expect_page(&c.o, 7, 3);
    ck_assert_uint_eq(usage_of(&c.o).pages, 16);
    file_case_teardown(&c);
}
END_TEST

enum { PMEM_UNSYNCED_BOOT = 328, PMEM_BOOT_ID_MAX = 40 };

static void read_unsynced_boot(const char *path, char boot[PMEM_BOOT_ID_MAX + 1])
{
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, boot, PMEM_BOOT_ID_MAX, PMEM_UNSYNCED_BOOT), PMEM_BOOT_ID_MAX);
    boot[PMEM_BOOT_ID_MAX] = '\0';
    close(fd);
}

static void this_boot(char boot[PMEM_BOOT_ID_MAX + 1])
{
    memset(boot, 0, PMEM_BOOT_ID_MAX + 1);
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(boot, PMEM_BOOT_ID_MAX, f));
    fclose(f);
    boot[strcspn(boot, "\n")] = '\0';
}

/* durable: false keeps the write order in memory only: a process killed
 * at any moment still leaves every page whole for the next open. */
START_TEST(test_pmem_unsynced_survives_kill_at_any_moment)
{
    survives_kill_at_any_moment("pmem", "false");
}
END_TEST

/* The file names the boot it is unsynced in while such a store has it
 * open, and not once the store closed it (synced). */
START_TEST(test_pmem_unsynced_file_is_marked_while_open)
{
    struct file_case c;
    tierpage_error err;
    char boot[PMEM_BOOT_ID_MAX + 1], mark[PMEM_BOOT_ID_MAX + 1];
    this_boot(boot);
    file_case_setup(&c, "pmem");
    c.durable = "false";
    ck_assert_msg(file_case_open(&c, "n", PAGE, 64 * PAGE, &err) == 0, "%s", err.message);
    for (uint64_t k = 0; k < 40; k++)
        put_page(&c.o, k, 1, 0);
    read_unsynced_boot(c.file, mark);
    ck_assert_str_eq(mark, boot);
    close_store(&c.o);
    read_unsynced_boot(c.file, mark);
    ck_assert_str_eq(mark, "");

    /* A durable open reads what an unsynced one wrote. */
    c.durable = NULL;
    ck_assert_msg(file_case_open(&c, "n", PAGE, 0, &err) == 0, "%s", err.message);
    for (uint64_t k = 0; k < 40; k++)
        expect_page(&c.o, k, 1);
    file_case_teardown(&c);
}
END_TEST

/* A program exits with its stores open: the exit syncs its unsynced files
 * and clears their marks. A forked child's exit leaves its parent's alone. */
START_TEST(test_pmem_unsynced_file_is_synced_at_exit)
{
    struct file_case c;
    tierpage_error err;
    char boot[PMEM_BOOT_ID_MAX + 1], mark[PMEM_BOOT_ID_MAX + 1];
    this_boot(boot);
    file_case_setup(&c, "pmem");
    c.durable = "false";
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (file_case_open(&c, "n", PAGE, 64 * PAGE, &err) != 0)
            _exit(2);
        static unsigned char page[PAGE];
        for (uint64_t k = 0; k < 20; k++) {
            tt_fill_page(page, PAGE, k, 1);
            if (c.o.ops->put(c.o.store, k, page, &err) != 0)
                _exit(3);
        }
        exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    read_unsynced_boot(c.file, mark);
    ck_assert_str_eq(mark, "");

    ck_assert_msg(file_case_open(&c, "n", PAGE, 0, &err) == 0, "%s", err.message);
    for (uint64_t k = 0; k < 20; k++)
        expect_page(&c.o, k, 1);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        c.o.ops->forget(c.o.store);
        exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    read_unsynced_boot(c.file, mark);
    ck_assert_str_eq(mark, boot);
    file_case_teardown(&c);
}
END_TEST

/* Left marked by a store that did not close it: in this boot its owner
 * was killed and the pages are whole; in another, the machine stopped and
 * the file is refused. A durable open in this boot syncs and unmarks it. */
START_TEST(test_pmem_unsynced_file_from_another_boot_is_refused)
{
    struct file_case c;
    tierpage_error err;
    char boot[PMEM_BOOT_ID_MAX + 1], mark[PMEM_BOOT_ID_MAX + 1];
    this_boot(boot);
    file_case_setup(&c, "pmem");
    c.durable = "false";
    ck_assert_msg(file_case_open(&c, "n", PAGE, 64 * PAGE, &err) == 0, "%s", err.message);
    put_page(&c.o, 3, 1, 0);
    close_store(&c.o);
    /* What a killed owner leaves: the mark of this boot. */
    patch_file(c.file, PMEM_UNSYNCED_BOOT, boot, strlen(boot));
    c.durable = NULL;
    ck_assert_msg(file_case_open(&c, "n", PAGE, 0, &err) == 0, "%s", err.message);
    expect_page(&c.o, 3, 1);
    read_unsynced_boot(c.file, mark);
    ck_assert_str_eq(mark, "");
    close_store(&c.o);

    static const char other[] = "00000000-0000-4000-8000-000000000000";
    patch_file(c.file, PMEM_UNSYNCED_BOOT, other, sizeof other - 1);
    expect_refusal(&c, "n", 0, -EIO, "path", "durable: false when the machine stopped");
    c.durable = "false";
    expect_refusal(&c, "n", 0, -EIO, "path", other);
    file_case_teardown(&c);
}
END_TEST

START_TEST(test_pmem_durable_takes_a_boolean)
{
    struct file_case c;
    tierpage_error err;
    file_case_setup(&c, "pmem");
    c.durable = "sometimes";
    ck_assert_int_eq(file_case_open(&c, "n", PAGE, 8 * PAGE, &err), -EINVAL);
    ck_assert_str_eq(err.key, "durable");
    ck_assert_ptr_null(c.o.store);
    c.durable = "no";
    ck_assert_msg(file_case_open(&c, "n", PAGE, 8 * PAGE, &err) == 0, "%s", err.message);
    put_page(&c.o, 1, 1, 0);
    expect_page(&c.o, 1, 1);
    file_case_teardown(&c);
}
END_TEST

/* A file of layout version 1 (no mark) still opens; version 3 does not. */
START_TEST(test_pmem_reads_layout_version_1)
{
    struct file_case c;
    tierpage_error err;
    file_case_setup(&c, "pmem");
    ck_assert_int_eq(file_case_open(&c, "n", PAGE, 8 * PAGE, &err), 0);
    put_page(&c.o, 5, 1, 0);
    close_store(&c.o);
    uint32_t version = 1;
    patch_file(c.file, 8, &version, sizeof version);
    ck_assert_msg(file_case_open(&c, "n", PAGE, 0, &err) == 0, "%s", err.message);
    expect_page(&c.o, 5, 1);
    close_store(&c.o);
    version = 3;
    patch_file(c.file, 8, &version, sizeof version);
    expect_refusal(&c, "n", 0, -EPROTO, "path", "layout version 3");
    file_case_teardown(&c);
}
END_TEST

START_TEST(test_pmem_unformatted_file_is_formatted)
{
    /* A file created but never formatted (a crash in the first open) reads
     * as all zeros; the next open formats it. */
    struct file_case c;
    tierpage_error err;
    file_case_setup(&c, "pmem");
    int fd = open(c.file, O_RDWR | O_CREAT, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, 1 << 16), 0);
    close(fd);
    ck_assert_msg(file_case_open(&c, "n", PAGE, 8 * PAGE, &err) == 0, "%s", err.message);
    put_page(&c.o, 1, 1, 0);
    ck_assert_uint_eq(usage_of(&c.o).capacity_bytes, 8 * PAGE);
    file_case_teardown(&c);
}
END_TEST

Suite *tt_pmem_suite(void)
{
    Suite *s = suite_create("pmem");
    TCase *tc = tcase_create("store");
    tcase_add_test(tc, test_pmem_reopen_keeps_pages);
    tcase_add_test(tc, test_pmem_rejects_other_page_size_namespace_capacity);
    tcase_add_test(tc, test_pmem_open_errors);
    tcase_add_test(tc, test_pmem_second_open_is_refused);
    tcase_add_test(tc, test_pmem_full_and_overwrites_while_full);
    tcase_add_test(tc, test_pmem_recovers_what_a_crash_leaves);
    tcase_add_test(tc, test_pmem_unformatted_file_is_formatted);
    tcase_add_test(tc, test_pmem_unsynced_survives_kill_at_any_moment);
    tcase_add_test(tc, test_pmem_unsynced_file_is_marked_while_open);
    tcase_add_test(tc, test_pmem_unsynced_file_is_synced_at_exit);
    tcase_add_test(tc, test_pmem_unsynced_file_from_another_boot_is_refused);
    tcase_add_test(tc, test_pmem_durable_takes_a_boolean);
    tcase_add_test(tc, test_pmem_reads_layout_version_1);
    suite_add_tcase(s, tc);
    return s;
}
