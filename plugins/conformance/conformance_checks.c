/* The checks of the conformance kit. See conformance.c for what the kit
 * accepts where the ABI leaves room.
 *
 * The store is opened once per run; every check puts, reads and deletes its
 * own keys in it and leaves it as it found it. Page contents are a
 * pseudo-random pattern drawn from the key and a generation number, so a
 * page read back under the wrong key, or an old version of a page, is
 * caught. */
#include "conformance_kit.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------- checks */

static void check_round_trip(struct kit *kit)
{
    const char *check = "round trip";
    uint64_t n = kit_room_for(kit, 256), before, after;
    uint64_t first = kit_take_keys(kit, n);
    if (kit_usage_pages(kit, check, &before))
        return;
    if (kit_put_and_verify(kit, check, first, n, 1)) {
        kit_del_range(kit, first, n);
        return;
    }
    if (kit_usage_pages(kit, check, &after))
        goto out;
    if (after != before + n) {
        kit_fail(kit, check, "usage counted %" PRIu64 " pages after %" PRIu64 " puts (was %" PRIu64 ")", after, n, before);
        goto out;
    }
    kit_pass(kit, check, "%" PRIu64 " pages put and read back", n);
out:
    kit_del_range(kit, first, n);
}

static void check_missing_key(struct kit *kit)
{
    const char *check = "missing key";
    tierpage_error err;
    unsigned char *page = malloc(kit->page_size);
    if (!page) {
        kit_fail(kit, check, "out of memory");
        return;
    }
    uint64_t key = kit_take_keys(kit, 1);
    int rc = kit_get(kit, key, page, &err);
    if (rc != -ENOENT)
        kit_fail(kit, check, "get of a key never put returned %s, expected -ENOENT", kit_why(rc, &err));
    else
        kit_pass(kit, check, "get of a key never put returns -ENOENT");
    free(page);
}

static void check_overwrite(struct kit *kit)
{
    const char *check = "overwrite";
    uint64_t key = kit_take_keys(kit, 1), before, after;
    if (kit_usage_pages(kit, check, &before))
        return;
    if (kit_put_and_verify(kit, check, key, 1, 1) || kit_put_and_verify(kit, check, key, 1, 2))
        goto out;
    if (kit_usage_pages(kit, check, &after))
        goto out;
    if (after != before + 1) {
        kit_fail(kit, check, "usage counted %" PRIu64 " pages for one key put twice (was %" PRIu64 ")", after, before);
        goto out;
    }
    kit_pass(kit, check, "second put of a key replaces its page and counts once");
out:
    kit_del_range(kit, key, 1);
}

static void check_delete(struct kit *kit)
{
    const char *check = "delete";
    tierpage_error err;
    uint64_t key = kit_take_keys(kit, 1), before, after;
    unsigned char *page = malloc(kit->page_size);
    if (!page) {
        kit_fail(kit, check, "out of memory");
        return;
    }
    if (kit_usage_pages(kit, check, &before) || kit_put_and_verify(kit, check, key, 1, 1))
        goto out;
    int rc = kit_del(kit, key, &err);
    if (rc) {
        kit_fail(kit, check, "delete of a stored key returned %s", kit_why(rc, &err));
        goto out;
    }
    rc = kit_get(kit, key, page, &err);
    if (rc != -ENOENT) {
        kit_fail(kit, check, "get after delete returned %s, expected -ENOENT", kit_why(rc, &err));
        goto out;
    }
    if (kit_usage_pages(kit, check, &after))
        goto out;
    if (after != before) {
        kit_fail(kit, check, "usage counts %" PRIu64 " pages after put and delete, %" PRIu64 " before", after, before);
        goto out;
    }
    kit_pass(kit, check, "get after delete returns -ENOENT, usage back to %" PRIu64 " pages", after);
out:
    kit_del_range(kit, key, 1);
    free(page);
}

static void check_delete_missing(struct kit *kit)
{
    const char *check = "delete missing";
    tierpage_error err;
    int rc = kit_del(kit, kit_take_keys(kit, 1), &err);
    if (rc == -ENOENT)
        kit_pass(kit, check, "delete of a key never put returns -ENOENT");
    else if (rc == 0)
        kit_pass(kit, check, "delete of a key never put returns 0 (accepted; -ENOENT preferred)");
    else
        kit_fail(kit, check, "delete of a key never put returned %s, expected -ENOENT or 0", kit_why(rc, &err));
}

