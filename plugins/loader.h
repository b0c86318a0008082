/* Finds, dlopens and checks page-store plugins. */
#ifndef TIERPAGE_LOADER_H
#define TIERPAGE_LOADER_H

#include <stddef.h>

#include "tierpage_store.h"

struct tp_plugin {
    void *handle;
    const tierpage_store_ops *ops;
    char path[4096];
};

/* `name_or_path` is a plugin name ("dram" -> tierpage-dram.so in the plugin
 * directories) or, when it contains '/', a path to a shared object.
 * Directories searched, in order: each entry of $TIERPAGE_PLUGIN_PATH
 * (colon separated), then the "tierpage" directory beside libtierpage.so.
 * Refuses a missing file, a missing entry symbol, another ABI version or a
 * missing mandatory operation, with a message naming the file and why. */
int tp_plugin_load(const char *name_or_path, struct tp_plugin *out, tierpage_error *err);
void tp_plugin_unload(struct tp_plugin *plugin);

/* The directory built-in plugins are installed in, beside libtierpage.so. */
int tp_plugin_default_dir(char *buf, size_t len);

#endif
