/*
 * main.c — bandsplit-meter: EAL and configuration, ports, worker launch,
 * and the control loop (interval close, Kafka, map reload, telemetry,
 * signals). The per-packet work is in meter.c; the worker loop below is
 * only receive → meter → free.
 *
 *   bandsplit-meter [EAL options] -- --config FILE [options]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

#include "bs_version.h"
#include "classify.h"
#include "config.h"
#include "counters.h"
#include "dpdk_log.h"
#include "export.h"
#include "log.h"
#include "meter.h"
#include "notify.h"
#include "metrics.h"
#include "pcap_stdin.h"
#include "prefix_map.h"
#include "telemetry.h"

#define MAX_WORKER_QUEUES (BS_MAX_PORTS * BS_MAX_RX_QUEUES)
#define EXIT_USAGE 2
#define EXIT_UNSENT 3
#define SETUP_BAD_CONFIG (-2)   /* set-up refused the configuration: exit 2 */

struct worker_queue {
	uint16_t port_id;
	uint16_t queue_id;
	const struct bs_meter_port *mport;
};

struct worker {
	unsigned lcore_id;
	unsigned thread_id;           /* RCU reader id */
	unsigned n_queues;
	struct worker_queue queue[MAX_WORKER_QUEUES];
	uint64_t first_rx_tsc, last_rx_tsc; /* TSC of first/last burst */
	struct bs_meter meter;
	struct bs_lcore_counters ctr;
} __rte_cache_aligned;

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;
static uint32_t workers_stop;                 /* atomic: control → workers */
static const struct bs_classifier *active_map; /* atomic: RCU-protected */

static struct bs_meter_config cfg;
static struct rte_rcu_qsbr *rcu;
static struct worker *workers[RTE_MAX_LCORE];
static unsigned n_workers;
static struct bs_meter_port *mports;
static uint32_t n_mports_set_up;   /* mports[0..n) own a started port */

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_requested = 1;
	else
		stop_requested = 1;
}

static void usage(FILE *out)
{
	fprintf(out,
"Usage: bandsplit-meter [EAL options] -- --config FILE [options]\n"
"\n"
"Meters every tenant's traffic on DPDK ports and streams interval usage\n"
"records to Kafka (topic bandsplit.usage.v1), keeping each record in an\n"
"on-disk spool until Kafka has acknowledged it.\n"
"\n"
"Options (after --):\n"
"  -c, --config FILE        meter configuration (see config/meter.conf)\n"
"      --node-id ID         override [meter] node_id\n"
"      --brokers LIST       override [kafka] brokers (empty: in-process embedded Kafka)\n"
"      --prefix-map FILE    override [meter] prefix_map\n"
"      --spool-dir DIR      override [meter] spool_dir\n"
"      --byte-measure frame|ip   override [meter] byte_measure\n"
"      --interval SECONDS   override [meter] interval\n"
"      --pidfile FILE       write the process id (for 'kill -HUP' map reloads)\n"
"      --metrics-listen ADDR:PORT  override [meter] metrics_listen: Prometheus\n"
"                           text at http://ADDR:PORT/metrics (empty: off)\n"
"      --log-format FMT     log lines on stderr as 'text' (default) or 'json'\n"
"                           (one JSON object per line: ts, level, program, pid,\n"
"                           msg; DPDK's own log lines too, as msg \"dpdk: ...\")\n"
"  -v, --verbose            debug logging\n"
"  -h, --help               this text\n"
"      --version            print the version\n"
"\n"
"Signals: SIGHUP reloads the prefix map (a bad file keeps the old one);\n"
"SIGINT/SIGTERM close the open interval, flush to Kafka and exit 0.\n"
"Live figures: dpdk-telemetry.py, command /bandsplit/stats, and the\n"
"Prometheus endpoint (metrics_listen).\n"
"\n"
"EAL options on a machine without hugepages or NICs, replaying a capture:\n"
"  bandsplit-meter -l 0-1 --no-huge --no-pci -m 256 --file-prefix=bsm \\\n"
"    --vdev=net_pcap0,rx_pcap=traffic.pcap -- --config config/meter.conf\n"
"rx_pcap=- reads the capture from standard input (< FILE or a pipe) through\n"
"a 1 MiB unlocked buffer: the fastest replay (one such queue at most).\n"
"\n"
"Exit status: 0 ok; 1 runtime failure; 2 bad configuration or arguments;\n"
"3 records could not be delivered before exit (they stay in the spool).\n");
}

