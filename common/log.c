/*
 * log.c — operator log lines on stderr, and redaction of secrets.
 *
 * Each event is formatted into a local buffer and written with a single
 * fprintf, so lines from concurrent threads (the control thread, librdkafka's
 * threads) never interleave. Timestamps are UTC ISO-8601 with milliseconds.
 * Two line formats: the text one, and JSON (one object per line, the message
 * escaped here — quotes, backslashes, control characters, and invalid UTF-8
 * replaced by U+FFFD — so a log shipper can parse every line).
 */
#include "log.h"

#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX    2048  /* bytes per line, longer messages are cut */
#define LOG_PROGRAM_MAX 64

static char log_program[LOG_PROGRAM_MAX] = "bandsplit";
static atomic_int log_level = BS_LOG_INFO;
static atomic_int log_json;            /* 0 text, 1 json */

static const char *const level_names[] = {
	[BS_LOG_DEBUG] = "DEBUG",
	[BS_LOG_INFO] = "INFO",
	[BS_LOG_WARN] = "WARN",
	[BS_LOG_ERROR] = "ERROR",
};

void bs_log_init(const char *program_name)
{
	if (program_name == NULL || program_name[0] == '\0')
		return;
	const char *base = strrchr(program_name, '/');
	snprintf(log_program, sizeof(log_program), "%s",
		 base != NULL ? base + 1 : program_name);
}

int bs_log_set_format(const char *name)
{
	if (name == NULL)
		return -1;
	if (strcmp(name, "text") == 0)
		atomic_store(&log_json, 0);
	else if (strcmp(name, "json") == 0)
		atomic_store(&log_json, 1);
	else
		return -1;
	return 0;
}

int bs_log_is_json(void)
{
	return atomic_load(&log_json);
}

int bs_log_format_option(const char *program, const char *value)
{
	if (bs_log_set_format(value) == 0)
		return 0;
	fprintf(stderr, "%s: --log-format must be text or json\n", program);
	return -1;
}

void bs_log_set_level(enum bs_log_level level)
{
	if (level < BS_LOG_DEBUG)
		level = BS_LOG_DEBUG;
	if (level > BS_LOG_ERROR)
		level = BS_LOG_ERROR;
	atomic_store(&log_level, (int)level);
}

enum bs_log_level bs_log_get_level(void)
{
	return (enum bs_log_level)atomic_load(&log_level);
}

/* Writes "2026-11-27T10:45:37.123Z" into buf; returns its length. */
static int format_timestamp(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	int m = snprintf(buf + n, size - n, ".%03ldZ", ts.tv_nsec / 1000000L);
	return (int)n + m;
}

/* Formats the message into msg (cut and marked with "..." when longer);
 * returns its length. */
static size_t format_message(char *msg, size_t size, const char *fmt, va_list ap)
{
	int m = vsnprintf(msg, size, fmt, ap);
	if (m < 0)
		m = 0;
	size_t end = (size_t)m;
	if (end >= size) {
		/* Cut: mark the truncation so nobody trusts the tail. */
		end = size - 1;
		memcpy(msg + end - 3, "...", 3);
	}
	msg[end] = '\0';
	return end;
}

static void write_text(enum bs_log_level level, char *msg, size_t len)
{
	char ts[40];
	format_timestamp(ts, sizeof(ts));
	/* One event, one line: embedded newlines would fake extra events. */
	for (size_t i = 0; i < len; i++)
		if (msg[i] == '\n' || msg[i] == '\r')
			msg[i] = ' ';
	fprintf(stderr, "%s %s[%ld] %s: %s\n", ts, log_program, (long)getpid(),
		level_names[level], msg);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if it is
 * not one: no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned min_second = 0x80, max_second = 0xBF;

	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		if (c == 0xE0)
			min_second = 0xA0;        /* overlong */
		if (c == 0xED)
			max_second = 0x9F;        /* surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		if (c == 0xF0)
			min_second = 0x90;        /* overlong */
		if (c == 0xF4)
			max_second = 0x8F;        /* above U+10FFFF */
	} else
		return 0;
	if (n < len || s[1] < min_second || s[1] > max_second)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return len;
}

