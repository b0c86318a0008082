/* The page map's chunks in a file on tmpfs, so that the map outlives the
 * pager's process (issue 13): a pager killed and started again reads the
 * file and rebuilds the map from its chunks, which are fixed-size and
 * self-describing (page_map.h). The table that finds chunks, the free id
 * ranges and the lists stay in private memory: they are rebuilt.
 *
 * Layout, version 1 (integers in the machine's byte order):
 *
 *   offset 0, 4096 bytes: the header (struct tp_page_map_file_header)
 *   offset 4096 + k * slab_bytes: slab k, for k < slab_count: a 16-byte
 *     slab header whose second u64 is `used` (bytes handed out, the slab
 *     header included), then chunks of chunk_bytes each up to `used`.
 *
 * A chunk (struct tp_page_chunk) is in the map when its `live` is 1; its
 * `index` says which ids it holds (index * chunk_pages up), its pages'
 * `state`, `tier` and `flags` what each page is. Pointers and list links in
 * it are the dead process's and mean nothing to a reader.
 *
 * Order of writes, so that a pager killed at any instruction leaves a file
 * a reader can use:
 *   - a slab is allocated (zeros) and its header written before slab_count
 *     counts it;
 *   - a chunk's index and pages are written before its live is set to 1
 *     (release); a chunk given back has live set to 0 first, and only then
 *     is it reused;
 *   - a page moving between tiers: the new copy is written (the store's
 *     put returned), then the page's tier in the map, then the old copy is
 *     deleted. A reader that finds a page BUSY (mid-move) looks for it in
 *     the tier the map names and, failing that, in the others: either
 *     place holds a whole copy.
 *
 * Locking: the map's (the stack lock); the file has no lock of its own. */
#ifndef TIERPAGE_PAGE_MAP_FILE_H
#define TIERPAGE_PAGE_MAP_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "page_map.h"

#define TP_PAGE_MAP_FILE_MAGIC "TIERPMAP"
#define TP_PAGE_MAP_FILE_VERSION 1u
#define TP_PAGE_MAP_FILE_HEADER 4096u

struct tp_page_map_file_header {
    char magic[8];            /* TIERPMAP, written last when the file is made */
    uint32_t version;         /* TP_PAGE_MAP_FILE_VERSION */
    uint32_t header_size;     /* TP_PAGE_MAP_FILE_HEADER */
    uint32_t slab_bytes;      /* bytes a slab spans in the file */
    uint32_t chunk_bytes;     /* sizeof(struct tp_page_chunk) */
    uint32_t chunk_pages;     /* TP_PAGE_CHUNK */
    uint32_t page_bytes;      /* sizeof(struct tp_page) */
    uint64_t page_size;       /* bytes in a page of the stack */
    uint64_t slab_count;      /* slabs in the file; grows, never shrinks */
    char instance[24];        /* the stack's instance id, 16 hex digits, NUL padded */
};

struct tp_page_map_file;

/* Makes a new map file at `path` for the stack of `instance` (replacing one
 * there). Returns 0, or a negative errno with `msg` naming the file. */
int tp_page_map_file_create(const char *path, const char *instance, size_t page_size,
                            struct tp_page_map_file **out, char *msg, size_t len);
/* A new slab of `slab_bytes` in the file, mapped, zeroed; NULL when the
 * file cannot grow. */
void *tp_page_map_file_slab(struct tp_page_map_file *f, size_t slab_bytes);
/* Closes the file (the slabs are the map's to unmap); the file stays. */
void tp_page_map_file_close(struct tp_page_map_file *f);

/* What a reader learns of a map file. */
struct tp_page_map_file_info {
    char instance[17];
    uint64_t page_size;
    uint64_t slabs, chunks; /* chunks: the live ones */
};

/* Reads the map file at `path`: checks its header and sizes, then calls
 * each(ctx, chunk) for every live chunk (stopping at a non-zero return,
 * which it returns). Returns 0, or a negative errno with `msg` naming the
 * file and what is wrong with it (truncated, not a map file, another
 * version or layout). */
int tp_page_map_file_read(const char *path, int (*each)(void *ctx, const struct tp_page_chunk *chunk), void *ctx,
                          struct tp_page_map_file_info *info, char *msg, size_t len);

#endif
