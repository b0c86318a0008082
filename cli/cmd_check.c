/* tierpage check: validate a stack file and everything it names. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "loader.h"
#include "stack_config.h"
#include "tierpage.h"
#include "tierpage_private.h"
#include "units.h"
#include "wire.h"

static const char check_usage[] =
    "usage: tierpage check FILE|DIR\n"
    "\n"
    "Parses the stack file, loads each tier's plugin and opens its store with\n"
    "the file's options, then prints a summary. Exit status 0 when the stack\n"
    "can run, 2 (with FILE:LINE:COLUMN and the reason) when it cannot.\n"
    "A directory is checked as tierpaged's stacks directory: each NAME.yaml\n"
    "(or .yml) in it is the stack of VM NAME; 2 when any fails.\n";

static const char *policy_name(enum tp_eviction_policy p)
{
    return p == TP_POLICY_FIFO ? "fifo" : "clock";
}

static int check_file(const char *path, const char *vm);

/* Each stack file of a tierpaged stacks directory, in name order. */
static int check_directory(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "tierpage check: %s: %s\n", dir, strerror(errno));
        return TP_EXIT_CONFIG;
    }
    int status = 0, stacks = 0;
    for (int i = 0; i < n; i++) {
        const char *file = names[i]->d_name, *dot = strrchr(file, '.');
        char vm[TPD_NAME_MAX] = {0}, path[PATH_MAX];
        if (file[0] != '.' && dot && (strcmp(dot, ".yaml") == 0 || strcmp(dot, ".yml") == 0)) {
            stacks++;
            size_t len = (size_t)(dot - file);
            memcpy(vm, file, len < TPD_NAME_MAX ? len : TPD_NAME_MAX - 1);
            snprintf(path, sizeof path, "%s/%s", dir, file);
            if (len >= TPD_NAME_MAX || !tpd_name_ok(vm)) {
                fprintf(stderr, "tierpage check: %s: the file name is not a VM name (1 to 63 of "
                                "A-Z a-z 0-9 _ . - before .yaml)\n", path);
                status = TP_EXIT_CONFIG;
            } else if (check_file(path, vm) != 0) {
                status = TP_EXIT_CONFIG;
            }
        }
        free(names[i]);
    }
    free(names);
    if (stacks == 0) {
        fprintf(stderr, "tierpage check: %s holds no stack file (NAME.yaml)\n", dir);
        return TP_EXIT_CONFIG;
    }
    return status;
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
    struct stat st;
    if (stat(argv[1], &st) == 0 && S_ISDIR(st.st_mode))
        return check_directory(argv[1]);
    return check_file(argv[1], NULL);
}

/* `vm`: the file is VM vm's stack in a stacks directory, whose name it
 * is when the file gives none (as tierpaged reads it). */
static int check_file(const char *path, const char *vm)
{
    struct tp_conf *conf, *stack_conf;
    tierpage_error err = {{0}, {0}};
    if (tp_conf_load_file_named(path, vm, &conf, &err) < 0) {
        fprintf(stderr, "tierpage check: %s\n", err.message);
        return TP_EXIT_CONFIG;
    }
    tp_stack *stack = NULL;
    if (tp_conf_load_file_named(path, vm, &stack_conf, &err) == 0)
        stack = tp_private_stack_open_conf(stack_conf, NULL, &err); /* takes stack_conf */
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
    printf("  evictor_priority  %s\n", conf->evictor_priority == TP_EVICTOR_BACKGROUND ? "background" : "normal");
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
