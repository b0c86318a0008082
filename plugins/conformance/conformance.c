/* The conformance kit behind `tierpage plugin-test`. See conformance.h.
 *
 * Each check opens nothing of its own: one store instance is opened at the
 * start and every check puts, reads and deletes its own keys in it, leaving
 * the store as it found it. Page contents are a pseudo-random pattern drawn
 * from the key and a generation number, so a page read back under the wrong
 * key, or an old version of a page, is caught.
 *
 * Accepted behaviour where the ABI leaves room:
 *   - delete of a key the store does not hold: -ENOENT, or 0 from a store
 *     that cannot tell (the line says which);
 *   - an overwrite while the store is full: 0, or -ENOSPC as long as the old
 *     page is still there afterwards;
 *   - a store with no get_batch/put_batch: the batch checks are skipped.
 */
#include "conformance.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "loader.h"

#define KIT_MAX_OPTIONS 64
#define KIT_DEFAULT_CAPACITY (16ull << 20)
#define KIT_DEFAULT_PAGE_SIZE 4096u
#define KIT_THREADS 4
#define KIT_UNKNOWN_OPTION "tierpage-conformance-no-such-option"

struct kit {
    const tierpage_store_ops *ops;
    tierpage_store_params params;
    size_t page_size;
    void *store;
    uint64_t key_base;        /* keys of this run: key_base + small offsets */
    uint64_t next_key;        /* offset of the next unused key */
    pthread_mutex_t serial;   /* held around calls when the plugin is SERIAL */
    int passed, failed, skipped;
};

/* ---------------------------------------------------------------- output */

static void report(struct kit *kit, const char *status, const char *check, const char *fmt, va_list ap)
{
    printf("%-6s%s: ", status, check);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    (void)kit;
}

static void pass(struct kit *kit, const char *check, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(kit, "ok", check, fmt, ap);
    va_end(ap);
    kit->passed++;
}

static int fail(struct kit *kit, const char *check, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(kit, "FAIL", check, fmt, ap);
    va_end(ap);
    kit->failed++;
    return -1;
}

static void skip(struct kit *kit, const char *check, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(kit, "skip", check, fmt, ap);
    va_end(ap);
    kit->skipped++;
}

static const char *errname(int rc)
{
    static _Thread_local char buf[32];
    switch (rc) {
    case 0: return "0";
    case -ENOENT: return "-ENOENT";
    case -ENOSPC: return "-ENOSPC";
    case -EINVAL: return "-EINVAL";
    case -EIO: return "-EIO";
    default: snprintf(buf, sizeof buf, "%d", rc); return buf;
    }
}

/* Formats a store's failure: its return value and, when it wrote one, its message. */
static const char *why(int rc, const tierpage_error *err)
{
    static _Thread_local char buf[320];
    if (err->message[0])
        snprintf(buf, sizeof buf, "%s (%s)", errname(rc), err->message);
    else
        snprintf(buf, sizeof buf, "%s", errname(rc));
    return buf;
}

/* ----------------------------------------------------- pages and patterns */

static void fill_page(void *page, size_t size, uint64_t key, uint64_t generation)
{
    uint64_t x = key * 0x9e3779b97f4a7c15ull ^ (generation + 1) * 0xd1b54a32d192ed03ull;
    unsigned char *p = page;
    for (size_t off = 0; off < size; off += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t n = size - off < 8 ? size - off : 8;
        memcpy(p + off, &x, n);
    }
}

/* Returns -1 when the page is right, else the offset of its first wrong byte. */
static long check_page(const void *page, size_t size, uint64_t key, uint64_t generation, void *scratch)
{
    fill_page(scratch, size, key, generation);
    if (memcmp(page, scratch, size) == 0)
        return -1;
    const unsigned char *a = page, *b = scratch;
    size_t i = 0;
    while (a[i] == b[i])
        i++;
    return (long)i;
}

/* ------------------------------------------------------- store wrappers */

static void lock_if_serial(struct kit *kit)
{
    if (kit->ops->flags & TIERPAGE_STORE_SERIAL)
        pthread_mutex_lock(&kit->serial);
}

static void unlock_if_serial(struct kit *kit)
{
    if (kit->ops->flags & TIERPAGE_STORE_SERIAL)
        pthread_mutex_unlock(&kit->serial);
}

static int st_put(struct kit *kit, uint64_t key, const void *page, tierpage_error *err)
{
    memset(err, 0, sizeof *err);
    lock_if_serial(kit);
    int rc = kit->ops->put(kit->store, key, page, err);
    unlock_if_serial(kit);
    return rc;
}