/* ---- arguments ------------------------------------------------------- */

static int parse_app_args(int argc, char **argv)
{
	enum { OPT_NODE = 256, OPT_BROKERS, OPT_MAP, OPT_SPOOL, OPT_MEASURE,
	       OPT_INTERVAL, OPT_PIDFILE, OPT_METRICS, OPT_LOG_FORMAT, OPT_VERSION };
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "node-id", required_argument, NULL, OPT_NODE },
		{ "brokers", required_argument, NULL, OPT_BROKERS },
		{ "prefix-map", required_argument, NULL, OPT_MAP },
		{ "spool-dir", required_argument, NULL, OPT_SPOOL },
		{ "byte-measure", required_argument, NULL, OPT_MEASURE },
		{ "interval", required_argument, NULL, OPT_INTERVAL },
		{ "pidfile", required_argument, NULL, OPT_PIDFILE },
		{ "metrics-listen", required_argument, NULL, OPT_METRICS },
		{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },  /* dpdk_log.c */
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL;
	const char *over[OPT_VERSION - OPT_NODE + 1] = { 0 };
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'v': bs_log_set_level(BS_LOG_DEBUG); break;
		case 'h': usage(stdout); exit(0);
		case OPT_VERSION: printf("bandsplit-meter %s\n", BS_PACKAGE_VERSION); exit(0);
		case ':':
			fprintf(stderr, "bandsplit-meter: option '%s' needs a value\n", argv[optind - 1]);
			return -1;
		case '?':
			fprintf(stderr, "bandsplit-meter: unknown option '%s' (see --help)\n", argv[optind - 1]);
			return -1;
		default:
			over[c - OPT_NODE] = optarg;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bandsplit-meter: unexpected argument '%s' (see --help)\n", argv[optind]);
		return -1;
	}
	if (!config_path) {
		fprintf(stderr, "bandsplit-meter: --config FILE is required (see --help)\n");
		return -1;
	}
	char err[1024];
	bs_meter_config_defaults(&cfg);
	if (bs_meter_config_load(config_path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "bandsplit-meter: %s\n", err);
		return -1;
	}
	const char *v;
	if ((v = over[OPT_NODE - OPT_NODE])) {
		if (!bs_node_id_valid(v)) {
			fprintf(stderr, "bandsplit-meter: --node-id '%s': 1-63 of A-Z a-z 0-9 . _ -\n", v);
			return -1;
		}
		snprintf(cfg.node_id, sizeof(cfg.node_id), "%s", v);
	}
	if ((v = over[OPT_BROKERS - OPT_NODE]))
		snprintf(cfg.brokers, sizeof(cfg.brokers), "%s", v);
	if ((v = over[OPT_MAP - OPT_NODE]))
		snprintf(cfg.prefix_map, sizeof(cfg.prefix_map), "%s", v);
	if ((v = over[OPT_SPOOL - OPT_NODE]))
		snprintf(cfg.spool_dir, sizeof(cfg.spool_dir), "%s", v);
	if ((v = over[OPT_PIDFILE - OPT_NODE]))
		snprintf(cfg.pidfile, sizeof(cfg.pidfile), "%s", v);
	if ((v = over[OPT_METRICS - OPT_NODE]))
		snprintf(cfg.metrics_listen, sizeof(cfg.metrics_listen), "%s", v);
	if ((v = over[OPT_MEASURE - OPT_NODE])) {
		if (bs_measure_parse(v, strlen(v), &cfg.measure) < 0) {
			fprintf(stderr, "bandsplit-meter: --byte-measure '%s': frame or ip\n", v);
			return -1;
		}
	}
	if ((v = over[OPT_INTERVAL - OPT_NODE])) {
		char *end;
		unsigned long s = strtoul(v, &end, 10);
		if (*v == '\0' || *end != '\0' || s < 1 || s > BS_INTERVAL_MAX_S) {
			fprintf(stderr, "bandsplit-meter: --interval '%s': seconds from 1 to 86400\n", v);
			return -1;
		}
		cfg.interval_s = (uint32_t)s;
	}
	if (bs_meter_config_check(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "bandsplit-meter: %s\n", err);
		return -1;
	}
	return 0;
}

