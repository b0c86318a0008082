#include "budget.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "ticker.h"
#include "vm_stack.h"

#define TICK_MS 500
/* A shrunk VM keeps this much (or its whole cap when smaller). */
#define FLOOR_BYTES (1024 * 1024)
#define PAGE 4096u

struct tpd_budget {
    struct tpd_vms *vms;
    uint64_t bytes;
    struct tpd_ticker *ticker;
    struct timespec last; /* the last tick's start; the ticker's thread alone touches it */
};

/* One VM as one tick sees it. */
struct sample {
    struct tpd_vm *vm;
    uint64_t wanted, floor, allot, cap;
    double rate;
    int attached;
};

int tpd_vm_set_wanted_cap(struct tpd_vm *vm, uint64_t bytes, tierpage_error *err)
{
    pthread_mutex_lock(&vm->cap_lock);
    pthread_mutex_lock(&vm->lock);
    vm->wanted_cap = bytes;
    uint64_t cap = vm->allotment && vm->allotment < bytes ? vm->allotment : bytes;
    pthread_mutex_unlock(&vm->lock);
    int rc = tp_set_resident(vm->stack, cap, err); /* the caller holds the stack */
    pthread_mutex_unlock(&vm->cap_lock);
    return rc;
}

/* Hottest first; among equals, one with a client before one without. */
static int hotter_first(const void *a, const void *b)
{
    const struct sample *x = a, *y = b;
    if (x->rate != y->rate)
        return x->rate > y->rate ? -1 : 1;
    if (x->attached != y->attached)
        return y->attached - x->attached;
    return strcmp(x->vm->name, y->vm->name);
}

/* Share the budget: every VM its floor, then the hottest their whole caps,
 * the rest what is left. */
static void share(struct sample *s, size_t n, uint64_t budget)
{
    uint64_t wanted = 0, floors = 0;
    for (size_t i = 0; i < n; i++) {
        wanted += s[i].wanted;
        floors += s[i].floor;
    }
    if (wanted <= budget) {
        for (size_t i = 0; i < n; i++)
            s[i].allot = 0; /* no limit */
        return;
    }
    qsort(s, n, sizeof *s, hotter_first);
    uint64_t left = budget > floors ? budget - floors : 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t more = s[i].wanted - s[i].floor;
        if (more > left)
            more = left / PAGE * PAGE;
        s[i].allot = s[i].floor + more;
        left -= more;
    }
}

/* Apply one VM's allotment when it changes the cap in force. No lock
 * held; takes the VM's stack for reading. */
static void apply(struct tpd_budget *b, const struct sample *s)
{
    struct tpd_vm *vm = s->vm;
    tp_stack *stack = tpd_vm_stack_get(vm);
    pthread_mutex_lock(&vm->cap_lock);
    pthread_mutex_lock(&vm->lock);
    uint64_t wanted = vm->wanted_cap;
    vm->allotment = s->allot;
    vm->fault_rate = s->rate;
    pthread_mutex_unlock(&vm->lock);
    uint64_t cap = s->allot && s->allot < wanted ? s->allot : wanted;
    if (cap != s->cap) {
        tierpage_error err = {{0}, {0}};
        if (tp_set_resident(stack, cap, &err) < 0)
            tpd_log("error", "resident budget: VM %s: cannot set its cap to %llu bytes: %s", vm->name,
                    (unsigned long long)cap, err.message);
        else if (cap < s->cap)
            tpd_log("info", "resident budget: VM %s shrunk to %llu bytes (its cap is %llu): the VMs' caps pass "
                    "the budget of %llu bytes and it faults least (%.1f faults/s)", vm->name,
                    (unsigned long long)cap, (unsigned long long)wanted, (unsigned long long)b->bytes, s->rate);
        else
            tpd_log("info", "resident budget: VM %s given %llu bytes of its cap of %llu (%.1f faults/s)", vm->name,
                    (unsigned long long)cap, (unsigned long long)wanted, s->rate);
    }
    pthread_mutex_unlock(&vm->cap_lock);
    tpd_vm_stack_put(vm);
}

/* One VM (or forked child's entry) as this tick sees it. No lock held. */
static void take_sample(struct sample *s, struct tpd_vm *vm, double seconds)
{
    struct tp_stats st;
    tp_stack_stats(tpd_vm_stack_get(vm), &st);
    tpd_vm_stack_put(vm);
    pthread_mutex_lock(&vm->lock);
    double recent = (double)(st.faults - vm->budget_faults) / seconds;
    vm->budget_faults = st.faults;
    *s = (struct sample){.vm = vm, .wanted = vm->wanted_cap, .cap = st.resident_cap_bytes,
                         .rate = vm->fault_rate / 2 + recent / 2, .attached = vm->client != NULL};
    pthread_mutex_unlock(&vm->lock);
    s->floor = s->wanted < FLOOR_BYTES ? s->wanted : FLOOR_BYTES;
}

