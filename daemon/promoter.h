/* Background promotion of one VM's pages (`tierpage promote`): a thread of
 * the VM's own brings its stored pages back in, one batch (one get_batch
 * from one tier) at a time, until the resident cap is full or no stored
 * page is left. The request that starts it is answered at once; status
 * shows how far it got, and PROMOTE_WAIT waits for its end. */
#ifndef TIERPAGED_PROMOTER_H
#define TIERPAGED_PROMOTER_H

#include <pthread.h>
#include <stdint.h>

struct tpd_vm;

struct tpd_promoter {
    pthread_t thread;
    int started;        /* a thread to join */
    int running;
    int stop;
    uint64_t brought;   /* pages the last (or current) run brought in */
    pthread_cond_t ended;
};

/* Called with vm->lock held. Starts a run unless one is running; 1 when it
 * started one, 0 when one was running already, -errno. */
int tpd_promote_start(struct tpd_vm *vm);
/* Called with vm->lock held; drops it while waiting. Until no run is going. */
void tpd_promote_wait(struct tpd_vm *vm);
/* No lock held. Stops a run in progress (between batches) and joins its
 * thread: before the VM's client detaches, and at exit. */
void tpd_promote_stop(struct tpd_vm *vm);

#endif
