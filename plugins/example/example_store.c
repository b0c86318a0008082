/* example: the smallest useful tierpage page store, for plugin authors.
 *
 * Pages live in malloc'd memory, in a fixed hash table of linked lists
 * guarded by one mutex. It shows every promise a store makes:
 *
 *   - one exported function, tierpage_store_entry(), returning a const table;
 *   - open() checks its options, rejecting unknown keys with err->key set;
 *   - get/del of a key the store does not hold return -ENOENT;
 *   - a put that would go past the capacity returns -ENOSPC ("full"),
 *     never a plain failure, so the core can demote and retry;
 *   - get, put, del and usage may run on several threads at once.
 *
 * Build it against the installed header alone:
 *   cc -shared -fPIC -I$PREFIX/include example_store.c -o example.so
 * and prove it with:
 *   tierpage plugin-test ./example.so --option capacity=1MiB
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <tierpage_store.h>

#define BUCKETS 1024

struct page_node {
    uint64_t key;
    struct page_node *next;
    unsigned char data[]; /* page_size bytes */
};

struct example_store {
    pthread_mutex_t lock;      /* guards everything below */
    size_t page_size;
    uint64_t max_pages;        /* 0: no limit */
    uint64_t pages;            /* pages held now */
    struct page_node *buckets[BUCKETS];
};

static struct page_node **bucket_of(struct example_store *s, uint64_t key)
{
    return &s->buckets[(key * 0x9e3779b97f4a7c15ull) >> 54]; /* top 10 bits: 1024 buckets */
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
    /* This store takes no options of its own: name the first one given. */
    if (params->option_count > 0)
        return tierpage_error_set(err, -EINVAL, params->options[0].key,
                                  "example: unknown option '%s'", params->options[0].key);
    if (params->page_size == 0)
        return tierpage_error_set(err, -EINVAL, NULL, "example: page size must be greater than 0");

    struct example_store *s = calloc(1, sizeof *s);
    if (!s)
        return tierpage_error_set(err, -ENOMEM, NULL, "example: out of memory");
    pthread_mutex_init(&s->lock, NULL);
    s->page_size = params->page_size;
    s->max_pages = params->capacity / params->page_size; /* capacity 0: unbounded */
    *store = s;
    return 0;
}

static void example_close(void *store)
{
    struct example_store *s = store;
    for (size_t i = 0; i < BUCKETS; i++) {
        struct page_node *node = s->buckets[i];
        while (node) {
            struct page_node *next = node->next;
            free(node);
            node = next;
        }
    }
    pthread_mutex_destroy(&s->lock);
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
    .flags = 0,
    .open = example_open,
    .close = example_close,
    .get = example_get,
    .put = example_put,
    .del = example_del,
    .usage = example_usage,
    /* get_batch and put_batch are optional: left NULL, the core loops. */
};

const tierpage_store_ops *tierpage_store_entry(void)
{
    return &example_ops;
}
