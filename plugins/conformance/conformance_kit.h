/* Internals of the conformance kit, shared by its files: the state of one
 * run, the output of check lines, page patterns and store-call wrappers. */
#ifndef TIERPAGE_CONFORMANCE_KIT_H
#define TIERPAGE_CONFORMANCE_KIT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "tierpage_store.h"

#define KIT_MAX_OPTIONS 64
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

/* One line per check: "ok    NAME: ...", "FAIL  NAME: ...", "skip  NAME: ...". */
void kit_pass(struct kit *kit, const char *check, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int kit_fail(struct kit *kit, const char *check, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void kit_skip(struct kit *kit, const char *check, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "-ENOENT", "-ENOSPC", ... or the number; and the same with err's message. */
const char *kit_errname(int rc);
const char *kit_why(int rc, const tierpage_error *err);

/* The page of `key` at `generation`; check returns -1 when `page` is that
 * page, else the offset of its first wrong byte. */
void kit_fill_page(void *page, size_t size, uint64_t key, uint64_t generation);
long kit_check_page(const void *page, size_t size, uint64_t key, uint64_t generation, void *scratch);

/* Store calls, serialised when the plugin is TIERPAGE_STORE_SERIAL; they
 * clear *err first. */
void kit_lock_if_serial(struct kit *kit);
void kit_unlock_if_serial(struct kit *kit);
int kit_put(struct kit *kit, uint64_t key, const void *page, tierpage_error *err);
int kit_get(struct kit *kit, uint64_t key, void *page, tierpage_error *err);
int kit_del(struct kit *kit, uint64_t key, tierpage_error *err);
int kit_usage(struct kit *kit, tierpage_store_usage *usage, tierpage_error *err);
int kit_open(struct kit *kit, const tierpage_store_params *params, void **store, tierpage_error *err);

/* `count` keys no earlier check or run has used. */
uint64_t kit_take_keys(struct kit *kit, uint64_t count);
/* Deletes keys [first, first+count), ignoring results: cleanup. */
void kit_del_range(struct kit *kit, uint64_t first, uint64_t count);
/* Puts `count` pages then reads each back; reports a failure under `check`
 * and returns -1. */
int kit_put_and_verify(struct kit *kit, const char *check, uint64_t first, uint64_t count, uint64_t generation);
/* usage.pages, or a failure reported under `check` and -1. */
int kit_usage_pages(struct kit *kit, const char *check, uint64_t *pages);
/* How many pages a check may put at once without filling the store. */
uint64_t kit_room_for(struct kit *kit, uint64_t wanted);

/* The checks, in the order a run makes them. Each leaves the store holding
 * what it held before; a check that has to close the store reopens it and
 * leaves kit->store NULL when it cannot. */
extern void (*const kit_checks[])(struct kit *);
extern const size_t kit_check_count;

#endif
