/* The conformance kit's common parts: check lines, page patterns, store
 * calls and the small helpers every check uses. */
#include "conformance_kit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- output */

static void report(struct kit *kit, const char *status, const char *check, const char *fmt, va_list ap)
{
    printf("%-6s%s: ", status, check);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    (void)kit;
}

void kit_pass(struct kit *kit, const char *check, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(kit, "ok", check, fmt, ap);
    va_end(ap);
    kit->passed++;
}

int kit_fail(struct kit *kit, const char *check, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(kit, "FAIL", check, fmt, ap);
    va_end(ap);
    kit->failed++;
    return -1;
}

void kit_skip(struct kit *kit, const char *check, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(kit, "skip", check, fmt, ap);
    va_end(ap);
    kit->skipped++;
}

const char *kit_errname(int rc)
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
const char *kit_why(int rc, const tierpage_error *err)
{
    static _Thread_local char buf[320];
    if (err->message[0])
        snprintf(buf, sizeof buf, "%s (%s)", kit_errname(rc), err->message);
    else
        snprintf(buf, sizeof buf, "%s", kit_errname(rc));
    return buf;
}

/* ----------------------------------------------------- pages and patterns */

void kit_fill_page(void *page, size_t size, uint64_t key, uint64_t generation)
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
long kit_check_page(const void *page, size_t size, uint64_t key, uint64_t generation, void *scratch)
{
    kit_fill_page(scratch, size, key, generation);
    if (memcmp(page, scratch, size) == 0)
        return -1;
    const unsigned char *a = page, *b = scratch;
    size_t i = 0;
    while (a[i] == b[i])
        i++;
    return (long)i;
}

/* ------------------------------------------------------- store wrappers */

void kit_lock_if_serial(struct kit *kit)
{
    if (kit->ops->flags & TIERPAGE_STORE_SERIAL)
        pthread_mutex_lock(&kit->serial);
}

void kit_unlock_if_serial(struct kit *kit)
{
    if (kit->ops->flags & TIERPAGE_STORE_SERIAL)
        pthread_mutex_unlock(&kit->serial);
}

int kit_put(struct kit *kit, uint64_t key, const void *page, tierpage_error *err)
{
    memset(err, 0, sizeof *err);
    kit_lock_if_serial(kit);
    int rc = kit->ops->put(kit->store, key, page, err);
    kit_unlock_if_serial(kit);
    return rc;
}

int kit_get(struct kit *kit, uint64_t key, void *page, tierpage_error *err)
{
    memset(err, 0, sizeof *err);
    kit_lock_if_serial(kit);
    int rc = kit->ops->get(kit->store, key, page, err);
    kit_unlock_if_serial(kit);
    return rc;
}

int kit_del(struct kit *kit, uint64_t key, tierpage_error *err)
{
    memset(err, 0, sizeof *err);
    kit_lock_if_serial(kit);
    int rc = kit->ops->del(kit->store, key, err);
    kit_unlock_if_serial(kit);
    return rc;
}

int kit_usage(struct kit *kit, tierpage_store_usage *usage, tierpage_error *err)
{
    memset(err, 0, sizeof *err);
    memset(usage, 0, sizeof *usage);
    kit_lock_if_serial(kit);
    int rc = kit->ops->usage(kit->store, usage, err);
    kit_unlock_if_serial(kit);
    return rc;
}

uint64_t kit_take_keys(struct kit *kit, uint64_t count)
{
    uint64_t first = kit->key_base + kit->next_key;
    kit->next_key += count;
    return first;
}

/* Deletes keys [first, first+count) quietly, for cleanup after a failure. */
void kit_del_range(struct kit *kit, uint64_t first, uint64_t count)
{
    tierpage_error err;
    for (uint64_t i = 0; i < count; i++)
        kit_del(kit, first + i, &err);
}

/* Puts count pages of `generation`, then reads each back and compares.
 * On failure reports it under `check` and returns -1. */
int kit_put_and_verify(struct kit *kit, const char *check, uint64_t first, uint64_t count, uint64_t generation)
{
    tierpage_error err;
    unsigned char *page = malloc(kit->page_size), *scratch = malloc(kit->page_size);
    int rc = 0;
    if (!page || !scratch) {
        rc = kit_fail(kit, check, "out of memory");
        goto out;
    }
    for (uint64_t i = 0; i < count; i++) {
        kit_fill_page(page, kit->page_size, first + i, generation);
        int r = kit_put(kit, first + i, page, &err);
        if (r) {
            rc = kit_fail(kit, check, "put of page %" PRIu64 " of %" PRIu64 " returned %s", i + 1, count, kit_why(r, &err));
            goto out;
        }
    }
    for (uint64_t i = 0; i < count; i++) {
        memset(page, 0xa5, kit->page_size);
        int r = kit_get(kit, first + i, page, &err);
        if (r) {
            rc = kit_fail(kit, check, "get of page %" PRIu64 " of %" PRIu64 " returned %s", i + 1, count, kit_why(r, &err));
            goto out;
        }
        long bad = kit_check_page(page, kit->page_size, first + i, generation, scratch);
        if (bad >= 0) {
            rc = kit_fail(kit, check, "page %" PRIu64 " of %" PRIu64 " read back wrong from byte %ld", i + 1, count, bad);
            goto out;
        }
    }
out:
    free(page);
    free(scratch);
    return rc;
}

int kit_usage_pages(struct kit *kit, const char *check, uint64_t *pages)
{
    tierpage_store_usage u;
    tierpage_error err;
    int rc = kit_usage(kit, &u, &err);
    if (rc)
        return kit_fail(kit, check, "usage returned %s", kit_why(rc, &err));
    *pages = u.pages;
    return 0;
}

/* Pages the store may hold, from usage; 0 when it reports no capacity. */
static uint64_t capacity_pages(struct kit *kit)
{
    tierpage_store_usage u;
    tierpage_error err;
    if (kit_usage(kit, &u, &err) != 0)
        return 0;
    return u.capacity_bytes / kit->page_size;
}

/* How many pages a check may put at once without filling the store. */
uint64_t kit_room_for(struct kit *kit, uint64_t wanted)
{
    uint64_t cap = capacity_pages(kit);
    if (cap == 0)
        return wanted;
    uint64_t room = cap / 2;
    if (room == 0)
        room = 1;
    return wanted < room ? wanted : room;
}

int kit_open(struct kit *kit, const tierpage_store_params *params, void **store, tierpage_error *err)
{
    memset(err, 0, sizeof *err);
    *store = NULL;
    return kit->ops->open(params, store, err);
}


