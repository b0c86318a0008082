/* The write-back queue (writeback.c) on its own, with a store that is full
 * and an owner that holds some pages BUSY: the queue must keep placing the
 * pages behind one it cannot place yet, and lose none. And puts waited
 * for (a stack whose state outlives the process): answered only once the
 * store has answered, refused pages handed back, dropped ones said so. And
 * batches: puts and deletes of different pages together, each page's in
 * order. And deletes of stale copies held back: a later put of the page
 * makes its delete needless, and a store full of stale copies gets their
 * deletes before a page is given up as refused. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "writeback.h"

#define PAGE 4096u
enum { IDS = 16, SLOTS = 4 };

/* The store and the tier below it, as the queue's target sees them. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int gate_open;           /* the store answers only once the test opens it */
static int busy[IDS];           /* pages the owner holds: "ask again later" */
static unsigned char below[IDS][PAGE];
static int placed_below[IDS], deleted[IDS];
static int failed;
static int put_result = -ENOSPC; /* what the store answers every put */
static int refused[IDS];        /* but these, refused as full */
static int full_until_deleted = -1; /* every put refused as full until this key is deleted */
static int puts_seen;           /* puts that reached the store, answered or not */
static unsigned char stored[IDS][PAGE];

void tp_fatal(const char *fmt, ...)
{
    ck_abort_msg("tp_fatal called: %s", fmt);
    abort();
}

static void wait_for_gate(void)
{
    pthread_mutex_lock(&lock);
    while (!gate_open)
        pthread_cond_wait(&changed, &lock);
    pthread_mutex_unlock(&lock);
}

/* Waits until the store has been asked for `puts` puts (held at the gate
 * while it is closed). */
static void wait_for_puts(int puts)
{
    pthread_mutex_lock(&lock);
    while (puts_seen < puts)
        pthread_cond_wait(&changed, &lock);
    pthread_mutex_unlock(&lock);
}

static void open_gate(void)
{
    pthread_mutex_lock(&lock);
    gate_open = 1;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
}

static void store_put(void *ctx, size_t n, const uint64_t *keys, const void *const *pages, int *results,
                      tierpage_error *err)
{
    (void)ctx, (void)err;
    pthread_mutex_lock(&lock);
    puts_seen += (int)n;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
    wait_for_gate();
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n; i++) {
        int full = full_until_deleted >= 0 && !deleted[full_until_deleted];
        results[i] = refused[keys[i]] || full ? -ENOSPC : put_result;
        if (results[i] == 0)
            memcpy(stored[keys[i]], pages[i], PAGE);
    }
    pthread_mutex_unlock(&lock);
}

static void store_del(void *ctx, size_t n, const uint64_t *keys, int *results, tierpage_error *err)
{
    (void)ctx, (void)err;
    wait_for_gate();
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n; i++) {
        deleted[keys[i]]++;
        results[i] = 0;
    }
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
}

