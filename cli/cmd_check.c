/* tierpage check: validate a stack file and everything it names. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "loader.h"
#include "stack_config.h"
#include "tierpage.h"
#include "units.h"

static const char check_usage[] =
    "usage: tierpage check FILE\n"
    "\n"
    "Parses the stack file, loads each tier's plugin and opens its store with\n"
    "the file's options, then prints a summary. Exit status 0 when the stack\n"
    "can run, 2 (with FILE:LINE:COLUMN and the reason) when it cannot.\n";

static const char *policy_name(enum tp_eviction_policy p)
{
    return p == TP_POLICY_FIFO ? "fifo" : "clock";
}

int tp_cmd_check(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(check_usage, stdout);
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-') {
        fputs(check_usage, stderr);
        return TP_EXIT_USAGE;
    }
    const char *path = argv[1];
    struct tp_conf *conf;
    tierpage_error err = {{0}, {0}};
    if (tp_conf_load_file(path, &conf, &err) < 0) {
        fprintf(stderr, "tierpage check: %s\n", err.message);
        return TP_EXIT_CONFIG;
    }
    tp_stack *stack = tp_stack_open_file(path, &err);
    if (!stack) {
        fprintf(stderr, "tierpage check: %s\n", err.message);
        tp_conf_free(conf);
        return TP_EXIT_CONFIG;
    }
    char resident[32], threshold[32], cap[32];
    tp_format_size(conf->resident, resident, sizeof resident);
    tp_format_size(conf->malloc_threshold, threshold, sizeof threshold);
    printf("%s: ok\n", path);
    printf("  name              %s\n", conf->name);
    printf("  namespace         %s\n", conf->exclusive_namespace ? "exclusive" : "per-instance");
    printf("  resident          %s\n", resident);
    printf("  malloc_threshold  %s\n", threshold);
    printf("  policy            %s\n", policy_name(conf->policy));
    printf("  handler_threads   %u\n", conf->handler_threads);
    if (conf->store_timeout_ms % 1000 == 0)
        printf("  store_timeout     %llus\n", (unsigned long long)(conf->store_timeout_ms / 1000));
    else
        printf("  store_timeout     %llums\n", (unsigned long long)conf->store_timeout_ms);
    printf("  tiers:\n");
    for (size_t i = 0; i < conf->tier_count; i++) {
        const struct tp_conf_tier *t = &conf->tiers[i];
        struct tp_plugin plugin;
        tierpage_error perr = {{0}, {0}};
        const char *desc = "", *file = t->plugin;
        if (tp_plugin_load(t->plugin, &plugin, &perr) == 0) {
            desc = plugin.ops->description ? plugin.ops->description : "";
            file = plugin.path;
        }
        if (t->capacity)
            tp_format_size(t->capacity, cap, sizeof cap);
        else
            snprintf(cap, sizeof cap, "%s", "unbounded");
        printf("    %zu. %-10s plugin %-10s capacity %-10s %s\n", i, t->name, t->plugin, cap, desc);
        printf("       %s\n", file);
        for (size_t k = 0; k < t->option_count; k++)
            printf("       %s: %s\n", t->options[k].key, t->options[k].value);
        if (file != t->plugin)
            tp_plugin_unload(&plugin);
    }
    tp_stack_close(stack);
    tp_conf_free(conf);
    return 0;
}
