#include <stdio.h>
#include <string.h>

#include "commands.h"

static const char usage[] =
    "usage: tierpage COMMAND [ARGS...]\n"
    "\n"
    "Serve a program's memory from a stack of page stores (tiers): only a capped\n"
    "set of its pages stays in local memory, the rest moves down the chain.\n"
    "\n"
    "commands:\n"
    "  run [-c FILE] [--stats FILE.json] [--quiet] -- CMD [ARGS...]\n"
    "        run an unmodified program with its large allocations served by the\n"
    "        stack in FILE (default: the built-in local stack); prints a per-tier\n"
    "        summary when it exits and passes its exit status through\n"
    "  run --daemon SOCKET --vm NAME -- CMD [ARGS...]\n"
    "        the same, served by the tierpaged at SOCKET with VM NAME's stack\n"
    "  check FILE|DIR\n"
    "        validate a stack file (or each of a tierpaged stacks directory),\n"
    "        load its plugins and open its stores\n"
    "  status | stats VM [--json] | resize VM SIZE | demote VM --to TIER |\n"
    "  promote VM | flush VM      [--socket PATH] [--timeout SECONDS]\n"
    "        watch and act on the VMs a running tierpaged serves (a daemon that\n"
    "        does not answer within --timeout, 10 s by default, is an error)\n"
    "  daemon restart [--timeout SECONDS] | daemon info   [--socket PATH]\n"
    "        restart the running tierpaged for an upgrade (its programs wait and\n"
    "        carry on); what it runs\n"
    "  plugin-test PLUGIN [--option KEY=VALUE ...]\n"
    "        the conformance kit for page-store plugins\n"
    "  help, --help    this text;  version, --version\n"
    "\n"
    "Each command takes --help.\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return TP_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0)
        return tp_cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "check") == 0)
        return tp_cmd_check(argc - 1, argv + 1);
    static const char *const operator_commands[] = {"status", "stats", "resize", "demote", "promote", "flush"};
    for (size_t i = 0; i < sizeof operator_commands / sizeof operator_commands[0]; i++)
        if (strcmp(cmd, operator_commands[i]) == 0)
            return tp_cmd_operator(argc - 1, argv + 1);
    if (strcmp(cmd, "daemon") == 0)
        return tp_cmd_daemon(argc - 1, argv + 1);
    if (strcmp(cmd, "plugin-test") == 0)
        return tp_cmd_plugin_test(argc - 1, argv + 1);
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("tierpage %s\n", TIERPAGE_VERSION);
        return 0;
    }
    fprintf(stderr, "tierpage: unknown command '%s'\n\n%s", cmd, usage);
    return TP_EXIT_USAGE;
}
