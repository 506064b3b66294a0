/*
 * test_log.c — the operator log: line format, levels, one line per event
 * even from many threads, the JSON format (parsed back with json-c), and
 * redaction of passwords and secrets.
 */
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "log.h"

/* --- capturing stderr ------------------------------------------------ */

static int saved_stderr = -1;
static FILE *capture_file;

static void capture_start(void)
{
	fflush(stderr);
	capture_file = tmpfile();
	assert_non_null(capture_file);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr >= 0);
	assert_true(dup2(fileno(capture_file), STDERR_FILENO) >= 0);
}

/* Returns everything logged since capture_start (malloc'd). */
static char *capture_stop(void)
{
	fflush(stderr);
	assert_true(dup2(saved_stderr, STDERR_FILENO) >= 0);
	close(saved_stderr);
	fseek(capture_file, 0, SEEK_END);
	long size = ftell(capture_file);
	assert_true(size >= 0);
	rewind(capture_file);
	char *buf = calloc(1, (size_t)size + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)size, capture_file), (size_t)size);
	fclose(capture_file);
	return buf;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

#define LINE_RE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z " \
	"bandsplit-test\\[[0-9]+\\] (DEBUG|INFO|WARN|ERROR): "

static void assert_line_format(const char *line)
{
	regex_t re;
	assert_int_equal(regcomp(&re, LINE_RE, REG_EXTENDED | REG_NOSUB), 0);
	int rc = regexec(&re, line, 0, NULL, 0);
	regfree(&re);
	if (rc != 0)
		fail_msg("bad log line: '%s'", line);
}

static int setup(void **state)
{
	(void)state;
	bs_log_init("/usr/local/bin/bandsplit-test");
	bs_log_set_level(BS_LOG_DEBUG);
	return 0;
}

static void test_format(void **state)
{
	(void)state;
	capture_start();
	bs_log(BS_LOG_WARN, "spool depth %d over %s", 7, "limit");
	char *out = capture_stop();
	assert_int_equal(count_lines(out), 1);
	assert_line_format(out);
	char want[64];
	snprintf(want, sizeof(want), "[%ld] WARN: spool depth 7 over limit\n",
		 (long)getpid());
	assert_non_null(strstr(out, want));
	free(out);
}

static void test_levels(void **state)
{
	(void)state;
	bs_log_set_level(BS_LOG_WARN);
	assert_int_equal(bs_log_get_level(), BS_LOG_WARN);
	capture_start();
	BS_DEBUG("hidden debug");
	BS_INFO("hidden info");
	BS_WARN("shown warn");
	BS_ERROR("shown error");
	char *out = capture_stop();
	bs_log_set_level(BS_LOG_DEBUG);
	assert_int_equal(count_lines(out), 2);
	assert_null(strstr(out, "hidden"));
	assert_non_null(strstr(out, "WARN: shown warn"));
	assert_non_null(strstr(out, "ERROR: shown error"));
	free(out);
}

static void test_one_line_per_event(void **state)
{
	(void)state;
	char big[5000];
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	capture_start();
	BS_INFO("two\nlines\r\nhere");
	BS_INFO("%s", big);
	char *out = capture_stop();
	assert_int_equal(count_lines(out), 2);
	assert_non_null(strstr(out, "INFO: two lines  here\n"));
	/* The long one is cut and marked. */
	char *second = strchr(out, '\n') + 1;
	assert_line_format(second);
	assert_true(strlen(second) < 2100);
	assert_non_null(strstr(second, "yyy...\n"));
	free(out);
}

#define THREADS 4
#define LINES_PER_THREAD 500

static void *log_thread(void *arg)
{
	int id = (int)(intptr_t)arg;
	for (int i = 0; i < LINES_PER_THREAD; i++)
		BS_INFO("thread %d line %d %s", id, i,
			"padding-padding-padding-padding-padding-padding");
	return NULL;
}

