/* A stack a killed pager left, opened again without clearing its stores
 * (tp_private_stack_open_recovering): a dram pool file and a pmem file keep
 * the pages the killed pager had evicted, and list finds each of them. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core_fixture.h"
#include "evictor_thread.h"
#include "killed_child.h"
#include "page_map_file.h"
#include "stack_internal.h"
#include "tierpage_private.h"

#define PAGES 256u          /* 1 MiB served */
#define RESIDENT_PAGES 16u  /* resident: 64KiB */

/* Page i of the run: every word says i, so a page read back tells which
 * page it is, and whether it is whole. */
static uint64_t word_of(uint64_t i, size_t k)
{
    return (i << 32) ^ (k * 0x9E3779B97F4A7C15ull) ^ 0x5EC0FE12u;
}

static void fill_indexed(void *page, uint64_t i)
{
    uint64_t *w = page;
    for (size_t k = 0; k < PAGE / 8; k++)
        w[k] = word_of(i, k);
}

static int index_of(const void *page, uint64_t *i)
{
    const uint64_t *w = page;
    *i = (w[0] ^ 0x5EC0FE12u) >> 32;
    for (size_t k = 0; k < PAGE / 8; k++)
        if (w[k] != word_of(*i, k))
            return 0;
    return *i < PAGES;
}

static char dram_path[128], pmem_path[128], map_path[128];

static void stack_yaml(char *yaml, size_t len)
{
    snprintf(dram_path, sizeof dram_path, "/dev/shm/tierpage-test-%d-recover.dram", (int)getpid());
    snprintf(pmem_path, sizeof pmem_path, "/dev/shm/tierpage-test-%d-recover.pmem", (int)getpid());
    snprintf(map_path, sizeof map_path, "/dev/shm/tierpage-test-%d-recover.map", (int)getpid());
    snprintf(yaml, len,
             "name: recover\nresident: %uKiB\ntiers:\n"
             "  - plugin: dram\n    capacity: 256KiB\n    path: %s\n"
             "  - plugin: pmem\n    capacity: 4MiB\n    path: %s\n",
             RESIDENT_PAGES * PAGE / 1024, dram_path, pmem_path);
}

/* The same pages over a small dram tier and a pmem tier behind a write-back
 * queue (the faulty store, wrapping pmem, says it is a network store and
 * gets one), whose puts are slowed down now and then so that pages wait in
 * the queue: a page whose put is only queued must not be named stored
 * there by the map. */
static void queued_stack_yaml(char *yaml, size_t len)
{
    stack_yaml(yaml, len);
    snprintf(yaml, len,
             "name: recover\nresident: %uKiB\ntiers:\n"
             "  - plugin: dram\n    capacity: 64KiB\n    path: %s\n"
             "  - plugin: faulty\n    wrap: pmem\n    wrap.path: %s\n    capacity: 4MiB\n"
             "    writeback_queue: 64KiB\n    put_stall: 0.05\n    stall_time: 2ms\n",
             RESIDENT_PAGES * PAGE / 1024, dram_path, pmem_path);
}

/* Serves PAGES pages, writes each, tells its instance id on `fd`, and is
 * killed: nothing is closed, as when a pager dies. */
static void run_and_die(const char *yaml, int fd)
{
    tierpage_error err = {{0}, {0}};
    tp_stack *s = tp_stack_open_string(yaml, "test", &err);
    char *m = s ? tp_map(s, NULL, PAGES * PAGE, &err) : NULL;
    if (!m)
        _exit(3);
    for (uint64_t i = 0; i < PAGES; i++)
        fill_indexed(m + i * PAGE, i);
    const char *id = tp_private_stack_instance(s);
    if (write(fd, id, strlen(id)) != (ssize_t)strlen(id))
        _exit(3);
    raise(SIGKILL);
}

struct found {
    struct tp_tier *tier;
    unsigned seen[PAGES];
    uint64_t keys, torn;
};

static int check_key(void *ctx, uint64_t key)
{
    struct found *f = ctx;
    static unsigned char page[PAGE];
    tierpage_error err = {{0}, {0}};
    f->keys++;
    uint64_t i;
    if (f->tier->ops->get(f->tier->store, key, page, &err) != 0 || !index_of(page, &i))
        f->torn++;
    else
        f->seen[i]++;
    return 0;
}

static void list_tier(tp_stack *s, size_t t, struct found *f)
{
    tierpage_error err = {{0}, {0}};
    memset(f, 0, sizeof *f);
    f->tier = &s->tiers[t];
    ck_assert_msg(tp_private_stack_tier_list(s, t, check_key, f, &err) == 0, "%s", err.message);
}

