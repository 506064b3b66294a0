/*
 * test_conf.c — common/conf.c, the INI loader both programs' configurations
 * go through: what it hands to the program (sections on their own line,
 * keys with their values) and what it refuses itself, each with its exact
 * "file:line: ..." — a key given twice (naming both lines) unless the
 * program lists it as repeatable, an over-long line (inih would split it),
 * an indented continuation line, a key outside a section, a syntax error,
 * a section or key the program refuses; and that nothing after the first
 * error reaches the program.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

/* What the loader handed over, one "[section]@line" or "section.key=value"
 * per line; a section named "bad" and a key named "bad" are refused. */
struct calls {
	char log[4096];
};

static void note(struct calls *c, const char *text)
{
	size_t n = strlen(c->log);
	snprintf(c->log + n, sizeof(c->log) - n, "%s\n", text);
}

static int on_section(void *ctx, const char *name, int line, char *msg,
		      size_t msg_size)
{
	char text[256];
	snprintf(text, sizeof(text), "[%s]@%d", name, line);
	note(ctx, text);
	if (!strcmp(name, "bad")) {
		snprintf(msg, msg_size, "refused by the program");
		return 0;
	}
	return 1;
}

static int on_key(void *ctx, const char *section, const char *key,
		  const char *value, char *msg, size_t msg_size)
{
	char text[512];
	snprintf(text, sizeof(text), "%s.%s=%s", section, key, value);
	note(ctx, text);
	if (!strcmp(key, "bad")) {
		snprintf(msg, msg_size, "'%s' refused by the program", value);
		return 0;
	}
	return 1;
}

static char path[] = "/tmp/bs-test-conf-XXXXXX";

static int make_file(void **state)
{
	(void)state;
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int remove_file(void **state)
{
	(void)state;
	return unlink(path);
}

/* Loads text; returns the loader's result, err and the calls seen. */
static int load(const char *text, struct calls *c, char *err, size_t err_size)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	static const char *const repeatable[] = { "many", NULL };
	memset(c, 0, sizeof(*c));
	err[0] = '\0';
	const struct bs_conf_handlers h = { .ctx = c, .section = on_section,
		.key = on_key, .repeatable = repeatable };
	return bs_conf_load(path, &h, err, err_size);
}