static int st_get(struct kit *kit, uint64_t key, void *page, tierpage_error *err)
{
    memset(err, 0, sizeof *err);
    lock_if_serial(kit);
    int rc = kit->ops->get(kit->store, key, page, err);
    unlock_if_serial(kit);
    return rc;
}

static int st_del(struct kit *kit, uint64_t key, tierpage_error *err)
{
    memset(err, 0, sizeof *err);
    lock_if_serial(kit);
    int rc = kit->ops->del(kit->store, key, err);
    unlock_if_serial(kit);
    return rc;
}

static int st_usage(struct kit *kit, tierpage_store_usage *usage, tierpage_error *err)
{
    memset(err, 0, sizeof *err);
    memset(usage, 0, sizeof *usage);
    lock_if_serial(kit);
    int rc = kit->ops->usage(kit->store, usage, err);
    unlock_if_serial(kit);
    return rc;
}

static uint64_t take_keys(struct kit *kit, uint64_t count)
{
    uint64_t first = kit->key_base + kit->next_key;
    kit->next_key += count;
    return first;
}

/* Deletes keys [first, first+count) quietly, for cleanup after a failure. */
static void del_range(struct kit *kit, uint64_t first, uint64_t count)
{
    tierpage_error err;
    for (uint64_t i = 0; i < count; i++)
        st_del(kit, first + i, &err);
}

/* Puts count pages of `generation`, then reads each back and compares.
 * On failure reports it under `check` and returns -1. */
static int put_and_verify(struct kit *kit, const char *check, uint64_t first, uint64_t count, uint64_t generation)
{
    tierpage_error err;
    unsigned char *page = malloc(kit->page_size), *scratch = malloc(kit->page_size);
    int rc = 0;
    if (!page || !scratch) {
        rc = fail(kit, check, "out of memory");
        goto out;
    }
    for (uint64_t i = 0; i < count; i++) {
        fill_page(page, kit->page_size, first + i, generation);
        int r = st_put(kit, first + i, page, &err);
        if (r) {
            rc = fail(kit, check, "put of page %" PRIu64 " of %" PRIu64 " returned %s", i + 1, count, why(r, &err));
            goto out;
        }
    }
    for (uint64_t i = 0; i < count; i++) {
        memset(page, 0xa5, kit->page_size);
        int r = st_get(kit, first + i, page, &err);
        if (r) {
            rc = fail(kit, check, "get of page %" PRIu64 " of %" PRIu64 " returned %s", i + 1, count, why(r, &err));
            goto out;
        }
        long bad = check_page(page, kit->page_size, first + i, generation, scratch);
        if (bad >= 0) {
            rc = fail(kit, check, "page %" PRIu64 " of %" PRIu64 " read back wrong from byte %ld", i + 1, count, bad);
            goto out;
        }
    }
out:
    free(page);
    free(scratch);
    return rc;
}

static int usage_pages(struct kit *kit, const char *check, uint64_t *pages)
{
    tierpage_store_usage u;
    tierpage_error err;
    int rc = st_usage(kit, &u, &err);
    if (rc)
        return fail(kit, check, "usage returned %s", why(rc, &err));
    *pages = u.pages;
    return 0;
}

/* Pages the store may hold, from usage; 0 when it reports no capacity. */
static uint64_t capacity_pages(struct kit *kit)
{
    tierpage_store_usage u;
    tierpage_error err;
    if (st_usage(kit, &u, &err) != 0)
        return 0;
    return u.capacity_bytes / kit->page_size;
}

/* How many pages a check may put at once without filling the store. */
static uint64_t room_for(struct kit *kit, uint64_t wanted)
{
    uint64_t cap = capacity_pages(kit);
    if (cap == 0)
        return wanted;
    uint64_t room = cap / 2;
    if (room == 0)
        room = 1;
    return wanted < room ? wanted : room;
}

/* ----------------------------------------------------------------- checks */

static void check_round_trip(struct kit *kit)
{
    const char *check = "round trip";
    uint64_t n = room_for(kit, 256), before, after;
    uint64_t first = take_keys(kit, n);
    if (usage_pages(kit, check, &before))
        return;
    if (put_and_verify(kit, check, first, n, 1)) {
        del_range(kit, first, n);
        return;
    }
    if (usage_pages(kit, check, &after))
        goto out;
    if (after != before + n) {
        fail(kit, check, "usage counted %" PRIu64 " pages after %" PRIu64 " puts (was %" PRIu64 ")", after, n, before);
        goto out;
    }
    pass(kit, check, "%" PRIu64 " pages put and read back", n);
out:
    del_range(kit, first, n);
}