START_TEST(recovering_open_keeps_what_a_killed_pager_left)
{
    char yaml[1024];
    stack_yaml(yaml, sizeof yaml);
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        run_and_die(yaml, fds[1]);
    }
    close(fds[1]);
    char instance[17] = {0};
    ck_assert_int_eq(read(fds[0], instance, 16), 16);
    close(fds[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the pager was not killed: 0x%x", status);

    tierpage_error err = {{0}, {0}};
    tp_stack *s = tp_private_stack_open_recovering(yaml, "test", instance, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    ck_assert_str_eq(tp_private_stack_instance(s), instance);
    static struct found dram, pmem;
    list_tier(s, 0, &dram);
    list_tier(s, 1, &pmem);
    ck_assert_uint_eq(dram.torn + pmem.torn, 0);
    ck_assert_uint_eq(dram.keys, 64); /* the cascade filled it */
    ck_assert_uint_gt(pmem.keys, 0);
    /* Every page but the resident ones was in a tier; one in the middle of
     * a move may be in both. */
    unsigned stored = 0;
    for (unsigned i = 0; i < PAGES; i++) {
        ck_assert_uint_le(dram.seen[i], 1);
        ck_assert_uint_le(pmem.seen[i], 1);
        stored += dram.seen[i] || pmem.seen[i];
    }
    ck_assert_msg(stored >= PAGES - RESIDENT_PAGES, "only %u of %u pages were found in the tiers", stored, PAGES);
    tp_stack_close(s);

    /* An ordinary open starts empty: it clears what the stores held. */
    s = open_stack(yaml);
    list_tier(s, 0, &dram);
    list_tier(s, 1, &pmem);
    ck_assert_uint_eq(dram.keys + pmem.keys, 0);
    ck_assert_str_ne(tp_private_stack_instance(s), instance);
    tp_stack_close(s);
    unlink(dram_path);
    unlink(pmem_path);
}
END_TEST

/* Page i at version v: word 0 is i, word 1 is v, the others follow from
 * both, so a page read back says which page and version it is, and
 * whether it is whole. */
static uint64_t versioned_word(uint64_t i, uint64_t v, size_t k)
{
    return (i * 0x9E3779B97F4A7C15ull) ^ (v << 40) ^ (k * 0xBF58476D1CE4E5B9ull);
}

static void fill_versioned(uint64_t *w, uint64_t i, uint64_t v)
{
    w[0] = i;
    w[1] = v;
    for (size_t k = 2; k < PAGE / 8; k++)
        w[k] = versioned_word(i, v, k);
}

static int is_versioned(const uint64_t *w, uint64_t i)
{
    if (w[0] != i)
        return 0;
    for (size_t k = 2; k < PAGE / 8; k++)
        if (w[k] != versioned_word(i, w[1], k))
            return 0;
    return 1;
}

/* Writes every page over and over, in rounds, so pages keep moving from
 * resident into dram and from dram into pmem, with the map in its file,
 * until it is killed. */
static void rewrite_until_killed(void *yaml_text, int fd)
{
    const char *yaml = yaml_text;
    tierpage_error err = {{0}, {0}};
    tp_stack *s = tp_stack_open_string(yaml, "test", &err);
    if (!s || tp_private_stack_keep_map_in(s, map_path, &err) < 0)
        _exit(3);
    uint64_t *m = tp_map(s, NULL, PAGES * PAGE, &err);
    if (!m)
        _exit(3);
    for (uint64_t i = 0; i < PAGES; i++)
        fill_versioned(m + i * (PAGE / 8), i, 1);
    if (write(fd, "r", 1) != 1)
        _exit(3);
    for (uint64_t v = 2;; v++)
        for (uint64_t i = 0; i < PAGES; i += 1 + v % 3)
            fill_versioned(m + i * (PAGE / 8), i, v);
}

struct map_pages {
    uint32_t count;
    uint32_t id[PAGES * 2];
    uint8_t tier[PAGES * 2], busy[PAGES * 2];
};

/* The stored pages of the map file: one region from id 0, so a page's id
 * is its index. */
static int collect_stored(void *ctx, const struct tp_page_chunk *c)
{
    struct map_pages *mp = ctx;
    for (uint32_t k = 0; k < TP_PAGE_CHUNK; k++) {
        const struct tp_page *p = &c->pages[k];
        if (p->state != TP_PAGE_STORED || mp->count == PAGES * 2)
            continue;
        mp->id[mp->count] = c->index * TP_PAGE_CHUNK + k;
        mp->tier[mp->count] = p->tier;
        mp->busy[mp->count] = (p->flags & TP_PAGE_BUSY) != 0;
        mp->count++;
    }
    return 0;
}

/* Whether tier t holds page id whole. */
static int tier_holds(tp_stack *s, size_t t, uint32_t id)
{
    static uint64_t page[PAGE / 8];
    tierpage_error err = {{0}, {0}};
    struct tp_tier *tier = &s->tiers[t];
    return tier->ops->get(tier->store, id, page, &err) == 0 && is_versioned(page, id);
}

/* A pager writing pages in rounds, its map in a file, is SIGKILLed at
 * random moments (mostly in eviction and demotion bursts: every round
 * evicts); each time the map file is read back and the stack recovered
 * under the instance the file names: every page the map says is stored
 * reads back whole, and as its page, from the tier the map names (a page
 * in the middle of a move, BUSY, from that tier or the one it was moving
 * from). Run twice: the second time the pmem tier is behind a write-back
 * queue, where a page's put waits while its other copy (the memfd's, or
 * the dram tier's for a demotion) must stay. */
START_TEST(every_stored_page_is_where_the_killed_pagers_map_says)
{
    char yaml[1024];
    if (_i == 0)
        stack_yaml(yaml, sizeof yaml);
    else
        queued_stack_yaml(yaml, sizeof yaml);
    srand((unsigned)getpid());
    uint64_t checked = 0;
    for (int kill_no = 0; kill_no < 10; kill_no++) {
        pid_t pid = killed_child_start(rewrite_until_killed, yaml);
        ck_assert_int_gt(pid, 0);
        ck_assert_int_eq(killed_child_kill(pid, 50000), 0);

        static struct map_pages mp;
        memset(&mp, 0, sizeof mp);
        struct tp_page_map_file_info info;
        char msg[256];
        ck_assert_msg(tp_page_map_file_read(map_path, collect_stored, &mp, &info, msg, sizeof msg) == 0, "%s", msg);
        ck_assert_uint_gt(mp.count, 0);
        tierpage_error err = {{0}, {0}};
        tp_stack *s = tp_private_stack_open_recovering(yaml, "test", info.instance, &err);
        ck_assert_msg(s != NULL, "kill %d: %s", kill_no, err.message);
        for (uint32_t n = 0; n < mp.count; n++) {
            uint32_t id = mp.id[n];
            ck_assert_uint_lt(id, PAGES);
            ck_assert_uint_lt(mp.tier[n], 2);
            int found = tier_holds(s, mp.tier[n], id) || (mp.busy[n] && tier_holds(s, 1 - mp.tier[n], id));
            ck_assert_msg(found, "kill %d: page %u, stored in tier %u by the map%s, is not there", kill_no, id,
                          mp.tier[n], mp.busy[n] ? " (moving)" : "");
            checked++;
        }
        tp_stack_close(s);
    }
    ck_assert_uint_gt(checked, 10 * (PAGES - RESIDENT_PAGES) / 2);
    unlink(dram_path);
    unlink(pmem_path);
    unlink(map_path);
}
END_TEST

START_TEST(recovering_needs_an_instance_id)
{
    char yaml[1024];
    stack_yaml(yaml, sizeof yaml);
    tierpage_error err = {{0}, {0}};
    ck_assert_ptr_null(tp_private_stack_open_recovering(yaml, "web.yaml", "12345", &err));
    ck_assert_ptr_nonnull(strstr(err.message, "web.yaml: cannot recover the stack of instance '12345'"));
    ck_assert_ptr_null(tp_private_stack_open_recovering(yaml, "web.yaml", "0123456789ABCDEF", &err));
    ck_assert_ptr_nonnull(strstr(err.message, "16 hex digits"));
}
END_TEST

START_TEST(a_store_without_list_says_so)
{
    tp_stack *s = open_stack("name: l\nresident: 64KiB\ntiers:\n  - plugin: faulty\n    wrap: dram\n"
                             "    capacity: 1MiB\n");
    tierpage_error err = {{0}, {0}};
    ck_assert_int_eq(tp_private_stack_tier_list(s, 0, check_key, NULL, &err), -ENOTSUP);
    ck_assert_ptr_nonnull(strstr(err.message, "tier 'faulty' (plugin faulty) cannot list"));
    ck_assert_int_eq(tp_private_stack_tier_list(s, 1, check_key, NULL, &err), -EINVAL);
    tp_stack_close(s);
}
END_TEST

/* A page map that names page `key` in tier t. */
static int map_names(tp_stack *s, uint64_t key, size_t t)
{
    tp_lock_take(&s->lock);
    const struct tp_page *p = key < TP_NIL ? tp_page_find(&s->pages.map, (uint32_t)key) : NULL;
    int named = p && p->tier == t;
    tp_lock_drop(&s->lock);
    return named;
}

struct named_keys {
    tp_stack *s;
    size_t tier;
    uint64_t keys, unnamed;
};

static int count_named(void *ctx, uint64_t key)
{
    struct named_keys *n = ctx;
    n->keys++;
    n->unnamed += !map_names(n->s, key, n->tier);
    return 0;
}

/* Copies a killed pager can leave in its dram pool and pmem file (a page
 * put into its new tier before the map named it there, an old copy not yet
 * deleted): the sweep deletes each key the map does not name in that tier,
 * and keeps every other; each tier then holds exactly the pages the map
 * names there, and every page reads back as written. */
START_TEST(the_sweep_frees_the_copies_no_page_names)
{
    char yaml[1024];
    stack_yaml(yaml, sizeof yaml);
    tp_stack *s = open_stack(yaml);
    tierpage_error err = {{0}, {0}};
    enum { WRITTEN = 40 }; /* 16 resident, 24 in dram (64 slots): room left there */
    unsigned char *m = tp_map(s, NULL, PAGES * PAGE, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    for (uint64_t i = 0; i < WRITTEN; i++)
        fill_indexed(m + i * PAGE, i);
    /* The map stays put from here (the sweep's contract): no background
     * eviction; the faults below evict on their own path. */
    tp_evictor_stop(s);
    uint32_t resident = TP_NIL;
    tp_lock_take(&s->lock);
    for (uint32_t i = 0; i < WRITTEN && resident == TP_NIL; i++) {
        const struct tp_page *p = tp_page_find(&s->pages.map, i);
        if (p && p->state == TP_PAGE_RESIDENT && p->tier == TP_NO_TIER)
            resident = i;
    }
    uint64_t dram_named = s->pages.tiers[0].count, pmem_named = s->pages.tiers[1].count;
    tp_lock_drop(&s->lock);
    ck_assert_uint_ne(resident, TP_NIL);
    ck_assert_uint_gt(dram_named, 0);

    /* The leftovers: a copy of a page the map names in no tier, a page
     * never written, keys of no page at all. */
    static unsigned char page[PAGE];
    struct tp_tier *dram = &s->tiers[0], *pmem = &s->tiers[1];
    fill_indexed(page, resident);
    ck_assert_int_eq(dram->ops->put(dram->store, resident, page, &err), 0);
    fill_indexed(page, WRITTEN);
    ck_assert_int_eq(dram->ops->put(dram->store, WRITTEN, page, &err), 0);
    ck_assert_int_eq(dram->ops->put(dram->store, 100000, page, &err), 0);
    ck_assert_int_eq(pmem->ops->put(pmem->store, 200000, page, &err), 0);
    struct named_keys n = {s, 0, 0, 0};
    ck_assert_int_eq(tp_private_stack_tier_list(s, 0, count_named, &n, &err), 0);
    ck_assert_uint_eq(n.keys, dram_named + 3);
    ck_assert_uint_eq(n.unnamed, 3);

    ck_assert_int_eq(tp_private_stack_sweep(s, &err), 4);
    for (size_t t = 0; t < 2; t++) {
        n = (struct named_keys){s, t, 0, 0};
        ck_assert_int_eq(tp_private_stack_tier_list(s, t, count_named, &n, &err), 0);
        ck_assert_uint_eq(n.keys, t == 0 ? dram_named : pmem_named);
        ck_assert_uint_eq(n.unnamed, 0);
        tierpage_store_usage usage = {0};
        ck_assert_int_eq(s->tiers[t].ops->usage(s->tiers[t].store, &usage, &err), 0);
        ck_assert_uint_eq(usage.pages, t == 0 ? dram_named : pmem_named);
    }
    ck_assert_int_eq(tp_private_stack_sweep(s, &err), 0);
    uint64_t i;
    for (uint64_t k = 0; k < WRITTEN; k++)
        ck_assert_msg(index_of(m + k * PAGE, &i) && i == k, "page %llu after the sweep", (unsigned long long)k);
    tp_stack_close(s);
    unlink(dram_path);
    unlink(pmem_path);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("recover");
    TCase *tc = tcase_create("recover");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, recovering_open_keeps_what_a_killed_pager_left);
    tcase_add_loop_test(tc, every_stored_page_is_where_the_killed_pagers_map_says, 0, 2);
    tcase_add_test(tc, recovering_needs_an_instance_id);
    tcase_add_test(tc, a_store_without_list_says_so);
    tcase_add_test(tc, the_sweep_frees_the_copies_no_page_names);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
