/* What a tierpaged client has handed to the daemon: each served range with
 * the memfd behind it and where in that file the range starts, so that a
 * daemon that went away and came back can be handed every range again
 * (daemon_link.c). The memfds are the regions' own (region.c), not
 * copies: a range leaves this record before its region lets go of its
 * file, since the daemon is told of an unmap before it happens. No lock
 * of its own: the link's. */
#ifndef TIERPAGE_DAEMON_HANDOVER_H
#define TIERPAGE_DAEMON_HANDOVER_H

#include <stddef.h>
#include <stdint.h>

struct tp_handover_range {
    uint64_t addr;
    uint64_t length;
    uint64_t offset; /* of addr in the file: not 0 once the front of a region was unmapped */
    int memfd;
};

struct tp_handover {
    struct tp_handover_range *ranges; /* in no order */
    size_t count, alloc;
};

/* A range the daemon took (REGION_ADD): 0, or -ENOMEM. */
int tp_handover_add(struct tp_handover *h, int memfd, uint64_t addr, uint64_t length);
/* [addr, addr+length) is no longer served (REGION_REMOVE): cut it out of
 * every range, which may leave a range's front, its tail or both: 0, or
 * -ENOMEM, the record unchanged, when a range cut in the middle leaves a
 * tail there is no room for. */
int tp_handover_cut(struct tp_handover *h, uint64_t addr, uint64_t length);
void tp_handover_free(struct tp_handover *h);

#endif
