#include "writeback.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "clock_ns.h"
#include "fatal.h"
#include "pager_thread.h"
#include "stale_keys.h"

#define WB_BATCH 64 /* the memcached tier's pipeline writes 64 commands at once */
#define WB_NONE UINT32_MAX
#define WB_RETRY_NS 100000000L /* a failing store is retried every 100 ms, for store_timeout */

enum wb_state { WB_FREE = 0, WB_QUEUED, WB_SENDING, WB_DEAD };

/* A queued put. */
struct wb_entry {
    uint32_t id;
    uint32_t chain;   /* next entry in the same hash bucket */
    uint8_t state;
    struct tp_writeback_ticket *waiter; /* NULL when no one waits for the put's answer */
};

struct tp_writeback {
    struct tp_writeback_target target;
    size_t page_size;
    uint64_t timeout_ns;      /* how long the store may keep refusing pages */
    pthread_mutex_t lock;
    pthread_cond_t work;      /* something to send, or stop */
    pthread_cond_t progress;  /* entries were acknowledged or freed */
    pthread_t thread;
    int stop;
    int abandoned;            /* after a failure: holds nothing, takes nothing */

    size_t slots;
    struct wb_entry *entries;
    unsigned char *pages;
    uint32_t *ring;           /* entry indices in the order they were queued */
    size_t head, count;
    uint32_t *free_slots;
    size_t free_count;
    uint32_t *buckets;
    uint32_t bucket_mask;

    /* Deletes of stale copies, held while there are at most stale_hold of
     * them: a later put of the same page overwrites the copy instead. */
    struct tp_stale_keys stale;
    size_t stale_hold;
    uint32_t deleting[WB_BATCH]; /* held deletes being sent */
    size_t deleting_count;
    int flushing;      /* threads in tp_writeback_flush: every held delete is sent */
    int release_stale; /* the store refused a page as full: every held delete is sent */

    struct tp_writeback_stats stats;
};

static unsigned char *slot_page(struct tp_writeback *wb, uint32_t e)
{
    return wb->pages + (size_t)e * wb->page_size;
}

static uint32_t *bucket_of(struct tp_writeback *wb, uint32_t id)
{
    return &wb->buckets[(id * 2654435761u) & wb->bucket_mask];
}

/* The live (queued or being sent) entry of the page, newest first. */
static uint32_t find_live(struct tp_writeback *wb, uint32_t id, int state)
{
    for (uint32_t e = *bucket_of(wb, id); e != WB_NONE; e = wb->entries[e].chain)
        if (wb->entries[e].id == id && (state == 0 || wb->entries[e].state == state))
            return e;
    return WB_NONE;
}

static void unchain(struct tp_writeback *wb, uint32_t e)
{
    uint32_t *link = bucket_of(wb, wb->entries[e].id);
    while (*link != e)
        link = &wb->entries[*link].chain;
    *link = wb->entries[e].chain;
}

/* wb->lock held: the entry's waiter, if any, learns its put's result. */
static void answer(struct tp_writeback *wb, uint32_t e, int result)
{
    struct tp_writeback_ticket *w = wb->entries[e].waiter;
    if (!w)
        return;
    w->result = result;
    w->done = 1;
    wb->entries[e].waiter = NULL;
    pthread_cond_broadcast(&wb->progress);
}

static void release(struct tp_writeback *wb, uint32_t e)
{
    answer(wb, e, 0);
    if (wb->entries[e].state != WB_DEAD)
        unchain(wb, e);
    wb->entries[e].state = WB_FREE;
    wb->free_slots[wb->free_count++] = e;
}

/* wb->lock held: a new queued entry of the page, at the ring's end;
 * WB_NONE when the queue was abandoned while waiting for room. */
