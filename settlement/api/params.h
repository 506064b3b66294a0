/*
 * params.h — parsing of bandsplit-api's request parameters (outside input):
 * times (RFC 3339 or a date), the usage step and direction, a statement
 * period, an invoice or note number, an id, and the response format from
 * ?format= or the Accept header.
 *
 * Pure functions, no I/O: each parses the whole string strictly (no
 * trailing text, no sign where none belongs, bounded lengths) and on
 * refusal writes a short message into err that a tenant's developer can
 * act on ("expected YYYY-MM"). Messages never quote more than
 * API_PARAM_ECHO_MAX printable characters of the input.
 */
#ifndef BS_API_PARAMS_H
#define BS_API_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_PARAM_MAX 64          /* longest value any parameter may have */
#define API_PARAM_ECHO_MAX 40     /* at most this much is quoted back */
#define API_ACCEPT_MAX 1024       /* longest Accept header looked at */

enum api_direction { API_DIR_BOTH = 0, API_DIR_IN, API_DIR_OUT };

enum api_format { API_FMT_JSON = 0, API_FMT_CSV, API_FMT_HTML, API_FMT_PDF,
		  API_FMT_COUNT };
#define API_FMT_BIT(f) (1u << (f))

enum api_lang { API_LANG_EN = 0, API_LANG_ZH };

/* "2026-11-01T00:00:00+08:00" (RFC 3339: 'T' or 't', seconds required,
 * optional fraction - ignored -, 'Z' or an offset; a space stands for '+'
 * as form encoding makes of it) or "2026-11-01" (midnight in the process's
 * local time zone, TZ: the park's zone). Years 1970..9999. Sets *epoch
 * (seconds since 1970-01-01T00:00:00Z). Returns 0 or -1. */
int api_parse_time(const char *s, int64_t *epoch, char *err, size_t err_size);

/* "5m", "1h" or "1d" → 300, 3600 or 86400 seconds. */
int api_parse_step(const char *s, int *seconds, char *err, size_t err_size);

/* "in", "out" or "both". */
int api_parse_direction(const char *s, enum api_direction *dir, char *err,
			size_t err_size);

/* "YYYY-MM", year 2000..9999, month 01..12. out gets the canonical text
 * (8 bytes with the NUL). */
int api_parse_period(const char *s, char out[8], char *err, size_t err_size);

/* An invoice "2026-000001", a credit note "CN-2026-000001" or a debit
 * note "DN-2026-000001": year 2000..9999, number 000001..999999. */
int api_parse_invoice_number(const char *s, char *err, size_t err_size);

/* A positive decimal id, 1..2^53 (no sign, no leading zero). */
int api_parse_id(const char *s, int64_t *id, char *err, size_t err_size);

/* "json", "csv", "html" or "pdf", refused unless in allowed (a mask of
 * API_FMT_BIT). */
int api_parse_format(const char *s, unsigned allowed, enum api_format *fmt,
		     char *err, size_t err_size);

/* The response format an Accept header asks for among allowed: the
 * acceptable media type (application/json, text/csv, text/html,
 * application/pdf; q-values honoured, q=0 excludes) with the highest q,
 * ties to the first listed; * / * and a missing or unmatched header give
 * JSON (the default, always allowed). Never fails. */
enum api_format api_format_from_accept(const char *accept, unsigned allowed);

/* Whether an Accept-Encoding header takes a gzip body: "gzip" or
 * "x-gzip" (any case) with q > 0, or, when neither is listed, "*" with
 * q > 0 (RFC 9110, 12.5.3). A missing header, or one over API_ACCEPT_MAX,
 * takes the document as it is. Never fails. */
bool api_accepts_gzip(const char *accept_encoding);

/* "en" or "zh". */
int api_parse_lang(const char *s, enum api_lang *lang, char *err,
		   size_t err_size);

/* The media type of a format ("application/json", ...). */
const char *api_format_media_type(enum api_format fmt);
const char *api_format_name(enum api_format fmt);

#endif
