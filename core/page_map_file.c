/* The page map's chunks in a file; see page_map_file.h for the layout and
 * the order of writes. The file lives on tmpfs: it is to outlive the
 * process, not the machine, so nothing is flushed (a store into a shared
 * mapping of a tmpfs file is in the file when the CPU makes it). */
#include "page_map_file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(sizeof(struct tp_page_map_file_header) == 72, "page map file layout v1");

/* The slab header as the file holds it (page_map.c's struct tp_chunk_slab). */
struct file_slab {
    uint64_t next; /* a pointer of the process that wrote it */
    uint64_t used;
};

struct tp_page_map_file {
    int fd;
    struct tp_page_map_file_header *header; /* mapped */
};

static int fail(char *msg, size_t len, int rc, const char *fmt, const char *path, const char *why)
{
    snprintf(msg, len, fmt, path, why);
    return rc;
}

int tp_page_map_file_create(const char *path, const char *instance, size_t page_size,
                            struct tp_page_map_file **out, char *msg, size_t len)
{
    *out = NULL;
    struct tp_page_map_file *f = calloc(1, sizeof *f);
    if (!f)
        return fail(msg, len, -ENOMEM, "page map file %s: %s", path, "out of memory");
    f->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (f->fd < 0) {
        int e = errno;
        free(f);
        return fail(msg, len, -e, "cannot create the page map file %s: %s", path, strerror(e));
    }
    int rc = posix_fallocate(f->fd, 0, TP_PAGE_MAP_FILE_HEADER);
    void *h = rc ? MAP_FAILED
                 : mmap(NULL, TP_PAGE_MAP_FILE_HEADER, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
    if (h == MAP_FAILED) {
        int e = rc ? rc : errno;
        close(f->fd);
        free(f);
        unlink(path);
        return fail(msg, len, -e, "cannot make the page map file %s: %s", path, strerror(e));
    }
    f->header = h;
    f->header->version = TP_PAGE_MAP_FILE_VERSION;
    f->header->header_size = TP_PAGE_MAP_FILE_HEADER;
    f->header->chunk_bytes = sizeof(struct tp_page_chunk);
    f->header->chunk_pages = TP_PAGE_CHUNK;
    f->header->page_bytes = sizeof(struct tp_page);
    f->header->page_size = page_size;
    snprintf(f->header->instance, sizeof f->header->instance, "%s", instance);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(f->header->magic, TP_PAGE_MAP_FILE_MAGIC, sizeof f->header->magic);
    *out = f;
    return 0;
}

void *tp_page_map_file_slab(struct tp_page_map_file *f, size_t slab_bytes)
{
    struct tp_page_map_file_header *h = f->header;
    if (h->slab_count == 0)
        h->slab_bytes = (uint32_t)slab_bytes;
    else if (h->slab_bytes != slab_bytes)
        return NULL;
    off_t at = (off_t)(TP_PAGE_MAP_FILE_HEADER + h->slab_count * slab_bytes);
    /* Allocated now: a full tmpfs refuses the slab (the map is then out of
     * memory, as with anonymous slabs) instead of a SIGBUS later. */
    if (posix_fallocate(f->fd, at, (off_t)slab_bytes) != 0)
        return NULL;
    void *slab = mmap(NULL, slab_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, at);
    if (slab == MAP_FAILED)
        return NULL;
    /* The caller writes the slab header next; a reader tells an unused
     * slab by its `used` of 0. */
    __atomic_store_n(&h->slab_count, h->slab_count + 1, __ATOMIC_RELEASE);
    return slab;
}

void tp_page_map_file_close(struct tp_page_map_file *f)
{
    if (!f)
        return;
    munmap(f->header, TP_PAGE_MAP_FILE_HEADER);
    close(f->fd);
    free(f);
}

/* Checks the header of a file of `size` bytes. */
static int check_header(const struct tp_page_map_file_header *h, off_t size, const char *path, char *msg,
                        size_t len)
{
    if (memcmp(h->magic, TP_PAGE_MAP_FILE_MAGIC, sizeof h->magic) != 0)
        return fail(msg, len, -EINVAL, "%s is not a tierpage page map file (%s)", path, "bad magic");
    if (h->version != TP_PAGE_MAP_FILE_VERSION) {
        snprintf(msg, len, "page map file %s has version %u, this tierpage reads version %u", path,
                 (unsigned)h->version, TP_PAGE_MAP_FILE_VERSION);
        return -EPROTO;
    }
    if (h->header_size != TP_PAGE_MAP_FILE_HEADER || h->chunk_bytes != sizeof(struct tp_page_chunk) ||
        h->chunk_pages != TP_PAGE_CHUNK || h->page_bytes != sizeof(struct tp_page) ||
        (h->slab_count && h->slab_bytes < sizeof(struct file_slab)) || h->instance[16] != '\0')
        return fail(msg, len, -EINVAL, "page map file %s: %s", path,
                    "its layout is not this tierpage's (chunk or page size, or a corrupt header)");
    uint64_t want = TP_PAGE_MAP_FILE_HEADER + h->slab_count * (uint64_t)h->slab_bytes;
    if ((uint64_t)size < want) {
        snprintf(msg, len, "page map file %s is truncated: %jd bytes, its %" PRIu64 " slabs need %" PRIu64, path,
                 (intmax_t)size, h->slab_count, want);
        return -EINVAL;
    }
    return 0;
}

int tp_page_map_file_read(const char *path, int (*each)(void *ctx, const struct tp_page_chunk *chunk), void *ctx,
                          struct tp_page_map_file_info *info, char *msg, size_t len)
{
    memset(info, 0, sizeof *info);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return fail(msg, len, -e, "cannot open the page map file %s: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < (off_t)TP_PAGE_MAP_FILE_HEADER) {
        close(fd);
        snprintf(msg, len, "page map file %s is truncated: %jd bytes, less than its %u-byte header", path,
                 (intmax_t)st.st_size, TP_PAGE_MAP_FILE_HEADER);
        return -EINVAL;
    }
    void *base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (base == MAP_FAILED) {
        int e = errno;
        return fail(msg, len, -e, "cannot map the page map file %s: %s", path, strerror(e));
    }
    const struct tp_page_map_file_header *h = base;
    int rc = check_header(h, st.st_size, path, msg, len);
    if (rc == 0) {
        memcpy(info->instance, h->instance, sizeof info->instance);
        info->page_size = h->page_size;
        info->slabs = h->slab_count;
    }
    for (uint64_t k = 0; rc == 0 && k < h->slab_count; k++) {
        const unsigned char *slab = (const unsigned char *)base + TP_PAGE_MAP_FILE_HEADER + k * h->slab_bytes;
        uint64_t used = ((const struct file_slab *)slab)->used;
        if (used > h->slab_bytes) {
            snprintf(msg, len, "page map file %s: slab %" PRIu64 " says %" PRIu64 " bytes are used of %u (corrupt)",
                     path, k, used, (unsigned)h->slab_bytes);
            rc = -EINVAL;
            break;
        }
        for (uint64_t at = sizeof(struct file_slab); rc == 0 && at + sizeof(struct tp_page_chunk) <= used;
             at += sizeof(struct tp_page_chunk)) {
            const struct tp_page_chunk *c = (const struct tp_page_chunk *)(slab + at);
            if (__atomic_load_n(&c->live, __ATOMIC_ACQUIRE) != 1)
                continue;
            info->chunks++;
            rc = each(ctx, c);
        }
    }
    munmap(base, (size_t)st.st_size);
    return rc;
}
