/*
 * config.c — loads and validates bandsplit-meter's INI configuration.
 *
 * Sections: [meter] (node, interval, byte measure, clock, files), [kafka]
 * (brokers, topic; every other key goes verbatim to librdkafka) and one
 * [port NAME] per DPDK port. common/conf.h's loader reads the file (lines,
 * sections, repeated keys, file:line errors); every value is parsed strictly
 * here (no trailing garbage, ranges checked) and an error names the key.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "conf.h"

struct load_state {
	struct bs_meter_config *cfg;
	char *msg;                        /* the current refusal's message */
	size_t msg_size;
	int section_line;                 /* line of the last [section] header */
	char section[128];                /* the section being read */
	struct bs_port_config *port;      /* the [port] section being read */
};

void bs_meter_config_defaults(struct bs_meter_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->node_id, sizeof(cfg->node_id), "node-1");
	cfg->interval_s = 10;
	cfg->measure = BS_MEASURE_FRAME;
	cfg->clock = BS_CLOCK_SYSTEM;
	cfg->timestamp_unit_ns = 1000;
	snprintf(cfg->spool_dir, sizeof(cfg->spool_dir), "/var/lib/bandsplit/spool");
	cfg->eof_idle_ms = 300;
	cfg->flush_timeout_s = 0;
	cfg->max_tenants = 16384;
	cfg->mbufs = 16383;
	cfg->burst = 32;
	cfg->rx_desc = 1024;
	snprintf(cfg->topic, sizeof(cfg->topic), "%s", BS_TOPIC_USAGE);
}

/* Refuses the current key or section: the message (fmt with value) goes to
 * the loader, which names file, line, section and key. */
static int fail(struct load_state *st, const char *section, const char *key,
		const char *fmt, const char *value)
{
	(void)section;
	(void)key;
	snprintf(st->msg, st->msg_size, fmt, value);
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on") || !strcmp(s, "1")) {
		*out = true;
		return 0;
	}
	if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off") || !strcmp(s, "0")) {
		*out = false;
		return 0;
	}
	return -1;
}

