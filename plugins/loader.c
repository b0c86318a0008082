/* Finds page-store plugins, dlopens them and checks their operations table
 * before the core may call into them. */
#include "loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bytes of the table a plugin must provide: everything up to the end of the
 * last mandatory operation. */
#define TP_OPS_MANDATORY_SIZE (offsetof(tierpage_store_ops, usage) + sizeof(((tierpage_store_ops *)0)->usage))

static int is_regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Where a program that links the loader in (the tierpage command, tests)
 * finds the plugins: from the directory of its executable, the installed
 * layout's path (bin/ to LIBDIR/tierpage, set by CMake), then the build
 * tree's (bin/ or tests/ to lib/tierpage). */
#ifndef TIERPAGE_PLUGIN_DIR_FROM_BIN
#define TIERPAGE_PLUGIN_DIR_FROM_BIN "../lib/tierpage"
#endif

static int is_directory(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int executable_plugin_dir(char *buf, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -ENOENT;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -ENOENT;
    *slash = '\0';
    static const char *const from_bin[] = {TIERPAGE_PLUGIN_DIR_FROM_BIN, "../lib/tierpage"};
    for (size_t i = 0; i < sizeof from_bin / sizeof from_bin[0]; i++) {
        char dir[PATH_MAX];
        if ((size_t)snprintf(dir, sizeof dir, "%s/%s", exe, from_bin[i]) >= sizeof dir)
            return -ENAMETOOLONG;
        if (!is_directory(dir) && i + 1 < sizeof from_bin / sizeof from_bin[0])
            continue;
        char resolved[PATH_MAX];
        const char *d = realpath(dir, resolved) ? resolved : dir;
        if ((size_t)snprintf(buf, len, "%s", d) >= len)
            return -ENAMETOOLONG;
        return 0;
    }
    return -ENOENT;
}

int tp_plugin_default_dir(char *buf, size_t len)
{
    Dl_info info, program;
    /* The address of one of our own functions names the object we were
     * linked into: libtierpage.so, the preload shim, a plugin that loads
     * another, or a program (its program headers lie in it). */
    if (!dladdr((void *)tp_plugin_default_dir, &info) || !info.dli_fname || !info.dli_fname[0])
        return -ENOENT;
    if (dladdr((void *)getauxval(AT_PHDR), &program) && program.dli_fbase == info.dli_fbase)
        return executable_plugin_dir(buf, len);

    char resolved[PATH_MAX];
    const char *lib = realpath(info.dli_fname, resolved) ? resolved : info.dli_fname;
    const char *slash = strrchr(lib, '/');
    int n;
    /* A plugin that wraps another (faulty) has the loader compiled in and
     * sits in the plugin directory itself. */
    if (slash && strncmp(slash + 1, "tierpage-", 9) == 0 && slash - lib >= 9 &&
        strncmp(slash - 9, "/tierpage", 9) == 0)
        n = snprintf(buf, len, "%.*s", (int)(slash - lib), lib);
    else if (!slash)
        n = snprintf(buf, len, "tierpage");
    else
        n = snprintf(buf, len, "%.*s/tierpage", (int)(slash - lib), lib);
    if (n < 0 || (size_t)n >= len)
        return -ENAMETOOLONG;
    return 0;
}

/* Looks for tierpage-NAME.so in $TIERPAGE_PLUGIN_PATH, then in the default
 * directory. On failure the message lists every directory tried. */
static int find_plugin(const char *name, char *path, size_t path_len, tierpage_error *err)
{
    char file[256];
    if (snprintf(file, sizeof file, "tierpage-%s.so", name) >= (int)sizeof file)
        return tierpage_error_set(err, -ENAMETOOLONG, NULL, "plugin name '%s' is too long", name);

    char looked[1024] = "";
    size_t looked_len = 0;
    const char *env = getenv("TIERPAGE_PLUGIN_PATH");
    char default_dir[PATH_MAX];
    int have_default = tp_plugin_default_dir(default_dir, sizeof default_dir) == 0;

    /* The search list: the environment's entries, then the default dir. */
    const char *p = env ? env : "";
    for (;;) {
        const char *dir;
        size_t dir_len;
        int last = 0;
        if (*p) {
            const char *colon = strchr(p, ':');
            dir = p;
            dir_len = colon ? (size_t)(colon - p) : strlen(p);
            p = colon ? colon + 1 : p + dir_len;
            if (dir_len == 0)
                continue;
        } else if (have_default) {
            dir = default_dir;
            dir_len = strlen(default_dir);
            last = 1;
        } else {
            break;
        }

        int n = snprintf(path, path_len, "%.*s/%s", (int)dir_len, dir, file);
        if (n > 0 && (size_t)n < path_len && is_regular_file(path))
            return 0;
        if (looked_len < sizeof looked) {
            int m = snprintf(looked + looked_len, sizeof looked - looked_len, "%s%.*s",
                             looked_len ? ", " : "", (int)dir_len, dir);
            if (m > 0)
                looked_len += (size_t)m;
        }
        if (last)
            break;
    }
    return tierpage_error_set(err, -ENOENT, NULL, "plugin '%s': %s not found (looked in %s)", name, file,
                              looked_len ? looked : "no directory: TIERPAGE_PLUGIN_PATH is unset and "
                                                    "libtierpage.so's directory is unknown");
}

/* Returns NULL when every mandatory operation is there, else the name of the
 * first one missing. */
static const char *missing_mandatory_op(const tierpage_store_ops *ops)
{
    if (!ops->open)
        return "open";
    if (!ops->close)
        return "close";
    if (!ops->get)
        return "get";
    if (!ops->put)
        return "put";
    if (!ops->del)
        return "del";
    if (!ops->usage)
        return "usage";
    return NULL;
}

static int check_ops(const char *path, const tierpage_store_ops *ops, tierpage_error *err)
{
    if (!ops)
        return tierpage_error_set(err, -ENOEXEC, NULL, "plugin %s: %s() returned NULL", path,
                                  TIERPAGE_STORE_ENTRY_SYMBOL);
    if (ops->abi_version < TIERPAGE_STORE_ABI_OLDEST || ops->abi_version > TIERPAGE_STORE_ABI_VERSION)
        return tierpage_error_set(err, -EPROTO, NULL, "plugin %s: built for ABI %u, this tierpage speaks ABI %u "
                                  "to %u", path, (unsigned)ops->abi_version, (unsigned)TIERPAGE_STORE_ABI_OLDEST,
                                  (unsigned)TIERPAGE_STORE_ABI_VERSION);
    if (ops->struct_size < TP_OPS_MANDATORY_SIZE)
        return tierpage_error_set(err, -EPROTO, NULL,
                                  "plugin %s: operations table is %u bytes, smaller than the %zu bytes "
                                  "ABI %u needs for its mandatory operations",
                                  path, (unsigned)ops->struct_size, (size_t)TP_OPS_MANDATORY_SIZE,
                                  (unsigned)ops->abi_version);
    const char *missing = missing_mandatory_op(ops);
    if (missing)
        return tierpage_error_set(err, -ENOEXEC, NULL, "plugin %s: mandatory operation '%s' is missing (NULL)",
                                  path, missing);
    if (!ops->name || !ops->name[0])
        return tierpage_error_set(err, -ENOEXEC, NULL, "plugin %s: operations table has no name", path);
    return 0;
}

int tp_plugin_load(const char *name_or_path, struct tp_plugin *out, tierpage_error *err)
{
    memset(out, 0, sizeof *out);
    if (!name_or_path || !name_or_path[0])
        return tierpage_error_set(err, -EINVAL, NULL, "no plugin named");

    if (strchr(name_or_path, '/')) {
        if (snprintf(out->path, sizeof out->path, "%s", name_or_path) >= (int)sizeof out->path)
            return tierpage_error_set(err, -ENAMETOOLONG, NULL, "plugin path is too long: %s", name_or_path);
        if (!is_regular_file(out->path))
            return tierpage_error_set(err, -ENOENT, NULL, "plugin %s: file not found", out->path);
    } else {
        int rc = find_plugin(name_or_path, out->path, sizeof out->path, err);
        if (rc)
            return rc;
    }

    dlerror();
    void *handle = dlopen(out->path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *why = dlerror();
        return tierpage_error_set(err, -ENOEXEC, NULL, "plugin %s: cannot load: %s", out->path,
                                  why ? why : "unknown dlopen error");
    }

    dlerror();
    void *sym = dlsym(handle, TIERPAGE_STORE_ENTRY_SYMBOL);
    if (!sym) {
        tierpage_error_set(err, -ENOEXEC, NULL, "plugin %s: no entry symbol '%s' (is it a tierpage page store?)",
                           out->path, TIERPAGE_STORE_ENTRY_SYMBOL);
        dlclose(handle);
        return -ENOEXEC;
    }

    tierpage_store_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry); /* object pointer -> function pointer, as POSIX allows */
    const tierpage_store_ops *ops = entry();
    int rc = check_ops(out->path, ops, err);
    if (rc) {
        dlclose(handle);
        return rc;
    }

    /* Work on a full-size copy of the table: fields past the plugin's
     * struct_size (operations its header did not have) read as NULL, so the
     * core may test any optional operation without looking at struct_size. */
    tierpage_store_ops *copy = calloc(1, sizeof *copy);
    if (!copy) {
        dlclose(handle);
        return tierpage_error_set(err, -ENOMEM, NULL, "plugin %s: out of memory", out->path);
    }
    size_t have = ops->struct_size < sizeof *copy ? ops->struct_size : sizeof *copy;
    memcpy(copy, ops, have);

    out->handle = handle;
    out->ops = copy;
    return 0;
}

const tierpage_host *tp_plugin_host(struct tp_plugin *plugin, const char *tier_name)
{
    return tp_store_host_init(&plugin->host, tier_name);
}

void tp_plugin_unload(struct tp_plugin *plugin)
{
    if (!plugin)
        return;
    free((void *)plugin->ops);
    plugin->ops = NULL;
    if (plugin->handle)
        dlclose(plugin->handle);
    plugin->handle = NULL;
}