static void check_missing_key(struct kit *kit)
{
    const char *check = "missing key";
    tierpage_error err;
    unsigned char *page = malloc(kit->page_size);
    if (!page) {
        fail(kit, check, "out of memory");
        return;
    }
    uint64_t key = take_keys(kit, 1);
    int rc = st_get(kit, key, page, &err);
    if (rc != -ENOENT)
        fail(kit, check, "get of a key never put returned %s, expected -ENOENT", why(rc, &err));
    else
        pass(kit, check, "get of a key never put returns -ENOENT");
    free(page);
}

static void check_overwrite(struct kit *kit)
{
    const char *check = "overwrite";
    uint64_t key = take_keys(kit, 1), before, after;
    if (usage_pages(kit, check, &before))
        return;
    if (put_and_verify(kit, check, key, 1, 1) || put_and_verify(kit, check, key, 1, 2))
        goto out;
    if (usage_pages(kit, check, &after))
        goto out;
    if (after != before + 1) {
        fail(kit, check, "usage counted %" PRIu64 " pages for one key put twice (was %" PRIu64 ")", after, before);
        goto out;
    }
    pass(kit, check, "second put of a key replaces its page and counts once");
out:
    del_range(kit, key, 1);
}

static void check_delete(struct kit *kit)
{
    const char *check = "delete";
    tierpage_error err;
    uint64_t key = take_keys(kit, 1), before, after;
    unsigned char *page = malloc(kit->page_size);
    if (!page) {
        fail(kit, check, "out of memory");
        return;
    }
    if (usage_pages(kit, check, &before) || put_and_verify(kit, check, key, 1, 1))
        goto out;
    int rc = st_del(kit, key, &err);
    if (rc) {
        fail(kit, check, "delete of a stored key returned %s", why(rc, &err));
        goto out;
    }
    rc = st_get(kit, key, page, &err);
    if (rc != -ENOENT) {
        fail(kit, check, "get after delete returned %s, expected -ENOENT", why(rc, &err));
        goto out;
    }
    if (usage_pages(kit, check, &after))
        goto out;
    if (after != before) {
        fail(kit, check, "usage counts %" PRIu64 " pages after put and delete, %" PRIu64 " before", after, before);
        goto out;
    }
    pass(kit, check, "get after delete returns -ENOENT, usage back to %" PRIu64 " pages", after);
out:
    del_range(kit, key, 1);
    free(page);
}

static void check_delete_missing(struct kit *kit)
{
    const char *check = "delete missing";
    tierpage_error err;
    int rc = st_del(kit, take_keys(kit, 1), &err);
    if (rc == -ENOENT)
        pass(kit, check, "delete of a key never put returns -ENOENT");
    else if (rc == 0)
        pass(kit, check, "delete of a key never put returns 0 (accepted; -ENOENT preferred)");
    else
        fail(kit, check, "delete of a key never put returned %s, expected -ENOENT or 0", why(rc, &err));
}

/* Batch checks use the store's own batch calls for both directions when it
 * has them, and single calls for the direction it lacks. */