/* ---- set-up ----------------------------------------------------------- */

/* 0, -1 on a device failure, SETUP_BAD_CONFIG for a port or queue count
 * the devices do not have. */
static int setup_port(const struct bs_port_config *pc, struct rte_mempool *pool,
		      uint16_t *port_id_out)
{
	uint16_t port_id;
	if (rte_eth_dev_get_port_by_name(pc->name, &port_id) != 0) {
		BS_ERROR("%s:%u: [port %s]: no such DPDK port (give it with --vdev or -a)",
			 cfg.source, pc->line, pc->name);
		return SETUP_BAD_CONFIG;
	}
	struct rte_eth_dev_info info;
	int rc = rte_eth_dev_info_get(port_id, &info);
	if (rc != 0) {
		BS_ERROR("port %s: %s", pc->name, rte_strerror(-rc));
		return -1;
	}
	if (pc->rx_queues > info.max_rx_queues) {
		BS_ERROR("%s:%u: [port %s] rx_queues = %u, but the device has at most %u",
			 cfg.source, pc->line, pc->name, pc->rx_queues, info.max_rx_queues);
		return SETUP_BAD_CONFIG;
	}
	/* The MTU: the device must take it, and a frame of it must fit in one
	 * mbuf or be scattered over several (the pool's data room was sized
	 * by mbuf_data_room() for devices that cannot scatter). */
	const uint32_t overhead = RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN;   /* as ethdev counts */
	uint32_t max_frame = BS_FRAME_OF_MTU(pc->mtu);
	if (pc->mtu > info.max_mtu || (uint32_t)pc->mtu + overhead > info.max_rx_pktlen) {
		BS_ERROR("%s:%u: [port %s] mtu = %u, but the device takes at most %u",
			 cfg.source, pc->line, pc->name, pc->mtu,
			 RTE_MIN((uint32_t)info.max_mtu,
				 info.max_rx_pktlen > overhead ? info.max_rx_pktlen - overhead : 0u));
		return SETUP_BAD_CONFIG;
	}
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	conf.rxmode.mtu = pc->mtu;
	bool scatter = max_frame > (uint32_t)rte_pktmbuf_data_room_size(pool) - RTE_PKTMBUF_HEADROOM;
	if (scatter) {
		if (!(info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER)) {
			BS_ERROR("%s:%u: [port %s] mtu = %u needs %u-byte mbufs or Rx scatter, "
				 "and the device cannot scatter", cfg.source, pc->line, pc->name,
				 pc->mtu, max_frame);
			return SETUP_BAD_CONFIG;
		}
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;
	}
	if (pc->rx_queues > 1) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = RTE_ETH_RSS_IP & info.flow_type_rss_offloads;
	}
	rc = rte_eth_dev_configure(port_id, pc->rx_queues, 0, &conf);
	if (rc != 0) {
		BS_ERROR("port %s: configure: %s", pc->name, rte_strerror(-rc));
		return -1;
	}
	uint16_t nb_rxd = cfg.rx_desc, nb_txd = 0;
	rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &nb_rxd, &nb_txd);
	for (uint16_t q = 0; q < pc->rx_queues; q++) {
		rc = rte_eth_rx_queue_setup(port_id, q, nb_rxd, rte_eth_dev_socket_id(port_id), NULL, pool);
		if (rc != 0) {
			BS_ERROR("port %s: rx queue %u: %s", pc->name, q, rte_strerror(-rc));
			return -1;
		}
	}
	rc = rte_eth_dev_start(port_id);
	if (rc != 0) {
		BS_ERROR("port %s: start: %s", pc->name, rte_strerror(-rc));
		return -1;
	}
	rte_eth_promiscuous_enable(port_id);   /* not every vdev supports it */
	*port_id_out = port_id;
	BS_INFO("port %s (id %u): role %s, pool %u, %u VLAN pool mappings, %u rx queues, "
		"mtu %u%s%s", pc->name, port_id, bs_port_role_name(pc->role), pc->pool_id,
		pc->n_vlan_pools, pc->rx_queues, pc->mtu, scatter ? ", rx scatter" : "",
		pc->sliced ? ", sliced" : "");
	return 0;
}

/* The mbufs' data room: the default (2,048 bytes), or room for a whole
 * frame of the largest MTU of a port whose device cannot scatter a frame
 * over several mbufs. Ports that are missing are reported by setup_port. */
