/* The conformance kit: proves a page-store plugin keeps the ABI's promises.
 *
 *   tierpage plugin-test PLUGIN [--option key=value ...] [--namespace NS]
 *                               [--page-size N] [--help]
 *
 * PLUGIN is a name ("dram") or a path to a shared object. --option capacity=
 * takes a size ("16MiB") and becomes params.capacity (16MiB when not given;
 * capacity=0 means none); every other --option is passed to the store as
 * given. The namespace defaults to "tierpage-conformance"; the keys a run
 * uses differ from any earlier run's.
 *
 * Prints one line per check and a summary line "NAME: N passed, N failed".
 * Returns 0 when every check passed, 1 when one failed or the plugin could
 * not be loaded, 2 on a usage error.
 */
#ifndef TIERPAGE_CONFORMANCE_H
#define TIERPAGE_CONFORMANCE_H

/* argv[0] is the command name ("plugin-test"); output goes to stdout,
 * usage errors to stderr. */
int tp_cmd_plugin_test(int argc, char **argv);

#endif
