/*
 * test_config.c — bandsplit-meter's INI configuration (dataplane/config.c):
 * the shipped config/meter.conf loads and documents the defaults, a full
 * file sets every key, each bad value is refused with its exact
 * "file:line: [section] key: message", the whole-file checks (ports, pools,
 * prefix map, exit_at_eof) and the dense pool index.
 *
 * Config files are written to a fresh temporary directory per run.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char tmp_dir[PATH_MAX];
static unsigned file_seq;
static struct bs_meter_config cfg_store;  /* tests that keep a loaded file */

/* After each test, even a failed one: the [kafka] passthrough strings. */
static int free_kafka_props(void **state)
{
	(void)state;
	bs_kafka_props_free(&cfg_store.kafka);
	return 0;
}

static int make_tmp_dir(void **state)
{
	(void)state;
	const char *base = getenv("TMPDIR");
	snprintf(tmp_dir, sizeof(tmp_dir), "%s/bs-test-config-XXXXXX",
		 base && base[0] ? base : "/tmp");
	return mkdtemp(tmp_dir) ? 0 : -1;
}

static int remove_tmp_dir(void **state)
{
	(void)state;
	for (unsigned i = 0; i < file_seq; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/c%u.conf", tmp_dir, i);
		unlink(path);
	}
	return rmdir(tmp_dir);
}