static uint16_t mbuf_data_room(void)
{
	uint32_t room = RTE_MBUF_DEFAULT_BUF_SIZE;
	for (uint32_t p = 0; p < cfg.n_ports; p++) {
		const struct bs_port_config *pc = &cfg.port[p];
		uint16_t port_id;
		struct rte_eth_dev_info info;
		if (rte_eth_dev_get_port_by_name(pc->name, &port_id) != 0 ||
		    rte_eth_dev_info_get(port_id, &info) != 0)
			continue;
		uint32_t need = BS_FRAME_OF_MTU(pc->mtu) + RTE_PKTMBUF_HEADROOM;
		if (need > room && !(info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER))
			room = need;
	}
	RTE_VERIFY(room <= UINT16_MAX);
	return (uint16_t)room;
}

/* The workers, their counters and the ports' queues: 0, -1 on a runtime
 * failure, or SETUP_BAD_CONFIG when the configuration cannot be set up. */
static int setup_workers(struct rte_mempool *pool, const struct bs_counter_layout *layout,
			 const int64_t *closed_upto)
{
	unsigned lcore;
	RTE_LCORE_FOREACH_WORKER(lcore) {
		struct worker *w = rte_zmalloc_socket("bs_worker", sizeof(*w), RTE_CACHE_LINE_SIZE,
						      (int)rte_lcore_to_socket_id(lcore));
		if (!w || bs_lcore_counters_init(&w->ctr, layout, (int)rte_lcore_to_socket_id(lcore)) < 0) {
			BS_ERROR("out of DPDK memory for the counters of lcore %u (%u cells); "
				 "lower [meter] max_tenants or raise -m", lcore, layout->n_cells);
			return -1;
		}
		w->lcore_id = lcore;
		w->thread_id = n_workers;
		workers[n_workers++] = w;
	}
	if (n_workers == 0) {
		BS_ERROR("bandsplit-meter needs at least two lcores (e.g. -l 0-1): "
			 "the main lcore runs the control loop, the others meter");
		return SETUP_BAD_CONFIG;
	}
	mports = rte_zmalloc("bs_ports", sizeof(*mports) * cfg.n_ports, RTE_CACHE_LINE_SIZE);
	if (!mports)
		return -1;
	unsigned next = 0;
	for (uint32_t p = 0; p < cfg.n_ports; p++) {
		uint16_t port_id;
		int rc = setup_port(&cfg.port[p], pool, &port_id);
		if (rc < 0)
			return rc;
		bs_meter_port_init(&mports[p], &cfg, &cfg.port[p], port_id);
		n_mports_set_up = p + 1;
		for (uint16_t q = 0; q < cfg.port[p].rx_queues; q++) {
			struct worker *w = workers[next++ % n_workers];
			w->queue[w->n_queues++] = (struct worker_queue){ port_id, q, &mports[p] };
		}
	}
	for (unsigned i = 0; i < n_workers; i++)
		bs_meter_init(&workers[i]->meter, &workers[i]->ctr, layout, &cfg, closed_upto);
	if (cfg.clock == BS_CLOCK_PACKET && workers[0]->meter.ts_offset < 0) {
		BS_ERROR("%s: clock = packet, but no port stamps received packets "
			 "(net_pcap does; live NICs: use clock = system)", cfg.source);
		return -1;
	}
	size_t sz = rte_rcu_qsbr_get_memsize(n_workers);
	rcu = rte_zmalloc("bs_rcu", sz, RTE_CACHE_LINE_SIZE);
	if (!rcu || rte_rcu_qsbr_init(rcu, n_workers) != 0)
		return -1;
	for (unsigned i = 0; i < n_workers; i++)
		rte_rcu_qsbr_thread_register(rcu, workers[i]->thread_id);
	return 0;
}

/* ---- the worker ------------------------------------------------------- */

static uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