/* Batch checks use the store's own batch calls for both directions when it
 * has them, and single calls for the direction it lacks. */
static void check_batch(struct kit *kit)
{
    const char *check = "batch";
    if (!kit->ops->get_batch && !kit->ops->put_batch) {
        kit_skip(kit, check, "the store provides no get_batch or put_batch");
        return;
    }
    enum { N = 64 };
    uint64_t n = kit_room_for(kit, N);
    uint64_t keys[N];
    void *pages[N];
    int results[N];
    tierpage_error err;
    unsigned char *buf = calloc(N, kit->page_size), *scratch = malloc(kit->page_size);
    uint64_t first = kit_take_keys(kit, n);
    if (!buf || !scratch) {
        kit_fail(kit, check, "out of memory");
        goto out;
    }
    for (uint64_t i = 0; i < n; i++) {
        keys[i] = first + i;
        pages[i] = buf + i * kit->page_size;
        kit_fill_page(pages[i], kit->page_size, keys[i], 7);
    }

    if (kit->ops->put_batch) {
        memset(&err, 0, sizeof err);
        for (uint64_t i = 0; i < n; i++)
            results[i] = 12345;
        kit_lock_if_serial(kit);
        int rc = kit->ops->put_batch(kit->store, n, keys, (const void *const *)pages, results, &err);
        kit_unlock_if_serial(kit);
        for (uint64_t i = 0; i < n; i++) {
            if (results[i] != 0) {
                kit_fail(kit, check, "put_batch of %" PRIu64 " pages: page %" PRIu64 " got result %s", n, i + 1,
                     kit_errname(results[i]));
                goto out;
            }
        }
        if (rc != 0) {
            kit_fail(kit, check, "put_batch returned %s though every page succeeded", kit_why(rc, &err));
            goto out;
        }
    } else {
        for (uint64_t i = 0; i < n; i++) {
            int rc = kit_put(kit, keys[i], pages[i], &err);
            if (rc) {
                kit_fail(kit, check, "put returned %s", kit_why(rc, &err));
                goto out;
            }
        }
    }

    memset(buf, 0, n * kit->page_size);
    if (kit->ops->get_batch) {
        memset(&err, 0, sizeof err);
        for (uint64_t i = 0; i < n; i++)
            results[i] = 12345;
        kit_lock_if_serial(kit);
        int rc = kit->ops->get_batch(kit->store, n, keys, pages, results, &err);
        kit_unlock_if_serial(kit);
        for (uint64_t i = 0; i < n; i++) {
            if (results[i] != 0) {
                kit_fail(kit, check, "get_batch of %" PRIu64 " pages: page %" PRIu64 " got result %s", n, i + 1,
                     kit_errname(results[i]));
                goto out;
            }
        }
        if (rc != 0) {
            kit_fail(kit, check, "get_batch returned %s though every page succeeded", kit_why(rc, &err));
            goto out;
        }
    } else {
        for (uint64_t i = 0; i < n; i++) {
            int rc = kit_get(kit, keys[i], pages[i], &err);
            if (rc) {
                kit_fail(kit, check, "get returned %s", kit_why(rc, &err));
                goto out;
            }
        }
    }
    for (uint64_t i = 0; i < n; i++) {
        long bad = kit_check_page(pages[i], kit->page_size, keys[i], 7, scratch);
        if (bad >= 0) {
            kit_fail(kit, check, "page %" PRIu64 " of the batch read back wrong from byte %ld", i + 1, bad);
            goto out;
        }
    }
    kit_pass(kit, check, "%" PRIu64 " pages through %s and read back through %s", n,
         kit->ops->put_batch ? "put_batch" : "put", kit->ops->get_batch ? "get_batch" : "get");
out:
    kit_del_range(kit, first, n);
    free(buf);
    free(scratch);
}