static void test_threads_do_not_interleave(void **state)
{
	(void)state;
	pthread_t t[THREADS];
	capture_start();
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, log_thread,
						(void *)(intptr_t)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	char *out = capture_stop();
	assert_int_equal(count_lines(out), THREADS * LINES_PER_THREAD);
	char *save = NULL;
	for (char *line = strtok_r(out, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		assert_line_format(line);
		int id, n;
		char pad[64];
		assert_int_equal(sscanf(strstr(line, "INFO: "),
					"INFO: thread %d line %d %63s", &id, &n,
					pad), 3);
		assert_string_equal(pad, "padding-padding-padding-padding-padding-padding");
	}
	free(out);
}

/* --- json format ----------------------------------------------------- */

/* Parses one line as a JSON object (asserting it is exactly one) and
 * returns it; the caller puts it. */
static json_object *parse_json_line(const char *line, size_t len)
{
	json_tokener *tok = json_tokener_new();
	json_object *obj = json_tokener_parse_ex(tok, line, (int)len);
	enum json_tokener_error err = json_tokener_get_error(tok);
	size_t used = tok->char_offset;
	json_tokener_free(tok);
	if (obj == NULL || err != json_tokener_success)
		fail_msg("not JSON: '%.*s'", (int)len, line);
	assert_int_equal(used, len);
	assert_true(json_object_is_type(obj, json_type_object));
	return obj;
}

static const char *member(json_object *obj, const char *key)
{
	json_object *v = NULL;
	if (!json_object_object_get_ex(obj, key, &v))
		fail_msg("no key '%s'", key);
	return json_object_get_string(v);
}

static void test_format_names(void **state)
{
	(void)state;
	assert_int_equal(bs_log_set_format("json"), 0);
	assert_int_equal(bs_log_is_json(), 1);
	assert_int_equal(bs_log_set_format("yaml"), -1);
	assert_int_equal(bs_log_set_format(""), -1);
	assert_int_equal(bs_log_set_format(NULL), -1);
	assert_int_equal(bs_log_set_format("JSON"), -1);
	assert_int_equal(bs_log_is_json(), 1);        /* unchanged by a bad name */
	assert_int_equal(bs_log_set_format("text"), 0);
	assert_int_equal(bs_log_is_json(), 0);
	capture_start();
	assert_int_equal(bs_log_format_option("bandsplit-test", "xml"), -1);
	char *out = capture_stop();
	assert_non_null(strstr(out, "--log-format"));
	free(out);
}

static void test_json_keys(void **state)
{
	(void)state;
	assert_int_equal(bs_log_set_format("json"), 0);
	capture_start();
	BS_WARN("spool depth %d", 7);
	BS_DEBUG("dbg");
	char *out = capture_stop();
	bs_log_set_format("text");
	assert_int_equal(count_lines(out), 2);
	char *nl = strchr(out, '\n');
	json_object *obj = parse_json_line(out, (size_t)(nl - out));
	assert_int_equal(json_object_object_length(obj), 5);
	assert_string_equal(member(obj, "level"), "WARN");
	assert_string_equal(member(obj, "program"), "bandsplit-test");
	assert_string_equal(member(obj, "msg"), "spool depth 7");
	assert_int_equal(atol(member(obj, "pid")), (long)getpid());
	regex_t re;
	assert_int_equal(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:"
				 "[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$",
				 REG_EXTENDED | REG_NOSUB), 0);
	assert_int_equal(regexec(&re, member(obj, "ts"), 0, NULL, 0), 0);
	regfree(&re);
	/* the stable key order: ts, level, program, pid, msg */
	assert_true(strncmp(out, "{\"ts\":", 6) == 0);
	assert_true(strstr(out, "\"level\"") < strstr(out, "\"program\""));
	assert_true(strstr(out, "\"pid\"") < strstr(out, "\"msg\""));
	json_object_put(obj);
	obj = parse_json_line(nl + 1, strlen(nl + 1) - 1);
	assert_string_equal(member(obj, "level"), "DEBUG");
	json_object_put(obj);
	free(out);
}

/* Every byte value in a message survives as one parseable line: control
 * characters escaped, valid UTF-8 kept, invalid bytes as U+FFFD. */
