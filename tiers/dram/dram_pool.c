/* Mapping the dram store's pool, anonymous or on a file; see dram_pool.h
 * and LAYOUT.md.
 *
 * A pool file lives on tmpfs: it has to outlive the process (a pager killed
 * and started again finds its pages), not the machine. Nothing is flushed:
 * a store into the shared mapping is in the file's page cache, which is the
 * file on tmpfs, as soon as the CPU makes it; only its order against the
 * other stores matters, and the store keeps that (commit last, with a
 * release store). */
#include "dram_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The offsets LAYOUT.md documents. */
_Static_assert(offsetof(struct dram_header, page_size) == 16, "layout v1");
_Static_assert(offsetof(struct dram_header, slot_table_offset) == 32, "layout v1");
_Static_assert(offsetof(struct dram_header, namespace_len) == 56, "layout v1");
_Static_assert(offsetof(struct dram_header, namespace_name) == 64, "layout v1");
_Static_assert(sizeof(struct dram_header) == 320, "layout v1");
_Static_assert(sizeof(struct dram_slot_entry) == 16, "layout v1");

static uint64_t page_area_offset(uint32_t slots)
{
    uint64_t table_end = DRAM_HEADER_SIZE + (uint64_t)slots * sizeof(struct dram_slot_entry);
    return (table_end + DRAM_HEADER_SIZE - 1) / DRAM_HEADER_SIZE * DRAM_HEADER_SIZE;
}

static uint64_t pool_bytes(size_t page_size, uint32_t slots)
{
    return page_area_offset(slots) + (uint64_t)slots * page_size;
}

static void point_into(struct dram_pool *p)
{
    p->header = (struct dram_header *)p->base;
    p->entries = (struct dram_slot_entry *)(p->base + p->header->slot_table_offset);
    p->pages = p->base + p->header->page_area_offset;
    p->slot_count = (uint32_t)p->header->slot_count;
}

/* Writes the header of a pool whose table is all zeros (every slot free).
 * The magic goes last: a pager killed while formatting leaves a header that
 * still reads as unformatted, and the next open formats it again. */
static void format(struct dram_pool *p, const char *ns, size_t page_size, uint32_t slots)
{
    struct dram_header *h = (struct dram_header *)p->base;
    memset(h, 0, DRAM_HEADER_SIZE);
    h->layout_version = DRAM_LAYOUT_VERSION;
    h->header_size = DRAM_HEADER_SIZE;
    h->page_size = page_size;
    h->slot_count = slots;
    h->slot_table_offset = DRAM_HEADER_SIZE;
    h->page_area_offset = page_area_offset(slots);
    h->file_size = p->mapped_len;
    h->namespace_len = (uint32_t)strlen(ns);
    memcpy(h->namespace_name, ns, h->namespace_len);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(h->magic, DRAM_MAGIC, sizeof h->magic);
    point_into(p);
}

int dram_pool_map_anonymous(struct dram_pool *p, size_t page_size, uint32_t slots, tierpage_error *err)
{
    memset(p, 0, sizeof *p);
    p->fd = -1;
    p->mapped_len = (size_t)pool_bytes(page_size, slots);
    /* NORESERVE: the pool only costs memory for pages actually stored. */
    void *base = mmap(NULL, p->mapped_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        int e = errno;
        return tierpage_error_set(err, -e, NULL, "dram: cannot map a pool of %zu bytes: %s", p->mapped_len,
                                  strerror(e));
    }
    p->base = base;
    format(p, "", page_size, slots);
    return 0;
}

static int header_is_blank(const unsigned char *base)
{
    for (size_t i = 0; i < DRAM_HEADER_SIZE; i++)
        if (base[i])
            return 0;
    return 1;
}

/* Checks a formatted header against what this open asks for; the file
 * size was checked against header->file_size before. */
static int check_header(const struct dram_pool *p, const char *path, const char *ns, size_t page_size,
                        uint32_t slots, tierpage_error *err)
{
    const struct dram_header *h = p->header;
    if (memcmp(h->magic, DRAM_MAGIC, sizeof h->magic) != 0)
        return tierpage_error_set(err, -EINVAL, "path", "dram: %s is not a tierpage dram pool file (bad magic)",
                                  path);
    if (h->layout_version != DRAM_LAYOUT_VERSION)
        return tierpage_error_set(err, -EPROTO, "path",
                                  "dram: %s has layout version %u, this tierpage reads version %u", path,
                                  (unsigned)h->layout_version, DRAM_LAYOUT_VERSION);
    if (h->page_size != page_size)
        return tierpage_error_set(err, -EINVAL, "path",
                                  "dram: %s holds pages of %" PRIu64 " bytes, this stack uses %zu-byte pages",
                                  path, h->page_size, page_size);
    if (h->namespace_len > DRAM_NAMESPACE_MAX || h->namespace_name[h->namespace_len] != '\0')
        return tierpage_error_set(err, -EINVAL, "path", "dram: %s has a corrupt namespace field", path);
    if (strcmp(h->namespace_name, ns) != 0)
        return tierpage_error_set(err, -EINVAL, "path", "dram: %s belongs to namespace '%s', not '%s'", path,
                                  h->namespace_name, ns);
    if (h->slot_count != slots)
        return tierpage_error_set(err, -EINVAL, "capacity",
                                  "dram: %s was made with capacity %" PRIu64 " bytes; it cannot be opened with "
                                  "%" PRIu64 " (remove the file to start afresh)",
                                  path, h->slot_count * h->page_size, (uint64_t)slots * page_size);
    if (h->header_size != DRAM_HEADER_SIZE || h->slot_table_offset != DRAM_HEADER_SIZE ||
        h->page_area_offset != page_area_offset(slots) || h->file_size != pool_bytes(page_size, slots))
        return tierpage_error_set(err, -EINVAL, "path", "dram: %s has an inconsistent header", path);
    return 0;
}