static int store_full(void *ctx, struct tp_writeback *wb, uint32_t id, const void *page, tierpage_error *err)
{
    (void)ctx, (void)wb, (void)err;
    pthread_mutex_lock(&lock);
    int rc = -EAGAIN;
    if (!busy[id]) {
        memcpy(below[id], page, PAGE);
        placed_below[id]++;
        rc = 0;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

static void store_sent(void *ctx, size_t acknowledged, size_t refused)
{
    (void)ctx, (void)acknowledged, (void)refused;
}

static void store_failed(void *ctx, const char *why)
{
    (void)ctx;
    pthread_mutex_lock(&lock);
    failed = 1;
    pthread_mutex_unlock(&lock);
    fprintf(stderr, "queue failed: %s\n", why);
}

static void fill(unsigned char *page, uint32_t id, unsigned version)
{
    for (size_t i = 0; i < PAGE; i++)
        page[i] = (unsigned char)(id * 31u + version * 7u + i);
}

struct owner {
    struct tp_writeback *wb;
    uint32_t holds, puts;
    int done;
};

/* An evictor holding `holds` BUSY while it puts `puts`, which needs a slot
 * of the full queue; it lets `holds` go once its put is queued. */
static void *owner_main(void *arg)
{
    struct owner *o = arg;
    unsigned char page[PAGE];
    fill(page, o->puts, 1);
    tp_writeback_put(o->wb, o->puts, page);
    pthread_mutex_lock(&lock);
    busy[o->holds] = 0;
    o->done = 1;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
    return NULL;
}

START_TEST(a_page_held_busy_does_not_stop_the_pages_behind_it)
{
    struct tp_writeback_target target = {
        .name = "full", .put = store_put, .del = store_del, .full = store_full,
        .sent = store_sent, .failed = store_failed,
    };
    struct tp_writeback *wb;
    tierpage_error err = {{0}, {0}};
    ck_assert_int_eq(tp_writeback_start(&target, PAGE, SLOTS * PAGE, 0, 60ull * 1000000000, &wb, &err), 0);

    /* The queue's thread takes page 1 alone and waits at the gate; behind
     * it, three puts fill the queue (a delete takes no slot). Page 1's
     * owner holds it and needs a slot for page 5. */
    unsigned char page[PAGE];
    pthread_mutex_lock(&lock);
    busy[1] = 1;
    pthread_mutex_unlock(&lock);
    fill(page, 1, 0);
    tp_writeback_put(wb, 1, page);
    struct tp_writeback_stats st;
    while (tp_writeback_put_waiting(wb, 1)) {
        struct timespec nap = {0, 1000000};
        nanosleep(&nap, NULL);
    }
    tp_writeback_delete(wb, 9);
    for (uint32_t id = 2; id <= 4; id++) {
        fill(page, id, 0);
        tp_writeback_put(wb, id, page);
    }
    tp_writeback_stats(wb, &st);
    ck_assert_uint_eq(st.depth_pages, SLOTS);

    struct owner o = {wb, 1, 5, 0};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, owner_main, &o), 0);
    pthread_mutex_lock(&lock);
    gate_open = 1;
    pthread_cond_broadcast(&changed);
    /* Kept at the head, page 1 is asked about for ever and page 5 never
     * gets a slot: give up after a minute, which only a hang takes. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 60;
    int rc = 0;
    while (!o.done && rc == 0)
        rc = pthread_cond_timedwait(&changed, &lock, &until);
    int done = o.done;
    pthread_mutex_unlock(&lock);
    ck_assert_msg(done, "the owner of a busy page waited for room for ever");
    pthread_join(t, NULL);

    tp_writeback_flush(wb);
    tp_writeback_stop(wb);
    ck_assert_int_eq(failed, 0);
    ck_assert_int_eq(deleted[9], 1);
    const uint32_t expect[] = {1, 2, 3, 4, 5};
    const unsigned version[] = {0, 0, 0, 0, 1};
    for (size_t i = 0; i < 5; i++) {
        fill(page, expect[i], version[i]);
        ck_assert_msg(placed_below[expect[i]] == 1, "page %u placed %d times", expect[i], placed_below[expect[i]]);
        ck_assert_msg(memcmp(below[expect[i]], page, PAGE) == 0, "page %u placed with wrong data", expect[i]);
    }
}
END_TEST

/* While page 1's put is being sent, a newer put of it, deletes and puts
 * of other pages are queued: they go in one batch (a round trip each for
 * the store's deletes and puts, not one per run of a kind), and page 1's
 * newer copy is sent after the older one, so the store ends with it. */
START_TEST(puts_and_deletes_of_different_pages_share_a_batch_each_page_in_order)
{
    struct tp_writeback_target target = {
        .name = "mixed", .put = store_put, .del = store_del, .full = store_full,
        .sent = store_sent, .failed = store_failed,
    };
    struct tp_writeback *wb;
    tierpage_error err = {{0}, {0}};
    put_result = 0;
    ck_assert_int_eq(tp_writeback_start(&target, PAGE, 8 * PAGE, 0, 60ull * 1000000000, &wb, &err), 0);
    unsigned char page[PAGE];
    fill(page, 1, 0);
    tp_writeback_put(wb, 1, page);
    wait_for_puts(1); /* page 1 is being sent, held at the gate */
    fill(page, 1, 1);
    tp_writeback_put(wb, 1, page);
    tp_writeback_delete(wb, 2);
    fill(page, 3, 0);
    tp_writeback_put(wb, 3, page);
    tp_writeback_delete(wb, 4);
    fill(page, 5, 0);
    tp_writeback_put(wb, 5, page);
    open_gate();
    tp_writeback_flush(wb);

    struct tp_writeback_stats st;
    tp_writeback_stats(wb, &st);
    ck_assert_uint_eq(st.batches, 2);
    ck_assert_uint_eq(st.sent_pages, 4);
    ck_assert_uint_eq(st.deleted_pages, 2);
    ck_assert_int_eq(deleted[2], 1);
    ck_assert_int_eq(deleted[4], 1);
    const uint32_t ids[] = {1, 3, 5};
    const unsigned version[] = {1, 0, 0};
    for (size_t i = 0; i < 3; i++) {
        fill(page, ids[i], version[i]);
        ck_assert_msg(memcmp(stored[ids[i]], page, PAGE) == 0, "the store holds the wrong copy of page %u", ids[i]);
    }
    tp_writeback_stop(wb);
    ck_assert_int_eq(failed, 0);
}
END_TEST

static const struct tp_writeback_target gated_target = {
    .name = "gated", .put = store_put, .del = store_del, .full = store_full,
    .sent = store_sent, .failed = store_failed,
};

/* A queue of SLOTS pages holding up to stale_hold deletes, over the
 * gated store answering every put with success. */
static struct tp_writeback *start_holding(size_t stale_hold)
{
    struct tp_writeback *wb;
    tierpage_error err = {{0}, {0}};
    put_result = 0;
    ck_assert_int_eq(tp_writeback_start(&gated_target, PAGE, SLOTS * PAGE, stale_hold, 60ull * 1000000000, &wb,
                                        &err), 0);
    return wb;
}

struct acked_put {
    struct tp_writeback *wb;
    uint32_t id;
    int result, done;
};

static void *put_acked_main(void *arg)
{
    struct acked_put *a = arg;
    unsigned char page[PAGE];
    fill(page, a->id, 2);
    int rc = tp_writeback_put_acked(a->wb, a->id, page);
    pthread_mutex_lock(&lock);
    a->result = rc;
    a->done = 1;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
    return NULL;
}

/* Opens the gate once the store has been asked for `puts` puts, and
 * returns whether the putter was still waiting for its answer then. */
static int open_gate_after_puts(struct acked_put *a, int puts)
{
    pthread_mutex_lock(&lock);
    while (puts_seen < puts)
        pthread_cond_wait(&changed, &lock);
    int waiting = !a->done;
    gate_open = 1;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
    return waiting;
}

/* A queue whose store answers `result` to every put, once the test has
 * seen the putter wait for it: the put of page `id` waited for through
 * it, and its result. */
static int put_acked_through_gate(struct tp_writeback **wb, uint32_t id, int result)
{
    tierpage_error err = {{0}, {0}};
    put_result = result;
    ck_assert_int_eq(tp_writeback_start(&gated_target, PAGE, SLOTS * PAGE, 0, 60ull * 1000000000, wb, &err), 0);
    struct acked_put a = {*wb, id, 1, 0};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, put_acked_main, &a), 0);
    ck_assert_msg(open_gate_after_puts(&a, 1), "the put returned before the store answered it");
    pthread_join(t, NULL);
    return a.result;
}

