/* faulty: a store that wraps another tier's plugin and makes a share of its
 * calls fail, refuse as full, or stall, to prove that tierpage survives what
 * real stores do. The inner plugin is loaded with the core's own loader and
 * opened with the wrapper's `wrap.`-prefixed options; every call that is not
 * chosen for a fault goes through to it unchanged.
 *
 * Locking: the counters are atomics; a lock serialises calls into an inner
 * store that asks for one call at a time. The faulty store itself takes
 * concurrent calls. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fault_plan.h"
#include "loader.h"
#include "tierpage_store.h"

#define WRAP_PREFIX "wrap."

struct faulty_store {
    struct tp_plugin inner;
    void *inner_store;
    /* Kept, with copies of its strings, to open the inner store again. */
    tierpage_store_params inner_params;
    tierpage_store_option *inner_options;
    char *inner_strings;
    int inner_serial;
    pthread_mutex_t serial_lock;
    struct fault_plan plan;
    char *counts_file;
    pthread_mutex_t counts_lock;    /* one writer of counts_file at a time */
    uint64_t calls[FAULT_CALLS];    /* sequence numbers, per kind of call */
    uint64_t all_calls;
    uint64_t outage_start_ns;       /* when the outage began; 0 before it */
    uint64_t injected_eio[FAULT_CALLS], injected_full, injected_stall[FAULT_CALLS], outage_calls;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void stall(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void write_counts(struct faulty_store *s);

/* Counts an injected fault, and writes the counts file. */
static void count(struct faulty_store *s, uint64_t *counter)
{
    __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
    write_counts(s);
}

/* Inside the outage window: every call fails until outage_time has passed
 * since the call numbered outage_after. */
static int in_outage(struct faulty_store *s)
{
    uint64_t n = __atomic_fetch_add(&s->all_calls, 1, __ATOMIC_RELAXED);
    if (!s->plan.outage_after || !s->plan.outage_ns || n < s->plan.outage_after)
        return 0;
    uint64_t start = __atomic_load_n(&s->outage_start_ns, __ATOMIC_ACQUIRE);
    if (!start) {
        uint64_t expected = 0, now = now_ns();
        if (__atomic_compare_exchange_n(&s->outage_start_ns, &expected, now, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            start = now;
        else
            start = expected;
    }
    return now_ns() - start < s->plan.outage_ns;
}

/* The fate of the next call of this kind: 0 to go through (after any
 * stall), or the error to return in its place. */
static int inject(struct faulty_store *s, enum fault_call call, uint64_t key, tierpage_error *err)
{
    static const char *const names[FAULT_CALLS] = {"get", "put", "delete"};
    if (in_outage(s)) {
        count(s, &s->outage_calls);
        return tierpage_error_set(err, -EIO, NULL, "faulty: %s of page %" PRIu64 " failed: the store is in an outage",
                                  names[call], key);
    }
    uint64_t n = __atomic_fetch_add(&s->calls[call], 1, __ATOMIC_RELAXED);
    switch (fault_plan_decide(&s->plan, call, n)) {
    case FAULT_EIO:
        count(s, &s->injected_eio[call]);
        return tierpage_error_set(err, -EIO, NULL, "faulty: injected I/O error on %s of page %" PRIu64, names[call],
                                  key);
    case FAULT_FULL:
        count(s, &s->injected_full);
        return tierpage_error_set(err, -ENOSPC, NULL, "faulty: injected 'full' on put of page %" PRIu64, key);
    case FAULT_STALL:
        count(s, &s->injected_stall[call]);
        stall(s->plan.stall_ns);
        return 0;
    case FAULT_NONE:
        break;
    }
    return 0;
}

static void enter(struct faulty_store *s)
{
    if (s->inner_serial)
        pthread_mutex_lock(&s->serial_lock);
}

static void leave(struct faulty_store *s)
{
    if (s->inner_serial)
        pthread_mutex_unlock(&s->serial_lock);
}

/* The counts are written when a fault is injected and at close: a program
 * run under `tierpage run` may end without closing its stack. The file is
 * replaced whole (written beside it, then renamed). */
static void write_counts(struct faulty_store *s)
{
    if (!s->counts_file)
        return;
    pthread_mutex_lock(&s->counts_lock);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", s->counts_file);
    FILE *f = fopen(tmp, "w");
    if (f) {
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
        uint64_t c[] = {LOAD(s->calls[FAULT_GET]), LOAD(s->calls[FAULT_PUT]), LOAD(s->calls[FAULT_DEL]),
                        LOAD(s->injected_eio[FAULT_GET]), LOAD(s->injected_eio[FAULT_PUT]),
                        LOAD(s->injected_eio[FAULT_DEL]), LOAD(s->injected_full), LOAD(s->injected_stall[FAULT_GET]),
                        LOAD(s->injected_stall[FAULT_PUT]), LOAD(s->injected_stall[FAULT_DEL]),
                        LOAD(s->outage_calls)};
#undef LOAD
        static const char *const names[] = {"gets", "puts", "deletes", "get_eio", "put_eio", "del_eio",
                                            "put_full", "get_stall", "put_stall", "del_stall", "outage_calls"};
        for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
            fprintf(f, "%s %" PRIu64 "\n", names[i], c[i]);
        if (fclose(f) == 0)
            rename(tmp, s->counts_file);
    }
    pthread_mutex_unlock(&s->counts_lock);
}

static void faulty_close(void *store)
{
    struct faulty_store *s = store;
    if (!s)
        return;
    if (s->inner_store) {
        s->inner.ops->close(s->inner_store);
        write_counts(s);
    }
    tp_plugin_unload(&s->inner);
    pthread_mutex_destroy(&s->serial_lock);
    pthread_mutex_destroy(&s->counts_lock);
    free(s->inner_options);
    free(s->inner_strings);
    free(s->counts_file);
    free(s);
}

/* Opens the inner store with the wrapper's `wrap.KEY` options as KEY. An
 * error about one of them names it with its prefix, so the core points at
 * the right line of the stack file. */
static int open_inner(struct faulty_store *s, const tierpage_store_params *params, const char *inner,
                      tierpage_error *err)
{
    tierpage_error ierr = {{0}, {0}};
    if (tp_plugin_load(inner, &s->inner, &ierr) < 0)
        return tierpage_error_set(err, -ENOENT, "wrap", "faulty: wrap: %s", ierr.message);
    s->inner_serial = (s->inner.ops->flags & TIERPAGE_STORE_SERIAL) != 0;
    /* The namespace and the options the inner store gets, copied: the
     * caller's strings need not outlive open. */
    size_t bytes = strlen(params->namespace_name) + 1;
    for (size_t i = 0; i < params->option_count; i++)
        bytes += strlen(params->options[i].key) + strlen(params->options[i].value) + 2;
    s->inner_options = calloc(params->option_count + 1, sizeof *s->inner_options);
    s->inner_strings = malloc(bytes);
    if (!s->inner_options || !s->inner_strings)
        return tierpage_error_set(err, -ENOMEM, NULL, "faulty: out of memory");
    char *next = s->inner_strings;
    s->inner_params = *params;
    s->inner_params.namespace_name = next;
    next = stpcpy(next, params->namespace_name) + 1;
    size_t n = 0;
    for (size_t i = 0; i < params->option_count; i++) {
        const tierpage_store_option *o = &params->options[i];
        if (strncmp(o->key, WRAP_PREFIX, strlen(WRAP_PREFIX)) != 0)
            continue;
        s->inner_options[n].key = next;
        next = stpcpy(next, o->key + strlen(WRAP_PREFIX)) + 1;
        s->inner_options[n++].value = next;
        next = stpcpy(next, o->value) + 1;
    }
    s->inner_params.options = s->inner_options;
    s->inner_params.option_count = n;
    int rc = s->inner.ops->open(&s->inner_params, &s->inner_store, &ierr);
    if (rc < 0 || !s->inner_store) {
        s->inner_store = NULL;
        char key[64] = "";
        if (ierr.key[0])
            snprintf(key, sizeof key, WRAP_PREFIX "%.*s", (int)(sizeof key - sizeof WRAP_PREFIX), ierr.key);
        return tierpage_error_set(err, rc < 0 ? rc : -EINVAL, key, "faulty: wrapped %s: %s", s->inner.ops->name,
                                  ierr.message[0] ? ierr.message : "the store refused to open");
    }
    return 0;
}

static int faulty_open(const tierpage_store_params *params, void **store, tierpage_error *err)
{
    struct faulty_store *s = calloc(1, sizeof *s);
    if (!s)
        return tierpage_error_set(err, -ENOMEM, NULL, "faulty: out of memory");
    pthread_mutex_init(&s->serial_lock, NULL);
    pthread_mutex_init(&s->counts_lock, NULL);
    fault_plan_init(&s->plan);
    const char *inner = NULL;
    int rc = 0;
    for (size_t i = 0; i < params->option_count && rc == 0; i++) {
        const char *key = params->options[i].key, *value = params->options[i].value;
        if (strncmp(key, WRAP_PREFIX, strlen(WRAP_PREFIX)) == 0)
            continue;
        if (strcmp(key, "wrap") == 0) {
            inner = value;
            continue;
        }
        if (strcmp(key, "counts_file") == 0) {
            free(s->counts_file);
            s->counts_file = strdup(value);
            if (!s->counts_file)
                rc = tierpage_error_set(err, -ENOMEM, NULL, "faulty: out of memory");
            continue;
        }
        int took = fault_plan_option(&s->plan, key, value, err);
        if (took < 0)
            rc = took;
        else if (took == 0)
            rc = tierpage_error_set(err, -EINVAL, key,
                                    "faulty: unknown option '%s' (faulty takes wrap, wrap.KEY for the wrapped "
                                    "plugin, get_eio, put_eio, del_eio, put_full, get_stall, put_stall, del_stall, "
                                    "stall_time, outage_after, outage_time, seed, counts_file)",
                                    key);
    }
    if (rc == 0 && (!inner || !inner[0]))
        rc = tierpage_error_set(err, -EINVAL, "wrap", "faulty: wrap is required: the plugin whose store to wrap");
    if (rc == 0 && strcmp(inner, "faulty") == 0)
        rc = tierpage_error_set(err, -EINVAL, "wrap", "faulty: wrap: expected another plugin than faulty");
    if (rc == 0)
        rc = open_inner(s, params, inner, err);
    if (rc < 0) {
        faulty_close(s);
        return rc;
    }
    *store = s;
    return 0;
}

static int faulty_get(void *store, uint64_t key, void *page, tierpage_error *err)
{
    struct faulty_store *s = store;
    int rc = inject(s, FAULT_GET, key, err);
    if (rc < 0)
        return rc;
    enter(s);
    rc = s->inner.ops->get(s->inner_store, key, page, err);
    leave(s);
    return rc;
}

static int faulty_put(void *store, uint64_t key, const void *page, tierpage_error *err)
{
    struct faulty_store *s = store;
    int rc = inject(s, FAULT_PUT, key, err);
    if (rc < 0)
        return rc;
    enter(s);
    rc = s->inner.ops->put(s->inner_store, key, page, err);
    leave(s);
    return rc;
}

static int faulty_del(void *store, uint64_t key, tierpage_error *err)
{
    struct faulty_store *s = store;
    int rc = inject(s, FAULT_DEL, key, err);
    if (rc < 0)
        return rc;
    enter(s);
    rc = s->inner.ops->del(s->inner_store, key, err);
    leave(s);
    return rc;
}

static int faulty_usage(void *store, tierpage_store_usage *usage, tierpage_error *err)
{
    struct faulty_store *s = store;
    enter(s);
    int rc = s->inner.ops->usage(s->inner_store, usage, err);
    leave(s);
    return rc;
}

/* An inner store without clear keeps nothing across close + open (a
 * persistent one would have clear): opening it again empties it. */
static int faulty_clear(void *store, tierpage_error *err)
{
    struct faulty_store *s = store;
    if (s->inner.ops->clear)
        return s->inner.ops->clear(s->inner_store, err);
    s->inner.ops->close(s->inner_store);
    s->inner_store = NULL;
    int rc = s->inner.ops->open(&s->inner_params, &s->inner_store, err);
    if (rc == 0 && !s->inner_store)
        rc = tierpage_error_set(err, -EINVAL, NULL, "faulty: the wrapped store refused to open again");
    return rc;
}

/* The pages not chosen for a fault go to the inner store's batch call in
 * one piece (or one by one when it has none); the others get their fault. */
static int faulty_put_batch(void *store, size_t count, const uint64_t *keys, const void *const *pages, int *results,
                            tierpage_error *err)
{
    struct faulty_store *s = store;
    size_t *through = malloc(count * (sizeof(size_t) + sizeof(uint64_t) + sizeof(void *) + sizeof(int)));
    if (!through)
        return tierpage_error_set(err, -ENOMEM, NULL, "faulty: out of memory");
    uint64_t *pass_keys = (uint64_t *)(through + count);
    const void **pass_pages = (const void **)(pass_keys + count);
    int *pass_results = (int *)(pass_pages + count);
    size_t n = 0;
    int first = 0;
    for (size_t i = 0; i < count; i++) {
        results[i] = inject(s, FAULT_PUT, keys[i], err);
        if (results[i] == 0) {
            through[n] = i;
            pass_keys[n] = keys[i];
            pass_pages[n++] = pages[i];
        } else if (!first) {
            first = results[i];
        }
    }
    enter(s);
    if (n > 1 && s->inner.ops->put_batch) {
        s->inner.ops->put_batch(s->inner_store, n, pass_keys, pass_pages, pass_results, err);
    } else {
        for (size_t i = 0; i < n; i++)
            pass_results[i] = s->inner.ops->put(s->inner_store, pass_keys[i], pass_pages[i], err);
    }
    leave(s);
    for (size_t i = 0; i < n; i++) {
        results[through[i]] = pass_results[i];
        if (pass_results[i] && !first)
            first = pass_results[i];
    }
    free(through);
    return first;
}

static int faulty_get_batch(void *store, size_t count, const uint64_t *keys, void *const *pages, int *results,
                            tierpage_error *err)
{
    int first = 0;
    for (size_t i = 0; i < count; i++) {
        results[i] = faulty_get(store, keys[i], pages[i], err);
        if (results[i] && !first)
            first = results[i];
    }
    return first;
}

static const tierpage_store_ops faulty_ops = {
    .abi_version = TIERPAGE_STORE_ABI_VERSION,
    .struct_size = sizeof(tierpage_store_ops),
    .name = "faulty",
    .description = "wraps another plugin's store and injects I/O errors, 'full' refusals and stalls",
    /* Treated as a network store (a write-back queue by default), so that
     * both the queue's calls and, with writeback_queue: 0, the core's
     * direct calls can be put under faults. */
    .flags = TIERPAGE_STORE_REMOTE,
    .open = faulty_open,
    .close = faulty_close,
    .get = faulty_get,
    .put = faulty_put,
    .del = faulty_del,
    .usage = faulty_usage,
    .get_batch = faulty_get_batch,
    .put_batch = faulty_put_batch,
    .clear = faulty_clear,
};

TIERPAGE_STORE_EXPORT const tierpage_store_ops *tierpage_store_entry(void)
{
    return &faulty_ops;
}
