/* pmem: pages in a file mapped with libpmem, surviving close and reopen.
 *
 * The on-media layout is described in LAYOUT.md beside this file; keep the
 * two in step. In short: a 4 KiB header, a table of 16-byte slot entries
 * (key, seq) and a page area with one page per slot. A slot holds a page
 * when its seq is non-zero; writing seq is the commit point of a put.
 *
 * Crash ordering of a put: the page goes into a free slot and is made
 * durable, then the slot's key, then its seq. With `durable: false` the
 * same order holds in memory only: a killed process leaves the file whole
 * in the page cache, but a machine that stops does not, so the header then
 * names the boot the file was left unsynced in, and an open in a later
 * boot refuses the file. An overwrite writes a new slot
 * and only then clears the old one, so a key always has a complete page on
 * media; when a crash leaves two slots with one key, reopening keeps the one
 * with the higher seq.
 *
 * Locking: one mutex guards the DRAM index, the free list and the counters;
 * page copies and persists run outside it. The ABI never issues two calls
 * for the same key at once, so a slot found under the lock stays put.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpmem.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tierpage_store.h"
#include "key_hash.h"

#define PMEM_MAGIC "TIERPMEM"
#define PMEM_LAYOUT_VERSION 2u
/* Version 1 is version 2 with unsynced_boot empty. */
#define PMEM_LAYOUT_OLDEST 1u
#define PMEM_HEADER_SIZE 4096u
#define PMEM_NAMESPACE_MAX 255u
#define PMEM_BOOT_ID_MAX 40u
/* Slots beyond the capacity, so an overwrite can write its new copy before
 * dropping the old one even when the store is full. */
#define PMEM_SPARE_SLOTS 8u
#define PMEM_NONE UINT32_MAX
/* A sparse file's page area is allocated this many slots at a time. */
#define PMEM_CHUNK_SLOTS 256u

struct pmem_header {
    char magic[8];              /* PMEM_MAGIC, written last when formatting */
    uint32_t layout_version;
    uint32_t header_size;
    uint64_t page_size;
    uint64_t capacity_pages;    /* pages the store may hold */
    uint64_t slot_count;        /* capacity_pages + spare slots */
    uint64_t slot_table_offset;
    uint64_t page_area_offset;
    uint64_t file_size;
    uint32_t namespace_len;
    uint32_t reserved;
    char namespace_name[PMEM_NAMESPACE_MAX + 1]; /* NUL padded */
    /* Empty when the file on media is whole. Otherwise the boot id
     * (/proc/sys/kernel/random/boot_id) of the boot in which a store
     * without durability has it open, or was killed holding it. */
    char unsynced_boot[PMEM_BOOT_ID_MAX];
};

struct pmem_slot_entry {
    uint64_t key;
    uint64_t seq; /* 0: slot free; otherwise the put's sequence number */
};

/* The offsets LAYOUT.md documents. */
_Static_assert(offsetof(struct pmem_header, page_size) == 16, "layout v1");
_Static_assert(offsetof(struct pmem_header, slot_table_offset) == 40, "layout v1");
_Static_assert(offsetof(struct pmem_header, namespace_len) == 64, "layout v1");
_Static_assert(offsetof(struct pmem_header, namespace_name) == 72, "layout v1");
_Static_assert(offsetof(struct pmem_header, unsynced_boot) == 328, "layout v2");
_Static_assert(sizeof(struct pmem_header) == 368, "layout v2");
_Static_assert(sizeof(struct pmem_slot_entry) == 16, "layout v1");

struct pmem_store {
    pthread_mutex_t lock;
    pthread_cond_t slot_freed;
    int fd;                    /* holds the flock that keeps other openers out */
    unsigned char *base;
    size_t mapped_len;
    int is_pmem;
    int durable;               /* each step of a put synced before the next; atomic */
    int marked_unsynced;       /* this store wrote unsynced_boot */
    pid_t owner;               /* the process that opened it */
    struct pmem_store *next_unsynced; /* in unsynced_stores while marked */
    struct pmem_header *header;
    struct pmem_slot_entry *entries;
    unsigned char *pages;
    size_t page_size;
    uint32_t capacity_pages;
    uint32_t slot_count;

    /* DRAM index of committed slots: key -> slot, chained. */
    uint32_t bucket_mask;
    uint32_t *buckets;
    uint32_t *slot_next;       /* bucket chain, or free list */
    uint32_t free_head;
    uint32_t used;             /* keys held */
    uint32_t pending_new;      /* puts of new keys between reservation and commit */
    uint64_t next_seq;