/* The deferred release of a page's other copy (its memfd's, or a faster
 * tier's) rests on this: a put waited for returns only after the store
 * has answered it, with the page stored. */
START_TEST(a_put_waited_for_returns_once_the_store_holds_the_page)
{
    struct tp_writeback *wb;
    ck_assert_int_eq(put_acked_through_gate(&wb, 7, 0), 0);
    unsigned char page[PAGE];
    fill(page, 7, 2);
    ck_assert_msg(memcmp(stored[7], page, PAGE) == 0, "the store does not hold the page put");
    struct tp_writeback_stats st;
    tp_writeback_stats(wb, &st);
    ck_assert_uint_eq(st.depth_pages, 0);
    ck_assert_uint_eq(st.sent_pages, 1);
    tp_writeback_stop(wb);
}
END_TEST

/* Refused as full, a page waited for goes back to the thread that holds
 * it (the queue's owner is not asked to place it: its holder would keep
 * it "busy" for ever), and leaves the queue. */
START_TEST(a_put_waited_for_and_refused_as_full_is_handed_back)
{
    struct tp_writeback *wb;
    busy[3] = 1;
    ck_assert_int_eq(put_acked_through_gate(&wb, 3, -ENOSPC), -ENOSPC);
    ck_assert_int_eq(placed_below[3], 0);
    struct tp_writeback_stats st;
    tp_writeback_stats(wb, &st);
    ck_assert_uint_eq(st.depth_pages, 0);
    ck_assert_uint_eq(st.sent_pages, 0);
    unsigned char page[PAGE];
    ck_assert_int_eq(tp_writeback_get(wb, 3, page), -ENOENT);
    tp_writeback_stop(wb);
    ck_assert_int_eq(failed, 0);
}
END_TEST

