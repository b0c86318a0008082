/* example: the smallest useful tierpage page store, for plugin authors.
 *
 * Pages live in malloc'd memory, in a fixed hash table of linked lists
 * guarded by one mutex. It shows every promise a store makes:
 *
 *   - one exported function, tierpage_store_entry(), returning a const table;
 *   - open() checks its options with the host's parsers (params->host),
 *     rejecting unknown keys and bad values with err->key set;
 *   - messages go through the host's log, never to stderr directly;
 *   - get/del of a key the store does not hold return -ENOENT;
 *   - a put that would go past the capacity returns -ENOSPC ("full"),
 *     never a plain failure, so the core can demote and retry;
 *   - get, put, del and usage may run on several threads at once.
 *
 * Build it against the installed header alone:
 *   cc -shared -fPIC -I$PREFIX/include example_store.c -o example.so
 * and prove it with:
 *   tierpage plugin-test ./example.so --option capacity=1MiB
 *
 * Options: buckets (the hash table's size, 1 to 1048576, default 1024) and
 * verbose (true: log each open and close).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <tierpage_store.h>

#define DEFAULT_BUCKETS 1024
#define MAX_BUCKETS (1u << 20)

struct page_node {
    uint64_t key;
    struct page_node *next;
    unsigned char data[]; /* page_size bytes */
};

struct example_store {
    const tierpage_host *host; /* the core's services, valid until close returns */
    int verbose;
    pthread_mutex_t lock;      /* guards everything below */
    size_t page_size;
    uint64_t max_pages;        /* 0: no limit */
    uint64_t pages;            /* pages held now */
    uint64_t bucket_count;
    struct page_node **buckets;
};

static struct page_node **bucket_of(struct example_store *s, uint64_t key)
{
    return &s->buckets[((key * 0x9e3779b97f4a7c15ull) >> 32) % s->bucket_count];
}

/* Returns the link that points at `key`'s node, or at NULL when absent. */
static struct page_node **find(struct example_store *s, uint64_t key)
{
    struct page_node **link = bucket_of(s, key);
    while (*link && (*link)->key != key)
        link = &(*link)->next;
    return link;
}

static int example_open(const tierpage_store_params *params, void **store, tierpage_error *err)
{
    const tierpage_host *host = params->host;
    if (!TIERPAGE_HOST_HAS(host, parse_bool))
        return tierpage_error_set(err, -EPROTO, NULL, "example: the host gave no option parsers");
    uint64_t buckets = DEFAULT_BUCKETS;
    int verbose = 0, rc = 0;
    for (size_t i = 0; i < params->option_count && rc == 0; i++) {
        const char *key = params->options[i].key, *value = params->options[i].value;
        if (strcmp(key, "buckets") == 0)
            rc = host->parse_uint(key, value, 1, MAX_BUCKETS, &buckets, err);
        else if (strcmp(key, "verbose") == 0)
            rc = host->parse_bool(key, value, &verbose, err);
        else
            rc = tierpage_error_set(err, -EINVAL, key, "example: unknown option '%s' (example takes buckets "
                                    "and verbose)", key);
    }
    if (rc)
        return rc;
    if (params->page_size == 0)
        return tierpage_error_set(err, -EINVAL, NULL, "example: page size must be greater than 0");

    struct example_store *s = calloc(1, sizeof *s);
    if (!s || !(s->buckets = calloc(buckets, sizeof *s->buckets))) {
        free(s);
        return tierpage_error_set(err, -ENOMEM, NULL, "example: out of memory");
    }
    pthread_mutex_init(&s->lock, NULL);
    s->host = host;
    s->verbose = verbose;
    s->page_size = params->page_size;
    s->max_pages = params->capacity / params->page_size; /* capacity 0: unbounded */
    s->bucket_count = buckets;
    if (verbose)
        tierpage_log(host, TIERPAGE_LOG_INFO, "open: namespace '%s', %" PRIu64 " buckets", params->namespace_name,
                     buckets);
    *store = s;
    return 0;
}

static void example_close(void *store)
{
    struct example_store *s = store;
    if (s->verbose)
        tierpage_log(s->host, TIERPAGE_LOG_INFO, "close: %" PRIu64 " pages dropped", s->pages);
    for (size_t i = 0; i < s->bucket_count; i++) {
        struct page_node *node = s->buckets[i];
        while (node) {
            struct page_node *next = node->next;
            free(node);
            node = next;
        }
    }
    pthread_mutex_destroy(&s->lock);
    free(s->buckets);
    free(s);
}

static int example_get(void *store, uint64_t key, void *page, tierpage_error *err)
{
    (void)err;
    struct example_store *s = store;
    pthread_mutex_lock(&s->lock);
    struct page_node *node = *find(s, key);
    if (node)
        memcpy(page, node->data, s->page_size);
    pthread_mutex_unlock(&s->lock);
    return node ? 0 : -ENOENT;
}

static int example_put(void *store, uint64_t key, const void *page, tierpage_error *err)
{
    struct example_store *s = store;
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    struct page_node **link = find(s, key);
    if (*link) {
        memcpy((*link)->data, page, s->page_size); /* overwrite in place */
    } else if (s->max_pages && s->pages >= s->max_pages) {
        rc = -ENOSPC; /* full: the core will make room elsewhere */
    } else {
        struct page_node *node = malloc(sizeof *node + s->page_size);
        if (!node) {
            rc = tierpage_error_set(err, -ENOMEM, NULL, "example: out of memory for a page");
        } else {
            node->key = key;
            node->next = NULL;
            memcpy(node->data, page, s->page_size);
            *link = node;
            s->pages++;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int example_del(void *store, uint64_t key, tierpage_error *err)
{
    (void)err;
    struct example_store *s = store;
    pthread_mutex_lock(&s->lock);
    struct page_node **link = find(s, key);
    struct page_node *node = *link;
    if (node) {
        *link = node->next;
        s->pages--;
    }
    pthread_mutex_unlock(&s->lock);
    int rc = node ? 0 : -ENOENT;
    free(node); /* outside the lock: nobody else can reach it now */
    return rc;
}

static int example_usage(void *store, tierpage_store_usage *usage, tierpage_error *err)
{
    (void)err;
    struct example_store *s = store;
    pthread_mutex_lock(&s->lock);
    usage->capacity_bytes = s->max_pages * s->page_size;
    usage->used_bytes = s->pages * s->page_size;
    usage->pages = s->pages;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static const tierpage_store_ops example_ops = {
    .abi_version = TIERPAGE_STORE_ABI_VERSION,
    .struct_size = sizeof(tierpage_store_ops),
    .name = "example",
    .description = "pages in malloc'd memory (an example for plugin authors)",
    .flags = TIERPAGE_STORE_LOCAL, /* pages in this process's memory: cheap to read back */
    .open = example_open,
    .close = example_close,
    .get = example_get,
    .put = example_put,
    .del = example_del,
    .usage = example_usage,
    /* get_batch, put_batch and del_batch are optional: left NULL, the core loops. */
};

const tierpage_store_ops *tierpage_store_entry(void)
{
    return &example_ops;
}
