/* Numbers as people write them in stack files, store options and on
 * command lines: sizes with units ("64MiB"), durations ("30s"). */
#ifndef TIERPAGE_UNITS_H
#define TIERPAGE_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* "64MiB" -> 67108864. Accepts B, KiB, MiB, GiB, TiB (and K/M/G/T, KB/MB/GB/TB
 * as binary units). Returns 0, or -1 when the text is not a size. */
int tp_parse_size(const char *text, uint64_t *bytes);

/* "30s" -> 30000, "500ms" -> 500, "2min", "1h", "0". Returns 0, or -1 when
 * the text is not a duration. */
int tp_parse_duration_ms(const char *text, uint64_t *ms);

/* 67108864 -> "64MiB" (exact when possible, else one decimal). */
void tp_format_size(uint64_t bytes, char *buf, size_t len);

#endif
