/*
 * log.h — one line per event, to stderr, for operators.
 *
 * Format: "2026-11-27T10:45:37.123Z bandsplit-meter[1234] LEVEL: message".
 * Programs call bs_log_init() once with their name; the level can be
 * lowered with bs_log_set_level() (e.g. from --verbose). Never log secrets:
 * connection strings and SASL passwords go through bs_log_redact() first.
 */
#ifndef BS_LOG_H
#define BS_LOG_H

#include <stddef.h>

enum bs_log_level { BS_LOG_DEBUG = 0, BS_LOG_INFO, BS_LOG_WARN, BS_LOG_ERROR };

void bs_log_init(const char *program_name);

/* Chooses the line format by name: "text" (the default, above) or "json":
 * one JSON object per line with the stable keys
 *   {"ts":"2026-11-27T10:45:37.123Z","level":"WARN","program":"bandsplit-meter",
 *    "pid":1234,"msg":"..."}
 * (ts is RFC 3339 UTC with milliseconds; msg is escaped as JSON: quotes,
 * backslashes and control characters, invalid UTF-8 bytes become U+FFFD).
 * Returns 0, or -1 for an unknown name (the format is then unchanged). */
int bs_log_set_format(const char *name);

/* 1 when the json format is on (for code that routes a library's own log
 * lines into bs_log). */
int bs_log_is_json(void);

/* For programs' option parsers: applies --log-format's value; on an unknown
 * value prints "<program>: --log-format must be text or json" to stderr
 * and returns -1 (the caller exits 2). */
int bs_log_format_option(const char *program, const char *value);

/* The --help line every program prints for it. */
#define BS_LOG_FORMAT_HELP \
	"  --log-format FMT  log lines on stderr as 'text' (default) or 'json'\n" \
	"                    (one JSON object per line: ts, level, program, pid, msg)\n"
void bs_log_set_level(enum bs_log_level level);
enum bs_log_level bs_log_get_level(void);
void bs_log(enum bs_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Copies src into dst hiding every value that is not known to be safe:
 * in key=value pairs (libpq conninfo, librdkafka properties and their
 * dumps, "key = value" too) and JSON members ("key": value) the value is
 * kept only for an allowlist of keys (host, port, dbname, user,
 * bootstrap.servers, client.id, acks, ...) and replaced by "***" for every
 * other; a URI's "user:password@" loses its password. */
void bs_log_redact(const char *src, char *dst, size_t dst_size);

/* Replaces, in place, every occurrence of secret (when not empty) in msg
 * by "***": for messages that quote a value back (libpq's conninfo
 * parser, librdkafka's property errors). */
void bs_log_scrub(char *msg, size_t msg_size, const char *secret);

#define BS_DEBUG(...) bs_log(BS_LOG_DEBUG, __VA_ARGS__)
#define BS_INFO(...)  bs_log(BS_LOG_INFO, __VA_ARGS__)
#define BS_WARN(...)  bs_log(BS_LOG_WARN, __VA_ARGS__)
#define BS_ERROR(...) bs_log(BS_LOG_ERROR, __VA_ARGS__)

#endif