static int worker_main(void *arg)
{
	struct worker *w = arg;
	struct rte_mbuf *pkts[BS_MAX_BURST];
	const uint16_t burst = cfg.burst;
	const bool stop_at_eof = cfg.exit_at_eof;
	const uint64_t eof_cycles = rte_get_tsc_hz() / 1000 * cfg.eof_idle_ms;
	uint64_t last_rx = rte_get_tsc_cycles();

	rte_rcu_qsbr_thread_online(rcu, w->thread_id);
	while (!__atomic_load_n(&workers_stop, __ATOMIC_RELAXED)) {
		const struct bs_classifier *map = __atomic_load_n(&active_map, __ATOMIC_ACQUIRE);
		/* the wall clock only where it is the packets' clock */
		const uint64_t now = cfg.clock == BS_CLOCK_SYSTEM ? wall_ns() : 0;
		unsigned received = 0;
		for (unsigned i = 0; i < w->n_queues; i++) {
			const struct worker_queue *q = &w->queue[i];
			uint16_t n = rte_eth_rx_burst(q->port_id, q->queue_id, pkts, burst);
			if (n == 0)
				continue;
			received += n;
			bs_meter_burst(&w->meter, map, q->mport, pkts, n, now);
			rte_pktmbuf_free_bulk(pkts, n);
		}
		if (cfg.clock == BS_CLOCK_SYSTEM)
			bs_meter_tick(&w->meter, map, now);
		rte_rcu_qsbr_quiescent(rcu, w->thread_id);
		if (received) {
			last_rx = rte_get_tsc_cycles();
			if (w->first_rx_tsc == 0)
				w->first_rx_tsc = last_rx;
			w->last_rx_tsc = last_rx;
		} else if (stop_at_eof && rte_get_tsc_cycles() - last_rx > eof_cycles) {
			break;   /* every capture on this worker is exhausted */
		}
	}
	rte_rcu_qsbr_thread_offline(rcu, w->thread_id);
	bs_meter_finish(&w->meter);
	return 0;
}

/* ---- the control loop -------------------------------------------------- */

struct map_state {
	struct bs_tenant_index tidx;
	const struct bs_classifier *retired;   /* waiting for the readers */
	uint64_t retired_token;
	unsigned instance;
	uint64_t reloads, failures;
	uint32_t tenant_slots;
};

static struct bs_classifier *build_map(struct map_state *ms, char *err, size_t err_size)
{
	struct bs_prefix_map map;
	if (bs_prefix_map_load(cfg.prefix_map, &map, err, err_size) < 0)
		return NULL;
	if (map.n_tenants >= ms->tenant_slots) {
		snprintf(err, err_size, "%s: %u tenants, but [meter] max_tenants is %u",
			 cfg.prefix_map, map.n_tenants, ms->tenant_slots - 1);
		bs_prefix_map_free(&map);
		return NULL;
	}
	struct bs_classifier *cls = bs_classifier_build(&map, &ms->tidx, ms->instance++, err, err_size);
	bs_prefix_map_free(&map);
	return cls;
}

static void reload_map(struct map_state *ms)
{
	if (ms->retired) {
		BS_WARN("prefix map: reload deferred: the previous one is still being retired");
		return;
	}
	reload_requested = 0;
	char err[1024];
	uint64_t t0 = rte_get_tsc_cycles();
	struct bs_classifier *cls = build_map(ms, err, sizeof(err));
	const struct bs_classifier *old = active_map;
	if (!cls) {
		ms->failures++;
		BS_ERROR("prefix map reload failed, version %" PRIu64 " stays in force: %s",
			 old->version, err);
		return;
	}
	/* Versions only grow ('bandsplit prefixes export'): a lower one is an
	 * old copy (a stale file, a slow exporter) and never replaces the map
	 * in force. */
	if (cls->version < old->version) {
		ms->failures++;
		BS_ERROR("prefix map reload refused: %s holds version %" PRIu64 ", lower "
			 "than version %" PRIu64 " in force, which stays", cfg.prefix_map,
			 cls->version, old->version);
		bs_classifier_free(cls);
		return;
	}
	__atomic_store_n(&active_map, cls, __ATOMIC_RELEASE);
	ms->retired = old;
	ms->retired_token = rte_rcu_qsbr_start(rcu);
	ms->reloads++;
	double ms_taken = (double)(rte_get_tsc_cycles() - t0) * 1e3 / (double)rte_get_tsc_hz();
	BS_INFO("prefix map version %" PRIu64 " in force (%u IPv4, %u IPv6 prefixes; "
		"built and swapped in %.1f ms), replacing version %" PRIu64,
		cls->version, cls->n_v4, cls->n_v6, ms_taken, old->version);
}

