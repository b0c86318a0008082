#include "vm_recovery.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tierpage_private.h"
#include "vm_stack.h"

struct tpd_refused {
    char name[TPD_NAME_MAX];
    char why[512];
    struct tpd_refused *next;
};

/* VMs refused at load, until their state is removed and SIGHUP loads them. */
static struct tpd_refused *refused_vms;

void tpd_vm_refuse(struct tpd_vms *vms, const char *name, const char *why)
{
    struct tpd_refused *r = calloc(1, sizeof *r);
    if (!r)
        return;
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->why, sizeof r->why, "%s", why);
    pthread_mutex_lock(&vms->lock);
    r->next = refused_vms;
    refused_vms = r;
    pthread_mutex_unlock(&vms->lock);
}

void tpd_vm_unrefuse(struct tpd_vms *vms, const char *name)
{
    pthread_mutex_lock(&vms->lock);
    struct tpd_refused **p = &refused_vms;
    while (*p && strcmp((*p)->name, name) != 0)
        p = &(*p)->next;
    struct tpd_refused *gone = *p;
    if (gone)
        *p = gone->next;
    pthread_mutex_unlock(&vms->lock);
    free(gone);
}

int tpd_vm_refused(struct tpd_vms *vms, const char *name, char *why, size_t len)
{
    pthread_mutex_lock(&vms->lock);
    struct tpd_refused *r = refused_vms;
    while (r && strcmp(r->name, name) != 0)
        r = r->next;
    if (r)
        snprintf(why, len, "%s", r->why);
    pthread_mutex_unlock(&vms->lock);
    return r != NULL;
}

void tpd_vm_print_refused(struct tpd_vms *vms, FILE *out)
{
    pthread_mutex_lock(&vms->lock);
    for (struct tpd_refused *r = refused_vms; r; r = r->next)
        fprintf(out, "%-16s %8s  (refused: %s)\n", r->name, "-", r->why);
    pthread_mutex_unlock(&vms->lock);
}

/* The recorded regions' page ids may not overlap (a corrupt file). */
static int ids_overlap(const struct tpd_recorded_region *r, size_t n, uint32_t *end)
{
    *end = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t a = r[i].first_id, a_end = a + r[i].length / 4096;
        if (a_end > *end)
            *end = (uint32_t)a_end;
        for (size_t j = i + 1; j < n; j++) {
            uint64_t b = r[j].first_id, b_end = b + r[j].length / 4096;
            if (a < b_end && b < a_end)
                return 1;
        }
    }
    return 0;
}

