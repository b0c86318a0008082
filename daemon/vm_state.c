#include "vm_state.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tierpage_private.h"

static char state_dir[PATH_MAX - 128]; /* "": none kept (state_dir ""), every call below a no-op */

const char *tpd_state_dir(void)
{
    return state_dir;
}

int tpd_state_kept(void)
{
    return state_dir[0] != '\0';
}

/* mkdir -p, 0700 for what it makes. */
static int make_dirs(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    return mkdir(buf, 0700) < 0 && errno != EEXIST ? -errno : 0;
}

int tpd_state_init(const char *dir, char *why, size_t why_len)
{
    if (dir[0] == '\0') {
        state_dir[0] = '\0'; /* none: a daemon killed takes its clients' pages with it */
        return 0;
    }
    if (dir[0] != '/') {
        snprintf(why, why_len, "state_dir: expected an absolute path (or \"\": none), got '%s'", dir);
        return -1;
    }
    if (strlen(dir) >= sizeof state_dir) {
        snprintf(why, why_len, "state_dir: %s is too long (at most %zu bytes)", dir, sizeof state_dir - 1);
        return -1;
    }
    int rc = make_dirs(dir);
    struct stat st;
    if (rc == 0 && stat(dir, &st) < 0)
        rc = -errno;
    if (rc < 0) {
        snprintf(why, why_len, "state_dir: cannot make %s: %s", dir, strerror(-rc));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(why, why_len, "state_dir: %s is not a directory", dir);
        return -1;
    }
    if (access(dir, W_OK | X_OK) < 0) {
        snprintf(why, why_len, "state_dir: cannot write in %s: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(state_dir, sizeof state_dir, "%s", dir);
    return 0;
}

/* <state_dir>/<vm>/<file>: fits, as state_dir, a VM name and a file name
 * of this module's are bounded. */
static void vm_file(char *out, size_t len, const char *vm, const char *file)
{
    if ((size_t)snprintf(out, len, "%s/%s/%s", state_dir, vm, file) >= len)
        out[0] = '\0';
}

/* Replaces <vm dir>/file with `text` whole: written beside it, then renamed
 * over it (tmpfs: nothing to flush; the rename is the commit). */
static int write_whole(const char *vm, const char *file, const char *text, size_t len, tierpage_error *err)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    vm_file(path, sizeof path, vm, file);
    snprintf(tmp, sizeof tmp, "%s.new", path);
    FILE *f = fopen(tmp, "wbx");
    if (!f && errno == EEXIST && unlink(tmp) == 0)
        f = fopen(tmp, "wbx");
    if (!f)
        return tierpage_error_set(err, -errno, NULL, "cannot write %s: %s", tmp, strerror(errno));
    int ok = fwrite(text, 1, len, f) == len;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) < 0) {
        int e = errno ? errno : EIO;
        unlink(tmp);
        return tierpage_error_set(err, -e, NULL, "cannot write %s: %s", path, strerror(e));
    }
    return 0;
}

static void remove_file(const char *vm, const char *file)
{
    char path[PATH_MAX];
    vm_file(path, sizeof path, vm, file);
    unlink(path);
}

int tpd_state_give_paths(struct tp_conf *conf, const char *vm, unsigned generation, tierpage_error *err)
{
    if (!tpd_state_kept())
        return 0; /* the dram pools in private memory, as in-process */
    char dir[PATH_MAX];
    vm_file(dir, sizeof dir, vm, "");
    int rc = make_dirs(dir);
    if (rc < 0)
        return tierpage_error_set(err, rc, NULL, "cannot make the state directory %s: %s", dir, strerror(-rc));
    for (size_t i = 0; i < conf->tier_count; i++) {
        struct tp_conf_tier *tier = &conf->tiers[i];
        if (strcmp(tier->plugin, "dram") != 0 || tp_conf_option_value(tier, "path"))
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s/tier%zu.%u.dram", state_dir, vm, i, generation);
        struct tp_conf_option *grown = realloc(tier->options, (tier->option_count + 1) * sizeof *grown);
        if (!grown)
            return tierpage_error_set(err, -ENOMEM, NULL, "out of memory");
        tier->options = grown;
        struct tp_conf_option *o = &tier->options[tier->option_count];
        *o = (struct tp_conf_option){strdup("path"), strdup(path), tier->line, tier->column};
        if (!o->key || !o->value) {
            free(o->key);
            free(o->value);
            return tierpage_error_set(err, -ENOMEM, NULL, "out of memory");
        }
        tier->option_count++;
    }
    return 0;
}

static void generation_file(char *out, size_t len, const char *what, unsigned generation)
{
    snprintf(out, len, "%s.%u", what, generation);
}

int tpd_state_stack_opened(const char *vm, tp_stack *stack, const char *text, unsigned generation,
                           const char *map_name, tierpage_error *err)
{
    if (!tpd_state_kept())
        return 0; /* the page map in memory */
    char file[64], path[PATH_MAX];
    vm_file(path, sizeof path, vm, map_name);
    if (tp_private_stack_keep_map_in(stack, path, err) < 0)
        return -1;
    generation_file(file, sizeof file, "stack", generation);
    return write_whole(vm, file, text, strlen(text), err) < 0 ? -1 : 0;
}