static uint32_t enqueue(struct tp_writeback *wb, uint32_t id)
{
    while (wb->free_count == 0 && !wb->abandoned)
        pthread_cond_wait(&wb->progress, &wb->lock);
    if (wb->abandoned)
        return WB_NONE;
    uint32_t e = wb->free_slots[--wb->free_count];
    wb->entries[e] = (struct wb_entry){id, *bucket_of(wb, id), WB_QUEUED, NULL};
    *bucket_of(wb, id) = e; /* newest first, ahead of one being sent */
    wb->ring[(wb->head + wb->count) % wb->slots] = e;
    wb->count++;
    pthread_cond_signal(&wb->work);
    return e;
}

/* wb->lock held: queue a copy of the page (a queued put of it becomes
 * this put, and a held delete of it is not needed: the put overwrites the
 * stale copy); WB_NONE when the queue was abandoned. */
static uint32_t queue_put(struct tp_writeback *wb, uint32_t id, const void *page)
{
    uint32_t e = wb->abandoned ? WB_NONE : find_live(wb, id, WB_QUEUED);
    if (e == WB_NONE && !wb->abandoned)
        e = enqueue(wb, id);
    if (e == WB_NONE)
        return WB_NONE;
    if (tp_stale_keys_remove(&wb->stale, id))
        wb->stats.deletes_overwritten++;
    wb->stats.queued_pages++;
    memcpy(slot_page(wb, e), page, wb->page_size);
    return e;
}

void tp_writeback_put(struct tp_writeback *wb, uint32_t id, const void *page)
{
    pthread_mutex_lock(&wb->lock);
    queue_put(wb, id, page);
    pthread_mutex_unlock(&wb->lock);
}

void tp_writeback_put_ticket(struct tp_writeback *wb, uint32_t id, const void *page,
                             struct tp_writeback_ticket *ticket)
{
    *ticket = (struct tp_writeback_ticket){0, -EIO};
    pthread_mutex_lock(&wb->lock);
    uint32_t e = queue_put(wb, id, page);
    if (e == WB_NONE) {
        ticket->done = 1; /* abandoned: dropped */
    } else {
        /* Only the page's owner puts it, and it waits for its ticket
         * before it lets the page go: no one else can be waiting for
         * this entry. */
        if (wb->entries[e].waiter)
            tp_fatal("two threads wait for the put of page %u in the write-back queue of tier '%s'", id,
                     wb->target.name);
        wb->entries[e].waiter = ticket;
    }
    pthread_mutex_unlock(&wb->lock);
}

void tp_writeback_wait(struct tp_writeback *wb, const struct tp_writeback_ticket *tickets, size_t n)
{
    pthread_mutex_lock(&wb->lock);
    for (size_t i = 0; i < n; i++)
        while (!tickets[i].done)
            pthread_cond_wait(&wb->progress, &wb->lock);
    pthread_mutex_unlock(&wb->lock);
}

int tp_writeback_put_acked(struct tp_writeback *wb, uint32_t id, const void *page)
{
    struct tp_writeback_ticket ticket;
    tp_writeback_put_ticket(wb, id, page, &ticket);
    tp_writeback_wait(wb, &ticket, 1);
    return ticket.result;
}

/* wb->lock held: whether the store's copy of the page is stale, its
 * delete held or being sent. */
static int stale_in_store(const struct tp_writeback *wb, uint32_t id)
{
    for (size_t i = 0; i < wb->deleting_count; i++)
        if (wb->deleting[i] == id)
            return 1;
    return tp_stale_keys_contains(&wb->stale, id);
}

int tp_writeback_get(struct tp_writeback *wb, uint32_t id, void *page)
{
    pthread_mutex_lock(&wb->lock);
    /* A queued put is newer than a held delete (it took the delete back,
     * or it came after one being sent); a put being sent is older. */
    uint32_t e = find_live(wb, id, WB_QUEUED);
    int stale = e == WB_NONE && stale_in_store(wb, id);
    if (e == WB_NONE)
        e = find_live(wb, id, 0);
    int rc = -ENOENT;
    if (wb->abandoned) {
        rc = -EIO;
    } else if (stale) {
        rc = -ENODATA;
    } else if (e != WB_NONE) {
        memcpy(page, slot_page(wb, e), wb->page_size);
        wb->stats.queue_hits++;
        rc = 0;
    }
    pthread_mutex_unlock(&wb->lock);
    return rc;
}