/* Writes text to a new file in tmp_dir; path receives its name. */
static void write_conf(const char *text, char *path, size_t path_size)
{
	snprintf(path, path_size, "%s/c%u.conf", tmp_dir, file_seq++);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Loads text on top of the defaults; the caller frees cfg->kafka. */
static int load_text(const char *text, struct bs_meter_config *cfg,
		     char *path, size_t path_size, char *err, size_t err_size)
{
	write_conf(text, path, path_size);
	bs_meter_config_defaults(cfg);
	err[0] = '\0';
	return bs_meter_config_load(path, cfg, err, err_size);
}

static void load_ok(const char *text, struct bs_meter_config *cfg)
{
	char path[PATH_MAX], err[1024];
	if (load_text(text, cfg, path, sizeof(path), err, sizeof(err)) != 0)
		fail_msg("expected to load, got: %s", err);
}

/* Expects text to be refused with exactly "<path>" + suffix, where suffix
 * starts with ":<line>: ..." or ": ..." (whole-file checks). */
static void load_fails(const char *text, const char *suffix)
{
	struct bs_meter_config *cfg = malloc(sizeof(*cfg));
	assert_non_null(cfg);
	char path[PATH_MAX], err[1024], want[PATH_MAX + 512];
	int rc = load_text(text, cfg, path, sizeof(path), err, sizeof(err));
	bs_kafka_props_free(&cfg->kafka);
	free(cfg);
	snprintf(want, sizeof(want), "%s%s", path, suffix);
	if (rc != -1)
		fail_msg("expected '%s', but the file loaded", want);
	assert_string_equal(err, want);
}

/* The smallest valid file; tests append to or replace parts of it. */
#define MINIMAL_METER "[meter]\nprefix_map = /tmp/p.map\n"
#define MINIMAL_PORT  "[port net_pcap0]\npool = 1\n"

/* ---- the shipped file ---- */

static void shipped_meter_conf_loads_with_defaults(void **state)
{
	(void)state;
	/* MESON_SOURCE_ROOT when set; else this file's compiled path, which
	 * meson makes relative to the build directory: <build>/tests/unit/ is
	 * where this executable lives. */
	char path[PATH_MAX], err[1024];
	const char *root = getenv("MESON_SOURCE_ROOT");
	if (root != NULL && root[0] != '\0') {
		snprintf(path, sizeof(path), "%s/config/meter.conf", root);
	} else {
		const char *here = __FILE__;
		const char *tail = strstr(here, "tests/unit/test_config.c");
		char exe[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (tail == NULL || n <= 0)
			skip();
		exe[n] = '\0';
		char *build_end = strstr(exe, "/tests/unit/test_config");
		if (here[0] != '/' && build_end != NULL)
			*build_end = '\0';
		else
			exe[0] = '\0';
		snprintf(path, sizeof(path), "%s%s%.*sconfig/meter.conf", exe,
			 exe[0] ? "/" : "", (int)(tail - here), here);
	}
	if (access(path, R_OK) != 0) {
		print_message("%s not found: skipped\n", path);
		skip();
	}
	static struct bs_meter_config def;
	struct bs_meter_config *cfg = &cfg_store;
	bs_meter_config_defaults(cfg);
	bs_meter_config_defaults(&def);
	if (bs_meter_config_load(path, cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);

	/* The file says it shows every key with its default. */
	assert_string_equal(cfg->node_id, def.node_id);
	assert_int_equal(cfg->interval_s, def.interval_s);
	assert_int_equal(cfg->measure, def.measure);
	assert_int_equal(cfg->clock, def.clock);
	assert_int_equal(cfg->timestamp_unit_ns, def.timestamp_unit_ns);
	assert_int_equal(cfg->exit_at_eof, def.exit_at_eof);
	assert_int_equal(cfg->eof_idle_ms, def.eof_idle_ms);
	assert_int_equal(cfg->flush_timeout_s, def.flush_timeout_s);
	assert_string_equal(cfg->spool_dir, def.spool_dir);
	assert_string_equal(cfg->pidfile, def.pidfile);
	assert_int_equal(cfg->max_tenants, def.max_tenants);
	assert_int_equal(cfg->mbufs, def.mbufs);
	assert_int_equal(cfg->burst, def.burst);
	assert_int_equal(cfg->rx_desc, def.rx_desc);
	assert_string_equal(cfg->brokers, def.brokers);
	assert_string_equal(cfg->topic, def.topic);
	assert_int_equal(cfg->kafka.count, 0);
	assert_string_equal(cfg->prefix_map, "/etc/bandsplit/prefixes.map");
	assert_int_equal(cfg->n_ports, 1);
	assert_string_equal(cfg->port[0].name, "net_pcap0");
	assert_int_equal(cfg->port[0].role, BS_ROLE_UPSTREAM);
	assert_int_equal(cfg->port[0].pool_id, 1);
	assert_int_equal(cfg->port[0].rx_queues, 1);
	assert_int_equal(cfg->port[0].n_vlan_pools, 0);
	assert_int_equal(cfg->n_pools, 1);
}

/* ---- valid files ---- */

static void defaults_fill_what_the_file_omits(void **state)
{
	(void)state;
	struct bs_meter_config *cfg = &cfg_store;
	load_ok(MINIMAL_METER MINIMAL_PORT, cfg);
	assert_string_equal(cfg->node_id, "node-1");
	assert_int_equal(cfg->interval_s, 10);
	assert_int_equal(cfg->measure, BS_MEASURE_FRAME);
	assert_int_equal(cfg->clock, BS_CLOCK_SYSTEM);
	assert_int_equal(cfg->timestamp_unit_ns, 1000);
	assert_false(cfg->exit_at_eof);
	assert_int_equal(cfg->eof_idle_ms, 300);
	assert_int_equal(cfg->flush_timeout_s, 0);
	assert_int_equal(cfg->max_tenants, 16384);
	assert_int_equal(cfg->mbufs, 16383);
	assert_int_equal(cfg->burst, 32);
	assert_int_equal(cfg->rx_desc, 1024);
	assert_string_equal(cfg->spool_dir, "/var/lib/bandsplit/spool");
	assert_string_equal(cfg->pidfile, "");
	assert_string_equal(cfg->brokers, "");
	assert_string_equal(cfg->topic, BS_TOPIC_USAGE);
	assert_int_equal(cfg->kafka.count, 0);
	assert_int_equal(cfg->n_ports, 1);
	assert_int_equal(cfg->port[0].role, BS_ROLE_UPSTREAM);
	assert_int_equal(cfg->port[0].rx_queues, 1);
	/* Where the port's section starts: its [port ...] line. */
	assert_int_equal(cfg->port[0].line, 3);
	bs_kafka_props_free(&cfg->kafka);
}

static void full_file_sets_every_key(void **state)
{
	(void)state;
	struct bs_meter_config *cfg = &cfg_store;
	load_ok("# every key, none at its default\n"
		"[meter]\n"
		"node_id = park-7.a_b\n"
		"interval = 300\n"
		"byte_measure = ip\n"
		"clock = packet\n"
		"timestamp_unit = ns\n"
		"exit_at_eof = yes\n"
		"eof_idle_ms = 1500\n"
		"flush_timeout = 30\n"
		"prefix_map = /srv/map/prefixes.map\n"
		"spool_dir = /srv/spool\n"
		"pidfile = /run/bandsplit-meter.pid\n"
		"max_tenants = 65535\n"
		"mbufs = 65535\n"
		"burst = 64\n"
		"rx_desc = 4096\n"
		"\n"
		"[kafka]\n"
		"brokers = k1:9092,k2:9092\n"
		"topic = usage.test\n"
		"security.protocol = SASL_SSL\n"
		"sasl.password = never-logged\n"
		"\n"
		"[port 0000:3b:00.0]\n"
		"role = downstream\n"
		"pool = 7\n"
		"rx_queues = 16\n"
		"vlan_pool = 100:8, 200:9\n"
		"vlan_pool = 4094:7\n"
		"[port net_pcap1]\n"
		"role = mirror\n"
		"pool = 9\n"
		"rx_queues = 1\n",
		cfg);
	assert_string_equal(cfg->node_id, "park-7.a_b");
	assert_int_equal(cfg->interval_s, 300);
	assert_int_equal(cfg->measure, BS_MEASURE_IP);
	assert_int_equal(cfg->clock, BS_CLOCK_PACKET);
	assert_int_equal(cfg->timestamp_unit_ns, 1);
	assert_true(cfg->exit_at_eof);
	assert_int_equal(cfg->eof_idle_ms, 1500);
	assert_int_equal(cfg->flush_timeout_s, 30);
	assert_string_equal(cfg->prefix_map, "/srv/map/prefixes.map");
	assert_string_equal(cfg->spool_dir, "/srv/spool");
	assert_string_equal(cfg->pidfile, "/run/bandsplit-meter.pid");
	assert_int_equal(cfg->max_tenants, 65535);
	assert_int_equal(cfg->mbufs, 65535);
	assert_int_equal(cfg->burst, 64);
	assert_int_equal(cfg->rx_desc, 4096);
	assert_string_equal(cfg->brokers, "k1:9092,k2:9092");
	assert_string_equal(cfg->topic, "usage.test");

	/* Other [kafka] keys are kept verbatim for librdkafka, in order. */
	assert_int_equal(cfg->kafka.count, 2);
	assert_string_equal(cfg->kafka.key[0], "security.protocol");
	assert_string_equal(cfg->kafka.value[0], "SASL_SSL");
	assert_string_equal(cfg->kafka.key[1], "sasl.password");
	assert_string_equal(cfg->kafka.value[1], "never-logged");

	assert_int_equal(cfg->n_ports, 2);
	const struct bs_port_config *p = &cfg->port[0];
	assert_string_equal(p->name, "0000:3b:00.0");
	assert_int_equal(p->role, BS_ROLE_DOWNSTREAM);
	assert_int_equal(p->pool_id, 7);
	assert_int_equal(p->rx_queues, 16);
	assert_int_equal(p->n_vlan_pools, 3);
	assert_int_equal(p->vlan_vid[0], 100);
	assert_int_equal(p->vlan_pool_id[0], 8);
	assert_int_equal(p->vlan_vid[1], 200);
	assert_int_equal(p->vlan_pool_id[1], 9);
	assert_int_equal(p->vlan_vid[2], 4094);
	assert_int_equal(p->vlan_pool_id[2], 7);
	p = &cfg->port[1];
	assert_string_equal(p->name, "net_pcap1");
	assert_int_equal(p->role, BS_ROLE_MIRROR);
	assert_int_equal(p->pool_id, 9);
	assert_int_equal(p->rx_queues, 1);
	assert_int_equal(p->n_vlan_pools, 0);
	assert_string_equal(bs_port_role_name(cfg->port[0].role), "downstream");
	assert_string_equal(bs_port_role_name(cfg->port[1].role), "mirror");
	assert_string_equal(bs_port_role_name(BS_ROLE_UPSTREAM), "upstream");
	bs_kafka_props_free(&cfg->kafka);
}

static void booleans_and_edges_of_ranges(void **state)
{
	(void)state;
	static const struct { const char *text; bool value; } bools[] = {
		{ "true", true }, { "on", true }, { "1", true }, { "yes", true },
		{ "false", false }, { "off", false }, { "0", false }, { "no", false },
	};
	struct bs_meter_config *cfg = &cfg_store;
	char text[512];
	for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
		snprintf(text, sizeof(text), MINIMAL_METER "clock = packet\nexit_at_eof = %s\n" MINIMAL_PORT,
			 bools[i].text);
		load_ok(text, cfg);
		assert_int_equal(cfg->exit_at_eof, bools[i].value);
		bs_kafka_props_free(&cfg->kafka);
	}
	load_ok(MINIMAL_METER "interval = 1\n" MINIMAL_PORT, cfg);
	assert_int_equal(cfg->interval_s, 1);
	bs_kafka_props_free(&cfg->kafka);
	load_ok(MINIMAL_METER "interval = 86400\n" MINIMAL_PORT, cfg);
	assert_int_equal(cfg->interval_s, 86400);
	bs_kafka_props_free(&cfg->kafka);
	load_ok(MINIMAL_METER "[port net_pcap0]\npool = 4294967295\nvlan_pool = 1:4294967295\n", cfg);
	assert_int_equal(cfg->port[0].pool_id, UINT32_MAX);
	assert_int_equal(cfg->port[0].vlan_vid[0], 1);
	assert_int_equal(cfg->n_pools, 1);
	bs_kafka_props_free(&cfg->kafka);
}

/* ---- bad values in [meter] ---- */

static void interval_out_of_range_or_not_a_number(void **state)
{
	(void)state;
	static const char *const bad[] = { "0", "86401", "ten", "10s", "-1", "+10",
					   "1e3", "0x10", "18446744073709551626" };
	char text[256], want[256];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[meter]\ninterval = %s\nprefix_map = /m\n" MINIMAL_PORT, bad[i]);
		snprintf(want, sizeof(want),
			 ":2: [meter] interval: '%s' is not a number of seconds from 1 to 86400", bad[i]);
		load_fails(text, want);
	}
}

static void enumerations_refuse_other_words(void **state)
{
	(void)state;
	load_fails(MINIMAL_METER "byte_measure = bytes\n" MINIMAL_PORT,
		   ":3: [meter] byte_measure: 'bytes' is neither 'frame' nor 'ip'");
	load_fails(MINIMAL_METER "byte_measure = Frame\n" MINIMAL_PORT,
		   ":3: [meter] byte_measure: 'Frame' is neither 'frame' nor 'ip'");
	load_fails(MINIMAL_METER "clock = wall\n" MINIMAL_PORT,
		   ":3: [meter] clock: 'wall' is neither 'system' nor 'packet'");
	load_fails(MINIMAL_METER "timestamp_unit = ms\n" MINIMAL_PORT,
		   ":3: [meter] timestamp_unit: 'ms' is neither 'us' nor 'ns'");
	load_fails(MINIMAL_METER "exit_at_eof = maybe\n" MINIMAL_PORT,
		   ":3: [meter] exit_at_eof: 'maybe' is not true or false");
}

static void exit_at_eof_needs_packet_clock(void **state)
{
	(void)state;
	load_fails(MINIMAL_METER "exit_at_eof = true\n" MINIMAL_PORT,
		   ": [meter] exit_at_eof needs clock = packet (replay of a capture)");
	load_fails(MINIMAL_METER "exit_at_eof = true\nclock = system\n" MINIMAL_PORT,
		   ": [meter] exit_at_eof needs clock = packet (replay of a capture)");
}

static void node_id_must_be_valid(void **state)
{
	(void)state;
	char long_id[80];
	memset(long_id, 'a', 64);
	long_id[64] = '\0';
	static const char *const fixed[] = { "node 1", "node/1", "nöde", "a:b" };
	char text[512], want[512];
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]) + 1; i++) {
		const char *id = i < sizeof(fixed) / sizeof(fixed[0]) ? fixed[i] : long_id;
		snprintf(text, sizeof(text), MINIMAL_METER "node_id = %s\n" MINIMAL_PORT, id);
		snprintf(want, sizeof(want),
			 ":3: [meter] node_id: '%s' is not a node id (1-63 of A-Z a-z 0-9 . _ -)", id);
		load_fails(text, want);
	}
	/* 63 bytes is the limit, and fits. */
	long_id[63] = '\0';
	struct bs_meter_config *cfg = &cfg_store;
	snprintf(text, sizeof(text), MINIMAL_METER "node_id = %s\n" MINIMAL_PORT, long_id);
	load_ok(text, cfg);
	assert_string_equal(cfg->node_id, long_id);
	bs_kafka_props_free(&cfg->kafka);
}