static void check_batch_missing(struct kit *kit)
{
    const char *check = "batch with missing keys";
    if (!kit->ops->get_batch) {
        kit_skip(kit, check, "the store provides no get_batch");
        return;
    }
    enum { N = 16 };
    uint64_t keys[N];
    void *pages[N];
    int results[N];
    tierpage_error err;
    unsigned char *buf = calloc(N, kit->page_size), *scratch = malloc(kit->page_size);
    uint64_t first = kit_take_keys(kit, N);
    if (!buf || !scratch) {
        kit_fail(kit, check, "out of memory");
        goto out;
    }
    /* Even positions hold pages, odd ones were never put. */
    for (int i = 0; i < N; i++) {
        keys[i] = first + (uint64_t)i;
        pages[i] = buf + (size_t)i * kit->page_size;
        if (i % 2 == 0) {
            kit_fill_page(pages[i], kit->page_size, keys[i], 3);
            int rc = kit_put(kit, keys[i], pages[i], &err);
            if (rc) {
                kit_fail(kit, check, "put returned %s", kit_why(rc, &err));
                goto out;
            }
        }
    }
    memset(buf, 0, (size_t)N * kit->page_size);
    memset(&err, 0, sizeof err);
    for (int i = 0; i < N; i++)
        results[i] = 12345;
    kit_lock_if_serial(kit);
    int rc = kit->ops->get_batch(kit->store, N, keys, pages, results, &err);
    kit_unlock_if_serial(kit);
    for (int i = 0; i < N; i++) {
        int want = i % 2 == 0 ? 0 : -ENOENT;
        if (results[i] != want) {
            kit_fail(kit, check, "key %d of %d (%s) got result %s, expected %s", i + 1, N,
                 i % 2 == 0 ? "stored" : "missing", kit_errname(results[i]), kit_errname(want));
            goto out;
        }
        if (want == 0) {
            long bad = kit_check_page(pages[i], kit->page_size, keys[i], 3, scratch);
            if (bad >= 0) {
                kit_fail(kit, check, "stored page %d read back wrong from byte %ld", i + 1, bad);
                goto out;
            }
        }
    }
    if (rc != -ENOENT) {
        kit_fail(kit, check, "get_batch returned %s, expected the first failure, -ENOENT", kit_why(rc, &err));
        goto out;
    }
    kit_pass(kit, check, "get_batch of %d keys, half missing: per-key -ENOENT, stored pages intact", N);
out:
    kit_del_range(kit, first, N);
    free(buf);
    free(scratch);
}

/* Even positions hold pages, odd ones were never put: del_batch deletes
 * the stored ones and says which were missing, and every key reads as
 * missing after it. */
static void check_batch_delete(struct kit *kit)
{
    const char *check = "batch delete";
    if (!kit->ops->del_batch) {
        kit_skip(kit, check, "the store provides no del_batch");
        return;
    }
    enum { N = 16 };
    uint64_t keys[N], before, after;
    int results[N];
    tierpage_error err;
    unsigned char *page = malloc(kit->page_size);
    uint64_t first = kit_take_keys(kit, N);
    if (!page) {
        kit_fail(kit, check, "out of memory");
        goto out;
    }
    if (kit_usage_pages(kit, check, &before))
        goto out;
    for (int i = 0; i < N; i++) {
        keys[i] = first + (uint64_t)i;
        if (i % 2 == 0 && kit_put_and_verify(kit, check, keys[i], 1, 5))
            goto out;
    }
    memset(&err, 0, sizeof err);
    for (int i = 0; i < N; i++)
        results[i] = 12345;
    kit_lock_if_serial(kit);
    int rc = kit->ops->del_batch(kit->store, N, keys, results, &err);
    kit_unlock_if_serial(kit);
    for (int i = 0; i < N; i++) {
        int ok = results[i] == 0 || (i % 2 == 1 && results[i] == -ENOENT);
        if (!ok) {
            kit_fail(kit, check, "key %d of %d (%s) got result %s, expected %s", i + 1, N,
                     i % 2 == 0 ? "stored" : "missing", kit_errname(results[i]), i % 2 == 0 ? "0" : "-ENOENT or 0");
            goto out;
        }
    }
    if (rc != 0) {
        kit_fail(kit, check, "del_batch returned %s though no key failed", kit_why(rc, &err));
        goto out;
    }
    for (int i = 0; i < N; i++) {
        rc = kit_get(kit, keys[i], page, &err);
        if (rc != -ENOENT) {
            kit_fail(kit, check, "get of key %d after del_batch returned %s, expected -ENOENT", i + 1,
                     kit_why(rc, &err));
            goto out;
        }
    }
    if (kit_usage_pages(kit, check, &after))
        goto out;
    if (after != before) {
        kit_fail(kit, check, "usage counts %" PRIu64 " pages after puts and del_batch, %" PRIu64 " before", after,
                 before);
        goto out;
    }
    kit_pass(kit, check, "del_batch of %d keys, half missing: every key gone, usage back to %" PRIu64 " pages", N,
             after);
out:
    kit_del_range(kit, first, N);
    free(page);
}

