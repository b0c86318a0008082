/* The subcommands of `tierpage`. Each returns the process exit status. */
#ifndef TIERPAGE_COMMANDS_H
#define TIERPAGE_COMMANDS_H

#include "tierpage.h"

int tp_cmd_run(int argc, char **argv);
int tp_cmd_check(int argc, char **argv);
int tp_cmd_plugin_test(int argc, char **argv);
/* status, stats, resize, demote, promote, flush: argv[0] is the command. */
int tp_cmd_operator(int argc, char **argv);
/* daemon restart|info: argv[0] is "daemon". */
int tp_cmd_daemon(int argc, char **argv);

/* The stack compiled in from conf/examples/local.yaml. */
extern const char tp_default_stack_yaml[];

/* Exit statuses of tierpage itself (a program's own status passes through). */
#define TP_EXIT_USAGE 2
#define TP_EXIT_CONFIG 2
#define TP_EXIT_INTERNAL TP_EXIT_PAGER_FAILURE /* the same status the pager stops a program with */
#define TP_EXIT_CANNOT_EXEC 127

#endif