static void check_batch(struct kit *kit)
{
    const char *check = "batch";
    if (!kit->ops->get_batch && !kit->ops->put_batch) {
        skip(kit, check, "the store provides no get_batch or put_batch");
        return;
    }
    enum { N = 64 };
    uint64_t n = room_for(kit, N);
    uint64_t keys[N];
    void *pages[N];
    int results[N];
    tierpage_error err;
    unsigned char *buf = calloc(N, kit->page_size), *scratch = malloc(kit->page_size);
    uint64_t first = take_keys(kit, n);
    if (!buf || !scratch) {
        fail(kit, check, "out of memory");
        goto out;
    }
    for (uint64_t i = 0; i < n; i++) {
        keys[i] = first + i;
        pages[i] = buf + i * kit->page_size;
        fill_page(pages[i], kit->page_size, keys[i], 7);
    }

    if (kit->ops->put_batch) {
        memset(&err, 0, sizeof err);
        for (uint64_t i = 0; i < n; i++)
            results[i] = 12345;
        lock_if_serial(kit);
        int rc = kit->ops->put_batch(kit->store, n, keys, (const void *const *)pages, results, &err);
        unlock_if_serial(kit);
        for (uint64_t i = 0; i < n; i++) {
            if (results[i] != 0) {
                fail(kit, check, "put_batch of %" PRIu64 " pages: page %" PRIu64 " got result %s", n, i + 1,
                     errname(results[i]));
                goto out;
            }
        }
        if (rc != 0) {
            fail(kit, check, "put_batch returned %s though every page succeeded", why(rc, &err));
            goto out;
        }
    } else {
        for (uint64_t i = 0; i < n; i++) {
            int rc = st_put(kit, keys[i], pages[i], &err);
            if (rc) {
                fail(kit, check, "put returned %s", why(rc, &err));
                goto out;
            }
        }
    }

    memset(buf, 0, n * kit->page_size);
    if (kit->ops->get_batch) {
        memset(&err, 0, sizeof err);
        for (uint64_t i = 0; i < n; i++)
            results[i] = 12345;
        lock_if_serial(kit);
        int rc = kit->ops->get_batch(kit->store, n, keys, pages, results, &err);
        unlock_if_serial(kit);
        for (uint64_t i = 0; i < n; i++) {
            if (results[i] != 0) {
                fail(kit, check, "get_batch of %" PRIu64 " pages: page %" PRIu64 " got result %s", n, i + 1,
                     errname(results[i]));
                goto out;
            }
        }
        if (rc != 0) {
            fail(kit, check, "get_batch returned %s though every page succeeded", why(rc, &err));
            goto out;
        }
    } else {
        for (uint64_t i = 0; i < n; i++) {
            int rc = st_get(kit, keys[i], pages[i], &err);
            if (rc) {
                fail(kit, check, "get returned %s", why(rc, &err));
                goto out;
            }
        }
    }
    for (uint64_t i = 0; i < n; i++) {
        long bad = check_page(pages[i], kit->page_size, keys[i], 7, scratch);
        if (bad >= 0) {
            fail(kit, check, "page %" PRIu64 " of the batch read back wrong from byte %ld", i + 1, bad);
            goto out;
        }
    }
    pass(kit, check, "%" PRIu64 " pages through %s and read back through %s", n,
         kit->ops->put_batch ? "put_batch" : "put", kit->ops->get_batch ? "get_batch" : "get");
out:
    del_range(kit, first, n);
    free(buf);
    free(scratch);
}