struct thread_job {
    struct kit *kit;
    uint64_t first, count;
    int rounds;
    char error[200];
};

static void *thread_main(void *arg)
{
    struct thread_job *job = arg;
    struct kit *kit = job->kit;
    tierpage_error err;
    unsigned char *page = malloc(kit->page_size), *scratch = malloc(kit->page_size);
    if (!page || !scratch) {
        snprintf(job->error, sizeof job->error, "out of memory");
        goto out;
    }
    for (int round = 0; round < job->rounds; round++) {
        for (uint64_t i = 0; i < job->count; i++) {
            kit_fill_page(page, kit->page_size, job->first + i, (uint64_t)round + 100);
            int rc = kit_put(kit, job->first + i, page, &err);
            if (rc) {
                snprintf(job->error, sizeof job->error, "put returned %s", kit_why(rc, &err));
                goto out;
            }
        }
        for (uint64_t i = 0; i < job->count; i++) {
            int rc = kit_get(kit, job->first + i, page, &err);
            if (rc) {
                snprintf(job->error, sizeof job->error, "get returned %s", kit_why(rc, &err));
                goto out;
            }
            long bad = kit_check_page(page, kit->page_size, job->first + i, (uint64_t)round + 100, scratch);
            if (bad >= 0) {
                snprintf(job->error, sizeof job->error, "round %d: page %" PRIu64 " read back wrong from byte %ld",
                         round + 1, i + 1, bad);
                goto out;
            }
        }
    }
    for (uint64_t i = 0; i < job->count; i++) {
        int rc = kit_del(kit, job->first + i, &err);
        if (rc) {
            snprintf(job->error, sizeof job->error, "delete returned %s", kit_why(rc, &err));
            goto out;
        }
    }
out:
    free(page);
    free(scratch);
    return NULL;
}

static void check_threads(struct kit *kit)
{
    const char *check = "threads";
    uint64_t per_thread = kit_room_for(kit, KIT_THREADS * 128) / KIT_THREADS;
    if (per_thread == 0)
        per_thread = 1;
    struct thread_job jobs[KIT_THREADS];
    pthread_t threads[KIT_THREADS];
    int started = 0;
    uint64_t first = kit_take_keys(kit, per_thread * KIT_THREADS);
    for (int t = 0; t < KIT_THREADS; t++) {
        jobs[t] = (struct thread_job){ .kit = kit, .first = first + (uint64_t)t * per_thread,
                                       .count = per_thread, .rounds = 3 };
        if (pthread_create(&threads[t], NULL, thread_main, &jobs[t]) != 0) {
            snprintf(jobs[t].error, sizeof jobs[t].error, "cannot start the thread");
            break;
        }
        started++;
    }
    for (int t = 0; t < started; t++)
        pthread_join(threads[t], NULL);
    for (int t = 0; t < KIT_THREADS; t++) {
        if (jobs[t].error[0]) {
            kit_fail(kit, check, "thread %d: %s", t + 1, jobs[t].error);
            kit_del_range(kit, first, per_thread * KIT_THREADS);
            return;
        }
    }
    kit_pass(kit, check, "%d threads at once, %" PRIu64 " keys each, 3 rounds of put and verified get, then delete",
         KIT_THREADS, per_thread);
}

/* Fills the store until it says full, then checks that full is handled as
 * the core needs: usage adds up, an overwrite keeps the page, a delete makes
 * room for a new key. */
