/* Fuzz target: a stack file through the loader, and the same bytes as a
 * size with units. A file either loads into a config that holds together
 * or fails with a message that says where; a size that parses prints back
 * to the same number of bytes when printed exactly. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stack_config.h"
#include "units.h"

#define CHECK(cond) ((cond) ? (void)0 : abort())

static void check_config(const struct tp_conf *conf)
{
    CHECK(conf->name && conf->name[0]);
    CHECK(conf->resident > 0);
    CHECK(conf->tier_count > 0 && conf->tiers);
    for (size_t i = 0; i < conf->tier_count; i++) {
        const struct tp_conf_tier *tier = &conf->tiers[i];
        CHECK(tier->plugin && tier->plugin[0] && tier->name && tier->name[0]);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(conf->tiers[j].name, tier->name) != 0);
        for (size_t k = 0; k < tier->option_count; k++) {
            const struct tp_conf_option *opt = &tier->options[k];
            CHECK(opt->key && opt->value && opt->line > 0 && opt->column > 0);
            CHECK(tp_conf_option_value(tier, opt->key) != NULL);
            int line, column;
            tp_conf_option_position(tier, opt->key, &line, &column);
            CHECK(line > 0 && column > 0);
        }
        int line, column;
        const char *absent = "no such key";
        tp_conf_option_position(tier, absent, &line, &column);
        CHECK(tp_conf_option_value(tier, absent) || (line == tier->line && column == tier->column));
    }
}

static void check_size(const char *text)
{
    uint64_t bytes;
    if (tp_parse_size(text, &bytes) != 0)
        return;
    char shown[32];
    tp_format_size(bytes, shown, sizeof shown);
    CHECK(shown[0] != '\0');
    if (strchr(shown, '.'))
        return; /* rounded to one decimal: not meant to read back exactly */
    uint64_t again;
    CHECK(tp_parse_size(shown, &again) == 0 && again == bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tp_conf *conf = NULL;
    tierpage_error err;
    memset(&err, 0, sizeof err);
    if (tp_conf_load_string((const char *)data, size, "fuzz.yaml", &conf, &err) == 0) {
        check_config(conf);
        tp_conf_free(conf);
    } else {
        CHECK(conf == NULL);
        CHECK(strncmp(err.message, "fuzz.yaml:", 10) == 0 || strstr(err.message, "out of memory"));
    }

    if (size < 64) {
        char text[64];
        memcpy(text, data, size);
        text[size] = '\0';
        check_size(text);
    }
    return 0;
}