static void check_batch_missing(struct kit *kit)
{
    const char *check = "batch with missing keys";
    if (!kit->ops->get_batch) {
        skip(kit, check, "the store provides no get_batch");
        return;
    }
    enum { N = 16 };
    uint64_t keys[N];
    void *pages[N];
    int results[N];
    tierpage_error err;
    unsigned char *buf = calloc(N, kit->page_size), *scratch = malloc(kit->page_size);
    uint64_t first = take_keys(kit, N);
    if (!buf || !scratch) {
        fail(kit, check, "out of memory");
        goto out;
    }
    /* Even positions hold pages, odd ones were never put. */
    for (int i = 0; i < N; i++) {
        keys[i] = first + (uint64_t)i;
        pages[i] = buf + (size_t)i * kit->page_size;
        if (i % 2 == 0) {
            fill_page(pages[i], kit->page_size, keys[i], 3);
            int rc = st_put(kit, keys[i], pages[i], &err);
            if (rc) {
                fail(kit, check, "put returned %s", why(rc, &err));
                goto out;
            }
        }
    }
    memset(buf, 0, (size_t)N * kit->page_size);
    memset(&err, 0, sizeof err);
    for (int i = 0; i < N; i++)
        results[i] = 12345;
    lock_if_serial(kit);
    int rc = kit->ops->get_batch(kit->store, N, keys, pages, results, &err);
    unlock_if_serial(kit);
    for (int i = 0; i < N; i++) {
        int want = i % 2 == 0 ? 0 : -ENOENT;
        if (results[i] != want) {
            fail(kit, check, "key %d of %d (%s) got result %s, expected %s", i + 1, N,
                 i % 2 == 0 ? "stored" : "missing", errname(results[i]), errname(want));
            goto out;
        }
        if (want == 0) {
            long bad = check_page(pages[i], kit->page_size, keys[i], 3, scratch);
            if (bad >= 0) {
                fail(kit, check, "stored page %d read back wrong from byte %ld", i + 1, bad);
                goto out;
            }
        }
    }
    if (rc != -ENOENT) {
        fail(kit, check, "get_batch returned %s, expected the first failure, -ENOENT", why(rc, &err));
        goto out;
    }
    pass(kit, check, "get_batch of %d keys, half missing: per-key -ENOENT, stored pages intact", N);
out:
    del_range(kit, first, N);
    free(buf);
    free(scratch);
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
            fill_page(page, kit->page_size, job->first + i, (uint64_t)round + 100);
            int rc = st_put(kit, job->first + i, page, &err);
            if (rc) {
                snprintf(job->error, sizeof job->error, "put returned %s", why(rc, &err));
                goto out;
            }
        }
        for (uint64_t i = 0; i < job->count; i++) {
            int rc = st_get(kit, job->first + i, page, &err);
            if (rc) {
                snprintf(job->error, sizeof job->error, "get returned %s", why(rc, &err));
                goto out;
            }
            long bad = check_page(page, kit->page_size, job->first + i, (uint64_t)round + 100, scratch);
            if (bad >= 0) {
                snprintf(job->error, sizeof job->error, "round %d: page %" PRIu64 " read back wrong from byte %ld",
                         round + 1, i + 1, bad);
                goto out;
            }
        }
    }
    for (uint64_t i = 0; i < job->count; i++) {
        int rc = st_del(kit, job->first + i, &err);
        if (rc) {
            snprintf(job->error, sizeof job->error, "delete returned %s", why(rc, &err));
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
    uint64_t per_thread = room_for(kit, KIT_THREADS * 128) / KIT_THREADS;
    if (per_thread == 0)
        per_thread = 1;
    struct thread_job jobs[KIT_THREADS];
    pthread_t threads[KIT_THREADS];
    int started = 0;
    uint64_t first = take_keys(kit, per_thread * KIT_THREADS);
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
            fail(kit, check, "thread %d: %s", t + 1, jobs[t].error);
            del_range(kit, first, per_thread * KIT_THREADS);
            return;
        }
    }
    pass(kit, check, "%d threads at once, %" PRIu64 " keys each, 3 rounds of put and verified get, then delete",
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
    if (st_usage(kit, &u, &err) != 0) {
        fail(kit, check, "usage failed: %s", why(-1, &err));
        return;
    }
    if (u.capacity_bytes == 0) {
        skip(kit, check, "the store reports no capacity");
        return;
    }
    uint64_t before = u.pages;
    uint64_t cap = u.capacity_bytes / kit->page_size;
    uint64_t limit = cap + 1024;
    uint64_t first = take_keys(kit, limit + 1);
    uint64_t filled = 0;
    unsigned char *page = malloc(kit->page_size), *scratch = malloc(kit->page_size);
    if (!page || !scratch) {
        fail(kit, check, "out of memory");
        goto out;
    }
    int rc = 0;
    for (; filled < limit; filled++) {
        fill_page(page, kit->page_size, first + filled, 1);
        rc = st_put(kit, first + filled, page, &err);
        if (rc)
            break;
    }
    if (rc != -ENOSPC) {
        if (rc == 0)
            fail(kit, check, "%" PRIu64 " puts into a store of %" PRIu64 " pages and none refused with -ENOSPC",
                 filled, cap);
        else
            fail(kit, check, "put %" PRIu64 " failed with %s instead of -ENOSPC", filled + 1, why(rc, &err));
        goto out;
    }
    if (filled == 0) {
        fail(kit, check, "the first put was refused with -ENOSPC");
        goto out;
    }
    if (st_usage(kit, &u, &err) != 0) {
        fail(kit, check, "usage failed when full: %s", why(-1, &err));
        goto out;
    }
    if (u.pages != before + filled) {
        fail(kit, check, "usage counts %" PRIu64 " pages when full; %" PRIu64 " were there and %" PRIu64 " put",
             u.pages, before, filled);
        goto out;
    }
    if (u.used_bytes > u.capacity_bytes) {
        fail(kit, check, "usage says %" PRIu64 " bytes used of a capacity of %" PRIu64, u.used_bytes,
             u.capacity_bytes);
        goto out;
    }

    /* An overwrite while full: it may succeed or be refused, but a refused
     * put must leave the old page in place. */
    const char *overwrite_note;
    uint64_t victim = first + filled / 2;
    fill_page(page, kit->page_size, victim, 2);
    rc = st_put(kit, victim, page, &err);
    uint64_t victim_gen = rc == 0 ? 2 : 1;
    if (rc != 0 && rc != -ENOSPC) {
        fail(kit, check, "overwrite while full returned %s", why(rc, &err));
        goto out;
    }
    overwrite_note = rc == 0 ? "overwrite while full works" : "overwrite while full refused, old page kept";
    rc = st_get(kit, victim, page, &err);
    if (rc || check_page(page, kit->page_size, victim, victim_gen, scratch) >= 0) {
        fail(kit, check, "after an overwrite while full the page reads back %s",
             rc ? why(rc, &err) : "wrong");
        goto out;
    }

    uint64_t extra = first + filled;
    rc = st_del(kit, first, &err);
    if (rc) {
        fail(kit, check, "delete when full returned %s", why(rc, &err));
        goto out;
    }
    fill_page(page, kit->page_size, extra, 1);
    rc = st_put(kit, extra, page, &err);
    if (rc) {
        fail(kit, check, "put after a delete made room returned %s", why(rc, &err));
        goto out;
    }
    /* Spot-check pages written before the store filled up. */
    uint64_t samples[] = { first + 1, first + filled / 3, first + filled - 1, extra };
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        uint64_t key = samples[i];
        if (key == first || (key >= first + filled && key != extra))
            continue;
        rc = st_get(kit, key, page, &err);
        uint64_t gen = key == victim ? victim_gen : 1;
        if (rc || check_page(page, kit->page_size, key, gen, scratch) >= 0) {
            fail(kit, check, "page %" PRIu64 " read back %s after filling", key - first + 1,
                 rc ? why(rc, &err) : "wrong");
            goto out;
        }
    }
    pass(kit, check, "%" PRIu64 " pages put until -ENOSPC (capacity %" PRIu64 " pages), usage consistent; %s; "
                     "delete then put works",
         filled, cap, overwrite_note);