static void check_full(struct kit *kit)
{
    const char *check = "full";
    tierpage_store_usage u;
    tierpage_error err;
    if (kit_usage(kit, &u, &err) != 0) {
        kit_fail(kit, check, "usage failed: %s", kit_why(-1, &err));
        return;
    }
    if (u.capacity_bytes == 0) {
        kit_skip(kit, check, "the store reports no capacity");
        return;
    }
    uint64_t before = u.pages;
    uint64_t cap = u.capacity_bytes / kit->page_size;
    uint64_t limit = cap + 1024;
    uint64_t first = kit_take_keys(kit, limit + 1);
    uint64_t filled = 0;
    unsigned char *page = malloc(kit->page_size), *scratch = malloc(kit->page_size);
    if (!page || !scratch) {
        kit_fail(kit, check, "out of memory");
        goto out;
    }
    int rc = 0;
    for (; filled < limit; filled++) {
        kit_fill_page(page, kit->page_size, first + filled, 1);
        rc = kit_put(kit, first + filled, page, &err);
        if (rc)
            break;
    }
    if (rc != -ENOSPC) {
        if (rc == 0)
            kit_fail(kit, check, "%" PRIu64 " puts into a store of %" PRIu64 " pages and none refused with -ENOSPC",
                 filled, cap);
        else
            kit_fail(kit, check, "put %" PRIu64 " failed with %s instead of -ENOSPC", filled + 1, kit_why(rc, &err));
        goto out;
    }
    if (filled == 0) {
        kit_fail(kit, check, "the first put was refused with -ENOSPC");
        goto out;
    }
    if (kit_usage(kit, &u, &err) != 0) {
        kit_fail(kit, check, "usage failed when full: %s", kit_why(-1, &err));
        goto out;
    }
    if (u.pages != before + filled) {
        kit_fail(kit, check, "usage counts %" PRIu64 " pages when full; %" PRIu64 " were there and %" PRIu64 " put",
             u.pages, before, filled);
        goto out;
    }
    if (u.used_bytes > u.capacity_bytes) {
        kit_fail(kit, check, "usage says %" PRIu64 " bytes used of a capacity of %" PRIu64, u.used_bytes,
             u.capacity_bytes);
        goto out;
    }

    /* An overwrite while full: it may succeed or be refused, but a refused
     * put must leave the old page in place. */
    const char *overwrite_note;
    uint64_t victim = first + filled / 2;
    kit_fill_page(page, kit->page_size, victim, 2);
    rc = kit_put(kit, victim, page, &err);
    uint64_t victim_gen = rc == 0 ? 2 : 1;
    if (rc != 0 && rc != -ENOSPC) {
        kit_fail(kit, check, "overwrite while full returned %s", kit_why(rc, &err));
        goto out;
    }
    overwrite_note = rc == 0 ? "overwrite while full works" : "overwrite while full refused, old page kept";
    rc = kit_get(kit, victim, page, &err);
    if (rc || kit_check_page(page, kit->page_size, victim, victim_gen, scratch) >= 0) {
        kit_fail(kit, check, "after an overwrite while full the page reads back %s",
             rc ? kit_why(rc, &err) : "wrong");
        goto out;
    }

    uint64_t extra = first + filled;
    rc = kit_del(kit, first, &err);
    if (rc) {
        kit_fail(kit, check, "delete when full returned %s", kit_why(rc, &err));
        goto out;
    }
    kit_fill_page(page, kit->page_size, extra, 1);
    rc = kit_put(kit, extra, page, &err);
    if (rc) {
        kit_fail(kit, check, "put after a delete made room returned %s", kit_why(rc, &err));
        goto out;
    }
    /* Spot-check pages written before the store filled up. */
    uint64_t samples[] = { first + 1, first + filled / 3, first + filled - 1, extra };
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        uint64_t key = samples[i];
        if (key == first || (key >= first + filled && key != extra))
            continue;
        rc = kit_get(kit, key, page, &err);
        uint64_t gen = key == victim ? victim_gen : 1;
        if (rc || kit_check_page(page, kit->page_size, key, gen, scratch) >= 0) {
            kit_fail(kit, check, "page %" PRIu64 " read back %s after filling", key - first + 1,
                 rc ? kit_why(rc, &err) : "wrong");
            goto out;
        }
    }
    kit_pass(kit, check, "%" PRIu64 " pages put until -ENOSPC (capacity %" PRIu64 " pages), usage consistent; %s; "
                     "delete then put works",
         filled, cap, overwrite_note);
out:
    kit_del_range(kit, first, filled + 1);
    free(page);
    free(scratch);
}