    /* A file of a process's own (a forked child's) is sparse: its page
     * area is allocated a chunk at a time, before the first page goes in,
     * so that a full file system refuses a put instead of faulting on the
     * mapping. Bit c: chunk c is allocated. NULL when the file is whole. */
    uint64_t *chunk_ready;
};

static uint32_t hash_key(uint64_t key)
{
    return (uint32_t)tier_fmix64(key);
}

static unsigned char *slot_page(struct pmem_store *s, uint32_t slot)
{
    return s->pages + (size_t)slot * s->page_size;
}

/* Makes [addr, addr+len) durable: a cache flush on real pmem, msync on a
 * file that is not (where pmem_persist alone would not be durable). */
static int sync_range(struct pmem_store *s, const void *addr, size_t len, tierpage_error *err)
{
    if (s->is_pmem) {
        pmem_persist(addr, len);
        return 0;
    }
    if (pmem_msync(addr, len) != 0) {
        int e = errno;
        return tierpage_error_set(err, -e, NULL, "pmem: msync failed: %s", strerror(e));
    }
    return 0;
}

/* Stores that leave their file unsynced, for sync_at_exit. */
static pthread_mutex_t unsynced_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pmem_store *unsynced_stores;

static void unsynced_add(struct pmem_store *s)
{
    pthread_mutex_lock(&unsynced_lock);
    s->next_unsynced = unsynced_stores;
    unsynced_stores = s;
    pthread_mutex_unlock(&unsynced_lock);
}

static void unsynced_remove(struct pmem_store *s)
{
    pthread_mutex_lock(&unsynced_lock);
    for (struct pmem_store **p = &unsynced_stores; *p; p = &(*p)->next_unsynced)
        if (*p == s) {
            *p = s->next_unsynced;
            break;
        }
    pthread_mutex_unlock(&unsynced_lock);
}

/* Syncs the whole file and clears its mark, the store staying open. Puts
 * are made durable first, so one that runs meanwhile cannot leave a page
 * unsynced under a cleared mark. */
static int sync_and_unmark(struct pmem_store *s, tierpage_error *err)
{
    __atomic_store_n(&s->durable, 1, __ATOMIC_SEQ_CST);
    int rc = sync_range(s, s->base, s->mapped_len, err);
    if (rc)
        return rc;
    memset(s->header->unsynced_boot, 0, sizeof s->header->unsynced_boot);
    rc = sync_range(s, s->header, sizeof *s->header, err);
    if (!rc)
        s->marked_unsynced = 0;
    return rc;
}

/* A program paged by tierpage exits with its stores open (its memory may
 * be touched until the very end), so the files it left unsynced are synced
 * here, and a reboot finds them whole. A forked child's copy of the list
 * names its parent's stores: only their owner syncs them. */
__attribute__((destructor)) static void sync_at_exit(void)
{
    pthread_mutex_lock(&unsynced_lock);
    for (struct pmem_store *s = unsynced_stores; s; s = s->next_unsynced)
        if (s->owner == getpid() && s->marked_unsynced)
            (void)sync_and_unmark(s, NULL);
    pthread_mutex_unlock(&unsynced_lock);
}

/* One step of the write order. Without durability the steps need only
 * reach the page cache in order, which a compiler barrier gives (stores
 * are not reordered with stores on the machines tierpage runs on). */
static int persist(struct pmem_store *s, const void *addr, size_t len, tierpage_error *err)
{
    if (__atomic_load_n(&s->durable, __ATOMIC_SEQ_CST))
        return sync_range(s, addr, len, err);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    return 0;
}

/* --- DRAM index; all called with the lock held --- */

static uint32_t index_find(struct pmem_store *s, uint64_t key)
{
    uint32_t i = s->buckets[hash_key(key) & s->bucket_mask];
    while (i != PMEM_NONE && s->entries[i].key != key)
        i = s->slot_next[i];
    return i;
}

static void index_insert(struct pmem_store *s, uint64_t key, uint32_t slot)
{
    uint32_t *head = &s->buckets[hash_key(key) & s->bucket_mask];
    s->slot_next[slot] = *head;
    *head = slot;
}