out:
    del_range(kit, first, filled + 1);
    free(page);
    free(scratch);
}

static int open_store(struct kit *kit, const tierpage_store_params *params, void **store, tierpage_error *err)
{
    memset(err, 0, sizeof *err);
    *store = NULL;
    return kit->ops->open(params, store, err);
}

static void check_persistence(struct kit *kit)
{
    const char *check = "persistence";
    if (!(kit->ops->flags & TIERPAGE_STORE_PERSISTENT)) {
        skip(kit, check, "the store does not declare TIERPAGE_STORE_PERSISTENT");
        return;
    }
    tierpage_error err;
    uint64_t n = room_for(kit, 64), before, after;
    uint64_t first = take_keys(kit, n);
    if (usage_pages(kit, check, &before) || put_and_verify(kit, check, first, n, 5)) {
        del_range(kit, first, n);
        return;
    }
    kit->ops->close(kit->store);
    kit->store = NULL;
    int rc = open_store(kit, &kit->params, &kit->store, &err);
    if (rc) {
        kit->store = NULL;
        fail(kit, check, "reopen after close failed: %s", why(rc, &err));
        return;
    }
    unsigned char *page = malloc(kit->page_size), *scratch = malloc(kit->page_size);
    if (!page || !scratch) {
        fail(kit, check, "out of memory");
        goto out;
    }
    for (uint64_t i = 0; i < n; i++) {
        rc = st_get(kit, first + i, page, &err);
        if (rc) {
            fail(kit, check, "after reopen, get of page %" PRIu64 " of %" PRIu64 " returned %s", i + 1, n,
                 why(rc, &err));
            goto out;
        }
        long bad = check_page(page, kit->page_size, first + i, 5, scratch);
        if (bad >= 0) {
            fail(kit, check, "after reopen, page %" PRIu64 " reads back wrong from byte %ld", i + 1, bad);
            goto out;
        }
    }
    if (usage_pages(kit, check, &after))
        goto out;
    if (after != before + n) {
        fail(kit, check, "usage counts %" PRIu64 " pages after reopen, %" PRIu64 " before close", after,
             before + n);
        goto out;
    }
    pass(kit, check, "%" PRIu64 " pages read back after close and reopen", n);
out:
    del_range(kit, first, n);
    free(page);
    free(scratch);
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
    int rc = open_store(kit, &params, &store, &err);
    if (rc == 0) {
        kit->ops->close(store);
        fail(kit, check, "open accepted an unknown option '%s'", KIT_UNKNOWN_OPTION);
    } else if (rc > 0) {
        fail(kit, check, "open returned %d; failures are negative errno values", rc);
    } else if (!err.message[0]) {
        fail(kit, check, "open refused it (%s) without a message", errname(rc));
    } else if (strcmp(err.key, KIT_UNKNOWN_OPTION) != 0) {
        fail(kit, check, "open refused it but err->key is '%s', expected '%s' (message: %s)", err.key,
             KIT_UNKNOWN_OPTION, err.message);
    } else {
        pass(kit, check, "open refuses it, names the key: %s", err.message);
    }

    rc = open_store(kit, &kit->params, &kit->store, &err);
    if (rc) {
        kit->store = NULL;
        fail(kit, "reopen", "open with the run's own options failed: %s", why(rc, &err));
    }
}

