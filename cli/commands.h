/* The subcommands of `tierpage`. Each returns the process exit status. */
#ifndef TIERPAGE_COMMANDS_H
#define TIERPAGE_COMMANDS_H

int tp_cmd_run(int argc, char **argv);
int tp_cmd_check(int argc, char **argv);
int tp_cmd_plugin_test(int argc, char **argv);

/* The stack compiled in from conf/examples/local.yaml. */
extern const char tp_default_stack_yaml[];

/* Exit statuses of tierpage itself (a program's own status passes through). */
#define TP_EXIT_USAGE 2
#define TP_EXIT_CONFIG 2
#define TP_EXIT_INTERNAL 125
#define TP_EXIT_CANNOT_EXEC 127

#endif
