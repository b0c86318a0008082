/* What a VM needs to be served again by a tierpaged started after this one
 * died (issue 13), kept in <state_dir>/<vm>/ on tmpfs: the text its stack
 * was opened from (each dram tier's pool in a file there), the stack's page
 * map file, and while a client is attached its record (pid, instance id)
 * and its regions. Each file is replaced whole (written beside, then
 * renamed), in the order daemon/STATE.md gives, so that a daemon killed at
 * any instruction leaves files that are each whole. A forked child's entry
 * keeps nothing here. */
#ifndef TIERPAGED_VM_STATE_H
#define TIERPAGED_VM_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "stack_config.h"
#include "tierpage.h"
#include "tierpage_daemon.h"

#define TPD_DEFAULT_STATE_DIR "/run/tierpage"

/* The state directory of every VM: made (0700) when missing, checked to be
 * a directory this process may write. 0, or -1 with `why` naming it. Before
 * any VM is loaded. "" keeps no state: every tpd_state_ call below does
 * nothing (dram pools in private memory, page maps in memory), and a
 * daemon started after this one dies finds no VM to serve again. */
int tpd_state_init(const char *dir, char *why, size_t why_len);
/* The state directory in force ("" before tpd_state_init, or none kept). */
const char *tpd_state_dir(void);
/* Whether state is kept: a restart (SIGUSR2, RESTART) is refused without. */
int tpd_state_kept(void);

/* The path of `file` in the VM's state directory, into out. */
void tpd_state_path(const char *vm, const char *file, char *out, size_t len);

/* Gives each dram tier of `conf` (a VM's stack file, parsed) that has no
 * `path:` one in the VM's state directory, named for `generation` (a stack
 * opened again on SIGHUP gets the next: the old one still holds its
 * files): tierI.G.dram. The VM's directory is made. 0, or -1 with err. */
int tpd_state_give_paths(struct tp_conf *conf, const char *vm, unsigned generation, tierpage_error *err);
/* The stack of that generation, just opened from `text` (the VM's file as
 * it was read): its page map kept in `map_name` in the VM's directory, its
 * text recorded as stack.G. 0, or -1 with err. */
int tpd_state_stack_opened(const char *vm, tp_stack *stack, const char *text, unsigned generation,
                           const char *map_name, tierpage_error *err);
/* The files of `generation`, whose stack is closed, are removed. */
void tpd_state_stack_closed(const char *vm, unsigned generation);
/* A map file no stack uses any more is removed. */
void tpd_state_map_gone(const char *vm, const char *map_name);

/* A client attached to the VM's stack of `generation`, whose map is in
 * `map_name`: its (empty) regions, then its record. 0, or -1 with err. */
int tpd_state_client_attached(const char *vm, pid_t pid, tp_stack *stack, unsigned generation, const char *map_name,
                              tierpage_error *err);
/* The client's record alone, written again (a resumed client: its new map). */
int tpd_state_client_record(const char *vm, pid_t pid, tp_stack *stack, unsigned generation, const char *map_name,
                            tierpage_error *err);
/* The client's regions changed: record them all again. 0, or -1 with err. */
int tpd_state_regions_changed(const char *vm, struct tp_remote *client, tierpage_error *err);
/* The client detached (or is about to, its pages released next): its
 * record goes first, then its regions. */
void tpd_state_client_gone(const char *vm);

/* What a daemon that died left of a VM it served (recovery, vm_recovery.h). */
struct tpd_client_record {
    pid_t pid;
    char instance[17];
    unsigned generation;
    char map[64];
};
struct tpd_recorded_region {
    uint64_t addr, length;
    uint64_t offset; /* of addr in the client's memfd (0 in a version 1 file) */
    uint32_t first_id;
    int given;  /* given again by the resuming client */
};
/* Each 0, or -1 with `why` naming the file and what is wrong with it. */
int tpd_state_read_client(const char *vm, struct tpd_client_record *out, char *why, size_t len);
int tpd_state_read_regions(const char *vm, struct tpd_recorded_region **out, size_t *count, char *why, size_t len);
/* The text of stack.G, a new string; NULL with `why`. */
char *tpd_state_read_stack(const char *vm, unsigned generation, char *why, size_t len);

/* Whether the VM's directory holds a client's record: a daemon died
 * while serving it. */
int tpd_state_vm_left(const char *vm);
/* The daemon stops cleanly: the VM's directory goes, with every file. */
void tpd_state_vm_removed(const char *vm);

#endif
