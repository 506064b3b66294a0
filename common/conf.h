/*
 * conf.h — the one INI loader of bandsplit's configuration files (the
 * meter's and bandsplit-settle's), around libinih, and strict value parsers.
 *
 * bs_conf_load reads a file and hands each [section] header and each
 * "key = value" to the program's callbacks; everything else is decided here,
 * the same way for both programs, every error naming "file:line":
 *   - a line longer than inih's buffer (BS_CONF_MAX_LINE bytes) is refused
 *     where it is (inih would silently split it);
 *   - each [section] header is reported with its own line (inih reports
 *     keys only, so an empty section would go unseen);
 *   - a key outside any section is refused: "[-] key: key outside a section";
 *   - a key given twice in the same section (also in two headers of the same
 *     name) is refused, naming both lines, unless the program lists it as
 *     repeatable (each line adds to a list, e.g. the meter's vlan_pool);
 *   - an indented line after a key, which inih would take as a continuation
 *     of that key's value, is refused (multi-line values are not supported);
 *   - anything else that is not INI: "syntax error (expected [section] or
 *     key = value)".
 * Debian builds inih without INI_HANDLER_LINENO, so the line numbers come
 * from this loader's own line reader.
 */
#ifndef BS_CONF_H
#define BS_CONF_H

#include <stdint.h>
#include <stdio.h>

/* inih's line buffer (INI_MAX_LINE 200) less the newline and the NUL. */
#define BS_CONF_MAX_LINE 198

struct bs_conf_handlers {
	void *ctx;
	/* A "[name]" header on `line`: 1 to accept it, 0 to refuse it with a
	 * message in msg (reported "file:line: [name] section: msg"). */
	int (*section)(void *ctx, const char *name, int line, char *msg,
		       size_t msg_size);
	/* "key = value" in a section: 1 to accept, 0 to refuse with a message
	 * in msg (reported "file:line: [section] key: msg"). */
	int (*key)(void *ctx, const char *section, const char *key,
		   const char *value, char *msg, size_t msg_size);
	/* NULL-terminated names of keys that may be given more than once in
	 * a section (each occurrence is handed to `key`); may be NULL. */
	const char *const *repeatable;
};

/* Loads path through the handlers. Returns 0, or -1 with err set (the first
 * error; nothing after it is handed to the callbacks). */
int bs_conf_load(const char *path, const struct bs_conf_handlers *h,
		 char *err, size_t err_size);

/* Decimal digits only, no sign, no trailing text, within [min, max]. */
int bs_conf_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Copies src if it fits (with its NUL) in dst; -1 otherwise. */
int bs_conf_copy_str(char *dst, size_t size, const char *src);

#endif