/* Appends s (n bytes) to o as the inside of a JSON string. */
static void json_escape(char *out, size_t size, size_t *pos, const char *s,
			size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t o = *pos;
	for (size_t i = 0; i < n && o + 7 < size; ) {
		unsigned char c = u[i];
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
			i++;
		} else if (c < 0x20 || c == 0x7F) {
			static const char short_esc[] = "btn\0fr";  /* 0x08..0x0D */
			if (c >= 0x08 && c <= 0x0D && short_esc[c - 0x08] != '\0') {
				out[o++] = '\\';
				out[o++] = short_esc[c - 0x08];
			} else {
				o += (size_t)snprintf(out + o, size - o, "\\u%04x", c);
			}
			i++;
		} else if (c < 0x80) {
			out[o++] = (char)c;
			i++;
		} else {
			size_t len = utf8_sequence(u + i, n - i);
			if (len == 0) {
				memcpy(out + o, "\\ufffd", 6);
				o += 6;
				i++;
			} else {
				memcpy(out + o, u + i, len);
				o += len;
				i += len;
			}
		}
	}
	*pos = o;
}

static void write_json(enum bs_log_level level, const char *msg, size_t len)
{
	/* Every message byte may become "\u00XX" (6 bytes). */
	char line[LOG_LINE_MAX * 6 + LOG_PROGRAM_MAX * 6 + 160];
	char ts[40];
	format_timestamp(ts, sizeof(ts));
	size_t o = (size_t)snprintf(line, sizeof(line),
				    "{\"ts\":\"%s\",\"level\":\"%s\",\"program\":\"",
				    ts, level_names[level]);
	json_escape(line, sizeof(line), &o, log_program, strlen(log_program));
	o += (size_t)snprintf(line + o, sizeof(line) - o, "\",\"pid\":%ld,\"msg\":\"",
			      (long)getpid());
	json_escape(line, sizeof(line), &o, msg, len);
	assert(o + 3 < sizeof(line));
	memcpy(line + o, "\"}\n", 4);
	fputs(line, stderr);
}

