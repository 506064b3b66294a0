/*
 * test_kafka.c — librdkafka configuration: the property table, errors that
 * name the property, librdkafka's log routed to bs_log without secrets, and
 * waiting for a topic on librdkafka's mock cluster.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kafka.h"
#include "log.h"

#include <librdkafka/rdkafka_mock.h> /* after rdkafka.h, which kafka.h has */

static void assert_conf_value(rd_kafka_conf_t *conf, const char *key,
			      const char *want)
{
	char val[256];
	size_t size = sizeof(val);
	assert_int_equal(rd_kafka_conf_get(conf, key, val, &size),
			 RD_KAFKA_CONF_OK);
	assert_string_equal(val, want);
}

static void test_props_set_and_replace(void **state)
{
	(void)state;
	struct bs_kafka_props p = { 0 };
	char err[256];
	assert_int_equal(bs_kafka_props_set(&p, "acks", "1", err, sizeof(err)), 0);
	assert_int_equal(bs_kafka_props_set(&p, "linger.ms", "5", err,
					    sizeof(err)), 0);
	assert_int_equal(bs_kafka_props_set(&p, "acks", "all", err,
					    sizeof(err)), 0);
	assert_int_equal(p.count, 2);
	assert_string_equal(p.key[0], "acks");
	assert_string_equal(p.value[0], "all");
	assert_string_equal(p.value[1], "5");
	bs_kafka_props_free(&p);
	assert_int_equal(p.count, 0);
}

static void test_props_full(void **state)
{
	(void)state;
	struct bs_kafka_props p = { 0 };
	char key[32], err[256] = "";
	for (int i = 0; i < BS_KAFKA_MAX_PROPS; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(bs_kafka_props_set(&p, key, "v", err,
						    sizeof(err)), 0);
	}
	assert_int_equal(bs_kafka_props_set(&p, "one.too.many", "v", err,
					    sizeof(err)), -1);
	assert_non_null(strstr(err, "'one.too.many'"));
	/* Replacing an existing key still works when full. */
	assert_int_equal(bs_kafka_props_set(&p, "k3", "w", err, sizeof(err)), 0);
	assert_string_equal(p.value[3], "w");
	assert_int_equal(p.count, BS_KAFKA_MAX_PROPS);
	bs_kafka_props_free(&p);
}

static void test_conf_applies_props(void **state)
{
	(void)state;
	struct bs_kafka_props p = { 0 };
	char err[256] = "";
	assert_int_equal(bs_kafka_props_set(&p, "client.id", "meter-7", err,
					    sizeof(err)), 0);
	assert_int_equal(bs_kafka_props_set(&p, "acks", "all", err,
					    sizeof(err)), 0);
	rd_kafka_conf_t *conf = bs_kafka_conf_new("h1:9092,h2:9092", &p, err,
						  sizeof(err));
	assert_non_null(conf);
	assert_conf_value(conf, "bootstrap.servers", "h1:9092,h2:9092");
	assert_conf_value(conf, "client.id", "meter-7");
	rd_kafka_conf_destroy(conf);

	/* Props override brokers when they say so. */
	assert_int_equal(bs_kafka_props_set(&p, "bootstrap.servers", "h3:9092",
					    err, sizeof(err)), 0);
	conf = bs_kafka_conf_new("h1:9092", &p, err, sizeof(err));
	assert_non_null(conf);
	assert_conf_value(conf, "bootstrap.servers", "h3:9092");
	rd_kafka_conf_destroy(conf);
	bs_kafka_props_free(&p);

	/* No brokers: bootstrap.servers is left unset. */
	conf = bs_kafka_conf_new("", NULL, err, sizeof(err));
	assert_non_null(conf);
	char val[64];
	size_t size = sizeof(val);
	val[0] = '\0';
	rd_kafka_conf_res_t res = rd_kafka_conf_get(conf, "bootstrap.servers",
						    val, &size);
	/* librdkafka reports an unset string property as not found. */
	assert_true(res != RD_KAFKA_CONF_OK || val[0] == '\0');
	rd_kafka_conf_destroy(conf);
}

static void test_conf_bad_property(void **state)
{
	(void)state;
	struct bs_kafka_props p = { 0 };
	char err[256] = "";
	assert_int_equal(bs_kafka_props_set(&p, "acks", "1", err, sizeof(err)), 0);
	assert_int_equal(bs_kafka_props_set(&p, "no.such.property", "x", err,
					    sizeof(err)), 0);
	assert_null(bs_kafka_conf_new("h:9092", &p, err, sizeof(err)));
	assert_non_null(strstr(err, "kafka property 'no.such.property': "));
	assert_true(strlen(err) > strlen("kafka property 'no.such.property': "));
	bs_kafka_props_free(&p);

	assert_int_equal(bs_kafka_props_set(&p, "linger.ms", "soon", err,
					    sizeof(err)), 0);
	assert_null(bs_kafka_conf_new("h:9092", &p, err, sizeof(err)));
	assert_non_null(strstr(err, "kafka property 'linger.ms': "));
	bs_kafka_props_free(&p);
}

/* --- librdkafka's log through bs_log --------------------------------- */