static int meter_key(struct load_state *st, const char *key, const char *value)
{
	struct bs_meter_config *cfg = st->cfg;
	uint64_t v;
	if (!strcmp(key, "node_id")) {
		if (!bs_node_id_valid(value))
			return fail(st, "meter", key, "'%s' is not a node id (1-63 of A-Z a-z 0-9 . _ -)", value);
		return bs_conf_copy_str(cfg->node_id, sizeof(cfg->node_id), value), 1;
	}
	if (!strcmp(key, "interval")) {
		if (bs_conf_parse_u64(value, 1, BS_INTERVAL_MAX_S, &v) < 0)
			return fail(st, "meter", key, "'%s' is not a number of seconds from 1 to 86400", value);
		cfg->interval_s = (uint32_t)v;
		return 1;
	}
	if (!strcmp(key, "byte_measure")) {
		if (bs_measure_parse(value, strlen(value), &cfg->measure) < 0)
			return fail(st, "meter", key, "'%s' is neither 'frame' nor 'ip'", value);
		return 1;
	}
	if (!strcmp(key, "clock")) {
		if (!strcmp(value, "system"))
			cfg->clock = BS_CLOCK_SYSTEM;
		else if (!strcmp(value, "packet"))
			cfg->clock = BS_CLOCK_PACKET;
		else
			return fail(st, "meter", key, "'%s' is neither 'system' nor 'packet'", value);
		return 1;
	}
	if (!strcmp(key, "timestamp_unit")) {
		if (!strcmp(value, "us"))
			cfg->timestamp_unit_ns = 1000;
		else if (!strcmp(value, "ns"))
			cfg->timestamp_unit_ns = 1;
		else
			return fail(st, "meter", key, "'%s' is neither 'us' nor 'ns'", value);
		return 1;
	}
	if (!strcmp(key, "exit_at_eof")) {
		if (parse_bool(value, &cfg->exit_at_eof) < 0)
			return fail(st, "meter", key, "'%s' is not true or false", value);
		return 1;
	}
	struct { const char *name; char *dst; size_t size; } paths[] = {
		{ "prefix_map", cfg->prefix_map, sizeof(cfg->prefix_map) },
		{ "spool_dir", cfg->spool_dir, sizeof(cfg->spool_dir) },
		{ "pidfile", cfg->pidfile, sizeof(cfg->pidfile) },
		{ "metrics_listen", cfg->metrics_listen, sizeof(cfg->metrics_listen) },
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		if (!strcmp(key, paths[i].name)) {
			if (bs_conf_copy_str(paths[i].dst, paths[i].size, value) < 0)
				return fail(st, "meter", key, "path too long: %s", value);
			return 1;
		}
	}
	struct { const char *name; uint64_t min, max; void *dst; int width; } nums[] = {
		{ "eof_idle_ms", 10, 600000, &cfg->eof_idle_ms, 32 },
		{ "flush_timeout", 0, 86400, &cfg->flush_timeout_s, 32 },
		{ "max_tenants", 1, BS_MAX_TENANTS, &cfg->max_tenants, 32 },
		{ "mbufs", 1023, 1u << 22, &cfg->mbufs, 32 },
		{ "burst", 1, 256, &cfg->burst, 16 },
		{ "rx_desc", 64, 16384, &cfg->rx_desc, 16 },
	};
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		if (strcmp(key, nums[i].name))
			continue;
		if (bs_conf_parse_u64(value, nums[i].min, nums[i].max, &v) < 0) {
			char msg[160];
			snprintf(msg, sizeof(msg), "'%%s' is not a whole number from %llu to %llu",
				 (unsigned long long)nums[i].min, (unsigned long long)nums[i].max);
			return fail(st, "meter", key, msg, value);
		}
		if (nums[i].width == 32)
			*(uint32_t *)nums[i].dst = (uint32_t)v;
		else
			*(uint16_t *)nums[i].dst = (uint16_t)v;
		return 1;
	}
	return fail(st, "meter", key, "unknown key%s", "");
}

static int kafka_key(struct load_state *st, const char *key, const char *value)
{
	struct bs_meter_config *cfg = st->cfg;
	if (!strcmp(key, "brokers")) {
		if (bs_conf_copy_str(cfg->brokers, sizeof(cfg->brokers), value) < 0)
			return fail(st, "kafka", key, "too long%s", "");
		return 1;
	}
	if (!strcmp(key, "topic")) {
		if (value[0] == '\0' || bs_conf_copy_str(cfg->topic, sizeof(cfg->topic), value) < 0)
			return fail(st, "kafka", key, "'%s' is not a topic name", value);
		return 1;
	}
	if (!strcmp(key, "bootstrap.servers"))
		return fail(st, "kafka", key, "use 'brokers' instead%s", "");
	char err[256];
	if (bs_kafka_props_set(&cfg->kafka, key, value, err, sizeof(err)) < 0)
		return fail(st, "kafka", key, "%s", err);
	return 1;
}

static int parse_vlan_pools(struct bs_port_config *port, const char *value,
			    char *msg, size_t msg_size)
{
	char buf[1024];
	if (strlen(value) >= sizeof(buf)) {
		snprintf(msg, msg_size, "list too long");
		return -1;
	}
	strcpy(buf, value);
	char *save = NULL;
	for (char *item = strtok_r(buf, ", \t", &save); item; item = strtok_r(NULL, ", \t", &save)) {
		char *colon = strchr(item, ':');
		uint64_t vid, pool;
		if (!colon) {
			snprintf(msg, msg_size, "'%s' is not VID:POOL", item);
			return -1;
		}
		*colon = '\0';
		if (bs_conf_parse_u64(item, 1, 4094, &vid) < 0 || bs_conf_parse_u64(colon + 1, 1, UINT32_MAX, &pool) < 0) {
			snprintf(msg, msg_size, "'%s:%s' is not VID:POOL (VID 1-4094, pool ≥ 1)", item, colon + 1);
			return -1;
		}
		for (unsigned i = 0; i < port->n_vlan_pools; i++) {
			if (port->vlan_vid[i] == vid) {
				snprintf(msg, msg_size, "VLAN %llu mapped twice", (unsigned long long)vid);
				return -1;
			}
		}
		if (port->n_vlan_pools >= BS_MAX_POOLS) {
			snprintf(msg, msg_size, "more than %d VLAN mappings", BS_MAX_POOLS);
			return -1;
		}
		port->vlan_vid[port->n_vlan_pools] = (uint16_t)vid;
		port->vlan_pool_id[port->n_vlan_pools] = (uint32_t)pool;
		port->n_vlan_pools++;
	}
	return 0;
}