static void numeric_keys_check_their_ranges(void **state)
{
	(void)state;
	load_fails(MINIMAL_METER "eof_idle_ms = 9\n" MINIMAL_PORT,
		   ":3: [meter] eof_idle_ms: '9' is not a whole number from 10 to 600000");
	load_fails(MINIMAL_METER "flush_timeout = 86401\n" MINIMAL_PORT,
		   ":3: [meter] flush_timeout: '86401' is not a whole number from 0 to 86400");
	load_fails(MINIMAL_METER "max_tenants = 65536\n" MINIMAL_PORT,
		   ":3: [meter] max_tenants: '65536' is not a whole number from 1 to 65535");
	load_fails(MINIMAL_METER "mbufs = 1022\n" MINIMAL_PORT,
		   ":3: [meter] mbufs: '1022' is not a whole number from 1023 to 4194304");
	load_fails(MINIMAL_METER "burst = 257\n" MINIMAL_PORT,
		   ":3: [meter] burst: '257' is not a whole number from 1 to 256");
	load_fails(MINIMAL_METER "rx_desc = 32\n" MINIMAL_PORT,
		   ":3: [meter] rx_desc: '32' is not a whole number from 64 to 16384");
	load_fails(MINIMAL_METER "burst = 32 packets\n" MINIMAL_PORT,
		   ":3: [meter] burst: '32 packets' is not a whole number from 1 to 256");
	load_fails(MINIMAL_METER "burst =\n" MINIMAL_PORT,
		   ":3: [meter] burst: '' is not a whole number from 1 to 256");
}