/* A store that keeps failing past the timeout: the queue gives up, drops
 * its pages, and the thread waiting for one learns it was dropped. */
START_TEST(a_put_waited_for_and_dropped_says_so)
{
    struct tp_writeback *wb;
    tierpage_error err = {{0}, {0}};
    put_result = -EIO;
    gate_open = 1;
    ck_assert_int_eq(tp_writeback_start(&gated_target, PAGE, SLOTS * PAGE, 0, 0, &wb, &err), 0);
    struct acked_put a = {wb, 5, 1, 0};
    put_acked_main(&a);
    ck_assert_int_eq(a.result, -EIO);
    ck_assert_int_eq(failed, 1);
    tp_writeback_stop(wb);
}
END_TEST

/* Many puts in flight from one thread (an eviction batch): none is
 * answered before the store has answered it, each answer is its own page's
 * (a refused one handed back, the others stored), and one wait sees them
 * all. A batch whose pages were freed on a ticket answered early would
 * lose them: this is what lets the memfd's copy go. */
START_TEST(tickets_are_answered_only_once_the_store_answers_each_put)
{
    enum { PUTS = 6 };
    struct tp_writeback *wb;
    tierpage_error err = {{0}, {0}};
    put_result = 0;
    refused[4] = 1;
    ck_assert_int_eq(tp_writeback_start(&gated_target, PAGE, SLOTS * PAGE, 0, 60ull * 1000000000, &wb, &err), 0);
    struct tp_writeback_ticket tickets[PUTS];
    unsigned char page[PAGE];
    /* As many puts as the queue has slots, none answered while the store
     * holds them at the gate; then more, which wait for room that only
     * the answers to the first make. */
    for (uint32_t id = 0; id < SLOTS; id++) {
        fill(page, id, 3);
        tp_writeback_put_ticket(wb, id, page, &tickets[id]);
    }
    pthread_mutex_lock(&lock);
    while (puts_seen < 1)
        pthread_cond_wait(&changed, &lock);
    pthread_mutex_unlock(&lock);
    struct timespec nap = {0, 20000000};
    nanosleep(&nap, NULL); /* time for a wrong early answer to show */
    struct tp_writeback_stats st;
    tp_writeback_stats(wb, &st);
    ck_assert_uint_eq(st.depth_pages, SLOTS);
    pthread_mutex_lock(&lock);
    for (uint32_t id = 0; id < SLOTS; id++)
        ck_assert_msg(!__atomic_load_n(&tickets[id].done, __ATOMIC_ACQUIRE),
                      "put %u answered before the store answered it", id);
    gate_open = 1;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
    for (uint32_t id = SLOTS; id < PUTS; id++) {
        fill(page, id, 3);
        tp_writeback_put_ticket(wb, id, page, &tickets[id]);
    }
    tp_writeback_wait(wb, tickets, PUTS);
    for (uint32_t id = 0; id < PUTS; id++) {
        ck_assert_int_eq(tickets[id].done, 1);
        ck_assert_msg(tickets[id].result == (id == 4 ? -ENOSPC : 0), "put %u answered %d", id, tickets[id].result);
        fill(page, id, 3);
        if (id != 4)
            ck_assert_msg(memcmp(stored[id], page, PAGE) == 0, "the store does not hold page %u", id);
    }
    ck_assert_int_eq(placed_below[4], 0); /* handed back, not placed by the queue */
    ck_assert_int_eq(tp_writeback_get(wb, 4, page), -ENOENT);
    tp_writeback_stats(wb, &st);
    ck_assert_uint_eq(st.depth_pages, 0);
    ck_assert_uint_eq(st.sent_pages, PUTS - 1);
    tp_writeback_stop(wb);
    ck_assert_int_eq(failed, 0);
}
END_TEST