/* ------------------------------------------------------------------- CLI */

/* 16777216 -> "16MiB"; sizes that are not a whole number of a unit stay in bytes. */
static void format_size(uint64_t bytes, char *buf, size_t len)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    size_t u = 0;
    while (u + 1 < sizeof units / sizeof units[0] && bytes >= 1024 && bytes % 1024 == 0) {
        bytes /= 1024;
        u++;
    }
    snprintf(buf, len, "%" PRIu64 "%s", bytes, units[u]);
}

static void usage_text(FILE *out)
{
    fputs("usage: tierpage plugin-test PLUGIN [--option KEY=VALUE ...] [--namespace NS]\n"
          "                            [--page-size N] [--help]\n"
          "\n"
          "Runs the conformance checks against a page-store plugin and prints one line\n"
          "per check. PLUGIN is a name (dram) or a path to a shared object.\n"
          "\n"
          "  --option KEY=VALUE  an option for the store, as a tier of a stack file would\n"
          "                      give it; capacity=SIZE sets the tier's capacity\n"
          "                      (default 16MiB, 0 for none)\n"
          "  --namespace NS      namespace to open the store with\n"
          "                      (default tierpage-conformance)\n"
          "  --page-size N       page size in bytes (default 4096)\n"
          "  --help              show this text\n"
          "\n"
          "Exit status: 0 when every check passed, 1 when one failed, 2 on a usage error.\n",
          out);
}

/* "16MiB" -> 16777216. Binary units; B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB. */
static int parse_size(const char *text, uint64_t *bytes)
{
    static const struct { const char *suffix; unsigned shift; } units[] = {
        { "", 0 }, { "B", 0 }, { "K", 10 }, { "KB", 10 }, { "KiB", 10 }, { "M", 20 }, { "MB", 20 },
        { "MiB", 20 }, { "G", 30 }, { "GB", 30 }, { "GiB", 30 }, { "T", 40 }, { "TB", 40 }, { "TiB", 40 },
    };
    if (!text || text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno)
        return -1;
    while (*end == ' ')
        end++;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(end, units[i].suffix) == 0) {
            if (units[i].shift && v > (UINT64_MAX >> units[i].shift))
                return -1;
            *bytes = (uint64_t)v << units[i].shift;
            return 0;
        }
    }
    return -1;
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "tierpage plugin-test: ");
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    usage_text(stderr);
    return 2;
}

/* Matches "--name VALUE" and "--name=VALUE"; advances *i past the value. */
static int take_value(int argc, char **argv, int *i, const char *name, const char **value)
{
    size_t len = strlen(name);
    if (strncmp(argv[*i], name, len) != 0)
        return 0;
    if (argv[*i][len] == '=') {
        *value = argv[*i] + len + 1;
        return 1;
    }
    if (argv[*i][len] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        *value = NULL;
        return 1;
    }
    *value = argv[++*i];
    return 1;
}