/* wb->lock held: whether held deletes are to be sent now, not only
 * those over stale_hold. */
static int send_every_delete(const struct tp_writeback *wb)
{
    return wb->stop || wb->flushing || wb->release_stale;
}

void tp_writeback_delete(struct tp_writeback *wb, uint32_t id)
{
    pthread_mutex_lock(&wb->lock);
    /* Queued copies were never sent: drop them. One being sent is
     * answered before the delete goes, by the same thread. */
    for (uint32_t o = wb->abandoned ? WB_NONE : *bucket_of(wb, id); o != WB_NONE;) {
        uint32_t next = wb->entries[o].chain;
        if (wb->entries[o].id == id && wb->entries[o].state == WB_QUEUED) {
            unchain(wb, o);
            wb->entries[o].state = WB_DEAD; /* its ring place is freed by the sender */
        }
        o = next;
    }
    while (wb->stale.count == wb->stale.capacity && !wb->abandoned) {
        pthread_cond_signal(&wb->work);
        pthread_cond_wait(&wb->progress, &wb->lock);
    }
    if (!wb->abandoned) {
        tp_stale_keys_add(&wb->stale, id);
        if (wb->stale.count > wb->stale_hold || send_every_delete(wb))
            pthread_cond_signal(&wb->work);
    }
    pthread_mutex_unlock(&wb->lock);
}

void tp_writeback_set_stale_hold(struct tp_writeback *wb, size_t stale_hold)
{
    pthread_mutex_lock(&wb->lock);
    if (stale_hold < wb->stale_hold)
        wb->stale_hold = stale_hold; /* the set's room was made for the larger hold */
    pthread_cond_signal(&wb->work);
    pthread_mutex_unlock(&wb->lock);
}

void tp_writeback_flush(struct tp_writeback *wb)
{
    pthread_mutex_lock(&wb->lock);
    wb->flushing++;
    pthread_cond_signal(&wb->work);
    while (wb->count > 0 || wb->stale.count > 0 || wb->deleting_count > 0)
        pthread_cond_wait(&wb->progress, &wb->lock);
    wb->flushing--;
    pthread_mutex_unlock(&wb->lock);
}

void tp_writeback_stats(struct tp_writeback *wb, struct tp_writeback_stats *out)
{
    pthread_mutex_lock(&wb->lock);
    *out = wb->stats;
    out->depth_pages = wb->slots - wb->free_count;
    out->stale_held = wb->stale.count;
    out->stale_hold = wb->stale_hold;
    out->capacity_pages = wb->slots;
    pthread_mutex_unlock(&wb->lock);
}

int tp_writeback_put_waiting(struct tp_writeback *wb, uint32_t id)
{
    pthread_mutex_lock(&wb->lock);
    uint32_t e = find_live(wb, id, WB_QUEUED);
    int waiting = e != WB_NONE;
    pthread_mutex_unlock(&wb->lock);
    return waiting;
}

/* Sends a batch: the held deletes taken (wb->deleting) in one call, the
 * puts in another (their pages are distinct: a put of a page takes its
 * delete back). Keys and pages are read without wb->lock: entries being
 * sent are the sender's alone. Returns the deletes done; err gets the
 * puts' failure. A delete that fails leaves a stale copy, which the
 * page's next put there overwrites. */