static void tick(struct tpd_budget *b, double seconds)
{
    pthread_mutex_lock(&b->vms->lock);
    size_t n = 0;
    for (struct tpd_vm *vm = b->vms->head; vm; vm = vm->next)
        n++;
    struct tpd_vm *head = b->vms->head;
    pthread_mutex_unlock(&b->vms->lock);
    /* A forked client's entry is one more VM here, pinned until the end
     * of the tick. */
    size_t forked;
    struct tpd_vm **children = tpd_vm_pin_children(b->vms, &forked);
    struct sample *s = calloc(n + forked ? n + forked : 1, sizeof *s);
    if (!s) {
        tpd_vm_unpin_children(b->vms, children, forked);
        return;
    }
    /* VMs are only ever appended, and freed at exit after this thread stops. */
    size_t i = 0;
    for (struct tpd_vm *vm = head; vm && i < n; vm = vm->next)
        take_sample(&s[i++], vm, seconds);
    for (size_t k = 0; k < forked; k++)
        take_sample(&s[i++], children[k], seconds);
    share(s, i, b->bytes);
    for (size_t k = 0; k < i; k++)
        apply(b, &s[k]);
    free(s);
    tpd_vm_unpin_children(b->vms, children, forked);
}

static void budget_tick(void *arg)
{
    struct tpd_budget *b = arg;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double seconds = (double)(now.tv_sec - b->last.tv_sec) + (double)(now.tv_nsec - b->last.tv_nsec) / 1e9;
    b->last = now;
    tick(b, seconds > 0.001 ? seconds : 0.001);
}

int tpd_budget_start(struct tpd_vms *vms, uint64_t bytes, struct tpd_budget **out, char *why, size_t why_len)
{
    struct tpd_budget *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(why, why_len, "resident budget: out of memory");
        return -1;
    }
    b->vms = vms;
    b->bytes = bytes;
    clock_gettime(CLOCK_MONOTONIC, &b->last);
    int error;
    b->ticker = tpd_ticker_start(TICK_MS, budget_tick, b, &error);
    if (!b->ticker) {
        snprintf(why, why_len, "resident budget: cannot start its thread: %s", strerror(error));
        free(b);
        return -1;
    }
    tpd_log("info", "resident budget: %llu bytes for every VM's resident set together", (unsigned long long)bytes);
    *out = b;
    return 0;
}

void tpd_budget_stop(struct tpd_budget *b)
{
    if (!b)
        return;
    tpd_ticker_stop(b->ticker);
    free(b);
}

/* One VM's (or forked child's entry's) part of `status`'s budget line. No
 * lock held. */
static void print_one(struct tpd_vm *vm, FILE *shrunk, uint64_t *resident)
{
    struct tp_stats st;
    tp_stack_stats(tpd_vm_stack_get(vm), &st);
    tpd_vm_stack_put(vm);
    *resident += st.resident_bytes;
    pthread_mutex_lock(&vm->lock);
    if (shrunk && vm->allotment && vm->allotment < vm->wanted_cap)
        fprintf(shrunk, "; %s shrunk to %llu of %llu (%.1f faults/s)", vm->name, (unsigned long long)vm->allotment,
                (unsigned long long)vm->wanted_cap, vm->fault_rate);
    pthread_mutex_unlock(&vm->lock);
}

void tpd_budget_print(struct tpd_budget *b, FILE *out)
{
    if (!b)
        return;
    uint64_t resident = 0;
    pthread_mutex_lock(&b->vms->lock);
    struct tpd_vm *head = b->vms->head;
    pthread_mutex_unlock(&b->vms->lock);
    char *shrunk = NULL;
    size_t len = 0;
    FILE *list = open_memstream(&shrunk, &len);
    for (struct tpd_vm *vm = head; vm; vm = vm->next)
        print_one(vm, list, &resident);
    size_t forked;
    struct tpd_vm **children = tpd_vm_pin_children(b->vms, &forked);
    for (size_t k = 0; k < forked; k++)
        print_one(children[k], list, &resident);
    tpd_vm_unpin_children(b->vms, children, forked);
    if (list)
        fclose(list);
    fprintf(out, "resident budget %llu bytes: %llu resident%s\n", (unsigned long long)b->bytes,
            (unsigned long long)resident, shrunk ? shrunk : "");
    free(shrunk);
}
