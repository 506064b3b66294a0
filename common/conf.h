/*
 * conf.h — what every bandsplit INI configuration needs around libinih:
 * a line reader that counts lines (Debian builds inih without
 * INI_HANDLER_LINENO, so errors get "file:line" from here), refuses a line
 * longer than inih's buffer where it is (inih would silently split it), and
 * reports each [section] header with its own line (inih reports keys only,
 * so an empty section would go unseen); and strict value parsers.
 */
#ifndef BS_CONF_H
#define BS_CONF_H

#include <stdint.h>
#include <stdio.h>

struct bs_conf_reader {
	FILE *file;
	const char *path;           /* for the too-long-line error */
	int lineno;                 /* the line inih is handling */
	int too_long;               /* set when a line was refused ... */
	char too_long_err[512];     /* ... and why, "file:line: ..." */
	/* optional: called for each "[name]" header line, before its keys */
	void (*on_section)(void *ctx, const char *name, int lineno);
	void *ctx;
};

/* inih's ini_reader: ini_parse_stream(bs_conf_read_line, &reader, ...). */
char *bs_conf_read_line(char *str, int num, void *stream);

/* Decimal digits only, no sign, no trailing text, within [min, max]. */
int bs_conf_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Copies src if it fits (with its NUL) in dst; -1 otherwise. */
int bs_conf_copy_str(char *dst, size_t size, const char *src);

#endif