int tpd_vm_recover(struct tpd_vm *vm, char *why, size_t len)
{
    struct tpd_client_record rec;
    struct tpd_recovery *r = calloc(1, sizeof *r);
    char *text = NULL, path[PATH_MAX], instance[17] = "", msg[512];
    struct tp_conf *conf = NULL, *stack_conf = NULL;
    tp_stack *stack = NULL;
    tierpage_error err = {{0}, {0}};
    if (!r) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    if (tpd_state_read_client(vm->name, &rec, why, len) < 0 ||
        tpd_state_read_regions(vm->name, &r->regions, &r->region_count, why, len) < 0 ||
        !(text = tpd_state_read_stack(vm->name, rec.generation, why, len)))
        goto fail;
    tpd_state_path(vm->name, "regions", path, sizeof path);
    if (ids_overlap(r->regions, r->region_count, &r->next_id)) {
        snprintf(why, len, "%s is corrupt: two regions share page ids", path);
        goto fail;
    }
    tpd_state_path(vm->name, rec.map, path, sizeof path);
    if (!(r->map = tp_recovered_map_read(path, instance, msg, sizeof msg))) {
        snprintf(why, len, "%s", msg);
        goto fail;
    }
    if (strcmp(instance, rec.instance) != 0) {
        char client[PATH_MAX];
        tpd_state_path(vm->name, "client", client, sizeof client);
        snprintf(why, len, "%s is the map of stack instance %s, but %s names instance %s", path, instance, client,
                 rec.instance);
        goto fail;
    }
    /* The stack as the dead daemon opened it: the text it recorded, its
     * dram pools where that generation's are, its stores not cleared. */
    char source[PATH_MAX];
    tpd_state_path(vm->name, "stack.", source, sizeof source);
    snprintf(source + strlen(source), sizeof source - strlen(source), "%u", rec.generation);
    if (tp_conf_load_string_named(text, strlen(text), source, vm->name, &conf, &err) < 0 ||
        tp_conf_load_string_named(text, strlen(text), source, vm->name, &stack_conf, &err) < 0 ||
        tpd_state_give_paths(stack_conf, vm->name, rec.generation, &err) < 0)
        goto fail_err;
    stack = tp_private_stack_open_conf(stack_conf, rec.instance, &err);
    stack_conf = NULL;
    if (!stack)
        goto fail_err;
    if (tp_recovered_map_page_size(r->map) != tp_page_size(stack)) {
        snprintf(why, len, "%s has pages of %" PRIu64 " bytes, the stack of %s %zu", path,
                 tp_recovered_map_page_size(r->map), source, tp_page_size(stack));
        goto fail;
    }
    /* Its own map in a new file: the dead daemon's stays whole until the
     * client's regions are back and recorded anew. */
    char map_name[64];
    snprintf(map_name, sizeof map_name, "map.%u.%ld", rec.generation, (long)getpid());
    if (strcmp(map_name, rec.map) == 0)
        snprintf(map_name, sizeof map_name, "map.%u.%ld.1", rec.generation, (long)getpid());
    if (tpd_state_stack_opened(vm->name, stack, text, rec.generation, map_name, &err) < 0)
        goto fail_err;
    tp_stack_set_failure_handler(stack, tpd_vm_failed, vm);
    vm->stack = stack;
    vm->conf = conf;
    vm->text = text;
    vm->state_generation = rec.generation;
    snprintf(vm->state_map, sizeof vm->state_map, "%s", map_name);
    r->state = TPD_RECOVERY_WAITING;
    r->pid = rec.pid;
    snprintf(r->old_map, sizeof r->old_map, "%s", rec.map);
    vm->recovery = r;
    return 0;

fail_err:
    snprintf(why, len, "%s", err.message);
fail:
    tp_stack_close(stack);
    tp_conf_free(stack_conf);
    tp_conf_free(conf);
    free(text);
    tp_recovered_map_free(r->map);
    free(r->regions);
    free(r);
    return -1;
}

void tpd_recovery_resuming(struct tpd_vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    vm->recovery->state = TPD_RECOVERY_RESUMING;
    struct tp_remote *client = vm->client;
    pthread_mutex_unlock(&vm->lock);
    /* Nothing moves until the new state is recorded: a daemon killed
     * meanwhile finds every page where the dead one's map says. */
    tp_remote_fork_freeze(client);
}

int tpd_recovery_region(struct tpd_vm *vm, tp_stack *stack, int memfd, uint64_t addr, uint64_t length,
                        uint64_t offset, tierpage_error *err)
{
    struct tpd_recovery *r = vm->recovery; /* this connection's while RESUMING */
    struct tpd_recorded_region *match = NULL;
    size_t page_size = tp_page_size(stack);
    for (size_t i = 0; i < r->region_count; i++) {
        struct tpd_recorded_region *rr = &r->regions[i];
        if (addr >= rr->addr + rr->length || rr->addr >= addr + length)
            continue;
        if (rr->addr != addr || rr->length != length || rr->offset != offset || rr->given) {
            char path[PATH_MAX];
            tpd_state_path(vm->name, "regions", path, sizeof path);
            return tierpage_error_set(err, -EINVAL, NULL,
                                      "the region at 0x%" PRIx64 " of %" PRIu64 " bytes (at %" PRIu64 " in its file) "
                                      "%s the region at 0x%" PRIx64 " of %" PRIu64 " bytes (at %" PRIu64 ") that %s "
                                      "records", addr, length, offset,
                                      rr->given ? "overlaps, given again," : "does not match", rr->addr, rr->length,
                                      rr->offset, path);
        }
        match = rr;
    }
    if (length % page_size || (uint64_t)r->next_id + length / page_size >= UINT32_MAX)
        return tierpage_error_set(err, -EINVAL, NULL, "a region of %" PRIu64 " bytes is not whole pages", length);
    uint32_t first = match ? match->first_id : r->next_id;
    pthread_mutex_lock(&vm->lock);
    struct tp_remote *client = vm->client;
    pthread_mutex_unlock(&vm->lock);
    int rc = tp_remote_resume_region(client, memfd, addr, length, offset, first, r->map, err);
    if (rc < 0)
        return rc;
    if (match)
        match->given = 1;
    else
        r->next_id += (uint32_t)(length / page_size);
    return 0;
}

