#include "daemon_handover.h"

#include <errno.h>
#include <stdlib.h>

/* Room for one range more. */
static int reserve(struct tp_handover *h)
{
    if (h->count < h->alloc)
        return 0;
    size_t alloc = h->alloc ? h->alloc * 2 : 8;
    struct tp_handover_range *ranges = realloc(h->ranges, alloc * sizeof *ranges);
    if (!ranges)
        return -ENOMEM;
    h->ranges = ranges;
    h->alloc = alloc;
    return 0;
}

int tp_handover_add(struct tp_handover *h, int memfd, uint64_t addr, uint64_t length)
{
    if (reserve(h) < 0)
        return -ENOMEM;
    h->ranges[h->count++] = (struct tp_handover_range){.addr = addr, .length = length, .memfd = memfd};
    return 0;
}

int tp_handover_cut(struct tp_handover *h, uint64_t addr, uint64_t length)
{
    uint64_t end = addr + length < addr ? UINT64_MAX : addr + length;
    /* A cut strictly inside one range (at most one: ranges never overlap)
     * leaves it in two: make the room first, so that a failure changes
     * nothing. */
    for (size_t i = 0; i < h->count; i++) {
        const struct tp_handover_range *r = &h->ranges[i];
        if (r->addr < addr && end < r->addr + r->length && reserve(h) < 0)
            return -ENOMEM;
    }
    size_t i = 0;
    while (i < h->count) {
        struct tp_handover_range *r = &h->ranges[i];
        uint64_t r_end = r->addr + r->length;
        if (end <= r->addr || r_end <= addr) {
            i++;
            continue;
        }
        if (r->addr < addr && end < r_end) { /* the middle: a tail of its own */
            struct tp_handover_range tail = *r;
            tail.addr = end;
            tail.length = r_end - end;
            tail.offset += end - r->addr;
            r->length = addr - r->addr;
            h->ranges[h->count++] = tail;
            i++;
        } else if (r->addr < addr) { /* its end */
            r->length = addr - r->addr;
            i++;
        } else if (end < r_end) { /* its front */
            r->offset += end - r->addr;
            r->length = r_end - end;
            r->addr = end;
            i++;
        } else { /* all of it */
            h->ranges[i] = h->ranges[--h->count];
        }
    }
    return 0;
}

void tp_handover_free(struct tp_handover *h)
{
    free(h->ranges);
    h->ranges = NULL;
    h->count = h->alloc = 0;
}
