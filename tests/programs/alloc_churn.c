/* Run under `tierpage run` with a small resident cap, with glibc's malloc,
 * linked against jemalloc, or with tcmalloc preloaded: allocates well
 * beyond the cap through every entry point of the malloc family, in small,
 * medium and large blocks, frees and reallocates some, and checks every
 * block's bytes and usable size. Exits 0 when all checks pass. */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KiB 1024u
#define MiB (1024u * 1024u)
#define BLOCKS 2000

struct block {
    unsigned char *p;
    size_t size;
    unsigned seed;
};

static struct block blocks[BLOCKS];
static int failures;

#define CHECK(cond, ...)                                                                                       \
    do {                                                                                                       \
        if (!(cond)) {                                                                                         \
            if (failures++ < 10) {                                                                             \
                printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                   \
                printf(__VA_ARGS__);                                                                           \
                printf("\n");                                                                                  \
            }                                                                                                  \
        }                                                                                                      \
    } while (0)

static unsigned char byte_at(unsigned seed, size_t i)
{
    return (unsigned char)((i / 512) * 131 + seed);
}

/* Every 512th byte and the last one: enough to see a lost page. */
static void fill(struct block *b)
{
    for (size_t i = 0; i < b->size; i += 512)
        b->p[i] = byte_at(b->seed, i);
    b->p[b->size - 1] = (unsigned char)(b->seed ^ 0x5a);
}

/* The first `len` bytes as fill() left them, but the last byte's mark. */
static int prefix_intact(const struct block *b, size_t len)
{
    for (size_t i = 0; i < len; i += 512)
        if (i != b->size - 1 && b->p[i] != byte_at(b->seed, i))
            return 0;
    return 1;
}

static int intact(const struct block *b)
{
    return prefix_intact(b, b->size) && b->p[b->size - 1] == (unsigned char)(b->seed ^ 0x5a);
}

static size_t size_for(unsigned r)
{
    if (r % 40 == 0)
        return MiB + (r % 5) * 512 * KiB; /* large: about 100 MiB live */
    if (r % 40 < 8)
        return 64 * KiB + (r % 13) * 4 * KiB; /* medium */
    return 16 + (r % 4000); /* small */
}

/* malloc called through its address, taken in the program's own code: in
 * the non-PIE build (alloc_churn_nopie) that makes the program's malloc
 * symbol a PLT entry with an address, as in Debian's python3. */
static void *(*malloc_by_address)(size_t);

/* One block through the entry point `how` picks. */
static void *allocate(unsigned how, size_t size)
{
    void *p = NULL;
    switch (how % 8) {
    case 0:
        return malloc_by_address(size);
    case 1:
        p = calloc(1, size);
        if (p)
            for (size_t i = 0; i < size; i += 4096 / 2)
                if (((unsigned char *)p)[i]) {
                    CHECK(0, "calloc of %zu bytes not zeroed at %zu", size, i);
                    break;
                }
        return p;
    case 2:
        return posix_memalign(&p, 64, size) == 0 ? p : NULL;
    case 3:
        return aligned_alloc(4096, (size + 4095) & ~(size_t)4095);
    case 4:
        return memalign(256, size);
    case 5:
        return valloc(size);
    case 6:
        return reallocarray(NULL, size, 1);
    default:
        return realloc(NULL, size);
    }
}

int main(void)
{
    malloc_by_address = malloc;
    unsigned r = 12345;
    size_t total = 0;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < BLOCKS; i++) {
            r = r * 1103515245u + 12345u;
            struct block *b = &blocks[i];
            if (b->p && intact(b) == 0)
                CHECK(0, "block %d (%zu bytes) lost its data before round %d", i, b->size, round);
            if (b->p && r % 3 == 0) {
                /* grow or shrink, keeping the common part */
                size_t keep = b->size;
                size_t size = size_for(r >> 8);
                unsigned char *q = realloc(b->p, size);
                CHECK(q, "realloc to %zu", size);
                if (!q)
                    continue;
                b->p = q;
                CHECK(prefix_intact(b, size < keep ? size : keep), "realloc of block %d from %zu to %zu kept its data",
                      i, keep, size);
                b->size = size;
                b->seed = r >> 4;
                fill(b);
                continue;
            }
            free(b->p);
            b->size = size_for(r >> 8);
            b->seed = r >> 16;
            b->p = allocate(r >> 12, b->size);
            CHECK(b->p, "allocation %d of %zu bytes: %s", i, b->size, strerror(errno));
            if (!b->p)
                continue;
            CHECK(malloc_usable_size(b->p) >= b->size, "usable size %zu of a %zu-byte block",
                  malloc_usable_size(b->p), b->size);
            fill(b);
            total += b->size;
        }
    }
    size_t live = 0;
    for (int i = 0; i < BLOCKS; i++) {
        if (!blocks[i].p)
            continue;
        CHECK(intact(&blocks[i]), "block %d (%zu bytes) at the end", i, blocks[i].size);
        live += blocks[i].size;
        free(blocks[i].p);
    }
    /* jemalloc has no pvalloc: a program linked against it gets glibc's,
     * whose block its free cannot take. Only where malloc's library has one. */
    Dl_info with_malloc, with_pvalloc;
    if (dladdr(dlsym(RTLD_DEFAULT, "malloc"), &with_malloc) && dladdr(dlsym(RTLD_DEFAULT, "pvalloc"), &with_pvalloc) &&
        with_malloc.dli_fbase == with_pvalloc.dli_fbase) {
        void *pv = pvalloc(5000);
        CHECK(pv && malloc_usable_size(pv) >= 8192, "pvalloc rounds up to whole pages");
        free(pv);
    }
    if (failures) {
        printf("alloc_churn: %d checks failed\n", failures);
        return 1;
    }
    printf("alloc_churn: %zu MiB allocated, %zu MiB live at the end, all blocks checked\n", total / MiB,
           live / MiB);
    return 0;
}
