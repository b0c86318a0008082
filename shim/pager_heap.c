/* Power-of-two size classes carved from one address range reserved up
 * front, with a free list per class. Pager allocations are few and mostly
 * long-lived; simplicity beats speed here. */
#include "pager_heap.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

#define MIN_SHIFT 5u   /* 32-byte blocks */
#define CLASSES 40u    /* up to 2^44 bytes */
#define HEADER 16u

/* Before each block handed out: its class, and how far into its slot the
 * block starts (over-aligned blocks start past the slot's beginning). */
struct header {
    uint32_t size_class;
    uint32_t magic;
    uint64_t offset;
};
#define MAGIC 0x7a9e4eadu

static pthread_mutex_t heap_lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t heap_low, heap_high, heap_next;
static void *free_slots[CLASSES];

static int reserve(void)
{
    /* Virtual space only (MAP_NORESERVE): pages are used as touched. */
    static const size_t sizes[] = {(size_t)1 << 38, (size_t)1 << 34, (size_t)1 << 30};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = real_mmap(NULL, sizes[i], PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p != MAP_FAILED) {
            heap_next = heap_low = (uintptr_t)p;
            __atomic_store_n(&heap_high, heap_low + sizes[i], __ATOMIC_RELEASE);
            return 0;
        }
    }
    return -1;
}

static unsigned class_of(size_t bytes)
{
    unsigned c = 0;
    while (c < CLASSES && ((size_t)1 << (c + MIN_SHIFT)) < bytes)
        c++;
    return c;
}

void *pager_heap_alloc(size_t size, size_t alignment)
{
    if (alignment < HEADER)
        alignment = HEADER;
    size_t need = size + HEADER + (alignment > HEADER ? alignment : 0);
    unsigned c = class_of(need);
    if (need < size || c >= CLASSES) {
        errno = ENOMEM;
        return NULL;
    }
    size_t slot_size = (size_t)1 << (c + MIN_SHIFT);
    pthread_mutex_lock(&heap_lock);
    char *slot = free_slots[c];
    if (slot) {
        memcpy(&free_slots[c], slot, sizeof(void *));
    } else if (heap_low || reserve() == 0) {
        if (heap_high - heap_next >= slot_size) {
            slot = (char *)heap_next;
            heap_next += slot_size;
        }
    }
    pthread_mutex_unlock(&heap_lock);
    if (!slot) {
        errno = ENOMEM;
        return NULL;
    }
    uintptr_t user = ((uintptr_t)slot + HEADER + alignment - 1) & ~(uintptr_t)(alignment - 1);
    struct header h = {c, MAGIC, user - HEADER - (uintptr_t)slot};
    memcpy((char *)user - HEADER, &h, sizeof h);
    return (void *)user;
}

static struct header header_of(const void *p)
{
    struct header h;
    memcpy(&h, (const char *)p - HEADER, sizeof h);
    return h;
}

int pager_heap_owns(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    return a >= __atomic_load_n(&heap_low, __ATOMIC_RELAXED) && a < __atomic_load_n(&heap_high, __ATOMIC_ACQUIRE);
}

size_t pager_heap_usable_size(const void *p)
{
    struct header h = header_of(p);
    return ((size_t)1 << (h.size_class + MIN_SHIFT)) - HEADER - h.offset;
}

void pager_heap_free(void *p)
{
    struct header h = header_of(p);
    if (h.magic != MAGIC || h.size_class >= CLASSES)
        return; /* not a block of this heap: leave it rather than corrupt it */
    char *slot = (char *)p - HEADER - h.offset;
    size_t slot_size = (size_t)1 << (h.size_class + MIN_SHIFT);
    /* Give large slots' pages back; the first keeps the free-list link. */
    if (slot_size >= (size_t)1 << 20)
        syscall(SYS_madvise, slot + 4096, slot_size - 4096, MADV_DONTNEED);
    pthread_mutex_lock(&heap_lock);
    memcpy(slot, &free_slots[h.size_class], sizeof(void *));
    free_slots[h.size_class] = slot;
    pthread_mutex_unlock(&heap_lock);
}

void *pager_heap_realloc(void *p, size_t size)
{
    size_t have = pager_heap_usable_size(p);
    if (size <= have)
        return p;
    void *q = pager_heap_alloc(size, 0);
    if (!q)
        return NULL;
    memcpy(q, p, have);
    pager_heap_free(p);
    return q;
}

void pager_heap_fork_prepare(void)
{
    pthread_mutex_lock(&heap_lock);
}

void pager_heap_fork_done(void)
{
    pthread_mutex_unlock(&heap_lock); /* in the child too: the forking thread took it */
}
