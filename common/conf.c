/*
 * conf.c — the INI line reader and value parsers shared by the programs'
 * configuration loaders (see conf.h).
 */
#include "conf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

char *bs_conf_read_line(char *str, int num, void *stream)
{
	struct bs_conf_reader *r = stream;
	char *line = fgets(str, num, r->file);
	if (line == NULL)
		return NULL;
	r->lineno++;
	if (strchr(line, '\n') == NULL && !feof(r->file)) {
		snprintf(r->too_long_err, sizeof(r->too_long_err),
			 "%s:%d: line longer than %d bytes", r->path, r->lineno, num - 2);
		r->too_long = 1;
		return NULL;    /* inih stops reading */
	}
	if (r->on_section != NULL) {
		const char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		const char *end = *p == '[' ? strchr(p, ']') : NULL;
		if (end != NULL) {
			char name[128];
			snprintf(name, sizeof(name), "%.*s", (int)(end - p - 1), p + 1);
			r->on_section(r->ctx, name, r->lineno);
		}
	}
	return line;
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
