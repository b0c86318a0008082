/* Numbers as people write them in stack files, store options and on
 * command lines: unsigned integers, sizes with units ("64MiB"), durations
 * ("30s"). One reading of each, for every key, option and flag. */
#ifndef TIERPAGE_UNITS_H
#define TIERPAGE_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* The decimal digits at the start of `text` into *out: returns the first
 * character after them, or NULL when there are none or they overflow. */
const char *tp_read_uint(const char *text, uint64_t *out);
/* `text` is decimal digits and nothing else (no sign, blank or 0x).
 * Returns 0, or -1 when it is not. */
int tp_parse_uint(const char *text, uint64_t *out);

/* "64MiB" -> 67108864. An integer, then optionally blanks and a unit: B,
 * KiB, MiB, GiB, TiB (and K/M/G/T, KB/MB/GB/TB as binary units). Returns 0,
 * or -1 when the text is not a size. */
int tp_parse_size(const char *text, uint64_t *bytes);
/* 67108864 -> "64MiB" (exact when possible, else one decimal). */
void tp_format_size(uint64_t bytes, char *buf, size_t len);

/* "30s" -> 30000000. An integer, then optionally blanks and a unit: us,
 * ms, s, min, h; without a unit, milliseconds ("1500" is 1500ms). Returns
 * 0, or -1 when the text is not a duration. */
int tp_parse_duration_us(const char *text, uint64_t *us);
/* The same in milliseconds; a duration that is not a whole number of
 * milliseconds ("1500us") is refused with -1. */
int tp_parse_duration_ms(const char *text, uint64_t *ms);
/* 30000 -> "30s": the largest of h, min, s, ms that keeps it whole. */
void tp_format_duration_ms(uint64_t ms, char *buf, size_t len);

#endif
