#include "ns_keys.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tier_thread.h"

int ns_keys_init(struct ns_keys *k, const tierpage_store_params *params, const char *tier, tierpage_error *err)
{
    const char *ns = params->namespace_name ? params->namespace_name : "";
    size_t len = strlen(ns);
    memset(k, 0, sizeof *k);
    if (len == 0 || len > NS_NAME_MAX)
        return tierpage_error_set(err, -EINVAL, NULL, "%s: the namespace must have 1 to %d characters", tier,
                                  NS_NAME_MAX);
    for (const char *c = ns; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f || *c == ':' || *c == '*' || *c == '?' || *c == '[' ||
            *c == ']' || *c == '\\')
            return tierpage_error_set(err, -EINVAL, NULL, "%s: the namespace '%s' has a character ('%c') its "
                                      "keys cannot hold", tier, ns, *c);
    memcpy(k->name, ns, len + 1);
    k->exclusive = params->exclusive || !params->instance;
    if (params->instance) {
        size_t ilen = strlen(params->instance);
        int hex = ilen == NS_ID_LEN;
        for (size_t i = 0; hex && i < ilen; i++)
            hex = (params->instance[i] >= '0' && params->instance[i] <= '9') ||
                  (params->instance[i] >= 'a' && params->instance[i] <= 'f');
        if (!hex)
            return tierpage_error_set(err, -EINVAL, NULL, "%s: the instance id '%s' is not %d hex digits", tier,
                                      params->instance, NS_ID_LEN);
        memcpy(k->instance, params->instance, NS_ID_LEN + 1);
    } else {
        memset(k->instance, '0', NS_ID_LEN);
    }
    k->ns_prefix_len = (size_t)snprintf(k->ns_prefix, sizeof k->ns_prefix, "tp:%s:", ns);
    if (k->exclusive) {
        k->page_prefix_len = (size_t)snprintf(k->page_prefix, sizeof k->page_prefix, "tp:%s:", ns);
        snprintf(k->lease, sizeof k->lease, "tpl:%s", ns);
    } else {
        k->page_prefix_len = (size_t)snprintf(k->page_prefix, sizeof k->page_prefix, "tp:%s:%s:", ns, k->instance);
        snprintf(k->lease, sizeof k->lease, "tpl:%s:%s", ns, k->instance);
    }
    return 0;
}

size_t ns_page_key(const struct ns_keys *k, uint64_t page, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s%016" PRIx64, k->page_prefix, page);
    return n < 0 ? 0 : (size_t)n;
}

static int all_hex(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return 0;
    return 1;
}

enum ns_key_kind ns_key_classify(const struct ns_keys *k, const char *key, size_t len, char *instance)
{
    if (len < k->ns_prefix_len || memcmp(key, k->ns_prefix, k->ns_prefix_len) != 0)
        return NS_KEY_FOREIGN;
    const char *rest = key + k->ns_prefix_len;
    size_t n = len - k->ns_prefix_len;
    if (n == NS_ID_LEN && all_hex(rest, NS_ID_LEN))
        return NS_KEY_EXCLUSIVE;
    if (n == 2 * NS_ID_LEN + 1 && rest[NS_ID_LEN] == ':' && all_hex(rest, NS_ID_LEN) &&
        all_hex(rest + NS_ID_LEN + 1, NS_ID_LEN)) {
        memcpy(instance, rest, NS_ID_LEN);
        instance[NS_ID_LEN] = '\0';
        return NS_KEY_INSTANCE;
    }
    return NS_KEY_FOREIGN;
}

void ns_lease_key_of(const struct ns_keys *k, const char *instance, char *buf, size_t size)
{
    snprintf(buf, size, "tpl:%s:%s", k->name, instance);
}

struct ns_heartbeat {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop;
    unsigned period_ms;
    void (*fn)(void *);
    void *arg;
};

static void *heartbeat_main(void *arg)
{
    struct ns_heartbeat *hb = arg;
    pthread_mutex_lock(&hb->lock);
    while (!hb->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += hb->period_ms / 1000;
        until.tv_nsec += (long)(hb->period_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!hb->stop && pthread_cond_timedwait(&hb->wake, &hb->lock, &until) != ETIMEDOUT)
            ;
        if (hb->stop)
            break;
        pthread_mutex_unlock(&hb->lock);
        hb->fn(hb->arg);
        pthread_mutex_lock(&hb->lock);
    }
    pthread_mutex_unlock(&hb->lock);
    return NULL;
}

struct ns_heartbeat *ns_heartbeat_start(const tierpage_host *host, unsigned period_ms, void (*fn)(void *),
                                        void *arg)
{
    struct ns_heartbeat *hb = calloc(1, sizeof *hb);
    if (!hb)
        return NULL;
    hb->period_ms = period_ms ? period_ms : 1;
    hb->fn = fn;
    hb->arg = arg;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&hb->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&hb->lock, NULL);
    if (tier_thread_start(host, &hb->thread, heartbeat_main, hb) != 0) {
        pthread_cond_destroy(&hb->wake);
        pthread_mutex_destroy(&hb->lock);
        free(hb);
        return NULL;
    }
    return hb;
}

void ns_heartbeat_stop(struct ns_heartbeat *hb)
{
    if (!hb)
        return;
    pthread_mutex_lock(&hb->lock);
    hb->stop = 1;
    pthread_cond_signal(&hb->wake);
    pthread_mutex_unlock(&hb->lock);
    pthread_join(hb->thread, NULL);
    pthread_cond_destroy(&hb->wake);
    pthread_mutex_destroy(&hb->lock);
    free(hb);
}
