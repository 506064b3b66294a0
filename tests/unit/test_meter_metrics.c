/*
 * test_meter_metrics.c — the meter's Prometheus text (dataplane/metrics.c,
 * bs_metrics_render, pure): the figures of a snapshot under their names and
 * labels, label values escaped, no per-pool rate before an interval closed,
 * and a buffer too small cut at a line boundary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static void setup_cfg(struct bs_meter_config *cfg)
{
	bs_meter_config_defaults(cfg);
	snprintf(cfg->node_id, sizeof(cfg->node_id), "node-7");
	cfg->interval_s = 10;
	cfg->n_pools = 2;
	cfg->pool_id[0] = 3;
	cfg->pool_id[1] = 9;
	cfg->n_ports = 2;
	snprintf(cfg->port[0].name, sizeof(cfg->port[0].name), "0000:3b:00.0");
	snprintf(cfg->port[1].name, sizeof(cfg->port[1].name), "od\"d\\name");
}

static void test_figures(void **state)
{
	(void)state;
	static struct bs_meter_config cfg;
	static struct bs_metrics_snapshot s;
	setup_cfg(&cfg);
	memset(&s, 0, sizeof(s));
	s.t.rx_packets = 1234;
	s.t.rx_bytes = 567890;
	s.t.map_version = 42;
	s.t.spool_depth = 5;
	s.e.last_interval_start = 1767225620;
	s.e.last_pool_bytes[1][1] = 2500;         /* pool 9 out: 250 B/s */
	s.e.pool_bytes[1][1] = 7000;
	s.e.malformed_reason[2] = 4;
	s.e.oldest_segment_written = 1000;
	s.now = 1030;
	s.port_rx_missed[1] = 17;
	snprintf(s.boot_id, sizeof(s.boot_id), "abc");
	static char buf[64 * 1024];
	size_t len = bs_metrics_render(&cfg, &s, buf, sizeof(buf));
	assert_int_equal(len, strlen(buf));
	const char *want[] = {
		"# TYPE bandsplit_meter_received_bytes_total counter\n"
		"bandsplit_meter_received_bytes_total 567890\n",
		"\nbandsplit_meter_received_packets_total 1234\n",
		"\nbandsplit_meter_pool_bytes_per_second{pool=\"9\",direction=\"out\"} 250.000\n",
		"\nbandsplit_meter_pool_bytes_per_second{pool=\"3\",direction=\"in\"} 0.000\n",
		"\nbandsplit_meter_pool_bytes_total{pool=\"9\",direction=\"out\"} 7000\n",
		"\nbandsplit_meter_malformed_packets_total{reason=\"short_ip\"} 4\n",
		"\nbandsplit_meter_spool_segments 5\n",
		"\nbandsplit_meter_spool_oldest_segment_age_seconds 30\n",
		"\nbandsplit_meter_map_version 42\n",
		"\nbandsplit_meter_rx_missed_packets_total{port=\"od\\\"d\\\\name\"} 17\n",
		"\nbandsplit_meter_rx_missed_packets_total{port=\"0000:3b:00.0\"} 0\n",
		"\nbandsplit_meter_info{node_id=\"node-7\",boot_id=\"abc\",byte_measure=\"frame\"} 1\n",
		"\nbandsplit_meter_last_interval_start_timestamp_seconds 1767225620\n",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (strstr(buf, want[i]) == NULL)
			fail_msg("missing: %s\n--- got:\n%s", want[i], buf);
}

static void test_before_first_interval(void **state)
{
	(void)state;
	static struct bs_meter_config cfg;
	static struct bs_metrics_snapshot s;
	setup_cfg(&cfg);
	memset(&s, 0, sizeof(s));
	s.e.last_interval_start = INT64_MIN;
	static char buf[64 * 1024];
	bs_metrics_render(&cfg, &s, buf, sizeof(buf));
	/* the family is declared, no series yet; no timestamp of no interval */
	assert_non_null(strstr(buf, "# TYPE bandsplit_meter_pool_bytes_per_second gauge\n"));
	assert_null(strstr(buf, "bandsplit_meter_pool_bytes_per_second{"));
	assert_null(strstr(buf, "bandsplit_meter_last_interval_start_timestamp_seconds"));
	assert_non_null(strstr(buf, "\nbandsplit_meter_spool_oldest_segment_age_seconds 0\n"));
}

static void test_small_buffer(void **state)
{
	(void)state;
	static struct bs_meter_config cfg;
	static struct bs_metrics_snapshot s;
	setup_cfg(&cfg);
	memset(&s, 0, sizeof(s));
	char buf[300];
	size_t len = bs_metrics_render(&cfg, &s, buf, sizeof(buf));
	assert_true(len > 0 && len < sizeof(buf));
	assert_int_equal(len, strlen(buf));
	assert_int_equal(buf[len - 1], '\n');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_figures),
		cmocka_unit_test(test_before_first_interval),
		cmocka_unit_test(test_small_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