/* A queue that gives up answers every ticket, so a batch waiting on it
 * ends (and keeps its pages). */
START_TEST(tickets_of_a_dropped_queue_say_so)
{
    struct tp_writeback *wb;
    tierpage_error err = {{0}, {0}};
    put_result = -EIO;
    gate_open = 1;
    ck_assert_int_eq(tp_writeback_start(&gated_target, PAGE, SLOTS * PAGE, 0, 0, &wb, &err), 0);
    struct tp_writeback_ticket tickets[3];
    unsigned char page[PAGE];
    for (uint32_t id = 0; id < 3; id++) {
        fill(page, id, 1);
        tp_writeback_put_ticket(wb, id, page, &tickets[id]);
    }
    tp_writeback_wait(wb, tickets, 3);
    for (uint32_t id = 0; id < 3; id++)
        ck_assert_int_eq(tickets[id].result, -EIO);
    ck_assert_int_eq(failed, 1);
    tp_writeback_stop(wb);
}
END_TEST

/* Waits, for up to a minute, until the store has seen `count` deletes of
 * keys [first, first + n). */
static int wait_for_deletes(uint32_t first, uint32_t n, int count)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 60;
    pthread_mutex_lock(&lock);
    int seen = 0, rc = 0;
    while (rc == 0) {
        seen = 0;
        for (uint32_t id = first; id < first + n; id++)
            seen += deleted[id];
        if (seen >= count)
            break;
        rc = pthread_cond_timedwait(&changed, &lock, &until);
    }
    pthread_mutex_unlock(&lock);
    return seen;
}

START_TEST(a_put_of_a_page_makes_its_held_delete_needless)
{
    gate_open = 1;
    struct tp_writeback *wb = start_holding(8);
    for (uint32_t id = 1; id <= 4; id++)
        tp_writeback_delete(wb, id);
    unsigned char page[PAGE], got[PAGE];
    /* The store's copy is stale while its delete is held: never read. */
    ck_assert_int_eq(tp_writeback_get(wb, 2, got), -ENODATA);
    fill(page, 2, 1);
    tp_writeback_put(wb, 2, page);
    tp_writeback_flush(wb);

    struct tp_writeback_stats st;
    tp_writeback_stats(wb, &st);
    ck_assert_uint_eq(st.deletes_overwritten, 1);
    ck_assert_uint_eq(st.deleted_pages, 3);
    ck_assert_uint_eq(st.stale_held, 0);
    const int expect_deleted[] = {0, 1, 0, 1, 1};
    for (uint32_t id = 1; id <= 4; id++)
        ck_assert_msg(deleted[id] == expect_deleted[id], "page %u deleted %d times", id, deleted[id]);
    ck_assert_msg(memcmp(stored[2], page, PAGE) == 0, "the store holds the wrong copy of page 2");
    ck_assert_int_eq(tp_writeback_get(wb, 2, got), -ENOENT);
    tp_writeback_stop(wb);
    ck_assert_int_eq(failed, 0);
}
END_TEST

/* A page deleted while its put is being sent reads as stale, not as the
 * copy being sent; put again, as its new copy. */