int dram_pool_open_file(struct dram_pool *p, const char *path, const char *ns, size_t page_size, uint32_t slots,
                        tierpage_error *err)
{
    memset(p, 0, sizeof *p);
    p->fd = -1;
    if (strlen(ns) > DRAM_NAMESPACE_MAX)
        return tierpage_error_set(err, -ENAMETOOLONG, NULL, "dram: namespace is longer than %u bytes",
                                  DRAM_NAMESPACE_MAX);
    uint64_t want = pool_bytes(page_size, slots);
    int rc;
    p->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (p->fd < 0) {
        int e = errno;
        return tierpage_error_set(err, -e, "path", "dram: cannot open %s: %s", path, strerror(e));
    }
    if (flock(p->fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        dram_pool_close(p);
        if (e == EWOULDBLOCK)
            return tierpage_error_set(err, -EBUSY, "path", "dram: %s is in use by another open store", path);
        return tierpage_error_set(err, -e, "path", "dram: cannot lock %s: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(p->fd, &st) != 0) {
        int e = errno;
        dram_pool_close(p);
        return tierpage_error_set(err, -e, "path", "dram: cannot stat %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        dram_pool_close(p);
        return tierpage_error_set(err, -EINVAL, "path", "dram: %s is not a regular file", path);
    }
    int fresh = st.st_size == 0;
    if (!fresh && (uint64_t)st.st_size < DRAM_HEADER_SIZE) {
        dram_pool_close(p);
        return tierpage_error_set(err, -EINVAL, "path",
                                  "dram: %s is truncated: %jd bytes, less than its %u-byte header", path,
                                  (intmax_t)st.st_size, DRAM_HEADER_SIZE);
    }
    if (fresh) {
        /* Allocated whole now: a full tmpfs refuses the open here instead
         * of killing the pager with SIGBUS at a write into the mapping. */
        if ((rc = posix_fallocate(p->fd, 0, (off_t)want)) != 0) {
            if (ftruncate(p->fd, 0) != 0) {
                /* Left as it is: the next open finds it unformatted. */
            }
            dram_pool_close(p);
            return tierpage_error_set(err, -rc, "path", "dram: cannot allocate %" PRIu64 " bytes for %s: %s",
                                      want, path, strerror(rc));
        }
        st.st_size = (off_t)want;
    }
    p->mapped_len = (size_t)st.st_size;
    /* Not MAP_POPULATE: filling the page tables of a large pool takes
     * longer than the first touch of each page costs, and a pager started
     * again should serve its first fault soon. */
    void *base = mmap(NULL, p->mapped_len, PROT_READ | PROT_WRITE, MAP_SHARED, p->fd, 0);
    if (base == MAP_FAILED) {
        int e = errno;
        dram_pool_close(p);
        return tierpage_error_set(err, -e, "path", "dram: cannot map %s: %s", path, strerror(e));
    }
    p->base = base;
    if (fresh || header_is_blank(p->base)) {
        if ((uint64_t)st.st_size != want) {
            dram_pool_close(p);
            return tierpage_error_set(err, -EINVAL, "path",
                                      "dram: %s is unformatted and %jd bytes, not the %" PRIu64 " its "
                                      "capacity needs (remove it to start afresh)",
                                      path, (intmax_t)st.st_size, want);
        }
        memset(p->base + DRAM_HEADER_SIZE, 0, (size_t)(page_area_offset(slots) - DRAM_HEADER_SIZE));
        format(p, ns, page_size, slots);
        return 0;
    }
    const struct dram_header *h = (const struct dram_header *)p->base;
    if (memcmp(h->magic, DRAM_MAGIC, sizeof h->magic) == 0 && h->file_size != (uint64_t)st.st_size) {
        uint64_t made = h->file_size;
        dram_pool_close(p);
        return tierpage_error_set(err, -EINVAL, "path",
                                  "dram: %s is %jd bytes, but its header says %" PRIu64 " (truncated or "
                                  "corrupt)", path, (intmax_t)st.st_size, made);
    }
    p->header = (struct dram_header *)p->base;
    if ((rc = check_header(p, path, ns, page_size, slots, err)) < 0) {
        dram_pool_close(p);
        return rc;
    }
    point_into(p);
    p->reopened = 1;
    return 0;
}

void dram_pool_close(struct dram_pool *p)
{
    if (p->base)
        munmap(p->base, p->mapped_len);
    p->base = NULL;
    if (p->fd >= 0)
        close(p->fd); /* drops the flock */
    p->fd = -1;
}
