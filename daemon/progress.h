/* A long operator request (RESIZE, DEMOTE, FLUSH, PROMOTE_WAIT) tells its
 * operator that it moves on: while it runs, a thread looks at a count of
 * the work done every TPD_PROGRESS_INTERVAL_MS and sends a PROGRESS each
 * time it grew (PROTOCOL.md). The operator's command then waits as long
 * as the work goes on, and gives up once it stops. */
#ifndef TIERPAGED_PROGRESS_H
#define TIERPAGED_PROGRESS_H

#include <stdint.h>

#define TPD_PROGRESS_INTERVAL_MS 250

struct tpd_progress;

/* The work done so far; called on the progress thread, no lock held. */
typedef uint64_t (*tpd_progress_count)(void *arg);

/* Start telling the operator on sock how `what` (e.g. "demote of VM x")
 * goes. NULL when the thread cannot start: the request runs all the same,
 * without PROGRESS. */
struct tpd_progress *tpd_progress_start(int sock, const char *what, tpd_progress_count count, void *arg);
/* Stop and join the thread (NULL is fine): no PROGRESS follows, so the
 * reply sent next is the last message of the request. */
void tpd_progress_stop(struct tpd_progress *p);

#endif
