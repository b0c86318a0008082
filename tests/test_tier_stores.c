/* Tests of the built-in dram and pmem stores, through their shared objects. */
#include "test_tiers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader.h"

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
    tierpage_store_params params = {
        .namespace_name = ns, .page_size = page_size, .capacity = capacity,
        .options = options, .option_count = k2 ? 2 : k1 ? 1 : 0,
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

Suite *tt_dram_suite(void)
{
    Suite *s = suite_create("dram");
    TCase *tc = tcase_create("store");
    tcase_add_test(tc, test_dram_full_gives_enospc);
    tcase_add_test(tc, test_dram_batches_report_each_page);
    tcase_add_test(tc, test_dram_open_errors_name_the_key);
    suite_add_tcase(s, tc);
    return s;
}

/* ------------------------------------------------------------------ pmem */

struct pmem_case {
    char dir[4096];
    char file[4200];
    struct opened o;
};

static void pmem_setup(struct pmem_case *c)
{
    tt_make_temp_dir(c->dir, sizeof c->dir);
    snprintf(c->file, sizeof c->file, "%s/tier.pmem", c->dir);
    load(&c->o, "pmem");
}

static void pmem_teardown(struct pmem_case *c)
{
    if (c->o.store)
        close_store(&c->o);
    tp_plugin_unload(&c->o.plugin);
    tt_remove_temp_dir(c->dir);
}

static int pmem_open_ns(struct pmem_case *c, const char *ns, size_t page_size, uint64_t capacity,
                        tierpage_error *err)
{
    return open_with(&c->o, ns, page_size, capacity, "path", c->file, NULL, NULL, err);
}

START_TEST(test_pmem_reopen_keeps_pages)
{
    struct pmem_case c;
    tierpage_error err;
    pmem_setup(&c);
    ck_assert_msg(pmem_open_ns(&c, "vm-a", PAGE, 1 << 20, &err) == 0, "%s", err.message);
    for (uint64_t k = 0; k < 100; k++)
        put_page(&c.o, k * 3, 1, 0);
    for (uint64_t k = 0; k < 10; k++)
        put_page(&c.o, k * 3, 2, 0);
    for (uint64_t k = 95; k < 100; k++)
        ck_assert_int_eq(c.o.ops->del(c.o.store, k * 3, &err), 0);
    close_store(&c.o);

    /* Reopen without a capacity: the file's is used. */
    ck_assert_msg(pmem_open_ns(&c, "vm-a", PAGE, 0, &err) == 0, "%s", err.message);
    tierpage_store_usage u = usage_of(&c.o);
    ck_assert_uint_eq(u.pages, 95);
    ck_assert_uint_eq(u.capacity_bytes, 1 << 20);
    for (uint64_t k = 0; k < 95; k++)
        expect_page(&c.o, k * 3, k < 10 ? 2 : 1);
    for (uint64_t k = 95; k < 100; k++)
        expect_missing(&c.o, k * 3);
    close_store(&c.o);

    /* And with the same capacity given again. */
    ck_assert_msg(pmem_open_ns(&c, "vm-a", PAGE, 1 << 20, &err) == 0, "%s", err.message);
    expect_page(&c.o, 0, 2);
    pmem_teardown(&c);
}
END_TEST

START_TEST(test_pmem_rejects_other_page_size_namespace_capacity)
{
    struct pmem_case c;
    tierpage_error err;
    pmem_setup(&c);
    ck_assert_int_eq(pmem_open_ns(&c, "vm-a", PAGE, 1 << 20, &err), 0);
    put_page(&c.o, 1, 1, 0);
    close_store(&c.o);

    ck_assert_int_eq(pmem_open_ns(&c, "vm-a", 8192, 1 << 20, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "holds pages of 4096 bytes, this stack uses 8192-byte pages"));
    ck_assert_int_eq(pmem_open_ns(&c, "vm-b", PAGE, 1 << 20, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "belongs to namespace 'vm-a', not 'vm-b'"));
    ck_assert_int_eq(pmem_open_ns(&c, "vm-a", PAGE, 2 << 20, &err), -EINVAL);
    ck_assert_str_eq(err.key, "capacity");
    ck_assert_ptr_null(c.o.store);

    /* None of that harmed the file. */
    ck_assert_int_eq(pmem_open_ns(&c, "vm-a", PAGE, 0, &err), 0);
    expect_page(&c.o, 1, 1);
    pmem_teardown(&c);
}
END_TEST

START_TEST(test_pmem_open_errors)
{
    struct pmem_case c;
    tierpage_error err;
    pmem_setup(&c);
    ck_assert_int_eq(open_with(&c.o, "n", PAGE, 1 << 20, NULL, NULL, NULL, NULL, &err), -EINVAL);
    ck_assert_str_eq(err.key, "path");
    ck_assert_int_eq(open_with(&c.o, "n", PAGE, 1 << 20, "path", c.file, "sync", "always", &err), -EINVAL);
    ck_assert_str_eq(err.key, "sync");
    ck_assert_int_eq(pmem_open_ns(&c, "n", PAGE, 0, &err), -EINVAL);
    ck_assert_str_eq(err.key, "capacity");
    ck_assert_int_eq(access(c.file, F_OK), -1); /* no file left behind */

    FILE *f = fopen(c.file, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 2000; i++)
        fputs("not a page store ", f);
    fclose(f);
    ck_assert_int_eq(pmem_open_ns(&c, "n", PAGE, 1 << 20, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "is not a tierpage pmem file (bad magic)"));
    pmem_teardown(&c);
}
END_TEST

START_TEST(test_pmem_second_open_is_refused)
{
    struct pmem_case c;
    tierpage_error err;
    pmem_setup(&c);
    ck_assert_int_eq(pmem_open_ns(&c, "n", PAGE, 1 << 20, &err), 0);
    void *first = c.o.store;
    ck_assert_int_eq(pmem_open_ns(&c, "n", PAGE, 1 << 20, &err), -EBUSY);
    ck_assert_ptr_nonnull(strstr(err.message, "in use"));
    c.o.store = first;
    pmem_teardown(&c);
}
END_TEST

START_TEST(test_pmem_full_and_overwrites_while_full)
{
    struct pmem_case c;
    tierpage_error err;
    pmem_setup(&c);
    ck_assert_int_eq(pmem_open_ns(&c, "n", PAGE, 8 * PAGE, &err), 0);
    for (uint64_t k = 0; k < 8; k++)
        put_page(&c.o, k, 1, 0);
    put_page(&c.o, 8, 1, -ENOSPC);
    for (uint64_t gen = 2; gen < 5; gen++)
        for (uint64_t k = 0; k < 8; k++)
            put_page(&c.o, k, gen, 0);
    put_page(&c.o, 8, 1, -ENOSPC);
    ck_assert_uint_eq(usage_of(&c.o).pages, 8);
    close_store(&c.o);
    ck_assert_int_eq(pmem_open_ns(&c, "n", PAGE, 0, &err), 0);
    for (uint64_t k = 0; k < 8; k++)
        expect_page(&c.o, k, 4);
    put_page(&c.o, 8, 1, -ENOSPC);
    pmem_teardown(&c);
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
    struct pmem_case c;
    tierpage_error err;
    pmem_setup(&c);
    ck_assert_int_eq(pmem_open_ns(&c, "n", PAGE, 16 * PAGE, &err), 0);
    put_page(&c.o, 7, 1, 0); /* slot 0 */
    close_store(&c.o);

    int fd = open(c.file, O_RDWR);
    ck_assert_int_ge(fd, 0);
    char magic[8];
    ck_assert_int_eq(pread(fd, magic, 8, 0), 8);
    ck_assert(memcmp(magic, "TIERPMEM", 8) == 0);
    ck_assert_uint_eq(read_u64(fd, 8) & 0xffffffffu, 1); /* layout_version */
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

    ck_assert_msg(pmem_open_ns(&c, "n", PAGE, 0, &err) == 0, "%s", err.message);
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
    ck_assert_int_eq(pmem_open_ns(&c, "n", PAGE, 0, &err), 0);
    for (uint64_t k = 100; k < 115; k++)
        put_page(&c.o, k, 1, 0);
    put_page(&c.o, 200, 1, -ENOSPC);
    put_page(&c.o, 7, 3, 0);
    close_store(&c.o);
    ck_assert_int_eq(pmem_open_ns(&c, "n", PAGE, 0, &err), 0);
    expect_page(&c.o, 7, 3);
    ck_assert_uint_eq(usage_of(&c.o).pages, 16);
    pmem_teardown(&c);
}
END_TEST

START_TEST(test_pmem_unformatted_file_is_formatted)
{
    /* A file created but never formatted (a crash in the first open) reads
     * as all zeros; the next open formats it. */
    struct pmem_case c;
    tierpage_error err;
    pmem_setup(&c);
    int fd = open(c.file, O_RDWR | O_CREAT, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, 1 << 16), 0);
    close(fd);
    ck_assert_msg(pmem_open_ns(&c, "n", PAGE, 8 * PAGE, &err) == 0, "%s", err.message);
    put_page(&c.o, 1, 1, 0);
    ck_assert_uint_eq(usage_of(&c.o).capacity_bytes, 8 * PAGE);
    pmem_teardown(&c);
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
    suite_add_tcase(s, tc);
    return s;
}