/* The map is final (the client's regions are all given again, or it
 * went, and no page moves): the copies in the tiers that it does not name,
 * left by a kill in the middle of a move, are deleted, so that a tier of
 * fixed capacity gets its slots back (STATE.md, "Recovery"). Returns how
 * many; a failure is logged, and the VM is served all the same. */
static long sweep(struct tpd_vm *vm, tp_stack *stack)
{
    tierpage_error err = {{0}, {0}};
    long swept = tp_private_stack_sweep(stack, &err);
    if (swept < 0)
        tpd_log("warning", "VM %s: copies left by the daemon that died were not all freed: %s", vm->name,
                err.message);
    return swept < 0 ? 0 : swept;
}

/* The recorded regions the client did not give again: their pages go. */
static long forget_left(struct tpd_recovery *r, tp_stack *stack)
{
    long deleted = 0;
    for (size_t i = 0; i < r->region_count; i++)
        if (!r->regions[i].given)
            deleted += tp_recovered_map_forget(stack, r->map, r->regions[i].first_id,
                                               r->regions[i].length / tp_page_size(stack));
    return deleted;
}

static void free_recovered(struct tpd_recovery *r)
{
    tp_recovered_map_free(r->map);
    free(r->regions);
    r->map = NULL;
    r->regions = NULL;
    r->region_count = 0;
}

int tpd_recovery_done(struct tpd_vm *vm, tp_stack *stack, tierpage_error *err)
{
    struct tpd_recovery *r = vm->recovery;
    pthread_mutex_lock(&vm->lock);
    struct tp_remote *client = vm->client;
    pid_t pid = vm->client_pid;
    pthread_mutex_unlock(&vm->lock);
    int regions = 0;
    for (size_t i = 0; i < r->region_count; i++)
        regions += r->regions[i].given;
    /* The new state first (STATE.md): regions, then the record naming the
     * new map; only then does the dead daemon's map go. */
    if (tpd_state_regions_changed(vm->name, client, err) < 0 ||
        tpd_state_client_record(vm->name, pid, stack, vm->state_generation, vm->state_map, err) < 0)
        return -EIO;
    tpd_state_map_gone(vm->name, r->old_map);
    long forgotten = forget_left(r, stack);
    free_recovered(r);
    long swept = sweep(vm, stack);
    tp_remote_fork_thaw(client);
    pthread_mutex_lock(&vm->cap_lock);
    pthread_mutex_lock(&vm->lock);
    uint64_t cap = vm->allotment && vm->allotment < vm->wanted_cap ? vm->allotment : vm->wanted_cap;
    pthread_mutex_unlock(&vm->lock);
    tierpage_error cap_err = {{0}, {0}};
    if (tp_set_resident(stack, cap, &cap_err) < 0)
        tpd_log("error", "VM %s: resident %llu bytes: %s", vm->name, (unsigned long long)cap, cap_err.message);
    pthread_mutex_unlock(&vm->cap_lock);
    int rc = tp_remote_start(client, err);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&vm->lock);
    r->state = TPD_RECOVERY_RESUMED;
    pthread_mutex_unlock(&vm->lock);
    struct tp_stats st;
    tp_stack_stats(stack, &st);
    uint64_t stored = 0;
    for (size_t t = 0; t < st.tier_count; t++)
        stored += st.tiers[t].pages;
    tpd_log("info", "VM %s: pid %ld resumed: %d regions served again (%llu pages resident, %llu in tiers), %ld "
            "pages of regions it no longer has deleted, %ld copies no page names freed; serving its faults",
            vm->name, (long)pid, regions, (unsigned long long)(st.resident_bytes / tp_page_size(stack)),
            (unsigned long long)stored, forgotten, swept);
    return regions;
}

void tpd_recovery_free(struct tpd_recovery *r)
{
    free_recovered(r);
    free(r);
}

void tpd_recovery_drop(struct tpd_vm *vm, tp_stack *stack)
{
    pthread_mutex_lock(&vm->lock);
    struct tpd_recovery *r = vm->recovery;
    vm->recovery = NULL;
    pthread_mutex_unlock(&vm->lock);
    if (!r)
        return;
    if (r->map) {
        long forgotten = forget_left(r, stack);
        tpd_state_map_gone(vm->name, r->old_map);
        long swept = sweep(vm, stack);
        tpd_log("info", "VM %s: the state of pid %ld, which a daemon that died served, is dropped (%ld pages "
                "deleted from the tiers, %ld copies no page names freed)", vm->name, (long)r->pid, forgotten, swept);
    }
    free_recovered(r);
    free(r);
}