/* Whether `name` is one of generation G's files: stack.G, map.G, map.G.*,
 * tierI.G.dram. */
static int of_generation(const char *name, unsigned generation)
{
    char g[24];
    int n = snprintf(g, sizeof g, ".%u", generation);
    if (strncmp(name, "stack", 5) == 0)
        return strcmp(name + 5, g) == 0;
    if (strncmp(name, "map", 3) == 0)
        return strncmp(name + 3, g, (size_t)n) == 0 && (name[3 + n] == '\0' || name[3 + n] == '.');
    if (strncmp(name, "tier", 4) != 0)
        return 0;
    const char *dot = strchr(name, '.');
    return dot && strncmp(dot, g, (size_t)n) == 0 && strcmp(dot + n, ".dram") == 0;
}

void tpd_state_stack_closed(const char *vm, unsigned generation)
{
    if (!tpd_state_kept())
        return;
    char dir[PATH_MAX];
    vm_file(dir, sizeof dir, vm, "");
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (of_generation(e->d_name, generation))
            remove_file(vm, e->d_name);
    closedir(d);
}

void tpd_state_map_gone(const char *vm, const char *map_name)
{
    if (!tpd_state_kept())
        return;
    remove_file(vm, map_name);
}

#define CLIENT_MAGIC "tierpage-client 1"
#define REGIONS_MAGIC "tierpage-regions 2"
#define REGIONS_MAGIC_1 "tierpage-regions 1" /* no OFFSET: each region started its memfd */

static int write_regions(const char *vm, const struct tp_remote_region *r, size_t count, tierpage_error *err)
{
    size_t cap = 64 + count * 96;
    char *text = malloc(cap);
    if (!text)
        return tierpage_error_set(err, -ENOMEM, NULL, "out of memory");
    size_t len = (size_t)snprintf(text, cap, "%s\n", REGIONS_MAGIC);
    for (size_t i = 0; i < count; i++)
        len += (size_t)snprintf(text + len, cap - len, "0x%" PRIx64 " %" PRIu64 " %" PRIu32 " %" PRIu64 "\n",
                                r[i].addr, r[i].length, r[i].first_id, r[i].offset);
    len += (size_t)snprintf(text + len, cap - len, "end %zu\n", count);
    int rc = write_whole(vm, "regions", text, len, err);
    free(text);
    return rc;
}

int tpd_state_client_record(const char *vm, pid_t pid, tp_stack *stack, unsigned generation, const char *map_name,
                            tierpage_error *err)
{
    if (!tpd_state_kept())
        return 0;
    char text[256];
    int len = snprintf(text, sizeof text, "%s\npid %ld\ninstance %s\ngeneration %u\nmap %s\nend\n", CLIENT_MAGIC,
                       (long)pid, tp_private_stack_instance(stack), generation, map_name);
    return write_whole(vm, "client", text, (size_t)len, err) < 0 ? -1 : 0;
}

int tpd_state_client_attached(const char *vm, pid_t pid, tp_stack *stack, unsigned generation, const char *map_name,
                              tierpage_error *err)
{
    if (!tpd_state_kept())
        return 0;
    if (write_regions(vm, NULL, 0, err) < 0)
        return -1;
    return tpd_state_client_record(vm, pid, stack, generation, map_name, err);
}

int tpd_state_regions_changed(const char *vm, struct tp_remote *client, tierpage_error *err)
{
    if (!tpd_state_kept())
        return 0;
    size_t max = 16, count;
    struct tp_remote_region *r = NULL;
    for (;;) {
        struct tp_remote_region *grown = realloc(r, max * sizeof *r);
        if (!grown) {
            free(r);
            return tierpage_error_set(err, -ENOMEM, NULL, "out of memory");
        }
        r = grown;
        count = tp_remote_regions(client, r, max);
        if (count <= max)
            break;
        max = count * 2;
    }
    int rc = write_regions(vm, r, count, err);
    free(r);
    return rc;
}

void tpd_state_client_gone(const char *vm)
{
    if (!tpd_state_kept())
        return;
    remove_file(vm, "client");
    remove_file(vm, "regions");
}

void tpd_state_vm_removed(const char *vm)
{
    if (!tpd_state_kept())
        return;
    char dir[PATH_MAX];
    vm_file(dir, sizeof dir, vm, "");
    tpd_state_client_gone(vm);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            remove_file(vm, e->d_name);
    closedir(d);
    rmdir(dir);
}

int tpd_state_vm_left(const char *vm)
{
    if (!tpd_state_kept())
        return 0;
    char path[PATH_MAX];
    vm_file(path, sizeof path, vm, "client");
    return access(path, F_OK) == 0;
}

void tpd_state_path(const char *vm, const char *file, char *out, size_t len)
{
    vm_file(out, len, vm, file);
}

/* The whole of <vm dir>/file, NUL-ended (a state file is small); NULL
 * with `why`. */
