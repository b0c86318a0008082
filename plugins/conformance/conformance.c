/* The conformance kit behind `tierpage plugin-test`. See conformance.h.
 *
 * This file is the command line; the checks are in conformance_checks.c,
 * their common parts in conformance_kit.c.
 *
 * Accepted behaviour where the ABI leaves room:
 *   - delete of a key the store does not hold: -ENOENT, or 0 from a store
 *     that cannot tell (the line says which);
 *   - an overwrite while the store is full: 0, or -ENOSPC as long as the old
 *     page is still there afterwards;
 *   - a store with no get_batch/put_batch: the batch checks are skipped;
 *     with no del_batch, the batch delete check.
 */
#include "conformance.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conformance_kit.h"
#include "loader.h"
#include "option_value.h"
#include "units.h"
#include "instance_id.h"

#define KIT_DEFAULT_CAPACITY (16ull << 20)
#define KIT_DEFAULT_PAGE_SIZE 4096u

/* ------------------------------------------------------------------- CLI */

static void usage_text(FILE *out)
{
    fputs("usage: tierpage plugin-test PLUGIN [--option KEY=VALUE ...] [--namespace NS]\n"
          "                            [--page-size N] [--help]\n"
          "\n"
          "Runs the conformance checks against a page-store plugin and prints one line\n"
          "per check. PLUGIN is a name (dram) or a path to a shared object.\n"
          "\n"
          "  --option KEY=VALUE  an option for the store, as a tier of a stack file would\n"
          "                      give it; capacity=SIZE sets the tier's capacity\n"
          "                      (default 16MiB, 0 for none)\n"
          "  --namespace NS      namespace to open the store with\n"
          "                      (default tierpage-conformance)\n"
          "  --page-size N       page size in bytes (default 4096)\n"
          "  --help              show this text\n"
          "\n"
          "Exit status: 0 when every check passed, 1 when one failed, 2 on a usage error.\n",
          out);
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "tierpage plugin-test: ");
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    usage_text(stderr);
    return 2;
}

