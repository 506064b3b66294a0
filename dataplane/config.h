/*
 * config.h — bandsplit-meter's configuration: the INI file of
 * config/meter.conf (parsed with libinih), then command-line overrides.
 *
 * Every value is checked when loaded; an error names "file:line: key".
 * Pool ids and VLAN mappings are turned into dense pool indices here, so the
 * fast path only ever indexes arrays.
 */
#ifndef BS_CONFIG_H
#define BS_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kafka.h"
#include "record.h"

#define BS_MAX_PORTS        16
#define BS_MAX_POOLS        64
#define BS_MAX_RX_QUEUES    16
#define BS_PORT_NAME_MAX    63
#define BS_VLAN_COUNT       4096
#define BS_NO_POOL          0xffffu
#define BS_MTU_DEFAULT      1500
#define BS_MTU_MIN          68      /* IPv4's minimum */
#define BS_MTU_MAX          9600
/* The longest frame of an MTU: Ethernet header and two VLAN tags on top
 * (the NIC strips the FCS). */
#define BS_FRAME_OF_MTU(mtu) ((uint32_t)(mtu) + 14u + 2u * 4u)

enum bs_clock { BS_CLOCK_SYSTEM = 0, BS_CLOCK_PACKET };

struct bs_port_config {
	char name[BS_PORT_NAME_MAX + 1];  /* DPDK device name: net_pcap0, 0000:3b:00.0 */
	enum bs_port_role role;
	uint32_t pool_id;                 /* default pool of the port */
	uint16_t rx_queues;
	uint16_t mtu;                     /* IP MTU of the link, BS_MTU_MIN..BS_MTU_MAX */
	bool sliced;                      /* frames cut short by a broker or snaplen */
	uint16_t n_vlan_pools;
	uint16_t vlan_vid[BS_MAX_POOLS];  /* outer VLAN id → pool id */
	uint32_t vlan_pool_id[BS_MAX_POOLS];
	unsigned line;                    /* where the section starts */
};

struct bs_meter_config {
	char source[PATH_MAX];            /* the file it came from, for errors */
	char node_id[BS_NODE_ID_MAX + 1];
	uint32_t interval_s;
	enum bs_byte_measure measure;
	enum bs_clock clock;
	uint32_t timestamp_unit_ns;       /* unit of the mbuf Rx timestamp: 1000 (us) or 1 (ns) */
	char prefix_map[PATH_MAX];
	char spool_dir[PATH_MAX];
	char pidfile[PATH_MAX];
	char metrics_listen[128];         /* "ADDR:PORT" of /metrics; empty: off */
	bool exit_at_eof;                 /* replay: stop when every port is drained */
	uint32_t eof_idle_ms;
	uint32_t flush_timeout_s;         /* at exit: wait this long for acks (0 = forever) */
	uint32_t max_tenants;             /* counter slots; ≤ BS_MAX_TENANTS */
	uint32_t mbufs;
	uint16_t burst;
	uint16_t rx_desc;

	char brokers[1024];               /* empty: in-process embedded Kafka */
	char topic[256];
	struct bs_kafka_props kafka;      /* passed through to librdkafka */

	uint32_t n_ports;
	struct bs_port_config port[BS_MAX_PORTS];

	uint32_t n_pools;                 /* distinct pool ids, dense 0..n-1 */
	uint32_t pool_id[BS_MAX_POOLS];
};

void bs_meter_config_defaults(struct bs_meter_config *cfg);

/* Loads the INI file on top of the defaults and validates the result.
 * Returns 0, or -1 with err naming file:line and the key. */
int bs_meter_config_load(const char *path, struct bs_meter_config *cfg,
			 char *err, size_t err_size);

/* Validates a configuration (called by load, and after CLI overrides). */
int bs_meter_config_check(struct bs_meter_config *cfg, char *err, size_t err_size);

/* Dense index of a pool id, or -1. */
int bs_config_pool_index(const struct bs_meter_config *cfg, uint32_t pool_id);

#endif
