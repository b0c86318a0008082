/* The per-tier summary, for people (stderr) and for programs (JSON). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tierpage.h"
#include "tierpage_private.h"
#include "units.h"

void tp_stats_print(const struct tp_stats *st, FILE *out)
{
    char peak[32], cap[32], moved_in[32], moved_out[32];
    tp_format_size(st->peak_resident_bytes, peak, sizeof peak);
    tp_format_size(st->resident_cap_bytes, cap, sizeof cap);
    fprintf(out, "tierpage: %" PRIu64 " faults (%" PRIu64 " zero-filled), %" PRIu64 " evictions (%" PRIu64
                 " written back, %" PRIu64 " dropped clean), peak resident %s of %s\n",
            st->faults, st->zero_fills, st->evictions, st->writebacks, st->clean_drops, peak, cap);
    if (st->prefetched_pages) {
        uint64_t from_tiers = st->faults - st->zero_fills;
        fprintf(out,
                "tierpage: prefetch: %" PRIu64 " pages, %" PRIu64 " used before eviction (%.1f%% accurate), %" PRIu64
                " faults avoided (%.1f%% coverage), %" PRIu64 " evicted unused\n",
                st->prefetched_pages, st->prefetch_hits, 100.0 * (double)st->prefetch_hits / (double)st->prefetched_pages,
                st->prefetch_hits, 100.0 * (double)st->prefetch_hits / (double)(st->prefetch_hits + from_tiers),
                st->prefetch_wasted);
        if (st->prefetch_mapped)
            fprintf(out,
                    "tierpage: prefetch: %" PRIu64 " pages mapped ahead of their use; %" PRIu64
                    " counted used because the program went past them\n",
                    st->prefetch_mapped, st->prefetch_inferred);
    }
    /* Said only when writes are not tracked by the kernel, with why. */
    if (strncmp(st->write_tracking, "faults", 6) == 0)
        fprintf(out, "tierpage: write tracking: %.*s\n", (int)sizeof st->write_tracking, st->write_tracking);
    fprintf(out, "tierpage: %-10s %-8s %10s %10s %10s %10s %10s %10s\n", "tier", "plugin", "pages", "hits", "puts",
            "demoted", "in", "out");
    for (size_t i = 0; i < st->tier_count; i++) {
        const struct tp_tier_stats *t = &st->tiers[i];
        tp_format_size(t->bytes_in, moved_in, sizeof moved_in);
        tp_format_size(t->bytes_out, moved_out, sizeof moved_out);
        fprintf(out, "tierpage: %-10s %-8s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10s %10s\n",
                t->name, t->plugin, t->pages, t->hits, t->puts, t->demotions, moved_in, moved_out);
    }
    for (size_t i = 0; i < st->tier_count; i++)
        if (st->tiers[i].under_replicated_pages)
            fprintf(out, "tierpage: %s: %" PRIu64 " pages under-replicated (fewer copies than the tier keeps)\n",
                    st->tiers[i].name, st->tiers[i].under_replicated_pages);
}

/* Appends to a fixed buffer, as snprintf does: `len` counts what the
 * whole text needs, the buffer holds what fits. */
struct json_text {
    char *buf;
    size_t size, len;
};

__attribute__((format(printf, 2, 3))) static void append(struct json_text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + (t->len < t->size ? t->len : t->size), t->len < t->size ? t->size - t->len : 0, fmt,
                      ap);
    va_end(ap);
    if (n > 0)
        t->len += (size_t)n;
}

static void json_string(struct json_text *t, const char *s)
{
    append(t, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            append(t, "\\%c", c);
        else if (c < 0x20)
            append(t, "\\u%04x", c);
        else
            append(t, "%c", c);
    }
    append(t, "\"");
}

size_t tp_private_stats_format_json(const struct tp_stats *st, char *buf, size_t size)
{
    struct json_text t = {buf, size, 0};
    if (size)
        buf[0] = '\0';
    append(&t,
           "{\"faults\": %" PRIu64 ", \"zero_fills\": %" PRIu64 ", \"minor_faults\": %" PRIu64
           ", \"write_faults\": %" PRIu64 ", \"evictions\": %" PRIu64 ", \"writebacks\": %" PRIu64
           ", \"clean_drops\": %" PRIu64 ", \"resident_bytes\": %" PRIu64 ", \"peak_resident_bytes\": %" PRIu64
           ", \"resident_cap_bytes\": %" PRIu64
           ", \"mapped_bytes\": %" PRIu64 ", \"metadata_bytes\": %" PRIu64 ", \"prefetched_pages\": %" PRIu64
           ", \"prefetch_hits\": %" PRIu64 ", \"prefetch_wasted\": %" PRIu64 ", \"kernel_written\": %" PRIu64
           ", \"prefetch_mapped\": %" PRIu64 ", \"prefetch_inferred\": %" PRIu64 ", \"tiers\": [",
           st->faults, st->zero_fills, st->minor_faults, st->write_faults, st->evictions, st->writebacks,
           st->clean_drops, st->resident_bytes, st->peak_resident_bytes, st->resident_cap_bytes, st->mapped_bytes, st->metadata_bytes,
           st->prefetched_pages, st->prefetch_hits, st->prefetch_wasted, st->kernel_written,
           st->prefetch_mapped, st->prefetch_inferred);
    for (size_t i = 0; i < st->tier_count; i++) {
        const struct tp_tier_stats *ts = &st->tiers[i];
        append(&t, "%s{\"name\": ", i ? ", " : "");
        json_string(&t, ts->name);
        append(&t, ", \"plugin\": ");
        json_string(&t, ts->plugin);
        append(&t,
               ", \"capacity_bytes\": %" PRIu64 ", \"pages\": %" PRIu64 ", \"hits\": %" PRIu64 ", \"puts\": %" PRIu64
               ", \"demotions\": %" PRIu64 ", \"bytes_in\": %" PRIu64 ", \"bytes_out\": %" PRIu64
               ", \"full_events\": %" PRIu64 ", \"under_replicated_pages\": %" PRIu64 "}",
               ts->capacity_bytes, ts->pages, ts->hits, ts->puts, ts->demotions, ts->bytes_in, ts->bytes_out,
               ts->full_events, ts->under_replicated_pages);
    }
    append(&t, "], \"write_tracking\": ");
    char tracking[sizeof st->write_tracking + 1];
    snprintf(tracking, sizeof tracking, "%.*s", (int)sizeof st->write_tracking, st->write_tracking);
    json_string(&t, tracking);
    append(&t, "}\n");
    return t.len;
}

int tp_stats_write_json(const struct tp_stats *st, FILE *out)
{
    char text[TP_STATS_JSON_MAX];
    size_t len = tp_private_stats_format_json(st, text, sizeof text);
    if (len >= sizeof text || fwrite(text, 1, len, out) != len)
        return -1;
    return ferror(out) ? -1 : 0;
}