static void reclaim_map(struct map_state *ms)
{
	if (ms->retired && rte_rcu_qsbr_check(rcu, ms->retired_token, false) == 1) {
		bs_classifier_free((struct bs_classifier *)(uintptr_t)ms->retired);
		ms->retired = NULL;
	}
}

static void publish_stats(struct bs_exporter *exp, const struct map_state *ms,
			  uint64_t *last_packets, uint64_t *last_bytes)
{
	struct bs_export_stats es;
	bs_exporter_stats(exp, &es);
	struct bs_telemetry_snapshot s = { 0 };
	for (unsigned i = 0; i < n_workers; i++) {
		s.rx_packets += workers[i]->ctr.total_packets;
		s.rx_bytes += workers[i]->ctr.total_bytes;
		s.worker_stalls += workers[i]->ctr.stalls;
		int64_t open = __atomic_load_n(&workers[i]->ctr.open_start, __ATOMIC_RELAXED);
		if (open > s.open_interval)
			s.open_interval = open;
	}
	s.pps = s.rx_packets - *last_packets;
	s.bps = (s.rx_bytes - *last_bytes) * 8;
	*last_packets = s.rx_packets;
	*last_bytes = s.rx_bytes;
	static struct bs_metrics_snapshot ms_snap;   /* for the metrics endpoint */
	for (uint32_t p = 0; p < cfg.n_ports; p++) {
		struct rte_eth_stats ps;
		if (rte_eth_stats_get(mports[p].port_id, &ps) == 0) {
			s.rx_missed += ps.imissed;
			ms_snap.port_rx_missed[p] = ps.imissed;
		}
	}
	s.unattributed_packets = es.unattributed_packets;
	s.malformed_packets = es.malformed_packets;
	s.non_ip_packets = es.non_ip_packets;
	s.intervals_closed = es.intervals_closed;
	s.records_acked = es.records_acked;
	s.records_pending = es.records_pending;
	s.spool_depth = es.spool_depth;
	s.delivery_errors = es.delivery_errors;
	s.late_packets = es.late_packets;
	const struct bs_classifier *map = active_map;
	s.map_version = map->version;
	s.map_v4_prefixes = map->n_v4;
	s.map_v6_prefixes = map->n_v6;
	s.map_reloads = ms->reloads;
	s.map_reload_failures = ms->failures;
	bs_telemetry_publish(&s);
	ms_snap.t = s;
	ms_snap.e = es;
	ms_snap.now = (int64_t)time(NULL);
	snprintf(ms_snap.boot_id, sizeof(ms_snap.boot_id), "%s", bs_exporter_boot_id(exp));
	bs_metrics_publish(&ms_snap);
}

static bool all_workers_finished(void)
{
	for (unsigned i = 0; i < n_workers; i++)
		if (!__atomic_load_n(&workers[i]->ctr.finished, __ATOMIC_ACQUIRE))
			return false;
	return true;
}

static uint64_t pending_records(struct bs_exporter *exp)
{
	struct bs_export_stats es;
	bs_exporter_stats(exp, &es);
	return es.records_pending;
}

/* READY=1 (again, after a reload) with the map in force as the status. */
static void notify_map_in_force(void)
{
	const struct bs_classifier *map = active_map;
	char status[128];
	snprintf(status, sizeof(status), "node %s: %u ports, prefix map version %" PRIu64,
		 cfg.node_id, cfg.n_ports, map->version);
	bs_notify_ready(status);
}

/* Runs until every worker has finished; then closes the last intervals and
 * waits for Kafka. Returns the process exit status. */
