/*
 * conf.c — the INI loader shared by the programs' configuration loaders,
 * and their value parsers (see conf.h).
 */
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(INI_MAX_LINE == BS_CONF_MAX_LINE + 2,
	       "BS_CONF_MAX_LINE must follow inih's INI_MAX_LINE");

/* inih's MAX_SECTION (50) less the NUL: the longest section name it keeps */
#define SECTION_NAME_MAX 49

/* A key already given: where, so that a second one can name both lines. */
struct seen_key {
	/* whole names: inih bounds section names (MAX_SECTION) but not key
	 * names, which may fill the line; a shortened copy never matched the
	 * second occurrence of a long key (found by tests/fuzz/fuzz_conf) */
	char section[BS_CONF_MAX_LINE + 1], key[BS_CONF_MAX_LINE + 1];
	int line;
};

struct loader {
	const char *path;
	const struct bs_conf_handlers *h;
	FILE *file;
	int lineno;                 /* the line inih is handling */
	bool indented;              /* it starts with a space or a tab */
	bool key_in_section;        /* a key since the last header (inih's
				     * "prev_name": indented lines continue it) */
	char last_key[BS_CONF_MAX_LINE + 1];   /* that key, and its line */
	int last_key_line;
	bool failed;
	char *err;
	size_t err_size;
	struct seen_key *seen;
	size_t n_seen, cap_seen;
};

__attribute__((format(printf, 2, 3)))
static void fail(struct loader *l, const char *fmt, ...)
{
	if (l->failed)
		return;
	l->failed = true;
	int n = snprintf(l->err, l->err_size, "%s:%d: ", l->path, l->lineno);
	if (n < 0 || (size_t)n >= l->err_size)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(l->err + n, l->err_size - (size_t)n, fmt, ap);
	va_end(ap);
}

static void on_section(struct loader *l, const char *name)
{
	l->key_in_section = false;
	char msg[512] = "";
	if (!l->h->section(l->h->ctx, name, l->lineno, msg, sizeof(msg)))
		fail(l, "[%s] section: %s", name, msg);
}

/* inih's ini_reader: counts lines, refuses an over-long one, reports each
 * header line before inih hands over its keys. */
static char *read_line(char *str, int num, void *stream)
{
	struct loader *l = stream;
	if (l->failed)
		return NULL;    /* inih stops reading */
	char *line = fgets(str, num, l->file);
	if (line == NULL)
		return NULL;
	l->lineno++;
	if (strchr(line, '\n') == NULL && !feof(l->file)) {
		fail(l, "line longer than %d bytes", num - 2);
		return NULL;
	}
	const char *p = line;
	if (l->lineno == 1 && !strncmp(p, "\xEF\xBB\xBF", 3))
		p += 3;     /* a UTF-8 BOM, which inih skips too */
	/* inih skips what isspace() says is space (a '\r', '\v' or '\f'
	 * too) and calls a line so indented a continuation: the same here
	 * (found by fuzz_conf: a line led by '\r' reached the program as a
	 * new key) */
	const char *start = p;
	while (*p != '\0' && isspace((unsigned char)*p))
		p++;
	l->indented = p != start;
	/* inih takes an indented line after a key as that key's continuation,
	 * even one that looks like a header; the key handler refuses it. */
	bool continuation = l->indented && l->key_in_section;
	if (!continuation && *p != '\0' && *p != '\n' && *p != '\r' &&
	    !strchr(";#", *p) && !(*p == '[' ? strchr(p, ']') : strpbrk(p, "=:"))) {
		/* What inih would report, but stopping here. */
		fail(l, "syntax error (expected [section] or key = value)");
		return NULL;
	}
	const char *end = *p == '[' ? strchr(p, ']') : NULL;
	if (end != NULL && !continuation) {
		/* inih cuts a longer name short (MAX_SECTION) for the keys that
		 * follow, which would then carry another section's name */
		if (end - p - 1 > SECTION_NAME_MAX) {
			fail(l, "section name longer than %d bytes", SECTION_NAME_MAX);
			return NULL;
		}
		char name[SECTION_NAME_MAX + 1];
		snprintf(name, sizeof(name), "%.*s", (int)(end - p - 1), p + 1);
		on_section(l, name);
		if (l->failed)
			return NULL;
	}
	return line;
}