/* Loads text, expects err == path + want_suffix and the calls seen. */
static void load_fails(const char *text, const char *want_suffix,
		       const char *want_calls)
{
	struct calls c;
	char err[1024], want[1024];
	assert_int_equal(load(text, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s%s", path, want_suffix);
	assert_string_equal(err, want);
	assert_string_equal(c.log, want_calls);
}

static void load_ok(const char *text, const char *want_calls)
{
	struct calls c;
	char err[1024];
	if (load(text, &c, err, sizeof(err)) != 0)
		fail_msg("expected to load, got: %s", err);
	assert_string_equal(c.log, want_calls);
}

static void sections_and_keys_reach_the_program(void **state)
{
	(void)state;
	/* An empty section is reported too, each header with its line. */
	load_ok("# comment\n[a]\nx = 1\n\n[empty]\n[b]\n  y = two words \n",
		"[a]@2\na.x=1\n[empty]@5\n[b]@6\nb.y=two words\n");
	/* A UTF-8 BOM before the first header does not hide it. */
	load_ok("\xEF\xBB\xBF[a]\nx = 1\n", "[a]@1\na.x=1\n");
}

static void a_key_given_twice_is_refused_naming_both_lines(void **state)
{
	(void)state;
	load_fails("[a]\nx = 1\ny = 2\nx = 3\nz = 4\n",
		   ":4: [a] x: given twice (first at line 2)",
		   "[a]@1\na.x=1\na.y=2\n");
	/* In two headers of the same name as well. */
	load_fails("[a]\nx = 1\n[b]\nx = 2\n[a]\nx = 3\n",
		   ":6: [a] x: given twice (first at line 2)",
		   "[a]@1\na.x=1\n[b]@3\nb.x=2\n[a]@5\n");
	/* The same key in different sections is two keys. */
	load_ok("[a]\nx = 1\n[b]\nx = 1\n", "[a]@1\na.x=1\n[b]@3\nb.x=1\n");
	/* A key the program lists as repeatable is handed over each time. */
	load_ok("[a]\nmany = 1\nmany = 2\n", "[a]@1\na.many=1\na.many=2\n");
}

static void an_over_long_line_is_refused_where_it_is(void **state)
{
	(void)state;
	char text[1024], want[256];
	/* Exactly BS_CONF_MAX_LINE bytes before the newline: accepted. */
	int n = snprintf(text, sizeof(text), "[a]\nx = ");
	memset(text + n, 'v', BS_CONF_MAX_LINE - 4);
	snprintf(text + n + BS_CONF_MAX_LINE - 4, sizeof(text) - (size_t)n -
		 BS_CONF_MAX_LINE + 4, "\ny = 1\n");
	struct calls c;
	char err[1024];
	assert_int_equal(load(text, &c, err, sizeof(err)), 0);
	assert_non_null(strstr(c.log, "a.y=1\n"));

	/* One byte more: refused on its own line, and the line's tail is not
	 * taken for a line of its own; nothing after it is handed over. */
	n = snprintf(text, sizeof(text), "[a]\nw = 0\nx = ");
	memset(text + n, 'v', BS_CONF_MAX_LINE - 3);
	snprintf(text + n + BS_CONF_MAX_LINE - 3, sizeof(text) - (size_t)n -
		 BS_CONF_MAX_LINE + 3, "\ny = 1\n");
	snprintf(want, sizeof(want), ":3: line longer than %d bytes",
		 BS_CONF_MAX_LINE);
	load_fails(text, want, "[a]@1\na.w=0\n");

	/* The last line, without a newline, as well. */
	n = snprintf(text, sizeof(text), "[a]\nx = ");
	memset(text + n, 'v', 300);
	text[n + 300] = '\0';
	snprintf(want, sizeof(want), ":2: line longer than %d bytes",
		 BS_CONF_MAX_LINE);
	load_fails(text, want, "[a]@1\n");
}

static void an_indented_continuation_is_refused(void **state)
{
	(void)state;
	/* inih would make "y = 2" part of x's value. */
	load_fails("[a]\nx = 1\n# note\n  y = 2\n",
		   ":4: [a] x: indented line continues the value of 'x' from "
		   "line 2 (multi-line values are not supported; remove the "
		   "indentation)", "[a]@1\na.x=1\n");
	/* Even one that looks like a header. */
	load_fails("[a]\nx = 1\n  [b]\n",
		   ":3: [a] x: indented line continues the value of 'x' from "
		   "line 2 (multi-line values are not supported; remove the "
		   "indentation)", "[a]@1\na.x=1\n");
	/* Indentation right after a header is only indentation. */
	load_ok("[a]\n  x = 1\n[b]\n\ty = 2\n",
		"[a]@1\na.x=1\n[b]@3\nb.y=2\n");
}

static void other_refusals(void **state)
{
	(void)state;
	load_fails("x = 1\n[a]\n", ":1: [-] x: key outside a section", "");
	load_fails("[a]\nx = 1\nno equals sign\ny = 2\n",
		   ":3: syntax error (expected [section] or key = value)",
		   "[a]@1\na.x=1\n");
	load_fails("[a]\nx = 1\n[b\ny = 2\n",
		   ":3: syntax error (expected [section] or key = value)",
		   "[a]@1\na.x=1\n");
	/* The program's refusals, named by the loader; nothing after. */
	load_fails("[a]\nx = 1\n[bad]\ny = 2\n",
		   ":3: [bad] section: refused by the program", "[a]@1\na.x=1\n[bad]@3\n");
	load_fails("[a]\nbad = 7\ny = 2\n",
		   ":2: [a] bad: '7' refused by the program", "[a]@1\na.bad=7\n");

	struct calls c;
	char err[1024];
	const struct bs_conf_handlers h = { .ctx = &c, .section = on_section,
					    .key = on_key };
	assert_int_equal(bs_conf_load("/nonexistent/x.conf", &h, err,
				      sizeof(err)), -1);
	assert_string_equal(err, "/nonexistent/x.conf: No such file or directory");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sections_and_keys_reach_the_program),
		cmocka_unit_test(a_key_given_twice_is_refused_naming_both_lines),
		cmocka_unit_test(an_over_long_line_is_refused_where_it_is),
		cmocka_unit_test(an_indented_continuation_is_refused),
		cmocka_unit_test(other_refusals),
	};
	return cmocka_run_group_tests(tests, make_file, remove_file);
}
