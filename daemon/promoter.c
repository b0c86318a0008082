#include "promoter.h"

#include <errno.h>
#include <string.h>

#include "log.h"
#include "pager_thread.h"
#include "vm_table.h"
#include "vm_stack.h"

static void *promote_main(void *arg)
{
    struct tpd_vm *vm = arg;
    uintptr_t cursor = 0;
    tierpage_error err = {{0}, {0}};
    long n = 0;
    for (;;) {
        pthread_mutex_lock(&vm->lock);
        int stop = vm->promoter.stop;
        pthread_mutex_unlock(&vm->lock);
        if (stop)
            break;
        /* A client is attached until this thread is joined: the stack
         * stays; held all the same, as every user of it is. */
        n = tp_promote_step(tpd_vm_stack_get(vm), &cursor, TP_PROMOTE_BATCH, &err);
        tpd_vm_stack_put(vm);
        if (n <= 0)
            break;
        pthread_mutex_lock(&vm->lock);
        vm->promoter.brought += (uint64_t)n;
        pthread_mutex_unlock(&vm->lock);
        if (cursor == 0)
            break;
    }
    pthread_mutex_lock(&vm->lock);
    if (n < 0)
        tpd_log("error", "VM %s: promote stopped after %llu pages: %s", vm->name,
                (unsigned long long)vm->promoter.brought, err.message);
    else
        tpd_log("info", "VM %s: promote %s: %llu pages brought in", vm->name,
                vm->promoter.stop ? "stopped" : "done", (unsigned long long)vm->promoter.brought);
    vm->promoter.running = 0;
    pthread_cond_broadcast(&vm->promoter.ended);
    pthread_mutex_unlock(&vm->lock);
    return NULL;
}

int tpd_promote_start(struct tpd_vm *vm)
{
    struct tpd_promoter *p = &vm->promoter;
    if (p->running)
        return 0;
    if (p->started) /* the last run has ended: its thread is done */
        pthread_join(p->thread, NULL);
    p->started = p->stop = 0;
    p->brought = 0;
    p->running = 1;
    int rc = tp_pager_thread_create(&p->thread, NULL, promote_main, vm);
    if (rc) {
        p->running = 0;
        return -rc;
    }
    p->started = 1;
    tpd_log("info", "VM %s: promoting in the background", vm->name);
    return 1;
}

void tpd_promote_wait(struct tpd_vm *vm)
{
    while (vm->promoter.running)
        pthread_cond_wait(&vm->promoter.ended, &vm->lock);
}

void tpd_promote_stop(struct tpd_vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    vm->promoter.stop = 1;
    tpd_promote_wait(vm);
    int joinable = vm->promoter.started;
    vm->promoter.started = 0;
    pthread_mutex_unlock(&vm->lock);
    if (joinable)
        pthread_join(vm->promoter.thread, NULL);
}