static size_t send(struct tp_writeback *wb, size_t n, const uint32_t *batch, int *results, tierpage_error *err)
{
    uint64_t put_keys[WB_BATCH], del_keys[WB_BATCH];
    const void *pages[WB_BATCH];
    int del_results[WB_BATCH];
    size_t dels = wb->deleting_count, deleted = 0;
    for (size_t i = 0; i < dels; i++)
        del_keys[i] = wb->deleting[i];
    for (size_t i = 0; i < n; i++) {
        put_keys[i] = wb->entries[batch[i]].id;
        pages[i] = slot_page(wb, batch[i]);
    }
    tierpage_error del_err = {{0}, {0}};
    if (dels) {
        wb->target.del(wb->target.ctx, dels, del_keys, del_results, &del_err);
        for (size_t i = 0; i < dels; i++)
            deleted += del_results[i] == 0;
    }
    if (n)
        wb->target.put(wb->target.ctx, n, put_keys, pages, results, err);
    return deleted;
}

/* Whether the batch so far holds an entry of the page. */
static int in_batch(const struct tp_writeback *wb, const uint32_t *batch, size_t n, uint32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (wb->entries[batch[i]].id == id)
            return 1;
    return 0;
}

/* wb->lock held, no entry being sent: drop every entry and held delete,
 * and every one given from now on until resumed. */
static void abandon(struct tp_writeback *wb)
{
    wb->abandoned = 1;
    tp_stale_keys_clear(&wb->stale);
    for (size_t i = 0; i < wb->count; i++) {
        uint32_t e = wb->ring[(wb->head + i) % wb->slots];
        answer(wb, e, -EIO);
        release(wb, e);
    }
    wb->head = wb->count = 0;
    pthread_cond_broadcast(&wb->progress);
}

void tp_writeback_resume(struct tp_writeback *wb)
{
    pthread_mutex_lock(&wb->lock);
    wb->abandoned = 0;
    pthread_mutex_unlock(&wb->lock);
}

/* wb->lock held: whether a later put of entry e's page is queued (its
 * bucket lists entries newest first, e among them). A copy refused as
 * full was never stored, so the later one replaces it. */
static int newer_entry(struct tp_writeback *wb, uint32_t e)
{
    for (uint32_t o = *bucket_of(wb, wb->entries[e].id); o != e; o = wb->entries[o].chain)
        if (wb->entries[o].id == wb->entries[e].id && wb->entries[o].state == WB_QUEUED)
            return 1;
    return 0;
}

/* A page refused as full whose owner says "later" (it holds the page BUSY)
 * goes to the queue's end, so the pages behind it are placed meanwhile.
 * Kept at the head, it could wait for ever: its owner may be a thread
 * evicting a batch of pages it claimed, waiting in tp_writeback_put for
 * room that only the pages behind it can free. */