static int control_loop(struct bs_exporter *exp, struct map_state *ms)
{
	struct bs_lcore_counters *ctrs[RTE_MAX_LCORE];
	for (unsigned i = 0; i < n_workers; i++)
		ctrs[i] = &workers[i]->ctr;
	uint64_t next_stats = rte_get_tsc_cycles(), last_packets = 0, last_bytes = 0;
	bool stopping = false;

	for (;;) {
		bool finished = all_workers_finished();
		int closed = bs_exporter_collect(exp, ctrs, n_workers, finished);
		if (closed < 0)
			rte_delay_ms(100);   /* spool write failed: retry, never drop */
		if (finished && closed >= 0)
			break;
		bs_exporter_poll(exp, closed > 0 ? 0 : 1);
		bs_notify_watchdog();
		if (reload_requested) {
			/* a deferred reload (the previous map is still being
			 * retired) is not a reload yet */
			bool begins = ms->retired == NULL;
			if (begins)
				bs_notify_reloading();
			reload_map(ms);
			if (begins)
				notify_map_in_force();
		}
		reclaim_map(ms);
		if (bs_exporter_fatal(exp) && !stopping) {
			/* The producer cannot go on: close and spool what is
			 * counted, exit 3, and let the restart re-send it. */
			stop_requested = 1;
		}
		if (stop_requested && !stopping) {
			BS_INFO("stopping: closing the open interval");
			bs_notify_stopping();
			stopping = true;
			__atomic_store_n(&workers_stop, 1, __ATOMIC_RELAXED);
		}
		if (rte_get_tsc_cycles() >= next_stats) {
			publish_stats(exp, ms, &last_packets, &last_bytes);
			next_stats = rte_get_tsc_cycles() + rte_get_tsc_hz();
		}
	}
	if (!stopping)
		bs_notify_stopping();   /* every capture replayed */
	rte_eal_mp_wait_lcore();
	for (unsigned i = 0; i < n_workers; i++) {
		const struct worker *w = workers[i];
		if (w->first_rx_tsc == 0)
			continue;
		double secs = (double)(w->last_rx_tsc - w->first_rx_tsc) / (double)rte_get_tsc_hz();
		BS_INFO("worker lcore %u: %" PRIu64 " packets received in %.3f s between its first "
			"and last burst (%.2f Mpps)", w->lcore_id, w->ctr.total_packets, secs,
			secs > 0 ? (double)w->ctr.total_packets / secs / 1e6 : 0.0);
	}

	/* Every interval is closed and spooled; wait for Kafka. */
	stop_requested = 0;
	uint64_t deadline = cfg.flush_timeout_s
		? rte_get_tsc_cycles() + rte_get_tsc_hz() * cfg.flush_timeout_s : UINT64_MAX;
	uint64_t next_note = rte_get_tsc_cycles() + rte_get_tsc_hz() * 5;
	while (pending_records(exp) > 0 && !stop_requested && !bs_exporter_fatal(exp) &&
	       rte_get_tsc_cycles() < deadline) {
		bs_exporter_drain(exp, 50);
		bs_notify_watchdog();
		if (rte_get_tsc_cycles() >= next_note) {
			BS_INFO("waiting for Kafka to acknowledge %" PRIu64 " records", pending_records(exp));
			next_note = rte_get_tsc_cycles() + rte_get_tsc_hz() * 5;
		}
	}
	publish_stats(exp, ms, &last_packets, &last_bytes);
	struct bs_export_stats es;
	bs_exporter_stats(exp, &es);
	BS_INFO("done: %" PRIu64 " packets in %" PRIu64 " intervals; %" PRIu64 " records acknowledged, "
		"%" PRIu64 " re-sent from an earlier spool, %" PRIu64 " late packets",
		es.rx_packets, es.intervals_closed, es.records_acked, es.records_recovered, es.late_packets);
	uint64_t unsent = bs_exporter_close(exp);
	if (unsent) {
		BS_ERROR("%" PRIu64 " records not acknowledged by Kafka; they stay in %s and are "
			 "sent at the next start", unsent, cfg.spool_dir);
		return EXIT_UNSENT;
	}
	return 0;
}

