/* The per-tier summary, for people (stderr) and for programs (JSON). */
#include <inttypes.h>
#include <stdio.h>

#include "tierpage.h"
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
    }
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

static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

int tp_stats_write_json(const struct tp_stats *st, FILE *out)
{
    fprintf(out,
            "{\"faults\": %" PRIu64 ", \"zero_fills\": %" PRIu64 ", \"minor_faults\": %" PRIu64
            ", \"write_faults\": %" PRIu64 ", \"evictions\": %" PRIu64 ", \"writebacks\": %" PRIu64
            ", \"clean_drops\": %" PRIu64 ", \"resident_bytes\": %" PRIu64 ", \"peak_resident_bytes\": %" PRIu64
            ", \"resident_cap_bytes\": %" PRIu64
            ", \"mapped_bytes\": %" PRIu64 ", \"metadata_bytes\": %" PRIu64 ", \"prefetched_pages\": %" PRIu64
            ", \"prefetch_hits\": %" PRIu64 ", \"prefetch_wasted\": %" PRIu64 ", \"tiers\": [",
            st->faults, st->zero_fills, st->minor_faults, st->write_faults, st->evictions, st->writebacks,
            st->clean_drops, st->resident_bytes, st->peak_resident_bytes, st->resident_cap_bytes, st->mapped_bytes, st->metadata_bytes,
            st->prefetched_pages, st->prefetch_hits, st->prefetch_wasted);
    for (size_t i = 0; i < st->tier_count; i++) {
        const struct tp_tier_stats *t = &st->tiers[i];
        fprintf(out, "%s{\"name\": ", i ? ", " : "");
        json_string(out, t->name);
        fprintf(out, ", \"plugin\": ");
        json_string(out, t->plugin);
        fprintf(out,
                ", \"capacity_bytes\": %" PRIu64 ", \"pages\": %" PRIu64 ", \"hits\": %" PRIu64 ", \"puts\": %" PRIu64
                ", \"demotions\": %" PRIu64 ", \"bytes_in\": %" PRIu64 ", \"bytes_out\": %" PRIu64
                ", \"full_events\": %" PRIu64 ", \"under_replicated_pages\": %" PRIu64 "}",
                t->capacity_bytes, t->pages, t->hits, t->puts, t->demotions, t->bytes_in, t->bytes_out,
                t->full_events, t->under_replicated_pages);
    }
    fprintf(out, "]}\n");
    return ferror(out) ? -1 : 0;
}