/* ---- structure ---- */

static void unknown_keys_and_sections(void **state)
{
	(void)state;
	load_fails(MINIMAL_METER "colour = blue\n" MINIMAL_PORT,
		   ":3: [meter] colour: unknown key");
	load_fails(MINIMAL_METER MINIMAL_PORT "speed = 10G\n",
		   ":5: [port net_pcap0] speed: unknown key");
	load_fails("node_id = n1\n" MINIMAL_METER MINIMAL_PORT,
		   ":1: [-] node_id: key outside a section");
	load_fails(MINIMAL_METER "this line has no equals sign\n" MINIMAL_PORT,
		   ":3: syntax error (expected [section] or key = value)");
	/* A section error names the section's own line. */
	load_fails(MINIMAL_METER MINIMAL_PORT "[metre]\ninterval = 5\n",
		   ":5: [metre] section: unknown section [metre]");
}

static void kafka_section(void **state)
{
	(void)state;
	load_fails(MINIMAL_METER "[kafka]\nbootstrap.servers = k1:9092\n" MINIMAL_PORT,
		   ":4: [kafka] bootstrap.servers: use 'brokers' instead");
	load_fails(MINIMAL_METER "[kafka]\ntopic =\n" MINIMAL_PORT,
		   ":4: [kafka] topic: '' is not a topic name");

	/* A repeated passthrough key is refused like any repeated key (it
	 * used to keep its last value silently), naming both lines. */
	load_fails(MINIMAL_METER "[kafka]\nlinger.ms = 5\nacks = 1\nlinger.ms = 50\n" MINIMAL_PORT,
		   ":6: [kafka] linger.ms: given twice (first at line 4)");
}