int tp_cmd_plugin_test(int argc, char **argv)
{
    const char *plugin_arg = NULL, *namespace_name = NULL;
    uint64_t capacity = KIT_DEFAULT_CAPACITY, page_size = KIT_DEFAULT_PAGE_SIZE;
    tierpage_store_option options[KIT_MAX_OPTIONS];
    size_t option_count = 0;
    int exit_code = 1;

    /* A usage error sets these and jumps to `bad_usage`. */
    const char *bad_fmt = NULL, *bad_arg = NULL;

    for (int i = 1; i < argc; i++) {
        const char *value;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage_text(stdout);
            exit_code = 0;
            goto free_options;
        } else if (take_value(argc, argv, &i, "--option", &value)) {
            const char *eq = value ? strchr(value, '=') : NULL;
            if (!eq || eq == value) {
                bad_fmt = "--option takes KEY=VALUE, got '%s'", bad_arg = value ? value : "";
                goto bad_usage;
            }
            if ((size_t)(eq - value) == strlen("capacity") && strncmp(value, "capacity", 8) == 0) {
                if (parse_size(eq + 1, &capacity)) {
                    bad_fmt = "capacity: expected a size such as 16MiB, got '%s'", bad_arg = eq + 1;
                    goto bad_usage;
                }
                continue;
            }
            if (option_count == KIT_MAX_OPTIONS) {
                bad_fmt = "too many --option arguments (at most %s)", bad_arg = "64";
                goto bad_usage;
            }
            /* The key is the text before '='; the value stays in argv. */
            char *key = strndup(value, (size_t)(eq - value));
            if (!key) {
                fprintf(stderr, "tierpage plugin-test: out of memory\n");
                goto free_options;
            }
            options[option_count++] = (tierpage_store_option){ key, eq + 1 };
        } else if (take_value(argc, argv, &i, "--namespace", &value)) {
            if (!value) {
                bad_fmt = "%s needs a value", bad_arg = "--namespace";
                goto bad_usage;
            }
            namespace_name = value;
        } else if (take_value(argc, argv, &i, "--page-size", &value)) {
            if (!value || parse_size(value, &page_size) || page_size == 0 || page_size > (1u << 30)) {
                bad_fmt = "--page-size: expected a size between 1 and 1GiB, got '%s'", bad_arg = value ? value : "";
                goto bad_usage;
            }
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            bad_fmt = "unknown argument '%s'", bad_arg = argv[i];
            goto bad_usage;
        } else if (plugin_arg) {
            bad_fmt = "only one plugin at a time; '%s' is one too many", bad_arg = argv[i];
            goto bad_usage;
        } else {
            plugin_arg = argv[i];
        }
    }
    if (!plugin_arg) {
        bad_fmt = "%s", bad_arg = "no plugin given";
        goto bad_usage;
    }

    struct tp_plugin plugin;
    tierpage_error err = { { 0 }, { 0 } };
    if (tp_plugin_load(plugin_arg, &plugin, &err) != 0) {
        printf("%-6s%s: %s\n", "FAIL", "load", err.message);
        printf("%s: 0 passed, 1 failed\n", plugin_arg);
        goto free_options;
    }

    /* One namespace for every run, so a persistent store's file can be
     * tested again; keys differ from run to run instead. */
    if (!namespace_name)
        namespace_name = "tierpage-conformance";

    struct kit kit = {
        .ops = plugin.ops,
        .params = { .namespace_name = namespace_name, .page_size = (size_t)page_size, .capacity = capacity,
                    .options = options, .option_count = option_count },
        .page_size = (size_t)page_size,
        /* Keys of one run differ from another's, should a store keep any. */
        .key_base = ((uint64_t)getpid() << 40) ^ ((uint64_t)time(NULL) << 20),
    };
    pthread_mutex_init(&kit.serial, NULL);

    printf("plugin %s (%s, ABI %u%s%s) from %s\n", plugin.ops->name,
           plugin.ops->description ? plugin.ops->description : "no description", (unsigned)plugin.ops->abi_version,
           plugin.ops->flags & TIERPAGE_STORE_PERSISTENT ? ", persistent" : "",
           plugin.ops->flags & TIERPAGE_STORE_SERIAL ? ", serial" : "", plugin.path);

    int rc = open_store(&kit, &kit.params, &kit.store, &err);
    if (rc) {
        kit.store = NULL;
        fail(&kit, "open", "%s", why(rc, &err));
    } else {
        char capacity_text[32];
        format_size(capacity, capacity_text, sizeof capacity_text);
        pass(&kit, "open", "namespace '%s', page size %" PRIu64 ", capacity %s", namespace_name, page_size,
             capacity ? capacity_text : "none");
        void (*const checks[])(struct kit *) = {
            check_round_trip, check_missing_key, check_overwrite, check_delete, check_delete_missing,
            check_batch, check_batch_missing, check_threads, check_full, check_persistence,
            check_unknown_option,
        };
        size_t count = sizeof checks / sizeof checks[0], done = 0;
        while (done < count && kit.store)
            checks[done++](&kit);
        if (done < count)
            fail(&kit, "remaining checks", "not run: the store could not be reopened");
        if (kit.store)
            kit.ops->close(kit.store);
    }

    if (kit.skipped)
        printf("%s: %d passed, %d failed (%d skipped)\n", plugin.ops->name, kit.passed, kit.failed, kit.skipped);
    else
        printf("%s: %d passed, %d failed\n", plugin.ops->name, kit.passed, kit.failed);
    fflush(stdout);
    exit_code = kit.failed ? 1 : 0;
    pthread_mutex_destroy(&kit.serial);
    tp_plugin_unload(&plugin);

    goto free_options;
bad_usage:
    exit_code = usage_error(bad_fmt, bad_arg);
free_options:
    for (size_t i = 0; i < option_count; i++)
        free((char *)options[i].key);
    return exit_code;
}
