#include "daemon_config.h"

#include "listen_address.h"
#include "units.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#define KEYS "stacks, socket, socket_mode, socket_group, metrics, resident_budget, state_dir"

struct reader {
    const char *path;
    char *why;
    size_t why_len;
};

static int fail(const struct reader *r, yaml_mark_t at, const char *key, const char *fmt, ...)
{
    size_t n = (size_t)snprintf(r->why, r->why_len, "%s:%d:%d: %s%s", r->path, (int)at.line + 1,
                                (int)at.column + 1, key ? key : "", key ? ": " : "");
    if (n < r->why_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->why + n, r->why_len - n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* The value of `key` as text of at most `max` - 1 bytes into `out`. */
static int read_text(const struct reader *r, const yaml_node_t *v, const char *key, char *out, size_t max,
                     const char *expected)
{
    if (v->type != YAML_SCALAR_NODE || v->data.scalar.length == 0 || v->data.scalar.length >= max ||
        strlen((const char *)v->data.scalar.value) != v->data.scalar.length)
        return fail(r, v->start_mark, key, "%s", expected);
    memcpy(out, v->data.scalar.value, v->data.scalar.length + 1);
    return 0;
}

static int read_pair(const struct reader *r, const yaml_node_t *k, const yaml_node_t *v, struct tpd_config *c)
{
    const char *key = (const char *)k->data.scalar.value;
    if (strcmp(key, "stacks") == 0)
        return read_text(r, v, key, c->stacks, sizeof c->stacks, "expected the path of the stacks directory");
    if (strcmp(key, "socket") == 0)
        return read_text(r, v, key, c->socket, sizeof c->socket, "expected the path of the control socket "
                         "(at most 107 bytes)");
    if (strcmp(key, "state_dir") == 0) {
        static const char expected[] = "expected an absolute path such as /run/tierpage (a directory on tmpfs), "
                                       "or \"\" to keep none";
        /* "" (quoted: a bare `state_dir:` is more likely a slip) keeps none. */
        int none = v->type == YAML_SCALAR_NODE && v->data.scalar.length == 0 &&
                   v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
        if (none)
            c->state_dir[0] = '\0';
        else if (read_text(r, v, key, c->state_dir, sizeof c->state_dir, expected) < 0)
            return -1;
        if (c->state_dir[0] && c->state_dir[0] != '/')
            return fail(r, v->start_mark, key, "%s, got '%s'", expected, c->state_dir);
        c->state_dir_given = 1;
        return 0;
    }
    if (strcmp(key, "socket_group") == 0)
        return read_text(r, v, key, c->group, sizeof c->group, "expected a group name");
    if (strcmp(key, "metrics") == 0) {
        struct tpd_address a;
        char bad[160];
        static const char expected[] = "expected PORT, IPv4:PORT or [IPv6]:PORT such as 127.0.0.1:9464";
        if (read_text(r, v, key, c->metrics, sizeof c->metrics, expected) < 0)
            return -1;
        if (tpd_address_parse(c->metrics, &a, bad, sizeof bad) < 0)
            return fail(r, v->start_mark, key, "%s", bad);
        return 0;
    }
    if (strcmp(key, "resident_budget") == 0) {
        char text[64];
        static const char expected[] = "expected a size of at least 1MiB such as 8GiB";
        if (read_text(r, v, key, text, sizeof text, expected) < 0)
            return -1;
        if (tp_parse_size(text, &c->resident_budget) < 0 || c->resident_budget < 1024 * 1024)
            return fail(r, v->start_mark, key, "%s, got '%s'", expected, text);
        return 0;
    }
    if (strcmp(key, "socket_mode") == 0) {
        char text[16], *end;
        static const char expected[] = "expected an octal mode such as \"0660\" (quoted)";
        if (read_text(r, v, key, text, sizeof text, expected) < 0)
            return -1;
        unsigned long mode = strtoul(text, &end, 8);
        if (*end || mode > 0777)
            return fail(r, v->start_mark, key, "%s, got '%s'", expected, text);
        c->mode = (mode_t)mode;
        c->mode_given = 1;
        return 0;
    }
    return fail(r, k->start_mark, key, "unknown key, expected one of " KEYS);
}

static int read_document(const struct reader *r, yaml_document_t *doc, struct tpd_config *c)
{
    const yaml_node_t *root = yaml_document_get_root_node(doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        yaml_mark_t start = {0, 0, 0};
        return fail(r, root ? root->start_mark : start, NULL, "expected a mapping of " KEYS);
    }
    const yaml_node_t *seen[8] = {0};
    size_t nseen = 0;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(doc, p->key), *v = yaml_document_get_node(doc, p->value);
        if (k->type != YAML_SCALAR_NODE)
            return fail(r, k->start_mark, NULL, "expected a key, one of " KEYS);
        for (size_t i = 0; i < nseen; i++)
            if (strcmp((const char *)seen[i]->data.scalar.value, (const char *)k->data.scalar.value) == 0)
                return fail(r, k->start_mark, (const char *)k->data.scalar.value,
                            "duplicate key, first given at line %d, column %d", (int)seen[i]->start_mark.line + 1,
                            (int)seen[i]->start_mark.column + 1);
        if (read_pair(r, k, v, c) < 0)
            return -1;
        if (nseen < sizeof seen / sizeof seen[0])
            seen[nseen++] = k;
    }
    if (!c->stacks[0])
        return fail(r, root->start_mark, "stacks", "required key is missing, expected the stacks directory");
    return 0;
}

int tpd_config_load(const char *path, struct tpd_config *out, char *why, size_t why_len)
{
    struct reader r = {path, why, why_len};
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, why_len, "%s: %s", path, strerror(errno));
        return -1;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    int rc = -1;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        snprintf(why, why_len, "%s: out of memory", path);
        return -1;
    }
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        fail(&r, parser.problem_mark, NULL, "YAML syntax error: %s", parser.problem ? parser.problem : "unknown");
    } else {
        rc = read_document(&r, &doc, out);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}