static void port_values(void **state)
{
	(void)state;
	load_fails(MINIMAL_METER "[port net_pcap0]\nrole = sideways\npool = 1\n",
		   ":4: [port net_pcap0] role: 'sideways' is not upstream, downstream or mirror");
	load_fails(MINIMAL_METER "[port net_pcap0]\npool = 1\nrx_queues = 0\n",
		   ":5: [port net_pcap0] rx_queues: '0' is not a queue count from 1 to 16");
	load_fails(MINIMAL_METER "[port net_pcap0]\npool = 1\nrx_queues = 17\n",
		   ":5: [port net_pcap0] rx_queues: '17' is not a queue count from 1 to 16");
	load_fails(MINIMAL_METER "[port net_pcap0]\npool = 0\n",
		   ":4: [port net_pcap0] pool: '0' is not a pool id (≥ 1)");
	load_fails(MINIMAL_METER "[port net_pcap0]\npool = 4294967296\n",
		   ":4: [port net_pcap0] pool: '4294967296' is not a pool id (≥ 1)");
}

static void port_without_pool(void **state)
{
	(void)state;
	/* The error names the line where the port's section starts. */
	load_fails(MINIMAL_METER "[port net_pcap0]\nrole = upstream\n",
		   ":3: [port net_pcap0] pool is not set");
	load_fails(MINIMAL_METER MINIMAL_PORT "\n[port net_pcap1]\n# no pool\nrole = mirror\nrx_queues = 2\n",
		   ":6: [port net_pcap1] pool is not set");
}

