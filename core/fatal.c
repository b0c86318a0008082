#include "fatal.h"

#include <stdio.h>
#include <unistd.h>

#include "stack_internal.h"
#include "tierpage.h"
#include "tierpage_daemon.h"
#include "writeback.h"

void tp_fatal(const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    fprintf(stderr, "tierpage: fatal: %s; stopping the program rather than let it see wrong data\n", why);
    fflush(stderr);
    _exit(TP_EXIT_PAGER_FAILURE);
}

void tp_stack_set_failure_handler(tp_stack *s, tp_failure_handler *handler, void *arg)
{
    __atomic_store_n(&s->failure.arg, arg, __ATOMIC_RELAXED);
    __atomic_store_n(&s->failure.handler, handler, __ATOMIC_RELEASE);
}

void tp_stack_vfail(struct tp_stack *s, const char *fmt, va_list ap)
{
    char why[512];
    vsnprintf(why, sizeof why, fmt, ap);
    tp_failure_handler *handler = __atomic_load_n(&s->failure.handler, __ATOMIC_ACQUIRE);
    if (!handler)
        tp_fatal("%s", why);
    if (__atomic_exchange_n(&s->failure.failed, 1, __ATOMIC_ACQ_REL) == 0)
        handler(__atomic_load_n(&s->failure.arg, __ATOMIC_RELAXED), why);
}

void tp_stack_fail(struct tp_stack *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tp_stack_vfail(s, fmt, ap);
    va_end(ap);
}

int tp_stack_failed(const struct tp_stack *s)
{
    return __atomic_load_n(&s->failure.failed, __ATOMIC_ACQUIRE);
}

void tp_stack_failure_clear(tp_stack *s)
{
    for (size_t i = 0; i < s->tier_count; i++)
        if (s->tiers[i].writeback)
            tp_writeback_resume(s->tiers[i].writeback);
    __atomic_store_n(&s->failure.failed, 0, __ATOMIC_RELEASE);
}