int tp_cmd_plugin_test(int argc, char **argv)
{
    const char *plugin_arg = NULL, *namespace_name = NULL;
    uint64_t capacity = KIT_DEFAULT_CAPACITY, page_size = KIT_DEFAULT_PAGE_SIZE;
    tierpage_store_option options[KIT_MAX_OPTIONS];
    size_t option_count = 0;
    int exit_code = 1;

    /* A usage error sets these and jumps to `bad_usage`. */
    const char *bad_fmt = NULL, *bad_arg = NULL;

    for (int i = 1; i < argc; i++) {
        const char *value;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage_text(stdout);
            exit_code = 0;
            goto free_options;
        } else if (tp_option_value(argc, argv, &i, "--option", &value)) {
            const char *eq = value ? strchr(value, '=') : NULL;
            if (!eq || eq == value) {
                bad_fmt = "--option takes KEY=VALUE, got '%s'", bad_arg = value ? value : "";
                goto bad_usage;
            }
            if ((size_t)(eq - value) == strlen("capacity") && strncmp(value, "capacity", 8) == 0) {
                if (tp_parse_size(eq + 1, &capacity)) {
                    bad_fmt = "capacity: expected a size such as 16MiB, got '%s'", bad_arg = eq + 1;
                    goto bad_usage;
                }
                continue;
            }
            if (option_count == KIT_MAX_OPTIONS) {
                bad_fmt = "too many --option arguments (at most %s)", bad_arg = "64";
                goto bad_usage;
            }
            /* The key is the text before '='; the value stays in argv. */
            char *key = strndup(value, (size_t)(eq - value));
            if (!key) {
                fprintf(stderr, "tierpage plugin-test: out of memory\n");
                goto free_options;
            }
            options[option_count++] = (tierpage_store_option){ key, eq + 1 };
        } else if (tp_option_value(argc, argv, &i, "--namespace", &value)) {
            if (!value) {
                bad_fmt = "%s needs a value", bad_arg = "--namespace";
                goto bad_usage;
            }
            namespace_name = value;
        } else if (tp_option_value(argc, argv, &i, "--page-size", &value)) {
            if (!value || tp_parse_size(value, &page_size) || page_size == 0 || page_size > (1u << 30)) {
                bad_fmt = "--page-size: expected a size between 1 and 1GiB, got '%s'", bad_arg = value ? value : "";
                goto bad_usage;
            }
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            bad_fmt = "unknown argument '%s'", bad_arg = argv[i];
            goto bad_usage;
        } else if (plugin_arg) {
            bad_fmt = "only one plugin at a time; '%s' is one too many", bad_arg = argv[i];
            goto bad_usage;
        } else {
            plugin_arg = argv[i];
        }
    }
    if (!plugin_arg) {
        bad_fmt = "%s", bad_arg = "no plugin given";
        goto bad_usage;
    }

    struct tp_plugin plugin;
    tierpage_error err = { { 0 }, { 0 } };
    if (tp_plugin_load(plugin_arg, &plugin, &err) != 0) {
        printf("%-6s%s: %s\n", "FAIL", "load", err.message);
        printf("%s: 0 passed, 1 failed\n", plugin_arg);
        goto free_options;
    }

    /* One namespace for every run, so a persistent store's file can be
     * tested again; keys differ from run to run instead. */
    if (!namespace_name)
        namespace_name = "tierpage-conformance";

    char instance[TP_INSTANCE_ID_LEN + 1];
    tp_instance_id(instance, sizeof instance);
    struct kit kit = {
        .ops = plugin.ops,
        .params = { .namespace_name = namespace_name, .page_size = (size_t)page_size, .capacity = capacity,
                    .options = options, .option_count = option_count, .instance = instance,
                    .host = tp_plugin_host(&plugin, plugin.ops->name) },
        .page_size = (size_t)page_size,
        /* Keys of one run differ from another's, should a store keep any. */
        .key_base = ((uint64_t)getpid() << 40) ^ ((uint64_t)time(NULL) << 20),
    };
    pthread_mutex_init(&kit.serial, NULL);

    printf("plugin %s (%s, ABI %u%s%s) from %s\n", plugin.ops->name,
           plugin.ops->description ? plugin.ops->description : "no description", (unsigned)plugin.ops->abi_version,
           plugin.ops->flags & TIERPAGE_STORE_PERSISTENT ? ", persistent" : "",
           plugin.ops->flags & TIERPAGE_STORE_SERIAL ? ", serial" : "", plugin.path);

    int rc = kit_open(&kit, &kit.params, &kit.store, &err);
    if (rc) {
        kit.store = NULL;
        kit_fail(&kit, "open", "%s", kit_why(rc, &err));
    } else {
        char capacity_text[32];
        tp_format_size(capacity, capacity_text, sizeof capacity_text);
        kit_pass(&kit, "open", "namespace '%s', page size %" PRIu64 ", capacity %s", namespace_name, page_size,
             capacity ? capacity_text : "none");
        size_t done = 0;
        while (done < kit_check_count && kit.store)
            kit_checks[done++](&kit);
        if (done < kit_check_count)
            kit_fail(&kit, "remaining checks", "not run: the store could not be reopened");
        if (kit.store)
            kit.ops->close(kit.store);
    }

    if (kit.skipped)
        printf("%s: %d passed, %d failed (%d skipped)\n", plugin.ops->name, kit.passed, kit.failed, kit.skipped);
    else
        printf("%s: %d passed, %d failed\n", plugin.ops->name, kit.passed, kit.failed);
    fflush(stdout);
    exit_code = kit.failed ? 1 : 0;
    pthread_mutex_destroy(&kit.serial);
    tp_plugin_unload(&plugin);

    goto free_options;
bad_usage:
    exit_code = usage_error(bad_fmt, bad_arg);
free_options:
    for (size_t i = 0; i < option_count; i++)
        free((char *)options[i].key);
    return exit_code;
}