static void check_persistence(struct kit *kit)
{
    const char *check = "persistence";
    /* An instance may say what it is itself (the dram store on a file). */
    uint32_t flags = kit->ops->instance_flags ? kit->ops->instance_flags(kit->store) : kit->ops->flags;
    if (!(flags & TIERPAGE_STORE_PERSISTENT)) {
        kit_skip(kit, check, "the store does not declare TIERPAGE_STORE_PERSISTENT");
        return;
    }
    tierpage_error err;
    uint64_t n = kit_room_for(kit, 64), before, after;
    uint64_t first = kit_take_keys(kit, n);
    if (kit_usage_pages(kit, check, &before) || kit_put_and_verify(kit, check, first, n, 5)) {
        kit_del_range(kit, first, n);
        return;
    }
    kit->ops->close(kit->store);
    kit->store = NULL;
    int rc = kit_open(kit, &kit->params, &kit->store, &err);
    if (rc) {
        kit->store = NULL;
        kit_fail(kit, check, "reopen after close failed: %s", kit_why(rc, &err));
        return;
    }
    unsigned char *page = malloc(kit->page_size), *scratch = malloc(kit->page_size);
    if (!page || !scratch) {
        kit_fail(kit, check, "out of memory");
        goto out;
    }
    for (uint64_t i = 0; i < n; i++) {
        rc = kit_get(kit, first + i, page, &err);
        if (rc) {
            kit_fail(kit, check, "after reopen, get of page %" PRIu64 " of %" PRIu64 " returned %s", i + 1, n,
                 kit_why(rc, &err));
            goto out;
        }
        long bad = kit_check_page(page, kit->page_size, first + i, 5, scratch);
        if (bad >= 0) {
            kit_fail(kit, check, "after reopen, page %" PRIu64 " reads back wrong from byte %ld", i + 1, bad);
            goto out;
        }
    }
    if (kit_usage_pages(kit, check, &after))
        goto out;
    if (after != before + n) {
        kit_fail(kit, check, "usage counts %" PRIu64 " pages after reopen, %" PRIu64 " before close", after,
             before + n);
        goto out;
    }
    kit_pass(kit, check, "%" PRIu64 " pages read back after close and reopen", n);
out:
    kit_del_range(kit, first, n);
    free(page);
    free(scratch);
}

/* clear drops every page of the namespace; it runs when no other check
 * holds pages, so the store must be empty afterwards. */
/* What list reports: a key in [first, first + n) counts once in seen[]. */
struct listed {
    uint64_t first, n, in_range, outside;
    unsigned char *seen;
    int twice;
};

static int count_listed(void *ctx, uint64_t key)
{
    struct listed *l = ctx;
    if (key - l->first >= l->n) {
        l->outside++;
        return 0;
    }
    if (l->seen[key - l->first]++)
        l->twice = 1;
    l->in_range++;
    return 0;
}

static int stop_listing(void *ctx, uint64_t key)
{
    (void)key;
    (*(int *)ctx)++;
    return 7;
}

/* list reports every key the store holds, each once, as many as usage
 * counts, and stops when its callback asks. */
static void check_list(struct kit *kit)
{
    const char *check = "list";
    if (!kit->ops->list) {
        kit_skip(kit, check, "the store has no list operation");
        return;
    }
    tierpage_error err;
    uint64_t n = kit_room_for(kit, 48), pages;
    uint64_t first = kit_take_keys(kit, n);
    struct listed l = { .first = first, .n = n, .seen = calloc(n ? n : 1, 1) };
    if (!l.seen) {
        kit_fail(kit, check, "out of memory");
        return;
    }
    if (kit_put_and_verify(kit, check, first, n, 11) || kit_usage_pages(kit, check, &pages))
        goto out;
    memset(&err, 0, sizeof err);
    kit_lock_if_serial(kit);
    int rc = kit->ops->list(kit->store, count_listed, &l, &err);
    kit_unlock_if_serial(kit);
    if (rc) {
        kit_fail(kit, check, "list returned %s", kit_why(rc, &err));
        goto out;
    }
    if (l.twice || l.in_range != n || l.in_range + l.outside != pages) {
        kit_fail(kit, check, "list reported %" PRIu64 " of the %" PRIu64 " keys put%s and %" PRIu64
                 " others; usage counts %" PRIu64 " pages", l.in_range, n, l.twice ? " (some twice)" : "",
                 l.outside, pages);
        goto out;
    }
    int calls = 0;
    kit_lock_if_serial(kit);
    rc = kit->ops->list(kit->store, stop_listing, &calls, &err);
    kit_unlock_if_serial(kit);
    if (rc != 7 || calls != 1) {
        kit_fail(kit, check, "list went on after its callback returned 7 (%d calls, returned %d)", calls, rc);
        goto out;
    }
    kit_pass(kit, check, "%" PRIu64 " keys put, each listed once", n);
out:
    kit_del_range(kit, first, n);
    free(l.seen);
}