static int write_pidfile(const char *path)
{
	char tmp[PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
		BS_ERROR("pidfile %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	bs_log_init("bandsplit-meter");
	if (bs_dpdk_log_setup(argc, argv) < 0)    /* before the EAL logs */
		return EXIT_USAGE;
	for (int i = 1; i < argc; i++) {    /* --help, --version work without an EAL */
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--version")) {
			printf("bandsplit-meter %s\n", BS_PACKAGE_VERSION);
			return 0;
		}
	}
	char stdin_err[256];
	int capture_on_stdin = bs_pcap_stdin_prepare(argc, argv, stdin_err, sizeof(stdin_err));
	if (capture_on_stdin < 0) {
		BS_ERROR("%s", stdin_err);
		return EXIT_USAGE;
	}
	int eal_args = rte_eal_init(argc, argv);
	if (eal_args < 0) {
		BS_ERROR("EAL initialisation failed: %s (see --help for EAL options that work "
			 "without hugepages)", rte_strerror(rte_errno));
		return EXIT_USAGE;
	}
	argc -= eal_args;
	argv += eal_args;
	if (parse_app_args(argc, argv) < 0) {
		rte_eal_cleanup();
		return EXIT_USAGE;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);

	struct map_state ms = { .tenant_slots = cfg.max_tenants + 1 };
	char err[1024];
	int status = 1;
	struct bs_exporter *exp = NULL;
	if (bs_tenant_index_init(&ms.tidx) < 0) {
		BS_ERROR("out of memory");
		goto out;
	}
	ms.tidx.limit = cfg.max_tenants;   /* counter slots 1..max_tenants */
	struct bs_classifier *first = build_map(&ms, err, sizeof(err));
	if (!first) {
		BS_ERROR("prefix map: %s", err);
		status = EXIT_USAGE;
		goto out;
	}
	active_map = first;
	BS_INFO("prefix map version %" PRIu64 ": %u IPv4 and %u IPv6 prefixes",
		first->version, first->n_v4, first->n_v6);

	struct bs_counter_layout layout;
	bs_counter_layout_init(&layout, ms.tenant_slots, cfg.n_pools);
	uint16_t data_room = mbuf_data_room();
	struct rte_mempool *pool = rte_pktmbuf_pool_create("bs_mbufs", cfg.mbufs, 256, 0,
		data_room, (int)rte_socket_id());
	if (!pool) {
		BS_ERROR("mbuf pool of %u x %u bytes: %s", cfg.mbufs, data_room,
			 rte_strerror(rte_errno));
		goto out;
	}
	/* The exporter needs the worker count; workers need its closed_upto. */
	unsigned lcore, worker_lcores = 0;
	RTE_LCORE_FOREACH_WORKER(lcore)
		worker_lcores++;
	exp = bs_exporter_open(&cfg, &layout, &ms.tidx, worker_lcores ? worker_lcores : 1, err, sizeof(err));
	if (!exp) {
		BS_ERROR("%s", err);
		goto out;
	}
	int setup = setup_workers(pool, &layout, bs_exporter_closed_upto(exp));
	if (setup < 0) {
		if (setup == SETUP_BAD_CONFIG)
			status = EXIT_USAGE;
		goto out;
	}
	if (bs_exporter_recover(exp, err, sizeof(err)) < 0) {
		BS_ERROR("spool recovery: %s", err);
		goto out;
	}
	if (cfg.pidfile[0] && write_pidfile(cfg.pidfile) < 0)
		goto out;
	if (bs_telemetry_register() != 0)
		BS_WARN("telemetry: /bandsplit/stats could not be registered");
	if (cfg.metrics_listen[0]) {
		uint16_t mport;
		publish_stats(exp, &ms, &(uint64_t){ 0 }, &(uint64_t){ 0 });
		if (bs_metrics_start(&cfg, &mport, err, sizeof(err)) < 0) {
			BS_ERROR("%s", err);
			status = EXIT_USAGE;
			goto out;
		}
		BS_INFO("metrics on http://%.*s:%u/metrics",
			(int)(strrchr(cfg.metrics_listen, ':') - cfg.metrics_listen),
			cfg.metrics_listen, mport);
	}
	BS_INFO("node %s boot %s: %u workers, interval %us, byte measure %s, clock %s, spool %s, kafka %s",
		cfg.node_id, bs_exporter_boot_id(exp), n_workers, cfg.interval_s,
		bs_measure_name(cfg.measure), cfg.clock == BS_CLOCK_PACKET ? "packet" : "system",
		cfg.spool_dir, cfg.brokers[0] ? cfg.brokers : "(embedded)");

	for (unsigned i = 0; i < n_workers; i++)
		rte_eal_remote_launch(worker_main, workers[i], workers[i]->lcore_id);
	notify_map_in_force();   /* ports started, first map in force */
	status = control_loop(exp, &ms);
	exp = NULL;
out:
	bs_metrics_stop();
	if (exp)
		bs_exporter_close(exp);
	if (cfg.pidfile[0])
		unlink(cfg.pidfile);
	for (uint32_t p = 0; p < n_mports_set_up; p++) {
		rte_eth_dev_stop(mports[p].port_id);
		rte_eth_dev_close(mports[p].port_id);
	}
	bs_tenant_index_free(&ms.tidx);
	rte_eal_cleanup();
	return status;
}
