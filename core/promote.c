/* Promotion ahead of faults: stored pages brought back into the resident
 * set by the fault path itself, as if the program had read them. */
#include <errno.h>
#include <string.h>

#include "fault_handler.h"
#include "stack_internal.h"

/* Pages left free so that the evictor does not push out at once what this
 * brings in. */
static uint64_t margin(const struct tp_resident_set *r)
{
    return r->cap_pages / 64 + 1;
}

long tp_promote(tp_stack *s, tierpage_error *err)
{
    (void)err;
    long brought = 0;
    struct tp_resident_set *res = &s->pages.resident;
    /* Regions are not cut while this runs; a fault may race with a page
     * brought in here, and the fault path settles that as for any two. */
    pthread_mutex_lock(&s->regions_lock);
    tp_lock_take(&s->lock);
    char *from = NULL;
    struct tp_region *r;
    while ((r = tp_region_from(s, from)) && res->count + margin(res) < res->cap_pages) {
        size_t i = from > r->start ? (size_t)(from - r->start) / s->page_size : 0;
        for (; i < r->page_count && res->count + margin(res) < res->cap_pages; i++) {
            uint32_t id = r->first_id + (uint32_t)i;
            const struct tp_page *p = tp_page(&s->pages, id);
            if (p->state != TP_PAGE_STORED || (p->flags & TP_PAGE_BUSY))
                continue;
            struct uffd_msg msg;
            memset(&msg, 0, sizeof msg);
            msg.event = UFFD_EVENT_PAGEFAULT;
            msg.arg.pagefault.address = (uintptr_t)tp_page_addr(s, r, id);
            int uffd = r->uffd;
            tp_lock_drop(&s->lock);
            tp_fault_handle(s, uffd, &msg, tp_resident_tick(res, 1));
            tp_lock_take(&s->lock);
            brought++;
        }
        from = r->start + r->length;
    }
    tp_lock_drop(&s->lock);
    pthread_mutex_unlock(&s->regions_lock);
    return brought;
}
