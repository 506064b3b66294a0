/*
 * parse_units.h — the operator's units, parsed exactly (pure: no I/O, no
 * floating point): rates ("100M", "1G", "2.5Gbit", "10 Mbps"), money in
 * yuan to fen ("12.34"), percentages to basis points ("6%"), small decimals
 * ("1.25"), ids, IP prefixes and ISO 8601 times.
 *
 * Every parser returns 0, or -1 with err set to a message that says what is
 * wrong with the value (the caller prefixes the option name). The value
 * is quoted by the caller, not here.
 */
#ifndef BS_PARSE_UNITS_H
#define BS_PARSE_UNITS_H

#include <stddef.h>
#include <stdint.h>

#define BS_RATE_MAX_BPS   1000000000000000ULL   /* 1 Pbit/s */
#define BS_MONEY_MAX_FEN  100000000000000000LL  /* 10^15 yuan */
#define BS_TIME_TEXT_MAX  48

/* A rate in bit/s: digits with an optional fraction, an optional SI prefix
 * k/K, M, G, T (powers of 1000; a lower-case m also means mega — there are
 * no millibits), and an optional unit, with optional spaces before the
 * prefix. No unit means bit/s. Bits: "b", "b/s", "bps" (exactly so) or
 * "bit", "bits", "bit/s", "bits/s" (any case); bytes, 8 bits each: "B",
 * "B/s", "Bps" (exactly so) or "byte", "bytes", "byte/s", "bytes/s" (any
 * case): "10MB/s" is 80 Mbit/s. Other spellings of b/B ("BPS", "bPs") are
 * refused as ambiguous. The result must be a whole number of bit/s (of
 * byte/s for a byte unit) in 1..BS_RATE_MAX_BPS. */
int bs_parse_rate(const char *s, uint64_t *bps, char *err, size_t err_size);

/* Money in yuan ("12.34", "12", "0.5", "1,234.56" is refused): at most 2
 * decimals, not negative, at most BS_MONEY_MAX_FEN fen. */
int bs_parse_money(const char *s, int64_t *fen, char *err, size_t err_size);

/* A percentage "6%", "6", "6.5%", "13.25%" with at most 2 decimals, 0..100,
 * in basis points (600 = 6%). */
int bs_parse_percent(const char *s, int *bp, char *err, size_t err_size);

/* A positive decimal with at most `decimals` fraction digits (≤ 9), scaled:
 * "1.25" with decimals 4 → 12500. max_scaled bounds the result. */
int bs_parse_decimal(const char *s, int decimals, uint64_t max_scaled,
		     uint64_t *scaled, char *err, size_t err_size);

/* A decimal integer in [min, max], digits only (no sign, no spaces). */
int bs_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *v,
		  char *err, size_t err_size);

/* An IPv4 or IPv6 prefix "addr/len" (len required) with no bits set below
 * len. canon receives the canonical text (inet_ntop + "/len"); family is
 * 4 or 6. */
int bs_parse_prefix(const char *s, char *canon, size_t canon_size,
		    int *family, char *err, size_t err_size);

/* An ISO 8601 time: YYYY-MM-DD, optionally followed by 'T' or ' ' and
 * HH:MM[:SS[.fraction]] (up to 6 fraction digits), optionally followed by
 * 'Z' or ±HH[:MM] / ±HHMM. "now" is accepted too. out receives a text
 * PostgreSQL reads as timestamptz ("2026-11-01 08:00:00+08:00"); without
 * a zone the session's time zone (the park's) applies. The date must
 * exist (leap years), hours 0..23, minutes and seconds 0..59, offsets up to
 * ±15:59. out_size ≥ BS_TIME_TEXT_MAX. */
int bs_parse_time(const char *s, char *out, size_t out_size, char *err,
		  size_t err_size);

#endif