static char *capture_stderr_of_client(rd_kafka_conf_t *conf)
{
	char path[] = "/tmp/test_kafka_log_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);

	char errstr[256];
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr,
				      sizeof(errstr));
	assert_non_null(rk);
	rd_kafka_destroy(rk);

	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	off_t size = lseek(fd, 0, SEEK_END);
	char *buf = calloc(1, (size_t)size + 1);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)size, 0), size);
	close(fd);
	return buf;
}

/* Secrets that librdkafka itself does not hide (it redacts the properties
 * it marks sensitive, sasl.password, ssl.key.pem, ..., but not a client.id
 * or a kinit command holding one): only the project's own redaction keeps
 * them out of the log. The same configuration through librdkafka's own
 * logger must show them — else this test would prove nothing. */
static rd_kafka_conf_t *conf_with_secrets(void)
{
	struct bs_kafka_props p = { 0 };
	char err[256] = "";
	static const char *const kv[][2] = {
		{ "debug", "conf,generic" },
		{ "client.id", "{\"user\":\"logtest\",\"password\":\"hunter2\"}" },
		{ "sasl.kerberos.kinit.cmd", "kinit --password hunter3 bob" },
		{ "sasl.password", "hunter4" },
	};
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
		assert_int_equal(bs_kafka_props_set(&p, kv[i][0], kv[i][1], err,
						    sizeof(err)), 0);
	rd_kafka_conf_t *conf = bs_kafka_conf_new("127.0.0.1:1", &p, err,
						  sizeof(err));
	assert_non_null(conf);
	bs_kafka_props_free(&p);
	return conf;
}

static void test_log_routed_and_redacted(void **state)
{
	(void)state;
	/* librdkafka's own logger: the two secrets it does not know */
	char *raw = capture_stderr_of_client(conf_with_secrets());
	if (strstr(raw, "hunter2") == NULL || strstr(raw, "hunter3") == NULL)
		fail_msg("librdkafka hid them itself; pick other keys:\n%s", raw);
	assert_null(strstr(raw, "hunter4"));   /* this one it hides */
	free(raw);

	rd_kafka_conf_t *conf = conf_with_secrets();
	bs_kafka_conf_use_bs_log(conf);
	bs_log_init("test_kafka");
	bs_log_set_level(BS_LOG_DEBUG);
	char *out = capture_stderr_of_client(conf);
	bs_log_set_level(BS_LOG_INFO);

	if (strstr(out, "test_kafka[") == NULL ||
	    strstr(out, "DEBUG: kafka {\"user\":\"logtest\",\"password\":\"***\"}#producer-") == NULL ||
	    strstr(out, "sasl.kerberos.kinit.cmd = ***") == NULL)
		fail_msg("no redacted librdkafka debug line through bs_log in:\n%s", out);
	if (strstr(out, "hunter") != NULL)
		fail_msg("a secret in the log:\n%.200s", strstr(out, "hunter") - 150);
	free(out);
}

/* A property librdkafka refuses: its error quotes the value back; the
 * value is never shown. */
static void test_conf_error_hides_value(void **state)
{
	(void)state;
	struct bs_kafka_props p = { 0 };
	char err[512] = "";
	assert_int_equal(bs_kafka_props_set(&p, "security.protocol", "hunter5", err,
					    sizeof(err)), 0);
	assert_null(bs_kafka_conf_new("h:9092", &p, err, sizeof(err)));
	assert_non_null(strstr(err, "kafka property 'security.protocol': "));
	if (strstr(err, "hunter5") != NULL)
		fail_msg("value echoed: %s", err);
	bs_kafka_props_free(&p);
}

/* --- waiting for a topic ---------------------------------------------- */

static void test_wait_topic(void **state)
{
	(void)state;
	char err[256] = "", errstr[256];
	struct bs_kafka_props p = { 0 };
	assert_int_equal(bs_kafka_props_set(&p, "test.mock.num.brokers", "1", err,
					    sizeof(err)), 0);
	rd_kafka_conf_t *conf = bs_kafka_conf_new("", &p, err, sizeof(err));
	bs_kafka_props_free(&p);
	assert_non_null(conf);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr,
				      sizeof(errstr));
	if (rk == NULL)
		fail_msg("rd_kafka_new: %s", errstr);
	rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(rk);
	assert_non_null(mc);

	assert_int_equal(bs_kafka_wait_topic(rk, "bs.test.absent", 300, err,
					     sizeof(err)), -1);
	assert_non_null(strstr(err, "kafka topic 'bs.test.absent'"));

	assert_int_equal(rd_kafka_mock_topic_create(mc, "bs.test.present", 3, 1),
			 RD_KAFKA_RESP_ERR_NO_ERROR);
	if (bs_kafka_wait_topic(rk, "bs.test.present", 5000, err,
				sizeof(err)) != 0)
		fail_msg("wait_topic: %s", err);
	/* Waiting did not create the absent topic as a side effect. */
	assert_int_equal(bs_kafka_wait_topic(rk, "bs.test.absent", 200, err,
					     sizeof(err)), -1);
	rd_kafka_destroy(rk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_props_set_and_replace),
		cmocka_unit_test(test_props_full),
		cmocka_unit_test(test_conf_applies_props),
		cmocka_unit_test(test_conf_bad_property),
		cmocka_unit_test(test_log_routed_and_redacted),
		cmocka_unit_test(test_conf_error_hides_value),
		cmocka_unit_test(test_wait_topic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
