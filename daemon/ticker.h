/* A thread of the daemon's that does one thing at a steady pace until told
 * to stop: the resident budget's sampling, a long request's progress. */
#ifndef TIERPAGED_TICKER_H
#define TIERPAGED_TICKER_H

struct tpd_ticker;

/* Call tick(arg) every interval_ms (from the start of the last call), on
 * a thread of its own, no lock held. NULL with the error number in *error
 * when the thread cannot start. */
struct tpd_ticker *tpd_ticker_start(unsigned interval_ms, void (*tick)(void *arg), void *arg, int *error);
/* Stop and join the thread (NULL is fine): once it returns no tick runs,
 * and none is running. */
void tpd_ticker_stop(struct tpd_ticker *t);

#endif