static void test_json_escaping(void **state)
{
	(void)state;
	assert_int_equal(bs_log_set_format("json"), 0);
	capture_start();
	BS_INFO("q\"b\\ nl\n cr\r tab\t bell\a esc\x1b del\x7f end");
	BS_INFO("utf8 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80 ok");
	BS_INFO("bad \xff \xc0\xaf \xed\xa0\x80 \xe4\xb8 x");
	char all[256];
	for (int i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = '\0';
	BS_INFO("%s", all);
	char *out = capture_stop();
	bs_log_set_format("text");
	assert_int_equal(count_lines(out), 4);
	const char *want[] = {
		"q\"b\\ nl\n cr\r tab\t bell\a esc\x1b del\x7f end",
		"utf8 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80 ok",
		"bad \xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd "
		"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd x",
	};
	char *line = out;
	for (int i = 0; i < 4; i++) {
		char *nl = strchr(line, '\n');
		assert_non_null(nl);
		for (char *p = line; p < nl; p++)    /* raw control bytes never */
			assert_true((unsigned char)*p >= 0x20);
		json_object *obj = parse_json_line(line, (size_t)(nl - line));
		if (i < 3)
			assert_string_equal(member(obj, "msg"), want[i]);
		else
			assert_int_equal(strlen(member(obj, "msg")) >= 128, 1);
		json_object_put(obj);
		line = nl + 1;
	}
	free(out);
}

static void test_json_long_and_threads(void **state)
{
	(void)state;
	char big[5000];
	memset(big, '\x01', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(bs_log_set_format("json"), 0);
	capture_start();
	BS_INFO("%s", big);
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, log_thread,
						(void *)(intptr_t)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	char *out = capture_stop();
	bs_log_set_format("text");
	assert_int_equal(count_lines(out), 1 + THREADS * LINES_PER_THREAD);
	char *save = NULL;
	int n = 0;
	for (char *l = strtok_r(out, "\n", &save); l != NULL;
	     l = strtok_r(NULL, "\n", &save), n++) {
		json_object *obj = parse_json_line(l, strlen(l));
		const char *msg = member(obj, "msg");
		if (n == 0) {       /* cut and marked, still one object */
			assert_true(strlen(msg) < 2048);
			assert_non_null(strstr(msg, "\x01..."));
		} else {
			assert_non_null(strstr(msg, "padding-padding"));
		}
		json_object_put(obj);
	}
	free(out);
}

/* --- redaction ------------------------------------------------------- */

static void check_redact(const char *in, const char *want)
{
	char out[512];
	bs_log_redact(in, out, sizeof(out));
	if (strcmp(out, want) != 0)
		fail_msg("redact '%s'\n  got  '%s'\n  want '%s'", in, out, want);
}

static void test_redact_conninfo(void **state)
{
	(void)state;
	check_redact("host=db port=5432 dbname=bandsplit user=settle password=s3cr3t",
		     "host=db port=5432 dbname=bandsplit user=settle password=***");
	check_redact("password=s3cr3t host=db",
		     "password=*** host=db");
	check_redact("host=db password = 's3 cr\\'et' user=x",
		     "host=db password = *** user=x");
	check_redact("PASSWORD='a b' sslpassword=k",
		     "PASSWORD=*** sslpassword=***");
	check_redact("host=db user=settle", "host=db user=settle");
}

static void test_redact_uri(void **state)
{
	(void)state;
	check_redact("postgresql://settle:s3cr3t@db.example:5432/bandsplit",
		     "postgresql://settle:***@db.example:5432/bandsplit");
	check_redact("postgres://settle:p@ss@db/bs?sslmode=require",
		     "postgres://settle:***@db/bs?sslmode=require");
	check_redact("postgresql://settle@db/bs", "postgresql://settle@db/bs");
	check_redact("postgresql://db:5432/bs", "postgresql://db:5432/bs");
	check_redact("postgresql://u@db/bs?password=x&sslmode=require",
		     "postgresql://u@db/bs?password=***&sslmode=require");
	check_redact("connect postgresql://a:b@h/d failed: password=x&y",
		     "connect postgresql://a:***@h/d failed: password=***");
}

static void test_redact_kafka(void **state)
{
	(void)state;
	check_redact("sasl.password=hunter2", "sasl.password=***");
	check_redact("ssl.key.password=k1 ssl.keystore.password=k2 acks=all",
		     "ssl.key.password=*** ssl.keystore.password=*** acks=all");
	check_redact("sasl.oauthbearer.client.secret=abc sasl.username=bob",
		     "sasl.oauthbearer.client.secret=*** sasl.username=bob");
	check_redact("Configuration property sasl.password = hunter2",
		     "Configuration property sasl.password = ***");
}

/* An allowlist, not a list of secret words: keys nobody listed (a PEM, a
 * token, a JSON "password") lose their values; the allowed ones keep
 * theirs. */
static void test_redact_allowlist(void **state)
{
	(void)state;
	check_redact("ssl.key.pem=-----BEGIN acks=all",
		     "ssl.key.pem=*** acks=all");
	check_redact("x.custom.token=abc client.id=c1 sslkey=/k.pem sslmode=require",
		     "x.custom.token=*** client.id=c1 sslkey=*** sslmode=require");
	check_redact("{\"user\": \"bob\", \"password\": \"hunter2\", \"pin\": 1234}",
		     "{\"user\": \"bob\", \"password\": \"***\", \"pin\": ***}");
	check_redact("cfg {\"a\":{\"secret\":\"s\\\"x\"},\"port\":5432}",
		     "cfg {\"a\":{\"secret\":\"***\"},\"port\":5432}");
	/* a quoted word followed by ':' outside an object is prose */
	check_redact("Group \"g1\": joined", "Group \"g1\": joined");
}

static void test_scrub(void **state)
{
	(void)state;
	char msg[64] = "missing \"=\" after \"hunter2\" (hunter2)";
	bs_log_scrub(msg, sizeof(msg), "hunter2");
	assert_string_equal(msg, "missing \"=\" after \"***\" (***)");
	bs_log_scrub(msg, sizeof(msg), "");
	bs_log_scrub(msg, sizeof(msg), NULL);
	assert_string_equal(msg, "missing \"=\" after \"***\" (***)");
}

static void test_redact_truncates_safely(void **state)
{
	(void)state;
	char out[12];
	bs_log_redact("user=x password=abcdef", out, sizeof(out));
	assert_string_equal(out, "user=x pass");
	char one[1];
	bs_log_redact("password=abc", one, sizeof(one));
	assert_string_equal(one, "");
	char small[18];
	bs_log_redact("password=abcdefghijklmnop", small, sizeof(small));
	assert_string_equal(small, "password=***");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_one_line_per_event),
		cmocka_unit_test(test_threads_do_not_interleave),
		cmocka_unit_test(test_format_names),
		cmocka_unit_test(test_json_keys),
		cmocka_unit_test(test_json_escaping),
		cmocka_unit_test(test_json_long_and_threads),
		cmocka_unit_test(test_redact_conninfo),
		cmocka_unit_test(test_redact_uri),
		cmocka_unit_test(test_redact_kafka),
		cmocka_unit_test(test_redact_allowlist),
		cmocka_unit_test(test_scrub),
		cmocka_unit_test(test_redact_truncates_safely),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