static void empty_port_section_is_not_ignored(void **state)
{
	(void)state;
	/* A port with no keys at all has no pool either: it must not vanish
	 * from the configuration silently. */
	load_fails(MINIMAL_METER MINIMAL_PORT "[port net_pcap1]\n",
		   ":5: [port net_pcap1] pool is not set");
}

static void port_section_needs_a_name(void **state)
{
	(void)state;
	load_fails(MINIMAL_METER "[port]\npool = 1\n",
		   ":3: [port] section: 'port' needs a DPDK device name: [port net_pcap0]");
}

static void vlan_pool_syntax(void **state)
{
	(void)state;
	static const struct { const char *value, *msg; } bad[] = {
		{ "100", "'100' is not VID:POOL" },
		{ "100:2,300", "'300' is not VID:POOL" },
		{ "0:1", "'0:1' is not VID:POOL (VID 1-4094, pool ≥ 1)" },
		{ "4095:1", "'4095:1' is not VID:POOL (VID 1-4094, pool ≥ 1)" },
		{ "100:0", "'100:0' is not VID:POOL (VID 1-4094, pool ≥ 1)" },
		{ "100:", "'100:' is not VID:POOL (VID 1-4094, pool ≥ 1)" },
		{ ":2", "':2' is not VID:POOL (VID 1-4094, pool ≥ 1)" },
		{ "100:2:3", "'100:2:3' is not VID:POOL (VID 1-4094, pool ≥ 1)" },
		{ "100:2, 100:3", "VLAN 100 mapped twice" },
	};
	char text[512], want[512];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), MINIMAL_METER "[port net_pcap0]\npool = 1\nvlan_pool = %s\n",
			 bad[i].value);
		snprintf(want, sizeof(want), ":5: [port net_pcap0] vlan_pool: %s", bad[i].msg);
		load_fails(text, want);
	}
	/* A duplicate across two vlan_pool lines of the same port, too. */
	load_fails(MINIMAL_METER "[port net_pcap0]\npool = 1\nvlan_pool = 7:2\nvlan_pool = 8:3, 7:4\n",
		   ":6: [port net_pcap0] vlan_pool: VLAN 7 mapped twice");
	/* The same VLAN on two ports is fine: each port has its own table. */
	struct bs_meter_config *cfg = &cfg_store;
	load_ok(MINIMAL_METER "[port a]\npool = 1\nvlan_pool = 7:2\n[port b]\npool = 1\nvlan_pool = 7:3\n", cfg);
	assert_int_equal(cfg->n_pools, 3);
	bs_kafka_props_free(&cfg->kafka);
}

/* Appends "vlan_pool = v:p" lines, one per mapping, for pools from..to. */
static void append_vlan_lines(char *text, size_t size, uint32_t vid, uint32_t from, uint32_t to)
{
	for (uint32_t p = from; p <= to; p++, vid++) {
		size_t len = strlen(text);
		snprintf(text + len, size - len, "vlan_pool = %u:%u\n", vid, p);
	}
}