void bs_log(enum bs_log_level level, const char *fmt, ...)
{
	if ((int)level < atomic_load(&log_level))
		return;
	if (level < BS_LOG_DEBUG || level > BS_LOG_ERROR)
		level = BS_LOG_ERROR;

	/* Room for the text format's head within LOG_LINE_MAX. */
	char msg[LOG_LINE_MAX - 128];
	va_list ap;
	va_start(ap, fmt);
	size_t len = format_message(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (atomic_load(&log_json))
		write_json(level, msg, len);
	else
		write_text(level, msg, len);
}

/* --- redaction ------------------------------------------------------- */

struct out {
	char *dst;
	size_t size;
	size_t len;
};

static void out_char(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->dst[o->len++] = c;
}

static void out_str(struct out *o, const char *s)
{
	while (*s != '\0')
		out_char(o, *s++);
}

static bool is_key_char(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-';
}

/* The keys whose values may be logged: what an operator needs to tell one
 * connection or client from another and that is never a secret. Every
 * other key's value is replaced by "***" — an allowlist, not a list of
 * secret-looking words, so a key nobody thought of (ssl.key.pem, a JSON
 * "password", a new librdkafka property) is hidden too. */
static bool key_allowed(const char *key, size_t len)
{
	static const char *const keys[] = {
		/* libpq */
		"host", "hostaddr", "port", "dbname", "user", "application_name",
		"fallback_application_name", "connect_timeout", "sslmode",
		"target_session_attrs", "client_encoding", "keepalives",
		"keepalives_idle", "keepalives_interval", "keepalives_count",
		/* librdkafka */
		"bootstrap.servers", "metadata.broker.list", "client.id", "group.id",
		"debug", "acks", "security.protocol", "sasl.mechanism",
		"sasl.mechanisms", "sasl.username", "enable.idempotence",
		"compression.type", "linger.ms", "batch.num.messages",
		"session.timeout.ms", "heartbeat.interval.ms", "auto.offset.reset",
		"enable.auto.commit", "enable.partition.eof", "isolation.level",
		"partition.assignment.strategy", "message.max.bytes",
		"message.timeout.ms", "request.timeout.ms", "topic", "partition",
		"offset",
	};
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		if (strlen(keys[k]) == len && strncasecmp(key, keys[k], len) == 0)
			return true;
	return false;
}

/* src[eq] is '='. Is the key in front of it (spaces allowed, as libpq
 * permits "password = x") one whose value must be hidden? */
static bool hidden_key_before(const char *src, size_t eq)
{
	size_t end = eq;
	while (end > 0 && src[end - 1] == ' ')
		end--;
	size_t start = end;
	while (start > 0 && is_key_char(src[start - 1]))
		start--;
	return end > start && !key_allowed(src + start, end - start);
}

/* Skips a value starting at src[i]: a quoted one ('a b', with backslash
 * escapes) up to its closing quote, else up to whitespace (or '&' inside a
 * URI query). Returns the index just after it. */
static size_t skip_value(const char *src, size_t i, bool in_uri)
{
	if (src[i] == '\'' || src[i] == '"') {
		char quote = src[i++];
		while (src[i] != '\0' && src[i] != quote) {
			if (src[i] == '\\' && src[i + 1] != '\0')
				i++;
			i++;
		}
		return src[i] == quote ? i + 1 : i;
	}
	while (src[i] != '\0' && !isspace((unsigned char)src[i]) &&
	       !(in_uri && (src[i] == '&' || src[i] == '#')))
		i++;
	return i;
}

/* At src[i] == "://": if the authority holds "user:secret@", returns the
 * index of the ':' before the secret and sets *at to the '@'. */
static bool uri_password(const char *src, size_t i, size_t *colon, size_t *at)
{
	size_t start = i + 3, end = start;
	while (src[end] != '\0' && src[end] != '/' && src[end] != '?' &&
	       src[end] != '#' && !isspace((unsigned char)src[end]))
		end++;
	size_t last_at = end;
	for (size_t k = start; k < end; k++)
		if (src[k] == '@')
			last_at = k;
	if (last_at == end)
		return false;
	for (size_t k = start; k < last_at; k++) {
		if (src[k] == ':') {
			*colon = k;
			*at = last_at;
			return true;
		}
	}
	return false;
}

/* src[q] is '"': does a JSON object member start here (after '{' or ',')? */
static bool json_member_start(const char *src, size_t q)
{
	size_t k = q;
	while (k > 0 && isspace((unsigned char)src[k - 1]))
		k--;
	return k > 0 && (src[k - 1] == '{' || src[k - 1] == ',');
}

/* At src[q] == '"' starting a JSON member: copies its key, and its value
 * when the key is allowed; a hidden scalar value becomes "***" (an
 * object or array value is left to the caller, member by member).
 * Returns the index after what was consumed. */
static size_t json_member(struct out *o, const char *src, size_t q)
{
	size_t end = skip_value(src, q, false);    /* the key, quotes included */
	size_t colon = end;
	while (src[colon] == ' ')
		colon++;
	for (size_t k = q; k < end; k++)
		out_char(o, src[k]);
	if (src[colon] != ':')
		return end;                             /* a string, not a key */
	bool hidden = end >= q + 2 && !key_allowed(src + q + 1, end - q - 2);
	size_t v = colon + 1;
	while (src[v] == ' ')
		v++;
	for (size_t k = end; k < v; k++)
		out_char(o, src[k]);
	if (!hidden || src[v] == '{' || src[v] == '[' || src[v] == '\0')
		return v;
	if (src[v] == '"') {
		out_str(o, "\"***\"");
		return skip_value(src, v, false);
	}
	out_str(o, "***");
	while (src[v] != '\0' && src[v] != ',' && src[v] != '}' && src[v] != ']' &&
	       !isspace((unsigned char)src[v]))
		v++;
	return v;
}

void bs_log_redact(const char *src, char *dst, size_t dst_size)
{
	if (dst_size == 0)
		return;
	struct out o = { dst, dst_size, 0 };
	bool in_uri = false;
	size_t i = 0;

	while (src[i] != '\0') {
		if (strncmp(src + i, "://", 3) == 0) {
			size_t colon, at;
			in_uri = true;
			if (uri_password(src, i, &colon, &at)) {
				for (; i <= colon; i++)
					out_char(&o, src[i]);
				out_str(&o, "***");
				i = at;
			} else {
				out_str(&o, "://");
				i += 3;
			}
			continue;
		}
		if (src[i] == '=' && hidden_key_before(src, i)) {
			out_char(&o, src[i++]);
			while (src[i] == ' ')
				out_char(&o, src[i++]);
			out_str(&o, "***");
			i = skip_value(src, i, in_uri);
			continue;
		}
		if (src[i] == '"' && json_member_start(src, i)) {
			i = json_member(&o, src, i);
			continue;
		}
		if (isspace((unsigned char)src[i]))
			in_uri = false;
		out_char(&o, src[i++]);
	}
	o.dst[o.len] = '\0';
}

void bs_log_scrub(char *msg, size_t msg_size, const char *secret)
{
	size_t n = secret != NULL ? strlen(secret) : 0;
	if (n == 0 || msg_size == 0)
		return;
	char out[LOG_LINE_MAX];
	struct out o = { out, sizeof(out), 0 };
	for (const char *p = msg; *p != '\0'; ) {
		if (strncmp(p, secret, n) == 0) {
			out_str(&o, "***");
			p += n;
		} else {
			out_char(&o, *p++);
		}
	}
	out[o.len] = '\0';
	snprintf(msg, msg_size, "%s", out);
}
