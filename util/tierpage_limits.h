/* The limits of a stack, shared by the stack file's checks (conf/) and the
 * library's API (tierpage.h, which includes this header; installed beside it). */
#ifndef TIERPAGE_LIMITS_H
#define TIERPAGE_LIMITS_H

/* The most tiers a stack has (`tiers:`), and so the size of tp_stats.tiers. */
#define TP_MAX_TIERS 8
/* The most fault handler threads a stack runs (`handler_threads:`). */
#define TP_MAX_HANDLER_THREADS 64

#endif