static int port_key(struct load_state *st, const char *section, const char *key,
		    const char *value)
{
	struct bs_port_config *port = st->port;
	uint64_t v;
	if (!strcmp(key, "role")) {
		if (bs_port_role_parse(value, strlen(value), &port->role) < 0)
			return fail(st, section, key, "'%s' is not upstream, downstream or mirror", value);
		return 1;
	}
	if (!strcmp(key, "pool")) {
		if (bs_conf_parse_u64(value, 1, UINT32_MAX, &v) < 0)
			return fail(st, section, key, "'%s' is not a pool id (≥ 1)", value);
		port->pool_id = (uint32_t)v;
		return 1;
	}
	if (!strcmp(key, "rx_queues")) {
		if (bs_conf_parse_u64(value, 1, BS_MAX_RX_QUEUES, &v) < 0)
			return fail(st, section, key, "'%s' is not a queue count from 1 to 16", value);
		port->rx_queues = (uint16_t)v;
		return 1;
	}
	if (!strcmp(key, "mtu")) {
		if (bs_conf_parse_u64(value, BS_MTU_MIN, BS_MTU_MAX, &v) < 0)
			return fail(st, section, key, "'%s' is not an MTU from 68 to 9600 bytes", value);
		port->mtu = (uint16_t)v;
		return 1;
	}
	if (!strcmp(key, "sliced")) {
		if (parse_bool(value, &port->sliced) < 0)
			return fail(st, section, key, "'%s' is not true or false", value);
		return 1;
	}
	if (!strcmp(key, "vlan_pool")) {
		char msg[256];
		if (parse_vlan_pools(port, value, msg, sizeof(msg)) < 0)
			return fail(st, section, key, "%s", msg);
		return 1;
	}
	return fail(st, section, key, "unknown key%s", "");
}

static int start_port(struct load_state *st, const char *section)
{
	const char *name = section[4] ? section + 5 : section + 4;   /* after "port " */
	while (*name == ' ')
		name++;
	if (*name == '\0' || strlen(name) > BS_PORT_NAME_MAX)
		return fail(st, section, "section", "'%s' needs a DPDK device name: [port net_pcap0]", section);
	for (unsigned i = 0; i < st->cfg->n_ports; i++)
		if (!strcmp(st->cfg->port[i].name, name))
			return fail(st, section, "section", "port '%s' configured twice", name);
	if (st->cfg->n_ports >= BS_MAX_PORTS)
		return fail(st, section, "section", "more than 16 ports%s", "");
	struct bs_port_config *port = &st->cfg->port[st->cfg->n_ports++];
	memset(port, 0, sizeof(*port));
	strcpy(port->name, name);
	port->role = BS_ROLE_UPSTREAM;
	port->pool_id = 0;
	port->rx_queues = 1;
	port->mtu = BS_MTU_DEFAULT;
	port->sliced = false;
	port->line = (unsigned)st->section_line;
	st->port = port;
	return 1;
}

/* A [section] header line: starts the section now, so that sections
 * without keys (an empty [port X]) and a section repeated right after
 * itself are seen too (inih only reports keys). */
