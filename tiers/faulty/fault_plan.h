/* What the faulty store does to each call: the shares of gets, puts and
 * deletes that fail, are refused as full, or stall, and an outage window.
 * Pure: the options are parsed here and each decision is a function of the
 * seed, the kind of call and its sequence number, so a run is reproducible
 * (with one thread calling; with several, the order of their calls decides
 * which one gets the n-th number). */
#ifndef TIERPAGE_FAULT_PLAN_H
#define TIERPAGE_FAULT_PLAN_H

#include <stdint.h>

#include "tierpage_store.h"

enum fault_call { FAULT_GET = 0, FAULT_PUT, FAULT_DEL, FAULT_CALLS };

enum fault_kind {
    FAULT_NONE = 0,
    FAULT_EIO,   /* the call fails with -EIO without reaching the inner store */
    FAULT_FULL,  /* a put is refused with -ENOSPC */
    FAULT_STALL, /* the call waits stall_ns, then goes through */
};

/* Shares are in parts per million of the calls of each kind. */
struct fault_plan {
    uint32_t eio[FAULT_CALLS];
    uint32_t stall[FAULT_CALLS];
    uint32_t put_full;
    uint64_t stall_ns;
    uint64_t seed;
    uint64_t outage_after; /* calls (of any kind) before the outage; 0: none */
    uint64_t outage_ns;    /* while it lasts, every call fails with -EIO */
};

/* Defaults: no faults, a stall of 100 ms, seed 1. */
void fault_plan_init(struct fault_plan *plan);

/* Takes one option of the plan (get_eio, put_eio, del_eio, put_full,
 * get_stall, put_stall, del_stall, stall_time, seed, outage_after,
 * outage_time). Returns 1 when it took the key, 0 when the key is not the
 * plan's, or a negative errno with err naming the key. */
int fault_plan_option(struct fault_plan *plan, const char *key, const char *value, tierpage_error *err);

/* The fate of call number n (counting from 0) of the given kind. */
enum fault_kind fault_plan_decide(const struct fault_plan *plan, enum fault_call call, uint64_t n);

/* "0.001", "1/1000", "0.1%" -> parts per million. 0 or -EINVAL. */
int fault_parse_share(const char *text, uint32_t *ppm);
/* A duration as every stack key and store option reads it (util/units.h:
 * "250ms", "2s", "500us", a bare number of milliseconds) -> nanoseconds.
 * 0 or -EINVAL. */
int fault_parse_duration(const char *text, uint64_t *ns);

#endif
