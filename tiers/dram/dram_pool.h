/* The dram store's memory: one mapping laid out as LAYOUT.md (beside this
 * file) describes: a header, a slot table of (key, seq) entries and a page
 * area with one page per slot. Anonymous memory by default; with the tier
 * key `path`, a file (on tmpfs) mapped shared, so that the pages and the
 * table that finds them outlive the process. The layout is the same either
 * way, so the store has one code path. */
#ifndef TIERPAGE_DRAM_POOL_H
#define TIERPAGE_DRAM_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "tierpage_store.h"

#define DRAM_MAGIC "TIERDRAM"
#define DRAM_LAYOUT_VERSION 1u
#define DRAM_HEADER_SIZE 4096u
#define DRAM_NAMESPACE_MAX 255u

struct dram_header {
    char magic[8];              /* DRAM_MAGIC, written last when formatting */
    uint32_t layout_version;
    uint32_t header_size;
    uint64_t page_size;
    uint64_t slot_count;        /* pages the pool holds: capacity / page_size */
    uint64_t slot_table_offset;
    uint64_t page_area_offset;
    uint64_t file_size;
    uint32_t namespace_len;
    uint32_t reserved;
    char namespace_name[DRAM_NAMESPACE_MAX + 1]; /* NUL padded */
};

struct dram_slot_entry {
    uint64_t key;   /* meaningful only when seq != 0 */
    uint64_t seq;   /* 0: free; otherwise the slot holds key's whole page (the commit point) */
};

struct dram_pool {
    int fd;                  /* the file, holding its flock; -1 when anonymous */
    unsigned char *base;
    size_t mapped_len;
    struct dram_header *header;
    struct dram_slot_entry *entries;
    unsigned char *pages;
    uint32_t slot_count;
    int reopened;            /* the file was there and formatted: its table holds pages */
};

/* Maps an anonymous pool of `slots` pages of `page_size` bytes. */
int dram_pool_map_anonymous(struct dram_pool *p, size_t page_size, uint32_t slots, tierpage_error *err);

/* Opens the pool file at `path`, creating it (allocated at its full size)
 * and formatting it when it is new or was never formatted, or checking an
 * existing one against the namespace, page size and slot count; locks it
 * (flock) against a second open. Errors name the file. */
int dram_pool_open_file(struct dram_pool *p, const char *path, const char *ns, size_t page_size, uint32_t slots,
                        tierpage_error *err);

/* Unmaps, and closes the file (dropping its lock). */
void dram_pool_close(struct dram_pool *p);

#endif