static int on_section(void *ctx, const char *section, int line, char *msg,
		      size_t msg_size)
{
	struct load_state *st = ctx;
	st->msg = msg;
	st->msg_size = msg_size;
	st->section_line = line;
	snprintf(st->section, sizeof(st->section), "%s", section);
	st->port = NULL;
	if (!strncmp(section, "port ", 5) || !strcmp(section, "port"))
		return start_port(st, section);
	if (strcmp(section, "meter") && strcmp(section, "kafka"))
		return fail(st, section, "section", "unknown section [%s]", section);
	return 1;
}

static int on_key(void *ctx, const char *section, const char *key,
		  const char *value, char *msg, size_t msg_size)
{
	struct load_state *st = ctx;
	st->msg = msg;
	st->msg_size = msg_size;
	if (!strcmp(section, "meter"))
		return meter_key(st, key, value);
	if (!strcmp(section, "kafka"))
		return kafka_key(st, key, value);
	if (st->port)
		return port_key(st, section, key, value);
	return fail(st, section, key, "unknown section%s", "");
}

int bs_config_pool_index(const struct bs_meter_config *cfg, uint32_t pool_id)
{
	for (uint32_t i = 0; i < cfg->n_pools; i++)
		if (cfg->pool_id[i] == pool_id)
			return (int)i;
	return -1;
}

static int add_pool(struct bs_meter_config *cfg, uint32_t pool_id)
{
	if (bs_config_pool_index(cfg, pool_id) >= 0)
		return 0;
	if (cfg->n_pools >= BS_MAX_POOLS)
		return -1;
	cfg->pool_id[cfg->n_pools++] = pool_id;
	return 0;
}

int bs_meter_config_check(struct bs_meter_config *cfg, char *err, size_t err_size)
{
	if (cfg->n_ports == 0) {
		snprintf(err, err_size, "%s: no [port NAME] section: the meter needs at least one port", cfg->source);
		return -1;
	}
	if (cfg->prefix_map[0] == '\0') {
		snprintf(err, err_size, "%s: [meter] prefix_map is not set", cfg->source);
		return -1;
	}
	if (cfg->spool_dir[0] == '\0') {
		snprintf(err, err_size, "%s: [meter] spool_dir is not set", cfg->source);
		return -1;
	}
	if (cfg->exit_at_eof && cfg->clock != BS_CLOCK_PACKET) {
		snprintf(err, err_size, "%s: [meter] exit_at_eof needs clock = packet (replay of a capture)", cfg->source);
		return -1;
	}
	cfg->n_pools = 0;
	for (uint32_t i = 0; i < cfg->n_ports; i++) {
		struct bs_port_config *port = &cfg->port[i];
		if (port->pool_id == 0) {
			snprintf(err, err_size, "%s:%u: [port %s] pool is not set", cfg->source, port->line, port->name);
			return -1;
		}
		int rc = add_pool(cfg, port->pool_id);
		for (unsigned v = 0; v < port->n_vlan_pools && rc == 0; v++)
			rc = add_pool(cfg, port->vlan_pool_id[v]);
		if (rc < 0) {
			snprintf(err, err_size, "%s:%u: [port %s] more than %d distinct pools in all", cfg->source, port->line, port->name, BS_MAX_POOLS);
			return -1;
		}
	}
	return 0;
}

int bs_meter_config_load(const char *path, struct bs_meter_config *cfg,
			 char *err, size_t err_size)
{
	if (bs_conf_copy_str(cfg->source, sizeof(cfg->source), path) < 0) {
		snprintf(err, err_size, "config path too long");
		return -1;
	}
	struct load_state st = { .cfg = cfg };
	static const char *const repeatable[] = { "vlan_pool", NULL };
	const struct bs_conf_handlers h = { .ctx = &st, .section = on_section,
					    .key = on_key, .repeatable = repeatable };
	if (bs_conf_load(cfg->source, &h, err, err_size) < 0)
		return -1;
	return bs_meter_config_check(cfg, err, err_size);
}