static void *sender_main(void *arg)
{
    struct tp_writeback *wb = arg;
    tp_pager_thread_begin("tp-writeback");
    uint32_t batch[WB_BATCH];
    int results[WB_BATCH];
    uint64_t failing_since = 0; /* first of the rounds that kept pages back, 0 when none */
    pthread_mutex_lock(&wb->lock);
    for (;;) {
        /* Free dead entries at the head; stop when asked and drained. */
        while (wb->count && wb->entries[wb->ring[wb->head]].state == WB_DEAD) {
            release(wb, wb->ring[wb->head]);
            wb->head = (wb->head + 1) % wb->slots;
            wb->count--;
            pthread_cond_broadcast(&wb->progress);
        }
        if (wb->stale.count == 0)
            wb->release_stale = 0;
        size_t due = send_every_delete(wb) ? wb->stale.count
                     : wb->stale.count > wb->stale_hold ? wb->stale.count - wb->stale_hold : 0;
        if (wb->count == 0 && due == 0) {
            if (wb->stop)
                break;
            pthread_cond_wait(&wb->work, &wb->lock);
            continue;
        }
        /* The oldest held deletes due go first, then a run of queued puts,
         * in queue order, of distinct pages: a page's later put waits for
         * the next batch, so its copies reach the store in order. */
        wb->deleting_count = tp_stale_keys_take_oldest(&wb->stale, wb->deleting, due < WB_BATCH ? due : WB_BATCH);
        /* A store full of stale copies is not full: their deletes go, and
         * the pages it refused are sent again. */
        int stale_copies = wb->stale.count > 0 || wb->deleting_count > 0;
        size_t n = 0;
        for (size_t i = 0; i < wb->count && n < WB_BATCH; i++) {
            uint32_t e = wb->ring[(wb->head + i) % wb->slots];
            if (wb->entries[e].state != WB_QUEUED || in_batch(wb, batch, n, wb->entries[e].id))
                break;
            wb->entries[e].state = WB_SENDING;
            batch[n++] = e;
        }
        pthread_mutex_unlock(&wb->lock);

        tierpage_error err = {{0}, {0}};
        char failure[sizeof err.message + 160] = "";
        size_t deleted = send(wb, n, batch, results, &err);
        size_t sent = 0, full = 0, kept = 0, retried = 0;
        int later[WB_BATCH] = {0}, retry[WB_BATCH] = {0};
        for (size_t i = 0; i < n; i++) {
            if (results[i] == -ENOSPC && stale_copies) {
                retry[i] = 1;
                retried++;
            } else if (results[i] == -ENOSPC) {
                full++;
                if (wb->entries[batch[i]].waiter)
                    continue; /* handed back: its owner, waiting, finds it a place */
                int rc = wb->target.full(wb->target.ctx, wb, wb->entries[batch[i]].id, slot_page(wb, batch[i]), &err);
                if (rc == 0)
                    results[i] = 0;
                else if (rc == -EAGAIN)
                    later[i] = 1;
                else if (!failure[0])
                    snprintf(failure, sizeof failure, "page %u from the write-back queue of tier '%s' fits "
                             "nowhere: %s", wb->entries[batch[i]].id, wb->target.name, err.message);
            } else if (results[i] == 0) {
                sent++;
            }
        }
        wb->target.sent(wb->target.ctx, sent, full);

        pthread_mutex_lock(&wb->lock);
        wb->deleting_count = 0;
        if (retried)
            wb->release_stale = 1;
        wb->stats.batches++;
        wb->stats.deleted_pages += deleted;
        wb->stats.sent_pages += sent;
        /* Acknowledged pages leave the queue; the others go back in order,
         * except those to be asked about later, which go to the end. */
        uint32_t again[WB_BATCH], behind[WB_BATCH];
        size_t again_count = 0, behind_count = 0;
        for (size_t i = 0; i < n; i++) {
            int handed_back = results[i] == -ENOSPC && !retry[i] && wb->entries[batch[i]].waiter;
            if (handed_back)
                answer(wb, batch[i], -ENOSPC);
            if (results[i] == 0 || handed_back || (later[i] && newer_entry(wb, batch[i]))) {
                release(wb, batch[i]);
                continue;
            }
            wb->entries[batch[i]].state = WB_QUEUED;
            if (later[i])
                behind[behind_count++] = batch[i];
            else
                again[again_count++] = batch[i];
        }
        kept = again_count + behind_count;
        wb->head = (wb->head + n - again_count) % wb->slots;
        wb->count -= n;
        for (size_t i = 0; i < again_count; i++)
            wb->ring[(wb->head + i) % wb->slots] = again[i];
        wb->count += again_count;
        for (size_t i = 0; i < behind_count; i++)
            wb->ring[(wb->head + wb->count++) % wb->slots] = behind[i];
        pthread_cond_broadcast(&wb->progress);
        if (kept == 0) {
            failing_since = 0;
            continue;
        }
        if (retried == kept)
            continue;
        uint64_t now = tp_now_ns();
        if (!failing_since)
            failing_since = now;
        if (full == 0 && now - failing_since >= wb->timeout_ns && !failure[0])
            snprintf(failure, sizeof failure, "tier '%s' keeps refusing pages from its write-back queue (for %llu "
                     "ms, store_timeout): %s", wb->target.name,
                     (unsigned long long)((now - failing_since) / 1000000), err.message);
        if (failure[0]) {
            pthread_mutex_unlock(&wb->lock);
            if (!wb->target.failed)
                tp_fatal("%s", failure);
            wb->target.failed(wb->target.ctx, failure);
            pthread_mutex_lock(&wb->lock);
            abandon(wb);
            failing_since = 0;
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += full ? WB_RETRY_NS / 100 : WB_RETRY_NS;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&wb->work, &wb->lock, &until);
    }
    pthread_mutex_unlock(&wb->lock);
    return NULL;
}