static char *read_whole(const char *vm, const char *file, size_t max, char *why, size_t len)
{
    char path[PATH_MAX];
    vm_file(path, sizeof path, vm, file);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, len, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char *text = malloc(max + 1);
    size_t n = text ? fread(text, 1, max + 1, f) : 0;
    int bad = !text || ferror(f);
    fclose(f);
    if (bad || n > max) {
        snprintf(why, len, "%s: %s", path, bad ? "cannot read it" : "larger than it can be (corrupt)");
        free(text);
        return NULL;
    }
    text[n] = '\0';
    if (strlen(text) != n) {
        snprintf(why, len, "%s holds a NUL byte (corrupt)", path);
        free(text);
        return NULL;
    }
    return text;
}

static int corrupt(char *why, size_t len, const char *vm, const char *file, const char *what)
{
    char path[PATH_MAX];
    vm_file(path, sizeof path, vm, file);
    snprintf(why, len, "%s is corrupt or truncated: %s", path, what);
    return -1;
}

int tpd_state_read_client(const char *vm, struct tpd_client_record *out, char *why, size_t len)
{
    char *text = read_whole(vm, "client", 4096, why, len);
    if (!text)
        return -1;
    memset(out, 0, sizeof *out);
    long pid = 0;
    int at = 0;
    int got = sscanf(text, CLIENT_MAGIC "\npid %ld\ninstance %16[0-9a-f]\ngeneration %u\nmap %63[a-z0-9.]\nend\n%n",
                     &pid, out->instance, &out->generation, out->map, &at);
    int whole = got == 4 && at > 0 && text[at] == '\0';
    free(text);
    if (!whole || pid <= 0 || strlen(out->instance) != 16 || strncmp(out->map, "map.", 4) != 0)
        return corrupt(why, len, vm, "client", "expected the lines tierpage-client 1, pid, instance (16 hex "
                       "digits), generation, map, end");
    out->pid = (pid_t)pid;
    return 0;
}

int tpd_state_read_regions(const char *vm, struct tpd_recorded_region **out, size_t *count, char *why, size_t len)
{
    *out = NULL;
    *count = 0;
    char *text = read_whole(vm, "regions", 64u << 20, why, len);
    if (!text)
        return -1;
    const char *what = NULL;
    size_t n = 0, alloc = 0;
    struct tpd_recorded_region *r = NULL;
    char *line = text, *next;
    int version = 2;
    if (strncmp(line, REGIONS_MAGIC_1 "\n", sizeof REGIONS_MAGIC_1) == 0)
        version = 1;
    else if (strncmp(line, REGIONS_MAGIC "\n", sizeof REGIONS_MAGIC) != 0)
        what = "its first line is not " REGIONS_MAGIC " (nor " REGIONS_MAGIC_1 ")";
    if (!what)
        line += sizeof REGIONS_MAGIC;
    size_t ended = SIZE_MAX;
    for (; !what && *line; line = next) {
        next = strchr(line, '\n');
        if (!next) {
            what = "its last line is cut short";
            break;
        }
        *next++ = '\0';
        if (ended != SIZE_MAX) {
            what = "lines after its end line";
            break;
        }
        uint64_t addr, length, offset = 0;
        uint32_t first;
        size_t counted;
        int at = 0;
        if (sscanf(line, "end %zu%n", &counted, &at) == 1 && line[at] == '\0') {
            ended = counted;
            continue;
        }
        int fields = version == 1
                         ? sscanf(line, "0x%" SCNx64 " %" SCNu64 " %" SCNu32 "%n", &addr, &length, &first, &at) + 1
                         : sscanf(line, "0x%" SCNx64 " %" SCNu64 " %" SCNu32 " %" SCNu64 "%n", &addr, &length,
                                  &first, &offset, &at);
        if (fields != 4 || line[at] != '\0' || addr % 4096 || length == 0 || length % 4096 ||
            addr + length < addr || offset % 4096 || offset + length < offset) {
            what = version == 1 ? "a line that is not ADDRESS LENGTH FIRST_ID"
                                : "a line that is not ADDRESS LENGTH FIRST_ID OFFSET";
            break;
        }
        if (n == alloc) {
            alloc = alloc ? alloc * 2 : 16;
            struct tpd_recorded_region *grown = realloc(r, alloc * sizeof *r);
            if (!grown) {
                what = "out of memory";
                break;
            }
            r = grown;
        }
        r[n++] = (struct tpd_recorded_region){addr, length, offset, first, 0};
    }
    if (!what && ended == SIZE_MAX)
        what = "no end line";
    else if (!what && ended != n)
        what = "its end line counts another number of regions";
    for (size_t i = 1; !what && i < n; i++)
        if (r[i].addr < r[i - 1].addr + r[i - 1].length)
            what = "regions out of order or overlapping";
    free(text);
    if (what) {
        free(r);
        return corrupt(why, len, vm, "regions", what);
    }
    *out = r;
    *count = n;
    return 0;
}

char *tpd_state_read_stack(const char *vm, unsigned generation, char *why, size_t len)
{
    char file[64];
    generation_file(file, sizeof file, "stack", generation);
    return read_whole(vm, file, 16u << 20, why, len);
}