static void at_most_64_pools_in_all(void **state)
{
	(void)state;
	static char text[8192];
	/* 64 distinct pools over two ports load. */
	snprintf(text, sizeof(text), MINIMAL_METER "[port a]\npool = 1\n");
	append_vlan_lines(text, sizeof(text), 10, 2, 40);
	strcat(text, "[port b]\npool = 41\n");
	append_vlan_lines(text, sizeof(text), 10, 42, 64);
	struct bs_meter_config *cfg = &cfg_store;
	load_ok(text, cfg);
	assert_int_equal(cfg->n_pools, 64);
	bs_kafka_props_free(&cfg->kafka);

	/* 65 mappings on one port are refused by the parser itself. */
	snprintf(text, sizeof(text), MINIMAL_METER "[port a]\npool = 1\n");
	append_vlan_lines(text, sizeof(text), 1, 1, 65);
	load_fails(text, ":69: [port a] vlan_pool: more than 64 VLAN mappings");

	/* A 65th pool on port b (whose section starts on line 44). */
	snprintf(text, sizeof(text), MINIMAL_METER "[port a]\npool = 1\n");
	append_vlan_lines(text, sizeof(text), 10, 2, 40);
	strcat(text, "[port b]\npool = 41\n");
	append_vlan_lines(text, sizeof(text), 10, 42, 65);
	load_fails(text, ":44: [port b] more than 64 distinct pools in all");

	/* 64 mappings on one port plus its own pool: 65 pools. The error
	 * names the line of the port's section, here 3. */
	snprintf(text, sizeof(text), MINIMAL_METER "[port a]\npool = 1000\n");
	append_vlan_lines(text, sizeof(text), 1, 1, 64);
	load_fails(text, ":3: [port a] more than 64 distinct pools in all");
}

static void port_configured_twice(void **state)
{
	(void)state;
	/* With another section between the two. */
	load_fails(MINIMAL_PORT MINIMAL_METER "[port net_pcap0]\npool = 2\n",
		   ":5: [port net_pcap0] section: port 'net_pcap0' configured twice");
}

static void port_configured_twice_in_a_row(void **state)
{
	(void)state;
	/* Right after each other: inih reports the same section name for both,
	 * which must not merge them into one port. */
	load_fails(MINIMAL_METER MINIMAL_PORT "[port net_pcap0]\npool = 2\n",
		   ":5: [port net_pcap0] section: port 'net_pcap0' configured twice");
}

static void more_than_16_ports(void **state)
{
	(void)state;
	static char text[4096];
	snprintf(text, sizeof(text), MINIMAL_METER);
	for (int i = 0; i < 17; i++) {
		size_t len = strlen(text);
		snprintf(text + len, sizeof(text) - len, "[port p%d]\npool = 1\n", i);
	}
	load_fails(text, ":35: [port p16] section: more than 16 ports");
}

static void whole_file_checks(void **state)
{
	(void)state;
	load_fails(MINIMAL_METER,
		   ": no [port NAME] section: the meter needs at least one port");
	load_fails("[meter]\ninterval = 5\n" MINIMAL_PORT, ": [meter] prefix_map is not set");
	load_fails(MINIMAL_METER "spool_dir =\n" MINIMAL_PORT, ": [meter] spool_dir is not set");
}

static void missing_file(void **state)
{
	(void)state;
	struct bs_meter_config *cfg = &cfg_store;
	char path[PATH_MAX], err[1024];
	snprintf(path, sizeof(path), "%s/does-not-exist.conf", tmp_dir);
	bs_meter_config_defaults(cfg);
	assert_int_equal(bs_meter_config_load(path, cfg, err, sizeof(err)), -1);
	char want[PATH_MAX + 64];
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	assert_string_equal(err, want);
}