START_TEST(a_page_deleted_while_its_put_is_sent_reads_as_stale)
{
    struct tp_writeback *wb = start_holding(8);
    unsigned char page[PAGE], got[PAGE];
    fill(page, 1, 0);
    tp_writeback_put(wb, 1, page);
    wait_for_puts(1); /* being sent, held at the gate */
    tp_writeback_delete(wb, 1);
    ck_assert_int_eq(tp_writeback_get(wb, 1, got), -ENODATA);
    fill(page, 1, 1);
    tp_writeback_put(wb, 1, page);
    ck_assert_int_eq(tp_writeback_get(wb, 1, got), 0);
    ck_assert_msg(memcmp(got, page, PAGE) == 0, "the queue gave an older copy of page 1");
    open_gate();
    tp_writeback_flush(wb);
    ck_assert_int_eq(deleted[1], 0);
    ck_assert_msg(memcmp(stored[1], page, PAGE) == 0, "the store holds the wrong copy of page 1");
    tp_writeback_stop(wb);
    ck_assert_int_eq(failed, 0);
}
END_TEST

START_TEST(deletes_over_the_hold_are_sent_oldest_first_the_rest_at_stop)
{
    gate_open = 1;
    struct tp_writeback *wb = start_holding(4);
    for (uint32_t id = 1; id <= 10; id++)
        tp_writeback_delete(wb, id);
    ck_assert_int_eq(wait_for_deletes(1, 6, 6), 6);
    struct tp_writeback_stats st;
    tp_writeback_stats(wb, &st);
    ck_assert_uint_eq(st.stale_held, 4);
    pthread_mutex_lock(&lock);
    for (uint32_t id = 1; id <= 10; id++)
        ck_assert_msg(deleted[id] == (id <= 6), "page %u deleted %d times", id, deleted[id]);
    pthread_mutex_unlock(&lock);
    tp_writeback_stop(wb);
    for (uint32_t id = 1; id <= 10; id++)
        ck_assert_msg(deleted[id] == 1, "page %u deleted %d times", id, deleted[id]);
}
END_TEST

START_TEST(a_store_full_of_stale_copies_gets_their_deletes_before_a_page_is_refused)
{
    gate_open = 1;
    full_until_deleted = 7;
    struct tp_writeback *wb = start_holding(8);
    tp_writeback_delete(wb, 7);
    unsigned char page[PAGE];
    fill(page, 3, 0);
    tp_writeback_put(wb, 3, page);
    tp_writeback_flush(wb);
    ck_assert_int_eq(placed_below[3], 0);
    ck_assert_int_eq(deleted[7], 1);
    ck_assert_msg(memcmp(stored[3], page, PAGE) == 0, "the store holds the wrong copy of page 3");
    tp_writeback_stop(wb);
    ck_assert_int_eq(failed, 0);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("writeback queue");
    TCase *tc = tcase_create("full store");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, a_page_held_busy_does_not_stop_the_pages_behind_it);
    tcase_add_test(tc, puts_and_deletes_of_different_pages_share_a_batch_each_page_in_order);
    suite_add_tcase(suite, tc);
    TCase *acked = tcase_create("puts waited for");
    tcase_set_timeout(acked, 120);
    tcase_add_test(acked, a_put_waited_for_returns_once_the_store_holds_the_page);
    tcase_add_test(acked, a_put_waited_for_and_refused_as_full_is_handed_back);
    tcase_add_test(acked, a_put_waited_for_and_dropped_says_so);
    tcase_add_test(acked, tickets_are_answered_only_once_the_store_answers_each_put);
    tcase_add_test(acked, tickets_of_a_dropped_queue_say_so);
    suite_add_tcase(suite, acked);
    TCase *held = tcase_create("held deletes");
    tcase_set_timeout(held, 120);
    tcase_add_test(held, a_put_of_a_page_makes_its_held_delete_needless);
    tcase_add_test(held, a_page_deleted_while_its_put_is_sent_reads_as_stale);
    tcase_add_test(held, deletes_over_the_hold_are_sent_oldest_first_the_rest_at_stop);
    tcase_add_test(held, a_store_full_of_stale_copies_gets_their_deletes_before_a_page_is_refused);
    suite_add_tcase(suite, held);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failures = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