static void check_clear(struct kit *kit)
{
    const char *check = "clear";
    if (!kit->ops->clear) {
        kit_skip(kit, check, "the store has no clear operation");
        return;
    }
    tierpage_error err;
    uint64_t n = kit_room_for(kit, 32), pages;
    uint64_t first = kit_take_keys(kit, n);
    unsigned char *page = malloc(kit->page_size);
    if (!page) {
        kit_fail(kit, check, "out of memory");
        return;
    }
    if (kit_put_and_verify(kit, check, first, n, 9))
        goto out;
    memset(&err, 0, sizeof err);
    kit_lock_if_serial(kit);
    int rc = kit->ops->clear(kit->store, &err);
    kit_unlock_if_serial(kit);
    if (rc) {
        kit_fail(kit, check, "clear returned %s", kit_why(rc, &err));
        goto out;
    }
    for (uint64_t i = 0; i < n; i++) {
        rc = kit_get(kit, first + i, page, &err);
        if (rc != -ENOENT) {
            kit_fail(kit, check, "get of key %" PRIu64 " after clear returned %s, expected -ENOENT", first + i,
                     kit_why(rc, &err));
            goto out;
        }
    }
    if (kit_usage_pages(kit, check, &pages))
        goto out;
    if (pages != 0) {
        kit_fail(kit, check, "usage counts %" PRIu64 " pages after clear", pages);
        goto out;
    }
    kit_pass(kit, check, "%" PRIu64 " pages gone after clear, usage back to 0", n);
out:
    kit_del_range(kit, first, n);
    free(page);
}

static void check_unknown_option(struct kit *kit)
{
    const char *check = "unknown option";
    tierpage_store_option options[KIT_MAX_OPTIONS + 1];
    memcpy(options, kit->params.options, kit->params.option_count * sizeof *options);
    options[kit->params.option_count] = (tierpage_store_option){ KIT_UNKNOWN_OPTION, "1" };
    tierpage_store_params params = kit->params;
    params.options = options;
    params.option_count = kit->params.option_count + 1;

    /* A persistent store may hold a file or a lock for the open instance:
     * close it first so only the unknown option can make open fail. */
    kit->ops->close(kit->store);
    kit->store = NULL;

    tierpage_error err;
    void *store;
    int rc = kit_open(kit, &params, &store, &err);
    if (rc == 0) {
        kit->ops->close(store);
        kit_fail(kit, check, "open accepted an unknown option '%s'", KIT_UNKNOWN_OPTION);
    } else if (rc > 0) {
        kit_fail(kit, check, "open returned %d; failures are negative errno values", rc);
    } else if (!err.message[0]) {
        kit_fail(kit, check, "open refused it (%s) without a message", kit_errname(rc));
    } else if (strcmp(err.key, KIT_UNKNOWN_OPTION) != 0) {
        kit_fail(kit, check, "open refused it but err->key is '%s', expected '%s' (message: %s)", err.key,
             KIT_UNKNOWN_OPTION, err.message);
    } else {
        kit_pass(kit, check, "open refuses it, names the key: %s", err.message);
    }

    rc = kit_open(kit, &kit->params, &kit->store, &err);
    if (rc) {
        kit->store = NULL;
        kit_fail(kit, "reopen", "open with the run's own options failed: %s", kit_why(rc, &err));
    }
}

void (*const kit_checks[])(struct kit *) = {
    check_round_trip, check_missing_key, check_overwrite, check_delete, check_delete_missing,
    check_batch, check_batch_missing, check_batch_delete, check_threads, check_full, check_persistence,
    check_list, check_clear, check_unknown_option,
};
const size_t kit_check_count = sizeof kit_checks / sizeof kit_checks[0];
