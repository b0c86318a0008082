/* The malloc family. glibc's malloc maps large blocks with an internal mmap
 * that a preload cannot see, so large allocations are taken here instead:
 * each one is a region of its own; everything smaller goes to glibc. */
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "shim.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static size_t libc_usable_size(void *p)
{
    static size_t (*fn)(void *);
    if (!fn)
        fn = (size_t (*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
    return fn ? fn(p) : 0;
}

/* Served blocks start a region, or lie inside one when over-aligned. */
static void *served_alloc(size_t size, size_t alignment)
{
    size_t page = 4096;
    if (alignment <= page)
        return shim_map(NULL, size);
    if (size + alignment < size)
        return NULL;
    char *base = shim_map(NULL, size + alignment);
    if (!base)
        return NULL;
    return (void *)(((uintptr_t)base + alignment - 1) & ~(uintptr_t)(alignment - 1));
}

/* Bytes usable at p when p is served; 0 otherwise. */
static size_t served_size(void *p)
{
    void *start;
    size_t length;
    if (shim_lookup(p, &start, &length) < 0)
        return 0;
    return length - (size_t)((char *)p - (char *)start);
}

void *malloc(size_t size)
{
    if (shim_serves(size)) {
        void *p = served_alloc(size, 0);
        if (p)
            return p;
    }
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    if (shim_serves(total)) {
        void *p = served_alloc(total, 0); /* fresh pages read as zeros */
        if (p)
            return p;
    }
    return __libc_calloc(n, size);
}

void free(void *p)
{
    if (!p)
        return;
    if (served_size(p)) {
        shim_unmap_region(p);
        return;
    }
    if (shim_in_child && shim_stack) {
        /* A block served to the parent: nothing of it exists here. */
        void *start;
        size_t length;
        if (tp_region_bounds(shim_stack, p, &start, &length) == 0)
            return;
    }
    __libc_free(p);
}

void *realloc(void *p, size_t size)
{
    if (!p)
        return malloc(size);
    size_t have = served_size(p);
    if (have) {
        if (size == 0) {
            free(p);
            return NULL;
        }
        if (size <= have && size >= shim_threshold)
            return p;
        void *q = malloc(size);
        if (!q)
            return NULL;
        memcpy(q, p, size < have ? size : have);
        free(p);
        return q;
    }
    if (shim_serves(size)) {
        void *q = served_alloc(size, 0);
        if (q) {
            size_t old = libc_usable_size(p);
            memcpy(q, p, old < size ? old : size);
            __libc_free(p);
            return q;
        }
    }
    return __libc_realloc(p, size);
}

void *reallocarray(void *p, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, total);
}

static int valid_alignment(size_t a)
{
    return a && (a & (a - 1)) == 0;
}

void *memalign(size_t alignment, size_t size)
{
    if (shim_serves(size) && valid_alignment(alignment)) {
        void *p = served_alloc(size, alignment);
        if (p)
            return p;
    }
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size)
{
    return memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size)
{
    if (!valid_alignment(alignment) || alignment % sizeof(void *))
        return EINVAL;
    void *p = memalign(alignment, size);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

void *valloc(size_t size)
{
    return memalign(4096, size);
}

void *pvalloc(size_t size)
{
    return memalign(4096, (size + 4095) & ~(size_t)4095);
}

size_t malloc_usable_size(void *p)
{
    if (!p)
        return 0;
    size_t have = served_size(p);
    return have ? have : libc_usable_size(p);
}