static const struct seen_key *find_key(const struct loader *l,
				       const char *section, const char *key)
{
	for (size_t i = 0; i < l->n_seen; i++)
		if (!strcmp(l->seen[i].section, section) &&
		    !strcmp(l->seen[i].key, key))
			return &l->seen[i];
	return NULL;
}

static int remember_key(struct loader *l, const char *section, const char *key)
{
	if (l->n_seen == l->cap_seen) {
		size_t cap = l->cap_seen ? 2 * l->cap_seen : 32;
		struct seen_key *s = realloc(l->seen, cap * sizeof(*s));
		if (s == NULL) {
			fail(l, "out of memory");
			return -1;
		}
		l->seen = s;
		l->cap_seen = cap;
	}
	struct seen_key *k = &l->seen[l->n_seen++];
	snprintf(k->section, sizeof(k->section), "%s", section);
	snprintf(k->key, sizeof(k->key), "%s", key);
	k->line = l->lineno;
	return 0;
}

static bool repeatable(const struct bs_conf_handlers *h, const char *key)
{
	for (const char *const *r = h->repeatable; r != NULL && *r != NULL; r++)
		if (!strcmp(*r, key))
			return true;
	return false;
}

static int on_key(void *user, const char *section, const char *key,
		  const char *value)
{
	struct loader *l = user;
	if (l->failed)
		return 0;
	const struct seen_key *first = find_key(l, section, key);
	/* Every indented line after a key is inih's continuation of it, and
	 * comes with the key's name cut to inih's MAX_NAME (50): so it is
	 * recognised by the line, not by the name (a long key's continuation
	 * once reached the program as a new key; found by fuzz_conf). */
	if (l->indented && l->key_in_section) {
		fail(l, "[%s] %s: indented line continues the value of '%s' "
		     "from line %d (multi-line values are not supported; remove "
		     "the indentation)", section[0] ? section : "-", l->last_key,
		     l->last_key, l->last_key_line);
		return 0;
	}
	if (section[0] == '\0') {
		fail(l, "[-] %s: key outside a section", key);
		return 0;
	}
	if (first != NULL && !repeatable(l->h, key)) {
		fail(l, "[%s] %s: given twice (first at line %d)", section, key,
		     first->line);
		return 0;
	}
	l->key_in_section = true;
	snprintf(l->last_key, sizeof(l->last_key), "%s", key);
	l->last_key_line = l->lineno;
	if (first == NULL && remember_key(l, section, key) < 0)
		return 0;
	char msg[512] = "";
	if (!l->h->key(l->h->ctx, section, key, value, msg, sizeof(msg))) {
		fail(l, "[%s] %s: %s", section, key, msg);
		return 0;
	}
	return 1;
}

int bs_conf_load(const char *path, const struct bs_conf_handlers *h,
		 char *err, size_t err_size)
{
	struct loader l = { .path = path, .h = h, .err = err,
			    .err_size = err_size };
	l.file = fopen(path, "r");
	if (l.file == NULL) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		return -1;
	}
	int rc = ini_parse_stream(read_line, &l, on_key, &l);
	bool read_error = ferror(l.file) != 0;
	fclose(l.file);
	free(l.seen);
	if (l.failed)
		return -1;
	if (rc > 0) {    /* the reader stops at what it knows; inih's view */
		snprintf(err, err_size, "%s:%d: syntax error (expected [section] "
			 "or key = value)", path, rc);
		return -1;
	}
	if (rc < 0 || read_error) {
		snprintf(err, err_size, "%s: could not be read", path);
		return -1;
	}
	return 0;
}

int bs_conf_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (s[0] < '0' || s[0] > '9')
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int bs_conf_copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);
	if (n >= size)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}