static void long_line_is_refused_where_it_is(void **state)
{
	(void)state;
	/* libinih reads lines into a 200-byte buffer: a longer line comes in
	 * pieces. It must be refused, naming its own line (4), rather than
	 * shift the line numbers of what follows or be cut silently. */
	static char text[2048];
	char value[400];
	memset(value, 'x', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	snprintf(text, sizeof(text), MINIMAL_METER "[kafka]\nsasl.password = %s\n"
		 "[meter]\ninterval = 0\n" MINIMAL_PORT, value);
	struct bs_meter_config *cfg = malloc(sizeof(*cfg));
	assert_non_null(cfg);
	char path[PATH_MAX], err[1024], want[PATH_MAX + 16];
	int rc = load_text(text, cfg, path, sizeof(path), err, sizeof(err));
	bs_kafka_props_free(&cfg->kafka);
	free(cfg);
	assert_int_equal(rc, -1);
	snprintf(want, sizeof(want), "%s:4: ", path);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("expected an error starting '%s', got '%s'", want, err);
}

/* ---- dense pool index ---- */

static void pool_index_is_dense_and_stable(void **state)
{
	(void)state;
	struct bs_meter_config *cfg = malloc(sizeof(*cfg));
	assert_non_null(cfg);
	load_ok(MINIMAL_METER
		"[port a]\npool = 50\nvlan_pool = 10:70, 20:50, 30:60\n"
		"[port b]\npool = 60\nvlan_pool = 10:80\n"
		"[port c]\npool = 50\n",
		cfg);
	/* Dense, in order of first appearance. */
	assert_int_equal(cfg->n_pools, 4);
	assert_int_equal(cfg->pool_id[0], 50);
	assert_int_equal(cfg->pool_id[1], 70);
	assert_int_equal(cfg->pool_id[2], 60);
	assert_int_equal(cfg->pool_id[3], 80);
	assert_int_equal(bs_config_pool_index(cfg, 50), 0);
	assert_int_equal(bs_config_pool_index(cfg, 70), 1);
	assert_int_equal(bs_config_pool_index(cfg, 60), 2);
	assert_int_equal(bs_config_pool_index(cfg, 80), 3);
	assert_int_equal(bs_config_pool_index(cfg, 1), -1);
	assert_int_equal(bs_config_pool_index(cfg, 0), -1);

	/* Checking again (as after command-line overrides) changes nothing. */
	char err[512];
	assert_int_equal(bs_meter_config_check(cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->n_pools, 4);
	for (uint32_t i = 0; i < cfg->n_pools; i++)
		assert_int_equal(bs_config_pool_index(cfg, cfg->pool_id[i]), (int)i);
	assert_int_equal(cfg->pool_id[2], 60);
	bs_kafka_props_free(&cfg->kafka);
	free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(shipped_meter_conf_loads_with_defaults, free_kafka_props),
		cmocka_unit_test_teardown(defaults_fill_what_the_file_omits, free_kafka_props),
		cmocka_unit_test_teardown(full_file_sets_every_key, free_kafka_props),
		cmocka_unit_test_teardown(booleans_and_edges_of_ranges, free_kafka_props),
		cmocka_unit_test_teardown(interval_out_of_range_or_not_a_number, free_kafka_props),
		cmocka_unit_test_teardown(enumerations_refuse_other_words, free_kafka_props),
		cmocka_unit_test_teardown(exit_at_eof_needs_packet_clock, free_kafka_props),
		cmocka_unit_test_teardown(node_id_must_be_valid, free_kafka_props),
		cmocka_unit_test_teardown(numeric_keys_check_their_ranges, free_kafka_props),
		cmocka_unit_test_teardown(unknown_keys_and_sections, free_kafka_props),
		cmocka_unit_test_teardown(kafka_section, free_kafka_props),
		cmocka_unit_test_teardown(port_values, free_kafka_props),
		cmocka_unit_test_teardown(port_without_pool, free_kafka_props),
		cmocka_unit_test_teardown(empty_port_section_is_not_ignored, free_kafka_props),
		cmocka_unit_test_teardown(port_section_needs_a_name, free_kafka_props),
		cmocka_unit_test_teardown(vlan_pool_syntax, free_kafka_props),
		cmocka_unit_test_teardown(at_most_64_pools_in_all, free_kafka_props),
		cmocka_unit_test_teardown(port_configured_twice, free_kafka_props),
		cmocka_unit_test_teardown(port_configured_twice_in_a_row, free_kafka_props),
		cmocka_unit_test_teardown(more_than_16_ports, free_kafka_props),
		cmocka_unit_test_teardown(whole_file_checks, free_kafka_props),
		cmocka_unit_test_teardown(missing_file, free_kafka_props),
		cmocka_unit_test_teardown(long_line_is_refused_where_it_is, free_kafka_props),
		cmocka_unit_test_teardown(pool_index_is_dense_and_stable, free_kafka_props),
	};
	return cmocka_run_group_tests(tests, make_tmp_dir, remove_tmp_dir);
}
