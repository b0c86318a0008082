/* tierpaged's own configuration file (-c DAEMON.yaml), read with libyaml
 * like stack files and reported the same way: FILE:LINE:COLUMN: key: what
 * was expected. */
#ifndef TIERPAGED_DAEMON_CONFIG_H
#define TIERPAGED_DAEMON_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tpd_config {
    char stacks[PATH_MAX];   /* `stacks:` the stacks directory; "" when absent */
    char socket[108];        /* `socket:` the control socket; "" when absent */
    char group[64];          /* `socket_group:`; "" when absent */
    mode_t mode;             /* `socket_mode:` */
    int mode_given;
    uint64_t resident_budget; /* `resident_budget:`; 0 (none) when absent */
    char metrics[64];        /* `metrics:` the metrics endpoint's address; "" (off) when absent */
    char state_dir[PATH_MAX - 128]; /* `state_dir:` what outlives the daemon; "": none kept */
    int state_dir_given;            /* state_dir: was in the file */
};

/* 0, or -1 with the message in `why`. */
int tpd_config_load(const char *path, struct tpd_config *out, char *why, size_t why_len);

#endif
