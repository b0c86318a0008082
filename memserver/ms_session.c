/* Sessions, the per-namespace accounting, and the grace period. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "memserver.h"
#include "ms_log.h"

uint64_t ms_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

struct ms_session *ms_session_find(struct memserver *s, const char *name, uint64_t token)
{
    for (struct ms_session *x = s->sessions; x; x = x->next)
        if (x->token == token && strcmp(x->name, name) == 0)
            return x;
    return NULL;
}

struct ms_session *ms_session_new(struct memserver *s, const char *name, uint64_t token)
{
    struct ms_session *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    strncpy(x->name, name, sizeof x->name - 1);
    x->token = token;
    x->next = s->sessions;
    s->sessions = x;
    return x;
}

int ms_session_add_slab(struct ms_session *x, struct ms_slab *slab)
{
    if (x->slab_count == x->slab_cap) {
        uint32_t cap = x->slab_cap ? x->slab_cap * 2 : 8;
        struct ms_slab **grown = realloc(x->slabs, cap * sizeof *grown);
        if (!grown)
            return -ENOMEM;
        x->slabs = grown;
        x->slab_cap = cap;
    }
    x->slabs[x->slab_count++] = slab;
    return 0;
}

int ms_session_drop_slab(struct memserver *s, struct ms_session *x, uint32_t index)
{
    for (uint32_t i = 0; i < x->slab_count; i++) {
        if (x->slabs[i]->index == index) {
            ms_pool_free(&s->pool, x->slabs[i]);
            x->slabs[i] = x->slabs[--x->slab_count];
            return 0;
        }
    }
    return -ENOENT;
}

void ms_session_destroy(struct memserver *s, struct ms_session *x)
{
    for (struct ms_session **link = &s->sessions; *link; link = &(*link)->next) {
        if (*link == x) {
            *link = x->next;
            break;
        }
    }
    for (uint32_t i = 0; i < x->slab_count; i++)
        ms_pool_free(&s->pool, x->slabs[i]);
    if (x->conn)
        x->conn->session = NULL;
    free(x->slabs);
    free(x);
}

uint64_t ms_namespace_bytes(struct memserver *s, const char *name)
{
    uint64_t slabs = 0;
    for (struct ms_session *x = s->sessions; x; x = x->next)
        if (strcmp(x->name, name) == 0)
            slabs += x->slab_count;
    return slabs * s->pool.slab_bytes;
}

/* The session's connection is gone: park its slabs for the grace period,
 * or free them now. */
void ms_session_detach(struct memserver *s, struct ms_session *x, const char *peer)
{
    x->conn = NULL;
    if (s->opt.grace_seconds > 0 && x->slab_count > 0) {
        x->parked_until_ms = ms_now_ms() + (uint64_t)s->opt.grace_seconds * 1000u;
        ms_log("client %s (namespace %s) disconnected: keeping its %u slabs for %us", peer, x->name,
               x->slab_count, s->opt.grace_seconds);
        return;
    }
    uint32_t n = x->slab_count;
    char name[TPM_NAMESPACE_MAX];
    memcpy(name, x->name, sizeof name);
    ms_session_destroy(s, x);
    ms_log("client %s (namespace %s) disconnected: freed %u slabs; %llu MiB of %llu MiB free", peer, name, n,
           (unsigned long long)((uint64_t)s->pool.free_count * s->pool.slab_bytes >> 20),
           (unsigned long long)((uint64_t)s->pool.slab_count * s->pool.slab_bytes >> 20));
}

void ms_sessions_expire(struct memserver *s)
{
    uint64_t now = ms_now_ms();
    struct ms_session *x = s->sessions;
    while (x) {
        struct ms_session *next = x->next;
        if (!x->conn && x->parked_until_ms <= now) {
            ms_log("namespace %s: grace period over, freed its %u slabs", x->name, x->slab_count);
            ms_session_destroy(s, x);
        }
        x = next;
    }
}

/* Milliseconds until the next parked session expires, -1 when none is parked. */
int ms_sessions_next_timeout_ms(struct memserver *s)
{
    uint64_t now = ms_now_ms(), best = UINT64_MAX;
    for (struct ms_session *x = s->sessions; x; x = x->next)
        if (!x->conn && x->parked_until_ms < best)
            best = x->parked_until_ms;
    if (best == UINT64_MAX)
        return -1;
    return best <= now ? 0 : (int)(best - now > 60000 ? 60000 : best - now);
}
