/* The malloc family. Two cases, told apart at the first call:
 * - the program's malloc is glibc's: glibc maps large blocks with an
 *   internal mmap that a preload cannot see, so large allocations are taken
 *   here (each a region of its own) and everything smaller goes to glibc,
 *   through every entry point of the family alike;
 * - the program brings its own allocator (jemalloc, tcmalloc, ...): the
 *   family is left to it, and its own large mmaps are what is served (see
 *   preload.c). The pager's allocations then come from its own heap
 *   (pager_heap.c), never from memory it serves. */
#include <dlfcn.h>
#include <link.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "pager_heap.h"
#include "shim.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);
extern void *__sbrk(intptr_t);

#define PAGE 4096u

/* The program's own allocator, when it is not glibc's. */
static struct {
    void *(*malloc)(size_t);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void (*free)(void *);
    void *(*memalign)(size_t, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    size_t (*usable_size)(void *);
} own;

enum family { FAMILY_UNKNOWN, FAMILY_GLIBC, FAMILY_OWN };
static int family_kind;
static __thread int resolving;
static int program_malloc_first;
static size_t (*glibc_usable_size)(void *);

/* A non-PIE program that takes malloc's address in its own code (Debian's
 * python3 does) has an undefined malloc symbol with a value: its PLT entry,
 * the address every object then uses for malloc. dlsym finds it first, but
 * the program does not define malloc: its calls go to the definition after
 * it in lookup order, this shim's (the first preload). */
static int plt_stub(const ElfW(Sym) *sym)
{
    return sym && sym->st_shndx == SHN_UNDEF;
}

static void resolve_family(void)
{
    /* The malloc the program calls: the first in the global lookup order.
     * When that is this shim's, the one it would call without the shim is
     * the next one after it. */
    Dl_info first, self;
    const ElfW(Sym) *first_sym = NULL;
    void *fn = dlsym(RTLD_DEFAULT, "malloc");
    void *handle = RTLD_NEXT;
    if (fn && dladdr1(fn, &first, (void **)&first_sym, RTLD_DL_SYMENT) && !plt_stub(first_sym) &&
        dladdr((void *)resolve_family, &self) && first.dli_fbase != self.dli_fbase) {
        /* Linked into the program itself (or preloaded ahead of the shim):
         * the pager's own allocations would come from it too, perhaps from
         * memory the pager serves and would have to fault in itself. */
        handle = RTLD_DEFAULT;
        program_malloc_first = 1;
    } else {
        fn = dlsym(RTLD_NEXT, "malloc");
    }
    /* Compared with libc's own: tcmalloc also defines __libc_malloc. */
    void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    void *libc_malloc = libc ? dlsym(libc, "malloc") : (void *)__libc_malloc;
    if (libc)
        dlclose(libc);
    if (!fn || fn == libc_malloc) {
        glibc_usable_size = (size_t (*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
        __atomic_store_n(&family_kind, FAMILY_GLIBC, __ATOMIC_RELEASE);
        return;
    }
    own.malloc = (void *(*)(size_t))fn;
    own.calloc = (void *(*)(size_t, size_t))dlsym(handle, "calloc");
    own.realloc = (void *(*)(void *, size_t))dlsym(handle, "realloc");
    own.free = (void (*)(void *))dlsym(handle, "free");
    own.memalign = (void *(*)(size_t, size_t))dlsym(handle, "memalign");
    own.posix_memalign = (int (*)(void **, size_t, size_t))dlsym(handle, "posix_memalign");
    own.usable_size = (size_t (*)(void *))dlsym(handle, "malloc_usable_size");
    __atomic_store_n(&family_kind, FAMILY_OWN, __ATOMIC_RELEASE);
}

/* Which family serves this call. Allocations made while the answer is
 * looked up come from the pager's heap, which owns them by address. */
static int family(void)
{
    int k = __atomic_load_n(&family_kind, __ATOMIC_ACQUIRE);
    if (k != FAMILY_UNKNOWN)
        return k;
    if (resolving)
        return FAMILY_UNKNOWN;
    resolving = 1;
    resolve_family();
    resolving = 0;
    return family_kind;
}

void shim_check_allocator(void)
{
    family();
    if (program_malloc_first && shim_threshold != UINT64_MAX) {
        shim_threshold = UINT64_MAX;
        static const char msg[] = "tierpage: the program's malloc comes before tierpage's (linked into the "
                                  "program, or preloaded ahead of it): nothing is served\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
    }
}

/* With the program's own allocator: pager code allocates from its heap. */
static int pager_side(int kind)
{
    return kind == FAMILY_UNKNOWN || (kind == FAMILY_OWN && shim_in_pager());
}

static size_t libc_usable_size(void *p)
{
    return glibc_usable_size ? glibc_usable_size(p) : 0;
}

/* Served blocks start a region, or lie inside one when over-aligned. */
static void *served_alloc(size_t size, size_t alignment)
{
    if (alignment <= PAGE)
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

static int valid_alignment(size_t a)
{
    return a && (a & (a - 1)) == 0;
}

/* Every aligned entry point comes here. */
static void *aligned(size_t alignment, size_t size)
{
    int kind = family();
    if (pager_side(kind))
        return pager_heap_alloc(size, alignment);
    if (kind == FAMILY_OWN) {
        if (own.memalign)
            return own.memalign(alignment, size);
        void *p = NULL;
        int rc = own.posix_memalign ? own.posix_memalign(&p, alignment, size) : ENOMEM;
        if (rc)
            errno = rc;
        return rc ? NULL : p;
    }
    if (shim_serves(size) && valid_alignment(alignment)) {
        void *p = served_alloc(size, alignment);
        if (p)
            return p;
    }
    return __libc_memalign(alignment, size);
}

void *malloc(size_t size)
{
    int kind = family();
    if (pager_side(kind))
        return pager_heap_alloc(size, 0);
    if (kind == FAMILY_OWN)
        return own.malloc(size);
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
    int kind = family();
    if (pager_side(kind)) {
        void *p = pager_heap_alloc(total, 0);
        return p ? memset(p, 0, total) : NULL;
    }
    if (kind == FAMILY_OWN)
        return own.calloc(n, size);
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
    if (pager_heap_owns(p)) {
        pager_heap_free(p);
        return;
    }
    if (family() == FAMILY_OWN) {
        own.free(p);
        return;
    }
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
    /* A block stays with the allocator that made it. */
    if (pager_heap_owns(p))
        return pager_heap_realloc(p, size);
    if (family() == FAMILY_OWN)
        return own.realloc(p, size);
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

void *memalign(size_t alignment, size_t size)
{
    return aligned(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size)
{
    return aligned(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size)
{
    if (!valid_alignment(alignment) || alignment % sizeof(void *))
        return EINVAL;
    void *p = aligned(alignment, size);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

void *valloc(size_t size)
{
    return aligned(PAGE, size);
}

void *pvalloc(size_t size)
{
    return aligned(PAGE, (size + PAGE - 1) & ~(size_t)(PAGE - 1));
}

size_t malloc_usable_size(void *p)
{
    if (!p)
        return 0;
    if (pager_heap_owns(p))
        return pager_heap_usable_size(p);
    if (family() == FAMILY_OWN)
        return own.usable_size ? own.usable_size(p) : 0;
    size_t have = served_size(p);
    return have ? have : libc_usable_size(p);
}

/* An allocator of the program's own grows its heap with sbrk before mmap
 * (tcmalloc does; jemalloc can): refusing to grow the break, as sbrk may
 * at any time, makes it map its memory instead, which is then served.
 * glibc's malloc calls its own sbrk, which this does not see. */
void *sbrk(intptr_t increment)
{
    if (increment > 0 && shim_threshold != UINT64_MAX && !shim_in_pager() && family() == FAMILY_OWN) {
        errno = ENOMEM;
        return (void *)-1;
    }
    return __sbrk(increment);
}