static void index_unlink(struct pmem_store *s, uint64_t key, uint32_t slot)
{
    uint32_t *link = &s->buckets[hash_key(key) & s->bucket_mask];
    while (*link != slot)
        link = &s->slot_next[*link];
    *link = s->slot_next[slot];
}

static void free_push(struct pmem_store *s, uint32_t slot)
{
    s->slot_next[slot] = s->free_head;
    s->free_head = slot;
    pthread_cond_signal(&s->slot_freed);
}

/* --- open and close --- */

static void pmem_close(void *store)
{
    struct pmem_store *s = store;
    if (!s)
        return;
    /* Off the list even when unmarked already (synced at exit): it is
     * freed here. */
    unsynced_remove(s);
    if (s->marked_unsynced && s->owner == getpid())
        (void)sync_and_unmark(s, NULL);
    if (s->base)
        pmem_unmap(s->base, s->mapped_len);
    if (s->fd >= 0)
        close(s->fd); /* drops the flock */
    free(s->buckets);
    free(s->slot_next);
    free(s->chunk_ready);
    pthread_cond_destroy(&s->slot_freed);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static uint64_t round_up(uint64_t v, uint64_t to)
{
    return (v + to - 1) / to * to;
}

/* Writes a fresh header into a zero-filled file. The magic goes last, after
 * everything else is durable, so a crash leaves either a whole header or
 * one that still reads as unformatted. */
static int format_file(struct pmem_store *s, const char *ns, uint64_t capacity_pages, uint64_t slot_count,
                       uint64_t table_off, uint64_t pages_off, tierpage_error *err)
{
    struct pmem_header *h = s->header;
    h->layout_version = PMEM_LAYOUT_VERSION;
    h->header_size = PMEM_HEADER_SIZE;
    h->page_size = s->page_size;
    h->capacity_pages = capacity_pages;
    h->slot_count = slot_count;
    h->slot_table_offset = table_off;
    h->page_area_offset = pages_off;
    h->file_size = s->mapped_len;
    h->namespace_len = (uint32_t)strlen(ns);
    memcpy(h->namespace_name, ns, h->namespace_len);
    int rc = sync_range(s, h, sizeof *h, err);
    if (rc)
        return rc;
    memcpy(h->magic, PMEM_MAGIC, sizeof h->magic);
    return sync_range(s, h->magic, sizeof h->magic, err);
}

/* A header page of zeros: the file was created but never formatted. */
static int header_is_blank(const unsigned char *base)
{
    for (size_t i = 0; i < PMEM_HEADER_SIZE; i++)
        if (base[i])
            return 0;
    return 1;
}

/* Checks an existing header against what this open asks for. */
static int check_header(struct pmem_store *s, const char *path, const char *ns, uint64_t capacity,
                        tierpage_error *err)
{
    const struct pmem_header *h = s->header;
    if (memcmp(h->magic, PMEM_MAGIC, sizeof h->magic) != 0)
        return tierpage_error_set(err, -EINVAL, "path", "pmem: %s is not a tierpage pmem file (bad magic)", path);
    if (h->layout_version < PMEM_LAYOUT_OLDEST || h->layout_version > PMEM_LAYOUT_VERSION)
        return tierpage_error_set(err, -EPROTO, "path",
                                  "pmem: %s has layout version %u, this tierpage reads versions %u to %u", path,
                                  (unsigned)h->layout_version, PMEM_LAYOUT_OLDEST, PMEM_LAYOUT_VERSION);
    if (h->page_size != s->page_size)
        return tierpage_error_set(err, -EINVAL, "path",
                                  "pmem: %s holds pages of %" PRIu64 " bytes, this stack uses %zu-byte pages",
                                  path, h->page_size, s->page_size);
    if (h->namespace_len > PMEM_NAMESPACE_MAX || h->namespace_name[h->namespace_len] != '\0')
        return tierpage_error_set(err, -EINVAL, "path", "pmem: %s has a corrupt namespace field", path);
    if (strcmp(h->namespace_name, ns) != 0)
        return tierpage_error_set(err, -EINVAL, "path",
                                  "pmem: %s belongs to namespace '%s', not '%s'", path, h->namespace_name, ns);
    if (capacity != 0 && capacity / s->page_size != h->capacity_pages)
        return tierpage_error_set(err, -EINVAL, "capacity",
                                  "pmem: %s was made with capacity %" PRIu64 " bytes; it cannot be reopened "
                                  "with %" PRIu64 " (omit capacity to use the file's)",
                                  path, h->capacity_pages * h->page_size, capacity);
    uint64_t table_end = h->slot_table_offset + h->slot_count * sizeof(struct pmem_slot_entry);
    if (h->header_size != PMEM_HEADER_SIZE || h->slot_count < h->capacity_pages || h->slot_count >= PMEM_NONE ||
        h->slot_table_offset > s->mapped_len || h->page_area_offset > s->mapped_len ||
        h->slot_table_offset < PMEM_HEADER_SIZE || h->page_area_offset < table_end ||
        h->file_size != s->mapped_len || h->page_area_offset + h->slot_count * h->page_size > s->mapped_len)
        return tierpage_error_set(err, -EINVAL, "path", "pmem: %s has an inconsistent header", path);
    return 0;
}

static int read_boot_id(char id[PMEM_BOOT_ID_MAX], tierpage_error *err)
{
    static const char source[] = "/proc/sys/kernel/random/boot_id";
    memset(id, 0, PMEM_BOOT_ID_MAX);
    int fd = open(source, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, id, PMEM_BOOT_ID_MAX - 1);
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return tierpage_error_set(err, n < 0 ? -e : -EIO, "durable",
                                  "pmem: durable: false needs the boot id, and %s cannot be read: %s", source,
                                  n < 0 ? strerror(e) : "it is empty");
    id[strcspn(id, "\n")] = '\0';
    return 0;
}

/* Called on open, after the header is checked. A file left unsynced is
 * refused in a later boot; in this boot its owner was only killed, and the
 * page cache holds it whole. A durable store syncs such a file and clears
 * the mark; one without durability marks the file before its first put. */
static int settle_unsynced(struct pmem_store *s, const char *path, tierpage_error *err)
{
    struct pmem_header *h = s->header;
    int left_unsynced = h->unsynced_boot[0] != '\0';
    char boot[PMEM_BOOT_ID_MAX];
    if (!left_unsynced && s->durable)
        return 0;
    int rc = read_boot_id(boot, err);
    if (rc)
        return rc;
    if (left_unsynced && strncmp(h->unsynced_boot, boot, sizeof boot) != 0)
        return tierpage_error_set(err, -EIO, "path",
                                  "pmem: %s was open with durable: false when the machine stopped (in boot %.*s), "
                                  "so pages may be missing from it on disk; remove the file to start with an "
                                  "empty one",
                                  path, (int)sizeof h->unsynced_boot, h->unsynced_boot);
    if (s->durable)
        return sync_and_unmark(s, err);
    if (!left_unsynced) {
        /* The version first: a tierpage that reads only version 1 must
         * refuse a marked file, not ignore the mark. */
        h->layout_version = PMEM_LAYOUT_VERSION;
        rc = sync_range(s, h, sizeof *h, err);
        if (!rc) {
            memcpy(h->unsynced_boot, boot, sizeof boot);
            rc = sync_range(s, h, sizeof *h, err);
        }
        if (rc)
            return rc;
    }
    s->marked_unsynced = 1;
    s->owner = getpid();
    unsynced_add(s);
    return 0;
}

/* Builds the DRAM index from the slot table. Two committed slots with one
 * key mean a crash hit an overwrite between its commit and the clearing of
 * the old slot: the higher seq is the newer page, the other slot is freed. */
static int rebuild_index(struct pmem_store *s, tierpage_error *err)
{
    s->free_head = PMEM_NONE;
    for (uint32_t i = s->slot_count; i-- > 0;) {
        struct pmem_slot_entry *e = &s->entries[i];
        if (e->seq == 0) {
            free_push(s, i);
            continue;
        }
        if (e->seq >= s->next_seq)
            s->next_seq = e->seq + 1;
        uint32_t other = index_find(s, e->key);
        if (other == PMEM_NONE) {
            index_insert(s, e->key, i);
            s->used++;
            continue;
        }
        uint32_t stale = s->entries[other].seq < e->seq ? other : i;
        if (stale == other) {
            index_unlink(s, e->key, other);
            index_insert(s, e->key, i);
        }
        s->entries[stale].seq = 0;
        int rc = persist(s, &s->entries[stale].seq, sizeof s->entries[stale].seq, err);
        if (rc)
            return rc;
        free_push(s, stale);
    }
    return 0;
}

/* Opens (or with `forked`, creates anew, sparse) the store's file at path.
 * A forked child's file is unlinked once open: nothing can reopen it, so
 * it is never synced. */
static int open_file(const tierpage_store_params *params, const char *path, int forked, int durable,
                     void **store, tierpage_error *err)
{
    if (params->page_size == 0)
        return tierpage_error_set(err, -EINVAL, NULL, "pmem: page size must be greater than 0");
    const char *ns = params->namespace_name ? params->namespace_name : "";
    if (strlen(ns) > PMEM_NAMESPACE_MAX)
        return tierpage_error_set(err, -ENAMETOOLONG, NULL, "pmem: namespace is longer than %u bytes",
                                  PMEM_NAMESPACE_MAX);

    struct pmem_store *s = calloc(1, sizeof *s);
    if (!s)
        return tierpage_error_set(err, -ENOMEM, NULL, "pmem: out of memory");
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->slot_freed, NULL);
    s->fd = -1;
    s->page_size = params->page_size;
    s->next_seq = 1;
    s->durable = durable && !forked;
    int rc;

    s->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | (forked ? O_EXCL : 0), 0600);
    if (s->fd < 0) {
        int e = errno;
        pmem_close(s);
        return tierpage_error_set(err, -e, "path", "pmem: cannot open %s: %s", path, strerror(e));
    }
    if (flock(s->fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        pmem_close(s);
        if (e == EWOULDBLOCK)
            return tierpage_error_set(err, -EBUSY, "path", "pmem: %s is in use by another open store", path);
        return tierpage_error_set(err, -e, "path", "pmem: cannot lock %s: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(s->fd, &st) != 0) {
        int e = errno;
        pmem_close(s);
        return tierpage_error_set(err, -e, "path", "pmem: cannot stat %s: %s", path, strerror(e));
    }

    int fresh = st.st_size == 0;
    if (!fresh) {
        s->base = pmem_map_file(path, 0, 0, 0, &s->mapped_len, &s->is_pmem);
        if (!s->base) {
            int e = errno;
            pmem_close(s);
            return tierpage_error_set(err, -e, "path", "pmem: cannot map %s: %s", path, pmem_errormsg());
        }
        s->header = (struct pmem_header *)s->base;
        if (s->mapped_len < PMEM_HEADER_SIZE) {
            pmem_close(s);
            return tierpage_error_set(err, -EINVAL, "path", "pmem: %s is not a tierpage pmem file (too short)",
                                      path);
        }
        if (header_is_blank(s->base)) {
            /* Created but never formatted (a crash during the first open):
             * start again from an empty file. */
            pmem_unmap(s->base, s->mapped_len);
            s->base = NULL;
            if (ftruncate(s->fd, 0) != 0) {
                int e = errno;
                pmem_close(s);
                return tierpage_error_set(err, -e, "path", "pmem: cannot truncate %s: %s", path, strerror(e));
            }
            fresh = 1;
        }
    }

    if (fresh) {
        if (params->capacity == 0) {
            pmem_close(s);
            unlink(path);
            return tierpage_error_set(err, -EINVAL, "capacity", "pmem: capacity is required to create %s", path);
        }
        uint64_t capacity_pages = params->capacity / s->page_size;
        if (capacity_pages == 0 || capacity_pages > PMEM_NONE - 1 - PMEM_SPARE_SLOTS) {
            pmem_close(s);
            unlink(path);
            return tierpage_error_set(err, -EINVAL, "capacity",
                                      "pmem: capacity %" PRIu64 " bytes must hold between 1 and %u pages of %zu bytes",
                                      params->capacity, PMEM_NONE - 1 - PMEM_SPARE_SLOTS, params->page_size);
        }
        uint64_t slot_count = capacity_pages + PMEM_SPARE_SLOTS;
        uint64_t table_off = PMEM_HEADER_SIZE;
        uint64_t pages_off = round_up(table_off + slot_count * sizeof(struct pmem_slot_entry), 4096);
        uint64_t file_size = pages_off + slot_count * s->page_size;
        s->base = pmem_map_file(path, file_size, PMEM_FILE_CREATE | (forked ? PMEM_FILE_SPARSE : 0), 0600,
                                &s->mapped_len, &s->is_pmem);
        if (s->base && forked) {
            /* The header and the slot table now, the pages as they come. */
            size_t chunks = (slot_count + PMEM_CHUNK_SLOTS - 1) / PMEM_CHUNK_SLOTS;
            s->chunk_ready = calloc((chunks + 63) / 64, sizeof *s->chunk_ready);
            int e = !s->chunk_ready ? ENOMEM : posix_fallocate(s->fd, 0, (off_t)pages_off);
            if (e) {
                pmem_close(s);
                unlink(path);
                return tierpage_error_set(err, -e, "path", "pmem: cannot allocate the slot table of %s: %s", path,
                                          strerror(e));
            }
        }
        if (!s->base) {
            int e = errno;
            pmem_close(s);
            unlink(path);
            return tierpage_error_set(err, -e, "path", "pmem: cannot create %s (%" PRIu64 " bytes): %s", path,
                                      file_size, pmem_errormsg());
        }
        s->header = (struct pmem_header *)s->base;
        rc = format_file(s, ns, capacity_pages, slot_count, table_off, pages_off, err);
        if (rc) {
            pmem_close(s);
            return rc;
        }
    } else {
        rc = check_header(s, path, ns, params->capacity, err);
        if (rc) {
            pmem_close(s);
            return rc;
        }
    }

    if (!forked) {
        rc = settle_unsynced(s, path, err);
        if (rc) {
            pmem_close(s);
            return rc;
        }
    }

    s->capacity_pages = (uint32_t)s->header->capacity_pages;
    s->slot_count = (uint32_t)s->header->slot_count;
    s->entries = (struct pmem_slot_entry *)(s->base + s->header->slot_table_offset);
    s->pages = s->base + s->header->page_area_offset;

    uint64_t bucket_count = 1;
    while (bucket_count < s->slot_count)
        bucket_count <<= 1;
    s->bucket_mask = (uint32_t)(bucket_count - 1);
    s->buckets = malloc(bucket_count * sizeof *s->buckets);
    s->slot_next = malloc((size_t)s->slot_count * sizeof *s->slot_next);
    if (!s->buckets || !s->slot_next) {
        pmem_close(s);
        return tierpage_error_set(err, -ENOMEM, NULL, "pmem: out of memory for the index of %s", path);
    }
    memset(s->buckets, 0xff, bucket_count * sizeof *s->buckets);
    rc = rebuild_index(s, err);
    if (rc) {
        pmem_close(s);
        return rc;
    }
    *store = s;
    return 0;
}

static int pmem_open(const tierpage_store_params *params, void **store, tierpage_error *err)
{
    *store = NULL;
    const char *path = NULL;
    int durable = 1;
    for (size_t i = 0; i < params->option_count; i++) {
        const char *key = params->options[i].key, *value = params->options[i].value;
        if (strcmp(key, "path") == 0) {
            path = value;
        } else if (strcmp(key, "durable") == 0) {
            if (!TIERPAGE_HOST_HAS(params->host, parse_bool) || !params->host->parse_bool)
                return tierpage_error_set(err, -EINVAL, key, "pmem: durable needs a host that reads booleans");
            int rc = params->host->parse_bool(key, value ? value : "", &durable, err);
            if (rc)
                return rc;
        } else {
            return tierpage_error_set(err, -EINVAL, key,
                                      "pmem: unknown option '%s' (pmem takes path, capacity and durable)", key);
        }
    }
    if (!path || !path[0])
        return tierpage_error_set(err, -EINVAL, "path", "pmem: path is required: the file that holds the pages");
    int forked = params->host && params->host->version >= 2 && params->forked_from && params->instance;
    if (!forked)
        return open_file(params, path, 0, durable, store, err);
    /* A forked child's pages go into a file of its own beside the
     * parent's (which the parent keeps locked), gone from the directory
     * once mapped: it goes away with the child. */
    char child_path[4096];
    if ((size_t)snprintf(child_path, sizeof child_path, "%s.fork-%s", path, params->instance) >= sizeof child_path)
        return tierpage_error_set(err, -ENAMETOOLONG, "path", "pmem: %s is too long", path);
    int rc = open_file(params, child_path, 1, durable, store, err);
    unlink(child_path);
    return rc;
}

/* --- page operations --- */

static int pmem_get(void *store, uint64_t key, void *page, tierpage_error *err)
{
    (void)err;
    struct pmem_store *s = store;
    pthread_mutex_lock(&s->lock);
    uint32_t slot = index_find(s, key);
    pthread_mutex_unlock(&s->lock);
    if (slot == PMEM_NONE)
        return -ENOENT;
    memcpy(page, slot_page(s, slot), s->page_size);
    return 0;
}

/* Called with the lock held. A sparse file's chunk that holds `slot`,
 * allocated before its first page is written: -ENOSPC (full) when the
 * file system has no room. */
static int allocate_chunk(struct pmem_store *s, uint32_t slot, tierpage_error *err)
{
    uint32_t chunk = slot / PMEM_CHUNK_SLOTS;
    if (!s->chunk_ready || (s->chunk_ready[chunk / 64] >> (chunk % 64) & 1))
        return 0;
    uint64_t first = (uint64_t)chunk * PMEM_CHUNK_SLOTS;
    uint64_t slots = s->slot_count - first < PMEM_CHUNK_SLOTS ? s->slot_count - first : PMEM_CHUNK_SLOTS;
    int e = posix_fallocate(s->fd, (off_t)(s->header->page_area_offset + first * s->page_size),
                            (off_t)(slots * s->page_size));
    if (e == ENOSPC)
        return -ENOSPC;
    if (e)
        return tierpage_error_set(err, -e, NULL, "pmem: cannot allocate pages in its file: %s", strerror(e));
    s->chunk_ready[chunk / 64] |= 1ull << (chunk % 64);
    return 0;
}

static int pmem_put(void *store, uint64_t key, const void *page, tierpage_error *err)
{
    struct pmem_store *s = store;

    pthread_mutex_lock(&s->lock);
    uint32_t old = index_find(s, key);
    if (old == PMEM_NONE) {
        if (s->used + s->pending_new >= s->capacity_pages) {
            pthread_mutex_unlock(&s->lock);
            return -ENOSPC;
        }
        s->pending_new++;
    }
    /* Only possible when more overwrites run at once than there are spare
     * slots: each of them frees a slot soon. */
    while (s->free_head == PMEM_NONE)
        pthread_cond_wait(&s->slot_freed, &s->lock);
    uint32_t slot = s->free_head;
    s->free_head = s->slot_next[slot];
    int rc = allocate_chunk(s, slot, err);
    if (rc) {
        if (old == PMEM_NONE)
            s->pending_new--;
        free_push(s, slot);
        pthread_mutex_unlock(&s->lock);
        return rc;
    }
    uint64_t seq = s->next_seq++;
    pthread_mutex_unlock(&s->lock);

    /* Page, then key, then seq: each durable before the next is written. */
    struct pmem_slot_entry *e = &s->entries[slot];
    if (s->is_pmem && __atomic_load_n(&s->durable, __ATOMIC_SEQ_CST)) {
        pmem_memcpy_persist(slot_page(s, slot), page, s->page_size);
        rc = 0;
    } else {
        memcpy(slot_page(s, slot), page, s->page_size);
        rc = persist(s, slot_page(s, slot), s->page_size, err);
    }
    if (!rc) {
        e->key = key;
        rc = persist(s, &e->key, sizeof e->key, err);
    }
    if (!rc) {
        e->seq = seq;
        rc = persist(s, &e->seq, sizeof e->seq, err);
        if (rc) {
            /* Undo the commit before the slot goes back on the free list. */
            e->seq = 0;
            (void)persist(s, &e->seq, sizeof e->seq, NULL);
        }
    }
    if (!rc && old != PMEM_NONE) {
        /* Should this fail, the new slot is still committed and reopening
         * keeps it, its seq being the higher: the put has succeeded. */
        s->entries[old].seq = 0;
        (void)persist(s, &s->entries[old].seq, sizeof s->entries[old].seq, NULL);
    }

    pthread_mutex_lock(&s->lock);
    if (rc) {
        if (old == PMEM_NONE)
            s->pending_new--;
        free_push(s, slot);
    } else if (old == PMEM_NONE) {
        s->pending_new--;
        s->used++;
        index_insert(s, key, slot);
    } else {
        index_unlink(s, key, old);
        index_insert(s, key, slot);
        free_push(s, old);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int pmem_del(void *store, uint64_t key, tierpage_error *err)
{
    struct pmem_store *s = store;
    pthread_mutex_lock(&s->lock);
    uint32_t slot = index_find(s, key);
    if (slot == PMEM_NONE) {
        pthread_mutex_unlock(&s->lock);
        return -ENOENT;
    }
    index_unlink(s, key, slot);
    s->used--;
    pthread_mutex_unlock(&s->lock);

    /* The slot is reused only after its seq is durably 0, so a crash can
     * never show this key with a half-written new page. */
    s->entries[slot].seq = 0;
    int rc = persist(s, &s->entries[slot].seq, sizeof s->entries[slot].seq, err);

    pthread_mutex_lock(&s->lock);
    if (rc) {
        /* Not durably deleted: keep holding the page. */
        s->entries[slot].seq = s->next_seq++;
        index_insert(s, key, slot);
        s->used++;
    } else {
        free_push(s, slot);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int pmem_usage(void *store, tierpage_store_usage *usage, tierpage_error *err)
{
    (void)err;
    struct pmem_store *s = store;
    pthread_mutex_lock(&s->lock);
    usage->capacity_bytes = (uint64_t)s->capacity_pages * s->page_size;
    usage->used_bytes = (uint64_t)s->used * s->page_size;
    usage->pages = s->used;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static int pmem_get_batch(void *store, size_t count, const uint64_t *keys, void *const *pages, int *results,
                          tierpage_error *err)
{
    (void)err;
    struct pmem_store *s = store;
    uint32_t slots[64];
    int first = 0;
    for (size_t done = 0; done < count;) {
        size_t n = count - done < 64 ? count - done : 64;
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < n; i++)
            slots[i] = index_find(s, keys[done + i]);
        pthread_mutex_unlock(&s->lock);
        for (size_t i = 0; i < n; i++) {
            if (slots[i] == PMEM_NONE) {
                results[done + i] = -ENOENT;
                if (!first)
                    first = -ENOENT;
                continue;
            }
            memcpy(pages[done + i], slot_page(s, slots[i]), s->page_size);
            results[done + i] = 0;
        }
        done += n;
    }
    return first;
}

static int pmem_put_batch(void *store, size_t count, const uint64_t *keys, const void *const *pages, int *results,
                          tierpage_error *err)
{
    int first = 0;
    for (size_t i = 0; i < count; i++) {
        results[i] = pmem_put(store, keys[i], pages[i], err);
        if (results[i] && !first)
            first = results[i];
    }
    return first;
}

static int pmem_clear(void *store, tierpage_error *err)
{
    struct pmem_store *s = store;
    pthread_mutex_lock(&s->lock);
    for (uint32_t i = 0; i < s->slot_count; i++)
        s->entries[i].seq = 0;
    int rc = persist(s, s->entries, (size_t)s->slot_count * sizeof *s->entries, err);
    for (uint32_t b = 0; b <= s->bucket_mask; b++)
        s->buckets[b] = PMEM_NONE;
    s->used = 0;
    s->free_head = PMEM_NONE;
    for (uint32_t i = s->slot_count; i-- > 0;)
        free_push(s, i);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* Every key with a committed slot, for a pager that recovers its state:
 * reopening left one slot per key. */
static int pmem_list(void *store, int (*each)(void *ctx, uint64_t key), void *ctx, tierpage_error *err)
{
    (void)err;
    struct pmem_store *s = store;
    int rc = 0;
    for (uint32_t i = 0; i < s->slot_count && rc == 0; i++)
        if (s->entries[i].seq != 0)
            rc = each(ctx, s->entries[i].key);
    return rc;
}

/* The file's lock belongs to the descriptor a forked child shares with
 * its parent: the child lets go of it, and of nothing else. */
static void pmem_forget(void *store)
{
    struct pmem_store *s = store;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->marked_unsynced = 0; /* the parent's to sync, not this child's */
}

static const tierpage_store_ops pmem_ops = {
    .abi_version = TIERPAGE_STORE_ABI_VERSION,
    .struct_size = sizeof(tierpage_store_ops),
    .name = "pmem",
    .description = "pages in a persistent-memory (or ordinary) file, kept across restarts",
    .flags = TIERPAGE_STORE_PERSISTENT | TIERPAGE_STORE_LOCAL | TIERPAGE_STORE_FORK_APART,
    .open = pmem_open,
    .close = pmem_close,
    .get = pmem_get,
    .put = pmem_put,
    .del = pmem_del,
    .usage = pmem_usage,
    .get_batch = pmem_get_batch,
    .put_batch = pmem_put_batch,
    .clear = pmem_clear,
    .forget = pmem_forget,
    .list = pmem_list,
};

const tierpage_store_ops *tierpage_store_entry(void)
{
    return &pmem_ops;
}