static void destroy(struct tp_writeback *wb)
{
    if (wb->pages)
        munmap(wb->pages, wb->slots * wb->page_size);
    free(wb->entries);
    free(wb->ring);
    free(wb->free_slots);
    free(wb->buckets);
    tp_stale_keys_destroy(&wb->stale);
    pthread_cond_destroy(&wb->work);
    pthread_cond_destroy(&wb->progress);
    pthread_mutex_destroy(&wb->lock);
    free(wb);
}

int tp_writeback_start(const struct tp_writeback_target *target, size_t page_size, uint64_t bytes,
                       size_t stale_hold, uint64_t timeout_ns, struct tp_writeback **out, tierpage_error *err)
{
    struct tp_writeback *wb = calloc(1, sizeof *wb);
    if (!wb)
        return tierpage_error_set(err, -ENOMEM, NULL, "out of memory");
    wb->target = *target;
    wb->page_size = page_size;
    wb->timeout_ns = timeout_ns;
    wb->slots = bytes / page_size ? bytes / page_size : 1;
    wb->stale_hold = stale_hold;
    pthread_mutex_init(&wb->lock, NULL);
    pthread_cond_init(&wb->work, NULL);
    pthread_cond_init(&wb->progress, NULL);
    uint32_t buckets = 1;
    while (buckets < wb->slots * 2)
        buckets <<= 1;
    wb->bucket_mask = buckets - 1;
    wb->entries = calloc(wb->slots, sizeof *wb->entries);
    wb->ring = calloc(wb->slots, sizeof *wb->ring);
    wb->free_slots = calloc(wb->slots, sizeof *wb->free_slots);
    wb->buckets = malloc(buckets * sizeof *wb->buckets);
    wb->pages = mmap(NULL, wb->slots * wb->page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (wb->pages == MAP_FAILED)
        wb->pages = NULL;
    /* Room beyond the hold for the deletes that come while the held ones
     * over it are being sent. */
    int stale_rc = tp_stale_keys_init(&wb->stale, stale_hold + WB_BATCH);
    if (!wb->entries || !wb->ring || !wb->free_slots || !wb->buckets || !wb->pages || stale_rc < 0) {
        size_t slots = wb->slots;
        destroy(wb);
        return tierpage_error_set(err, -ENOMEM, NULL, "out of memory for a write-back queue of %zu pages", slots);
    }
    for (uint32_t i = 0; i < buckets; i++)
        wb->buckets[i] = WB_NONE;
    for (size_t i = 0; i < wb->slots; i++)
        wb->free_slots[i] = (uint32_t)(wb->slots - 1 - i);
    wb->free_count = wb->slots;
    int rc = tp_pager_thread_create(&wb->thread, NULL, sender_main, wb);
    if (rc) {
        destroy(wb);
        return tierpage_error_set(err, -rc, NULL, "cannot start a write-back thread: %s", strerror(rc));
    }
    *out = wb;
    return 0;
}

void tp_writeback_stop(struct tp_writeback *wb)
{
    if (!wb)
        return;
    pthread_mutex_lock(&wb->lock);
    wb->stop = 1;
    pthread_cond_signal(&wb->work);
    pthread_mutex_unlock(&wb->lock);
    pthread_join(wb->thread, NULL);
    destroy(wb);
}
