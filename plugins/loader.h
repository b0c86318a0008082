/* Finds, dlopens and checks page-store plugins. */
#ifndef TIERPAGE_LOADER_H
#define TIERPAGE_LOADER_H

#include <stddef.h>

#include "store_host.h"
#include "tierpage_store.h"

struct tp_plugin {
    void *handle;
    const tierpage_store_ops *ops;
    char path[4096];
    struct tp_store_host host; /* the services handed to the store opened from it */
};

/* `name_or_path` is a plugin name ("dram" -> tierpage-dram.so in the plugin
 * directories) or, when it contains '/', a path to a shared object.
 * Directories searched, in order: each entry of $TIERPAGE_PLUGIN_PATH
 * (colon separated), then the "tierpage" directory beside libtierpage.so.
 * Refuses a missing file, a missing entry symbol, an ABI version outside
 * TIERPAGE_STORE_ABI_OLDEST..TIERPAGE_STORE_ABI_VERSION or a missing
 * mandatory operation, with a message naming the file and why. */
int tp_plugin_load(const char *name_or_path, struct tp_plugin *out, tierpage_error *err);
void tp_plugin_unload(struct tp_plugin *plugin);

/* The host services for the store of tier `tier_name` opened from
 * `plugin`, for its params.host; valid while the plugin stays loaded. */
const tierpage_host *tp_plugin_host(struct tp_plugin *plugin, const char *tier_name);

/* The directory built-in plugins are installed in: tierpage/ beside
 * libtierpage.so or the preload shim, whichever the loader is linked into;
 * for a plugin that loads another, the directory it was loaded from; for a
 * program that links the loader in, ../lib/tierpage from its executable. */
int tp_plugin_default_dir(char *buf, size_t len);

#endif
