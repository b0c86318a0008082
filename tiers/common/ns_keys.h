/* Key names of the shared tiers (memcached, redis): one running stack per
 * namespace, and the leases that say which stacks are running.
 *
 *   tp:<namespace>:<instance>:<page>   a page of a per-instance stack (the default)
 *   tp:<namespace>:<page>              a page of a stack with namespace: exclusive
 *   tpl:<namespace>:<instance>         lease of a running per-instance stack
 *   tpl:<namespace>                    lease of the running exclusive stack; its value is its instance
 *
 * <instance> and <page> are 16 lowercase hex digits; a namespace never holds
 * ':'. A lease lives lease_ms and is renewed every lease_ms / 3 while the
 * store is open: the pages of an instance whose lease is gone belong to a
 * stack that stopped without closing (killed, or exited under tierpage
 * run), and a later open of the namespace removes them. */
#ifndef TIERPAGE_NS_KEYS_H
#define TIERPAGE_NS_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "tierpage_store.h"

#define NS_ID_LEN 16
#define NS_NAME_MAX 64
#define NS_PREFIX_MAX (4 + NS_NAME_MAX + 1 + NS_ID_LEN + 2)
/* "tp:" + namespace + ":" + instance + ":" + page */
#define NS_PAGE_KEY_MAX (NS_PREFIX_MAX + NS_ID_LEN)

#define NS_LEASE_DEFAULT_MS 15000u
#define NS_LEASE_MIN_MS 1000u
#define NS_LEASE_MAX_MS 3600000u

struct ns_keys {
    char name[NS_NAME_MAX + 1];
    char instance[NS_ID_LEN + 1];
    int exclusive;
    char page_prefix[NS_PREFIX_MAX + 1];   /* "tp:<ns>:<instance>:" or "tp:<ns>:" */
    size_t page_prefix_len;
    char ns_prefix[NS_PREFIX_MAX + 1];     /* "tp:<ns>:", every page of the namespace */
    size_t ns_prefix_len;
    char lease[NS_PREFIX_MAX + 2];         /* this store's lease key */
};

enum ns_key_kind {
    NS_KEY_FOREIGN,    /* not a page of this namespace */
    NS_KEY_EXCLUSIVE,  /* tp:<ns>:<page> */
    NS_KEY_INSTANCE,   /* tp:<ns>:<instance>:<page> */
};

/* From the open's params: the namespace (1 to 64 characters, no ':' and no
 * blank), the instance (a NULL one is exclusive) and the mode. -EINVAL
 * with a message starting with `tier` when the namespace is unusable. */
int ns_keys_init(struct ns_keys *k, const tierpage_store_params *params, const char *tier, tierpage_error *err);

/* Writes the page's key and returns its length. */
size_t ns_page_key(const struct ns_keys *k, uint64_t page, char *buf, size_t size);

/* What a key of the namespace is; for NS_KEY_INSTANCE, its instance (17
 * bytes with the NUL). */
enum ns_key_kind ns_key_classify(const struct ns_keys *k, const char *key, size_t len, char *instance);

/* The lease key of another instance of the namespace. */
void ns_lease_key_of(const struct ns_keys *k, const char *instance, char *buf, size_t size);

/* A thread of the pager's (host->thread_create) that calls fn(arg) every
 * period_ms until stopped. */
struct ns_heartbeat;
struct ns_heartbeat *ns_heartbeat_start(const tierpage_host *host, unsigned period_ms, void (*fn)(void *),
                                        void *arg);
void ns_heartbeat_stop(struct ns_heartbeat *hb);

#endif
