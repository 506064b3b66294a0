/*
 * test_counters.c — the metering fast path (dataplane/meter.c) and the
 * counter-bank hand-over (dataplane/counters.h) on a real no-hugepage EAL,
 * with hand-built frames in mbufs and a real classifier.
 *
 * The control thread's side is played by the tests themselves: they read
 * CLOSED banks, check their counts and bs_bank_clear() them, as export.c
 * does, without Kafka. Covered: directions and tenants by port role, outer
 * VLAN → pool, frame/ip byte measures, malformed and non-IP buckets,
 * derived totals = Σ cells, interval boundaries to the microsecond, bank states
 * through interval changes and finish, late frames, the closed_upto floor,
 * backpressure with a slow control thread, and the system clock's tick.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include "classify.h"
#include "config.h"
#include "counters.h"
#include "meter.h"
#include "parse.h"
#include "prefix_map.h"

#define TEST_NS_PER_S  UINT64_C(1000000000)
#define TEST_US_PER_S  UINT64_C(1000000)
#define T0        INT64_C(1700000000)   /* a multiple of the 10 s interval */
#define INTERVAL  10u

/* Tenants 101..103; pools 1 (port default), 2 (VLAN 100), 3 (VLAN 200). */
static const char MAP_TEXT[] =
	"version 7\n"
	"10.1.0.0/16 101\n"
	"10.2.0.0/16 102\n"
	"2001:db8:1::/48 101\n"
	"2001:db8:2::/48 103\n";
#define MAP_VERSION 7u

static struct rte_mempool *mbuf_pool;
static int ts_offset = -1;
static struct bs_tenant_index tidx;
static struct bs_classifier *cls;

/* What one test meters with; rebuilt by rig_init(). */
static struct bs_meter_config cfg;
static struct bs_counter_layout layout;
static struct bs_lcore_counters ctr;
static struct bs_meter meter;
static struct bs_meter_port mport;
static int64_t closed_upto;

/* ---- EAL, mbufs, classifier ---- */

static int group_setup(void **state)
{
	(void)state;
	char *argv[] = { "test", "--no-huge", "--no-pci", "-m", "512",
			 "--no-shconf", "--log-level=error", NULL };
	int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1;
	if (rte_eal_init(argc, argv) < 0)
		return -1;
	mbuf_pool = rte_pktmbuf_pool_create("test_mbufs", 1023, 0, 0,
					    RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (mbuf_pool == NULL)
		return -1;
	/* As net_pcap does; bs_meter_init() looks the field up. */
	uint64_t flag;
	if (rte_mbuf_dyn_rx_timestamp_register(&ts_offset, &flag) != 0)
		return -1;
	struct bs_prefix_map map;
	char err[256];
	if (bs_prefix_map_parse(MAP_TEXT, strlen(MAP_TEXT), "test.map", &map,
				err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	if (bs_tenant_index_init(&tidx) != 0)
		return -1;
	cls = bs_classifier_build(&map, &tidx, 0, err, sizeof(err));
	bs_prefix_map_free(&map);
	if (cls == NULL) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	bs_classifier_free(cls);
	bs_tenant_index_free(&tidx);
	rte_mempool_free(mbuf_pool);
	rte_eal_cleanup();
	return 0;
}

/* A meter on one port with pool 1, VLAN 100 → pool 2, VLAN 200 → pool 3. */
static void rig_init(enum bs_port_role role, enum bs_byte_measure measure,
		     enum bs_clock clock)
{
	bs_meter_config_defaults(&cfg);
	snprintf(cfg.prefix_map, sizeof(cfg.prefix_map), "test.map");
	cfg.interval_s = INTERVAL;
	cfg.measure = measure;
	cfg.clock = clock;
	cfg.n_ports = 1;
	struct bs_port_config *port = &cfg.port[0];
	snprintf(port->name, sizeof(port->name), "p0");
	port->role = role;
	port->pool_id = 1;
	port->rx_queues = 1;
	port->n_vlan_pools = 2;
	port->vlan_vid[0] = 100;
	port->vlan_pool_id[0] = 2;
	port->vlan_vid[1] = 200;
	port->vlan_pool_id[1] = 3;
	char err[512];
	if (bs_meter_config_check(&cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(cfg.n_pools, 3);

	bs_counter_layout_init(&layout, tidx.count, cfg.n_pools);
	assert_int_equal(bs_lcore_counters_init(&ctr, &layout, SOCKET_ID_ANY), 0);
	closed_upto = BS_INTERVAL_NONE;
	bs_meter_init(&meter, &ctr, &layout, &cfg, &closed_upto);
	bs_meter_port_init(&mport, &cfg, port, 0);
}

static int rig_teardown(void **state)
{
	(void)state;
	bs_lcore_counters_free(&ctr);
	return 0;
}

/* ---- frames ---- */

struct pkt {
	int v6;                  /* 0: IPv4, 1: IPv6 */
	const char *src, *dst;
	uint16_t ip_len;         /* IP total length (v6: 40 + payload) */
	uint16_t vlan[2];        /* outer, inner; 0 = no tag */
	int64_t ts_us;           /* Rx timestamp, microseconds since the epoch */
};

static uint8_t *append_ether(struct rte_mbuf *m, const uint16_t vlan[2],
			     uint16_t ethertype, uint16_t frame_len)
{
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, frame_len);
	assert_non_null(p);
	memset(p, 0, frame_len);
	static const uint8_t macs[12] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2 };
	memcpy(p, macs, sizeof(macs));
	unsigned off = 12;
	for (int t = 0; t < 2 && vlan[t]; t++) {
		p[off] = t == 0 && vlan[1] ? 0x88 : 0x81;   /* 802.1ad outer in QinQ */
		p[off + 1] = t == 0 && vlan[1] ? 0xa8 : 0x00;
		p[off + 2] = (uint8_t)(vlan[t] >> 8);
		p[off + 3] = (uint8_t)vlan[t];
		off += 4;
	}
	p[off] = (uint8_t)(ethertype >> 8);
	p[off + 1] = (uint8_t)ethertype;
	return p + off + 2;
}

static unsigned tags(const uint16_t vlan[2])
{
	return vlan[0] ? (vlan[1] ? 2u : 1u) : 0u;
}

static void set_ts(struct rte_mbuf *m, uint64_t value)
{
	*RTE_MBUF_DYNFIELD(m, ts_offset, uint64_t *) = value;
}

/* An mbuf holding the frame; short frames are padded to Ethernet's 60. */
static struct rte_mbuf *make(const struct pkt *pk)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mbuf_pool);
	assert_non_null(m);
	unsigned hdr = 14 + 4 * tags(pk->vlan);
	unsigned len = hdr + pk->ip_len < 60 ? 60 : hdr + pk->ip_len;
	uint8_t *ip = append_ether(m, pk->vlan, pk->v6 ? 0x86dd : 0x0800, (uint16_t)len);
	if (!pk->v6) {
		assert_true(pk->ip_len >= 20);
		ip[0] = 0x45;
		ip[2] = (uint8_t)(pk->ip_len >> 8);
		ip[3] = (uint8_t)pk->ip_len;
		ip[8] = 64;
		ip[9] = 17;
		assert_int_equal(inet_pton(AF_INET, pk->src, ip + 12), 1);
		assert_int_equal(inet_pton(AF_INET, pk->dst, ip + 16), 1);
	} else {
		assert_true(pk->ip_len >= 40);
		ip[0] = 0x60;
		ip[4] = (uint8_t)((pk->ip_len - 40) >> 8);
		ip[5] = (uint8_t)(pk->ip_len - 40);
		ip[6] = 17;
		ip[7] = 64;
		assert_int_equal(inet_pton(AF_INET6, pk->src, ip + 8), 1);
		assert_int_equal(inet_pton(AF_INET6, pk->dst, ip + 24), 1);
	}
	set_ts(m, (uint64_t)pk->ts_us);
	return m;
}

/* Raw frame bytes (for non-IP and malformed frames). */
static struct rte_mbuf *make_raw(const uint8_t *bytes, uint16_t len, int64_t ts_us)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mbuf_pool);
	assert_non_null(m);
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, len);
	assert_non_null(p);
	memcpy(p, bytes, len);
	set_ts(m, (uint64_t)ts_us);
	return m;
}

/* Meters n frames as one burst at wall clock now_ns, then frees them. */
static void burst(struct rte_mbuf **pkts, uint16_t n, uint64_t now_ns)
{
	bs_meter_burst(&meter, cls, &mport, pkts, n, now_ns);
	rte_pktmbuf_free_bulk(pkts, n);
}

static void burst_pkts(const struct pkt *pk, uint16_t n, uint64_t now_ns)
{
	struct rte_mbuf *m[BS_MAX_BURST];
	assert_true(n <= BS_MAX_BURST);
	for (uint16_t i = 0; i < n; i++)
		m[i] = make(&pk[i]);
	burst(m, n, now_ns);
}

static uint32_t frame_len(const struct pkt *pk)
{
	unsigned len = 14 + 4 * tags(pk->vlan) + pk->ip_len;
	return len < 60 ? 60 : len;
}

/* ---- reading banks, as the control thread does ---- */

static uint32_t dense_tenant(uint32_t tenant_id)
{
	for (uint32_t i = 0; i < tidx.count; i++)
		if (tidx.tenant_id[i] == tenant_id)
			return i;
	fail_msg("tenant %u has no dense index", tenant_id);
	return 0;
}

static const struct bs_cell *cell(const struct bs_bank *bank, uint32_t tenant_id,
				  uint32_t pool_id, enum bs_direction dir)
{
	int pool = bs_config_pool_index(&cfg, pool_id);
	assert_true(pool >= 0);
	return &bank->cells[bs_cell_index(&layout, dense_tenant(tenant_id), (uint32_t)pool, dir)];
}

static void assert_cell(const struct bs_bank *bank, uint32_t tenant_id, uint32_t pool_id,
			enum bs_direction dir, uint64_t packets, uint64_t bytes)
{
	const struct bs_cell *c = cell(bank, tenant_id, pool_id, dir);
	if (c->packets != packets || c->bytes != bytes)
		fail_msg("tenant %u pool %u %s: %llu packets %llu bytes, expected %llu and %llu",
			 tenant_id, pool_id, dir == BS_DIR_IN ? "in" : "out",
			 (unsigned long long)c->packets, (unsigned long long)c->bytes,
			 (unsigned long long)packets, (unsigned long long)bytes);
}

/* Σ over every cell of one direction. */
static struct bs_cell sum_cells(const struct bs_bank *bank, enum bs_direction dir)
{
	struct bs_cell s = { 0, 0 };
	for (uint32_t t = 0; t < layout.n_tenant_slots; t++)
		for (uint32_t p = 0; p < layout.n_pools; p++) {
			const struct bs_cell *c = &bank->cells[bs_cell_index(&layout, t, p, dir)];
			s.packets += c->packets;
			s.bytes += c->bytes;
		}
	return s;
}

/* Σ over the cells of tenant 0 (unattributed), both directions. */
static struct bs_cell sum_unattributed(const struct bs_bank *bank)
{
	struct bs_cell s = { 0, 0 };
	for (uint32_t p = 0; p < layout.n_pools; p++)
		for (int d = 0; d < BS_DIR_COUNT; d++) {
			const struct bs_cell *c = &bank->cells[bs_cell_index(&layout, 0, p, (enum bs_direction)d)];
			s.packets += c->packets;
			s.bytes += c->bytes;
		}
	return s;
}

/* The derived totals (counters.h) agree with the test's own sums. */
static void assert_bank_consistent(const struct bs_bank *bank)
{
	for (int d = 0; d < BS_DIR_COUNT; d++) {
		struct bs_cell s = sum_cells(bank, (enum bs_direction)d);
		assert_int_equal(bs_cells_direction_total(bank->cells, &layout, (enum bs_direction)d).packets, s.packets);
		assert_int_equal(bs_cells_direction_total(bank->cells, &layout, (enum bs_direction)d).bytes, s.bytes);
	}
	struct bs_cell u = sum_unattributed(bank);
	assert_int_equal(bs_cells_unattributed(bank->cells, &layout).packets, u.packets);
	assert_int_equal(bs_cells_unattributed(bank->cells, &layout).bytes, u.bytes);
}

/* The only bank in `state` for interval `start`. */
static struct bs_bank *bank_of(int64_t start, enum bs_bank_state state)
{
	struct bs_bank *found = NULL;
	for (unsigned b = 0; b < BS_BANKS_PER_LCORE; b++) {
		struct bs_bank *bank = &ctr.bank[b];
		if (bs_bank_state_load(bank) == state && bank->interval_start == start) {
			if (found)
				fail_msg("two banks for interval %lld", (long long)start);
			found = bank;
		}
	}
	if (found == NULL)
		fail_msg("no %s bank for interval %lld",
			 state == BS_BANK_OPEN ? "OPEN" : state == BS_BANK_CLOSED ? "CLOSED" : "FREE",
			 (long long)start);
	return found;
}

static void assert_states(uint32_t s0, uint32_t s1, uint32_t s2, uint32_t s3)
{
	const uint32_t want[BS_BANKS_PER_LCORE] = { s0, s1, s2, s3 };
	for (unsigned b = 0; b < BS_BANKS_PER_LCORE; b++)
		if (bs_bank_state_load(&ctr.bank[b]) != want[b])
			fail_msg("bank %u is in state %u, expected %u", b,
				 bs_bank_state_load(&ctr.bank[b]), want[b]);
}

static int64_t us(int64_t s)
{
	return s * (int64_t)TEST_US_PER_S;
}

/* ---- directions and tenants by role ---- */

static void upstream_counts_destination_tenant_in(void **state)
{
	(void)state;
	rig_init(BS_ROLE_UPSTREAM, BS_MEASURE_FRAME, BS_CLOCK_PACKET);
	const struct pkt pk[] = {
		{ 0, "192.0.2.1", "10.1.2.3", 100, { 0, 0 }, us(T0) + 1 },
		{ 0, "192.0.2.1", "10.1.200.9", 1000, { 0, 0 }, us(T0) + 2 },
		{ 1, "2001:db8:99::1", "2001:db8:2::5", 300, { 0, 0 }, us(T0) + 3 },
		{ 0, "10.2.0.1", "198.51.100.1", 200, { 0, 0 }, us(T0) + 4 },  /* source is a tenant: not for upstream */
		{ 1, "2001:db8:1::1", "2001:db8:99::2", 60, { 0, 0 }, us(T0) + 5 },
	};
	burst_pkts(pk, 5, 0);
	bs_meter_finish(&meter);
	struct bs_bank *b = bank_of(T0, BS_BANK_CLOSED);
	assert_cell(b, 101, 1, BS_DIR_IN, 2, frame_len(&pk[0]) + frame_len(&pk[1]));
	assert_cell(b, 103, 1, BS_DIR_IN, 1, frame_len(&pk[2]));
	assert_cell(b, 0, 1, BS_DIR_IN, 2, frame_len(&pk[3]) + frame_len(&pk[4]));
	assert_cell(b, 102, 1, BS_DIR_IN, 0, 0);
	assert_int_equal(bs_cells_direction_total(b->cells, &layout, BS_DIR_OUT).packets, 0);
	assert_int_equal(bs_cells_direction_total(b->cells, &layout, BS_DIR_IN).packets, 5);
	assert_int_equal(bs_cells_unattributed(b->cells, &layout).packets, 2);
	assert_int_equal(b->rx.packets, 5);
	assert_int_equal(b->map_version, MAP_VERSION);
	assert_bank_consistent(b);
	uint64_t all = 0;
	for (int i = 0; i < 5; i++)
		all += frame_len(&pk[i]);
	assert_int_equal(b->rx.bytes, all);
	assert_int_equal(ctr.total_packets, 5);
	assert_int_equal(ctr.total_bytes, all);
}

static void downstream_counts_source_tenant_out(void **state)
{
	(void)state;
	rig_init(BS_ROLE_DOWNSTREAM, BS_MEASURE_FRAME, BS_CLOCK_PACKET);
	const struct pkt pk[] = {
		{ 0, "10.1.2.3", "192.0.2.1", 100, { 0, 0 }, us(T0) },
		{ 0, "10.2.9.9", "10.1.2.3", 400, { 0, 0 }, us(T0) },   /* tenant to tenant: source's */
		{ 1, "2001:db8:2::5", "2001:db8:99::1", 500, { 0, 0 }, us(T0) },
		{ 0, "198.51.100.1", "10.1.0.1", 200, { 0, 0 }, us(T0) },  /* only the destination is a tenant */
	};
	burst_pkts(pk, 4, 0);
	bs_meter_finish(&meter);
	struct bs_bank *b = bank_of(T0, BS_BANK_CLOSED);
	assert_cell(b, 101, 1, BS_DIR_OUT, 1, frame_len(&pk[0]));
	assert_cell(b, 102, 1, BS_DIR_OUT, 1, frame_len(&pk[1]));
	assert_cell(b, 103, 1, BS_DIR_OUT, 1, frame_len(&pk[2]));
	assert_cell(b, 0, 1, BS_DIR_OUT, 1, frame_len(&pk[3]));
	assert_cell(b, 101, 1, BS_DIR_IN, 0, 0);
	assert_int_equal(bs_cells_direction_total(b->cells, &layout, BS_DIR_IN).packets, 0);
	assert_int_equal(bs_cells_direction_total(b->cells, &layout, BS_DIR_OUT).packets, 4);
	assert_int_equal(bs_cells_unattributed(b->cells, &layout).packets, 1);
	assert_bank_consistent(b);
}

static void mirror_counts_both_sides_and_unattributed_once(void **state)
{
	(void)state;
	rig_init(BS_ROLE_MIRROR, BS_MEASURE_FRAME, BS_CLOCK_PACKET);
	const struct pkt pk[] = {
		{ 0, "10.1.0.7", "10.2.0.7", 1000, { 0, 0 }, us(T0) },        /* 101 out, 102 in */
		{ 0, "192.0.2.1", "10.1.0.7", 200, { 0, 0 }, us(T0) },        /* 101 in */
		{ 1, "2001:db8:2::1", "2001:db8:99::1", 300, { 0, 0 }, us(T0) }, /* 103 out */
		{ 0, "192.0.2.1", "198.51.100.1", 400, { 0, 0 }, us(T0) },    /* nobody: unattributed in, once */
		{ 1, "2001:db8:99::1", "2001:db8:98::1", 500, { 0, 0 }, us(T0) }, /* nobody */
	};
	burst_pkts(pk, 5, 0);
	bs_meter_finish(&meter);
	struct bs_bank *b = bank_of(T0, BS_BANK_CLOSED);
	assert_cell(b, 101, 1, BS_DIR_OUT, 1, frame_len(&pk[0]));
	assert_cell(b, 102, 1, BS_DIR_IN, 1, frame_len(&pk[0]));
	assert_cell(b, 101, 1, BS_DIR_IN, 1, frame_len(&pk[1]));
	assert_cell(b, 103, 1, BS_DIR_OUT, 1, frame_len(&pk[2]));
	assert_cell(b, 0, 1, BS_DIR_IN, 2, frame_len(&pk[3]) + frame_len(&pk[4]));
	assert_cell(b, 0, 1, BS_DIR_OUT, 0, 0);
	assert_int_equal(bs_cells_unattributed(b->cells, &layout).packets, 2);
	assert_int_equal(bs_cells_unattributed(b->cells, &layout).bytes, frame_len(&pk[3]) + frame_len(&pk[4]));
	assert_int_equal(bs_cells_direction_total(b->cells, &layout, BS_DIR_IN).packets, 4);
	assert_int_equal(bs_cells_direction_total(b->cells, &layout, BS_DIR_OUT).packets, 2);
	assert_int_equal(b->rx.packets, 5);
	assert_bank_consistent(b);
}

/* ---- pools and byte measures ---- */

static void outer_vlan_selects_the_pool(void **state)
{
	(void)state;
	rig_init(BS_ROLE_UPSTREAM, BS_MEASURE_FRAME, BS_CLOCK_PACKET);
	/* The port's table: untagged and unmapped VIDs → the port's pool. */
	int p1 = bs_config_pool_index(&cfg, 1), p2 = bs_config_pool_index(&cfg, 2),
	    p3 = bs_config_pool_index(&cfg, 3);
	assert_int_equal(mport.role, BS_ROLE_UPSTREAM);
	assert_int_equal(mport.pool_of_vlan[0], p1);
	assert_int_equal(mport.pool_of_vlan[100], p2);
	assert_int_equal(mport.pool_of_vlan[200], p3);
	assert_int_equal(mport.pool_of_vlan[101], p1);
	assert_int_equal(mport.pool_of_vlan[4095], p1);

	const struct pkt pk[] = {
		{ 0, "192.0.2.1", "10.1.0.1", 100, { 0, 0 }, us(T0) },       /* untagged → 1 */
		{ 0, "192.0.2.1", "10.1.0.1", 110, { 100, 0 }, us(T0) },     /* → 2 */
		{ 1, "2001:db8:99::1", "2001:db8:1::1", 120, { 200, 0 }, us(T0) }, /* → 3 */
		{ 0, "192.0.2.1", "10.1.0.1", 130, { 200, 100 }, us(T0) },   /* QinQ: outer 200 → 3 */
		{ 0, "192.0.2.1", "10.1.0.1", 140, { 300, 0 }, us(T0) },     /* unmapped → 1 */
		{ 0, "192.0.2.1", "10.1.0.1", 150, { 100, 200 }, us(T0) },   /* QinQ: outer 100 → 2 */
	};
	burst_pkts(pk, 6, 0);
	bs_meter_finish(&meter);
	struct bs_bank *b = bank_of(T0, BS_BANK_CLOSED);
	assert_cell(b, 101, 1, BS_DIR_IN, 2, frame_len(&pk[0]) + frame_len(&pk[4]));
	assert_cell(b, 101, 2, BS_DIR_IN, 2, frame_len(&pk[1]) + frame_len(&pk[5]));
	assert_cell(b, 101, 3, BS_DIR_IN, 2, frame_len(&pk[2]) + frame_len(&pk[3]));
	assert_bank_consistent(b);
}

static void byte_measure_frame_or_ip(void **state)
{
	(void)state;
	const struct pkt pk[] = {
		{ 0, "192.0.2.1", "10.1.0.1", 28, { 0, 0 }, us(T0) },        /* padded to 60 */
		{ 0, "192.0.2.1", "10.1.0.1", 1500, { 100, 0 }, us(T0) },    /* 1518 on the wire */
		{ 1, "2001:db8:99::1", "2001:db8:1::1", 40, { 200, 100 }, us(T0) },
	};
	for (int measure = BS_MEASURE_FRAME; measure <= BS_MEASURE_IP; measure++) {
		rig_init(BS_ROLE_UPSTREAM, (enum bs_byte_measure)measure, BS_CLOCK_PACKET);
		burst_pkts(pk, 3, 0);
		bs_meter_finish(&meter);
		struct bs_bank *b = bank_of(T0, BS_BANK_CLOSED);
		int ip = measure == BS_MEASURE_IP;
		assert_cell(b, 101, 1, BS_DIR_IN, 1, ip ? 28 : 60);
		assert_cell(b, 101, 2, BS_DIR_IN, 1, ip ? 1500 : 1518);
		assert_cell(b, 101, 3, BS_DIR_IN, 1, ip ? 40 : 62);
		/* rx always counts what arrived. */
		assert_int_equal(b->rx.bytes, 60 + 1518 + 62);
		assert_bank_consistent(b);
		bs_lcore_counters_free(&ctr);
	}
	/* rig_teardown frees ctr again: harmless, its pointers are NULL. */
}

static void malformed_and_non_ip_only_in_their_buckets(void **state)
{
	(void)state;
	rig_init(BS_ROLE_MIRROR, BS_MEASURE_FRAME, BS_CLOCK_PACKET);
	uint8_t arp[60] = { 0 };
	arp[12] = 0x08;
	arp[13] = 0x06;
	uint8_t short_eth[10] = { 0 };
	uint8_t short_ip[14 + 10] = { 0 };     /* IPv4 EtherType, 10 bytes of header */
	short_ip[12] = 0x08;
	short_ip[14] = 0x45;
	uint8_t bad_len[60] = { 0 };           /* IPv4 total length 1000 > 46 present */
	bad_len[12] = 0x08;
	bad_len[14] = 0x45;
	bad_len[16] = 0x03;
	bad_len[17] = 0xe8;
	bad_len[29] = 1;                       /* src 0.0.0.1, dst 10.1.0.1: would match */
	bad_len[30] = 10;
	bad_len[31] = 1;
	bad_len[33] = 1;
	struct rte_mbuf *m[5] = {
		make_raw(arp, sizeof(arp), us(T0)),
		make_raw(short_eth, sizeof(short_eth), us(T0)),
		make_raw(short_ip, sizeof(short_ip), us(T0)),
		make_raw(bad_len, sizeof(bad_len), us(T0)),
		make_raw(bad_len, sizeof(bad_len), us(T0)),
	};
	burst(m, 5, 0);
	bs_meter_finish(&meter);
	struct bs_bank *b = bank_of(T0, BS_BANK_CLOSED);
	assert_int_equal(b->non_ip.packets, 1);
	assert_int_equal(b->non_ip.bytes, 60);
	assert_int_equal(b->malformed.packets, 4);
	assert_int_equal(b->malformed.bytes, 10 + 24 + 60 + 60);
	assert_int_equal(b->malformed_reason[BS_MAL_SHORT_ETHER], 1);
	assert_int_equal(b->malformed_reason[BS_MAL_SHORT_IP], 1);
	assert_int_equal(b->malformed_reason[BS_MAL_BAD_LENGTH], 2);
	assert_int_equal(b->malformed_reason[BS_MAL_NONE], 0);
	assert_int_equal(b->rx.packets, 5);
	assert_int_equal(b->rx.bytes, 60 + 10 + 24 + 60 + 60);
	/* Nothing reached a cell, a direction or unattributed. */
	for (int d = 0; d < BS_DIR_COUNT; d++) {
		assert_int_equal(bs_cells_direction_total(b->cells, &layout, (enum bs_direction)d).packets, 0);
		assert_int_equal(bs_cells_direction_total(b->cells, &layout, (enum bs_direction)d).bytes, 0);
	}
	assert_int_equal(bs_cells_unattributed(b->cells, &layout).packets, 0);
	assert_bank_consistent(b);
}

/* A deterministic mix on a mirror port: totals are the sums of cells. */
static void direction_totals_are_sums_of_cells(void **state)
{
	(void)state;
	rig_init(BS_ROLE_MIRROR, BS_MEASURE_IP, BS_CLOCK_PACKET);
	static const char *const v4[] = { "10.1.0.1", "10.2.3.4", "192.0.2.9", "10.1.255.255" };
	static const char *const v6[] = { "2001:db8:1::9", "2001:db8:2::9", "2001:db8:77::9" };
	static const uint16_t vids[] = { 0, 100, 200, 300 };
	struct pkt pk[BS_MAX_BURST];
	uint32_t x = 12345;
	uint64_t ip_bytes = 0;
	for (int i = 0; i < BS_MAX_BURST; i++) {
		x = x * 1103515245u + 12345u;
		int v6f = (x >> 8) & 1;
		pk[i] = (struct pkt){
			.v6 = v6f,
			.src = v6f ? v6[(x >> 9) % 3] : v4[(x >> 9) % 4],
			.dst = v6f ? v6[(x >> 13) % 3] : v4[(x >> 13) % 4],
			.ip_len = (uint16_t)((v6f ? 40 : 20) + (x >> 17) % 1400),
			.vlan = { vids[(x >> 27) % 4], 0 },
			.ts_us = us(T0) + i,
		};
		ip_bytes += pk[i].ip_len;
	}
	burst_pkts(pk, BS_MAX_BURST, 0);
	bs_meter_finish(&meter);
	struct bs_bank *b = bank_of(T0, BS_BANK_CLOSED);
	assert_bank_consistent(b);
	/* Every frame counts once or twice: between once and twice in all. */
	uint64_t counted = bs_cells_direction_total(b->cells, &layout, (enum bs_direction)0).packets + bs_cells_direction_total(b->cells, &layout, (enum bs_direction)1).packets;
	assert_true(counted >= BS_MAX_BURST && counted <= 2 * BS_MAX_BURST);
	assert_true(bs_cells_direction_total(b->cells, &layout, (enum bs_direction)0).bytes + bs_cells_direction_total(b->cells, &layout, (enum bs_direction)1).bytes >= ip_bytes);
	assert_true(bs_cells_unattributed(b->cells, &layout).packets > 0);
	assert_int_equal(b->rx.packets, BS_MAX_BURST);
}

/* ---- intervals and banks ---- */

static void interval_boundary_to_the_microsecond(void **state)
{
	(void)state;
	rig_init(BS_ROLE_UPSTREAM, BS_MEASURE_FRAME, BS_CLOCK_PACKET);
	const struct pkt pk[] = {
		{ 0, "192.0.2.1", "10.1.0.1", 100, { 0, 0 }, us(T0) },               /* first µs of T0 */
		{ 0, "192.0.2.1", "10.1.0.1", 200, { 0, 0 }, us(T0 + INTERVAL) - 1 }, /* last µs of T0 */
		{ 0, "192.0.2.1", "10.1.0.1", 300, { 0, 0 }, us(T0 + INTERVAL) },     /* first of T0+10 */
		{ 0, "192.0.2.1", "10.1.0.1", 400, { 0, 0 }, us(T0 + 2 * INTERVAL) - 1 },
	};
	burst_pkts(pk, 4, 0);
	assert_states(BS_BANK_CLOSED, BS_BANK_OPEN, BS_BANK_FREE, BS_BANK_FREE);
	assert_int_equal(ctr.open_start, T0 + INTERVAL);
	struct bs_bank *old = bank_of(T0, BS_BANK_CLOSED);
	assert_cell(old, 101, 1, BS_DIR_IN, 2, frame_len(&pk[0]) + frame_len(&pk[1]));
	assert_int_equal(old->late.packets, 0);
	struct bs_bank *cur = bank_of(T0 + INTERVAL, BS_BANK_OPEN);
	assert_cell(cur, 101, 1, BS_DIR_IN, 2, frame_len(&pk[2]) + frame_len(&pk[3]));
	assert_int_equal(cur->late.packets, 0);
}

static void timestamps_in_nanoseconds(void **state)
{
	(void)state;
	rig_init(BS_ROLE_UPSTREAM, BS_MEASURE_FRAME, BS_CLOCK_PACKET);
	cfg.timestamp_unit_ns = 1;
	bs_meter_init(&meter, &ctr, &layout, &cfg, &closed_upto);
	struct pkt pk = { 0, "192.0.2.1", "10.1.0.1", 100, { 0, 0 }, 0 };
	struct rte_mbuf *m[2] = { make(&pk), make(&pk) };
	set_ts(m[0], (uint64_t)(T0 + INTERVAL) * TEST_NS_PER_S - 1);
	set_ts(m[1], (uint64_t)(T0 + INTERVAL) * TEST_NS_PER_S);
	burst(m, 2, 0);
	assert_int_equal(bank_of(T0, BS_BANK_CLOSED)->rx.packets, 1);
	assert_int_equal(bank_of(T0 + INTERVAL, BS_BANK_OPEN)->rx.packets, 1);
}

static void interval_changes_close_and_open_banks(void **state)
{
	(void)state;
	rig_init(BS_ROLE_UPSTREAM, BS_MEASURE_FRAME, BS_CLOCK_PACKET);
	struct pkt pk = { 0, "192.0.2.1", "10.1.0.1", 100, { 0, 0 }, us(T0) + 5 };
	assert_states(BS_BANK_FREE, BS_BANK_FREE, BS_BANK_FREE, BS_BANK_FREE);
	assert_int_equal(ctr.open_start, BS_INTERVAL_NONE);

	burst_pkts(&pk, 1, 0);
	assert_states(BS_BANK_OPEN, BS_BANK_FREE, BS_BANK_FREE, BS_BANK_FREE);
	assert_int_equal(ctr.open_start, T0);

	pk.ts_us = us(T0 + 10) + 5;
	burst_pkts(&pk, 1, 0);
	assert_states(BS_BANK_CLOSED, BS_BANK_OPEN, BS_BANK_FREE, BS_BANK_FREE);
	assert_int_equal(ctr.open_start, T0 + 10);

	/* A gap: the next bank is for the frame's own interval, with no
	 * empty banks for the intervals in between. */
	pk.ts_us = us(T0 + 45);
	burst_pkts(&pk, 1, 0);
	assert_states(BS_BANK_CLOSED, BS_BANK_CLOSED, BS_BANK_OPEN, BS_BANK_FREE);
	assert_int_equal(ctr.open_start, T0 + 40);
	assert_int_equal(ctr.bank[2].interval_start, T0 + 40);
	assert_int_equal(ctr.finished, 0);

	/* The control thread frees the first one; the worker reuses it later. */
	struct bs_bank *first = bank_of(T0, BS_BANK_CLOSED);
	assert_int_equal(first->rx.packets, 1);
	bs_bank_clear(first, &layout);
	assert_states(BS_BANK_FREE, BS_BANK_CLOSED, BS_BANK_OPEN, BS_BANK_FREE);
	assert_int_equal(first->interval_start, BS_INTERVAL_NONE);
	assert_int_equal(first->rx.packets, 0);
	assert_int_equal(sum_cells(first, BS_DIR_IN).packets, 0);

	pk.ts_us = us(T0 + 50);
	burst_pkts(&pk, 1, 0);
	pk.ts_us = us(T0 + 60);
	burst_pkts(&pk, 1, 0);
	assert_states(BS_BANK_OPEN, BS_BANK_CLOSED, BS_BANK_CLOSED, BS_BANK_CLOSED);
	assert_int_equal(ctr.bank[0].interval_start, T0 + 60);
	assert_int_equal(ctr.bank[0].rx.packets, 1);
	assert_int_equal(bs_cells_direction_total(ctr.bank[0].cells, &layout, BS_DIR_IN).packets, 1);
	assert_int_equal(ctr.stalls, 0);

	/* finish closes the last bank and says so. */
	bs_meter_finish(&meter);
	assert_states(BS_BANK_CLOSED, BS_BANK_CLOSED, BS_BANK_CLOSED, BS_BANK_CLOSED);
	assert_int_equal(ctr.finished, 1);
	static const int64_t starts[] = { T0 + 10, T0 + 40, T0 + 50, T0 + 60 };
	for (int i = 0; i < 4; i++) {
		struct bs_bank *b = bank_of(starts[i], BS_BANK_CLOSED);
		assert_int_equal(b->rx.packets, 1);
		assert_cell(b, 101, 1, BS_DIR_IN, 1, frame_len(&pk));
		bs_bank_clear(b, &layout);
	}
	assert_states(BS_BANK_FREE, BS_BANK_FREE, BS_BANK_FREE, BS_BANK_FREE);
}

static void finish_without_traffic_closes_nothing(void **state)
{
	(void)state;
	rig_init(BS_ROLE_UPSTREAM, BS_MEASURE_FRAME, BS_CLOCK_PACKET);
	bs_meter_finish(&meter);
	assert_states(BS_BANK_FREE, BS_BANK_FREE, BS_BANK_FREE, BS_BANK_FREE);
	assert_int_equal(ctr.finished, 1);
}

static void late_frames_count_in_the_open_bank(void **state)
{
	(void)state;
	rig_init(BS_ROLE_UPSTREAM, BS_MEASURE_FRAME, BS_CLOCK_PACKET);
	const struct pkt pk[] = {
		{ 0, "192.0.2.1", "10.1.0.1", 100, { 0, 0 }, us(T0 + 20) },
		{ 0, "192.0.2.1", "10.2.0.1", 200, { 0, 0 }, us(T0 + 15) },      /* reordered: late */
		{ 0, "192.0.2.1", "10.1.0.1", 300, { 0, 0 }, us(T0 + 21) },
		{ 0, "192.0.2.1", "10.1.0.1", 400, { 0, 0 }, us(T0 + 20) - 1 },  /* late by 1 µs */
	};
	burst_pkts(pk, 4, 0);
	/* And in a later burst, far older than the open bank. */
	struct pkt old = { 0, "192.0.2.1", "10.1.0.1", 500, { 0, 0 }, us(T0 - 3600) };
	burst_pkts(&old, 1, 0);
	assert_states(BS_BANK_OPEN, BS_BANK_FREE, BS_BANK_FREE, BS_BANK_FREE);
	struct bs_bank *b = bank_of(T0 + 20, BS_BANK_OPEN);
	assert_int_equal(b->rx.packets, 5);
	assert_int_equal(b->late.packets, 3);
	assert_int_equal(b->late.bytes, frame_len(&pk[1]) + frame_len(&pk[3]) + frame_len(&old));
	/* Late frames are counted for their tenant like any other. */
	assert_cell(b, 101, 1, BS_DIR_IN, 4,
		    frame_len(&pk[0]) + frame_len(&pk[2]) + frame_len(&pk[3]) + frame_len(&old));
	assert_cell(b, 102, 1, BS_DIR_IN, 1, frame_len(&pk[1]));
	assert_bank_consistent(b);
}

static void new_bank_never_opens_before_closed_upto(void **state)
{
	(void)state;
	rig_init(BS_ROLE_UPSTREAM, BS_MEASURE_FRAME, BS_CLOCK_PACKET);
	/* The control thread has already closed everything before T0+100. */
	__atomic_store_n(&closed_upto, T0 + 100, __ATOMIC_RELEASE);
	struct pkt pk = { 0, "192.0.2.1", "10.1.0.1", 100, { 0, 0 }, us(T0 + 50) };
	burst_pkts(&pk, 1, 0);
	assert_int_equal(ctr.open_start, T0 + 100);
	struct bs_bank *b = bank_of(T0 + 100, BS_BANK_OPEN);
	assert_int_equal(b->rx.packets, 1);
	assert_int_equal(b->late.packets, 1);
	assert_cell(b, 101, 1, BS_DIR_IN, 1, frame_len(&pk));

	/* Frames of the clamped interval itself are on time ... */
	pk.ts_us = us(T0 + 105);
	burst_pkts(&pk, 1, 0);
	assert_int_equal(b->rx.packets, 2);
	assert_int_equal(b->late.packets, 1);
	/* ... and the next interval opens normally. */
	pk.ts_us = us(T0 + 110);
	burst_pkts(&pk, 1, 0);
	assert_states(BS_BANK_CLOSED, BS_BANK_OPEN, BS_BANK_FREE, BS_BANK_FREE);
	assert_int_equal(ctr.open_start, T0 + 110);
	assert_int_equal(bank_of(T0 + 110, BS_BANK_OPEN)->late.packets, 0);
}

/* The control thread, slow: frees the oldest bank after a delay. */
struct slow_reader {
	int64_t start;          /* the interval it frees */
	unsigned delay_ms;
	struct bs_cell rx;      /* what that bank held */
	struct bs_cell in_101;
	int found;
};

static void *slow_reader_main(void *arg)
{
	struct slow_reader *r = arg;
	struct timespec ts = { 0, (long)r->delay_ms * 1000000L };
	nanosleep(&ts, NULL);
	for (unsigned b = 0; b < BS_BANKS_PER_LCORE; b++) {
		struct bs_bank *bank = &ctr.bank[b];
		if (bs_bank_state_load(bank) == BS_BANK_CLOSED && bank->interval_start == r->start) {
			r->rx = bank->rx;
			r->in_101 = *cell(bank, 101, 1, BS_DIR_IN);
			r->found = 1;
			bs_bank_clear(bank, &layout);
		}
	}
	return NULL;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * TEST_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void worker_waits_for_a_free_bank(void **state)
{
	(void)state;
	rig_init(BS_ROLE_UPSTREAM, BS_MEASURE_FRAME, BS_CLOCK_PACKET);
	struct pkt pk = { 0, "192.0.2.1", "10.1.0.1", 100, { 0, 0 }, 0 };
	for (int i = 0; i < 4; i++) {
		pk.ts_us = us(T0 + 10 * i);
		burst_pkts(&pk, 1, 0);
	}
	assert_states(BS_BANK_CLOSED, BS_BANK_CLOSED, BS_BANK_CLOSED, BS_BANK_OPEN);
	assert_int_equal(ctr.stalls, 0);

	struct slow_reader r = { .start = T0, .delay_ms = 100 };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, slow_reader_main, &r), 0);
	/* The next interval needs bank 0, which only the reader can free. */
	pk.ts_us = us(T0 + 40);
	struct pkt two[2] = { pk, pk };
	two[1].ts_us += 1;
	uint64_t t = mono_ns();
	burst_pkts(two, 2, 0);
	uint64_t waited = mono_ns() - t;
	assert_int_equal(pthread_join(th, NULL), 0);

	assert_int_equal(r.found, 1);
	assert_int_equal(r.rx.packets, 1);
	assert_int_equal(r.in_101.packets, 1);
	assert_int_equal(ctr.stalls, 1);
	assert_true(waited >= 50 * 1000000ull);
	assert_states(BS_BANK_OPEN, BS_BANK_CLOSED, BS_BANK_CLOSED, BS_BANK_CLOSED);
	/* Nothing lost: the freed bank's count plus what the banks hold. */
	uint64_t packets = r.rx.packets;
	for (unsigned b = 0; b < BS_BANKS_PER_LCORE; b++)
		packets += ctr.bank[b].rx.packets;
	assert_int_equal(packets, 6);
	assert_int_equal(ctr.total_packets, 6);
	struct bs_bank *b = bank_of(T0 + 40, BS_BANK_OPEN);
	assert_cell(b, 101, 1, BS_DIR_IN, 2, 2 * frame_len(&pk));
	assert_int_equal(bank_of(T0 + 30, BS_BANK_CLOSED)->rx.packets, 1);
}

/* ---- the system clock ---- */

static void system_clock_tick_rotates_without_traffic(void **state)
{
	(void)state;
	rig_init(BS_ROLE_UPSTREAM, BS_MEASURE_FRAME, BS_CLOCK_SYSTEM);
	const uint64_t t0 = (uint64_t)T0 * TEST_NS_PER_S;
	bs_meter_tick(&meter, cls, t0 + 3 * TEST_NS_PER_S);
	assert_states(BS_BANK_OPEN, BS_BANK_FREE, BS_BANK_FREE, BS_BANK_FREE);
	assert_int_equal(ctr.open_start, T0);
	assert_int_equal(ctr.bank[0].map_version, MAP_VERSION);

	/* Frames count at the wall clock; their Rx timestamp is ignored. */
	struct pkt pk = { 0, "192.0.2.1", "10.1.0.1", 100, { 0, 0 }, us(T0 + 500) };
	struct pkt two[2] = { pk, pk };
	burst_pkts(two, 2, t0 + 5 * TEST_NS_PER_S);
	bs_meter_tick(&meter, cls, t0 + 10 * TEST_NS_PER_S - 1);
	assert_states(BS_BANK_OPEN, BS_BANK_FREE, BS_BANK_FREE, BS_BANK_FREE);
	assert_int_equal(ctr.bank[0].rx.packets, 2);

	bs_meter_tick(&meter, cls, t0 + 10 * TEST_NS_PER_S);
	assert_states(BS_BANK_CLOSED, BS_BANK_OPEN, BS_BANK_FREE, BS_BANK_FREE);
	assert_int_equal(ctr.open_start, T0 + 10);
	assert_cell(bank_of(T0, BS_BANK_CLOSED), 101, 1, BS_DIR_IN, 2, 2 * frame_len(&pk));

	/* An idle interval closes empty; the next opens at the clock's own. */
	bs_meter_tick(&meter, cls, t0 + 35 * TEST_NS_PER_S);
	assert_states(BS_BANK_CLOSED, BS_BANK_CLOSED, BS_BANK_OPEN, BS_BANK_FREE);
	assert_int_equal(ctr.open_start, T0 + 30);
	struct bs_bank *idle = bank_of(T0 + 10, BS_BANK_CLOSED);
	assert_int_equal(idle->rx.packets, 0);
	assert_int_equal(bs_cells_direction_total(idle->cells, &layout, BS_DIR_IN).packets, 0);

	/* A burst whose clock has moved on rotates too. */
	burst_pkts(&pk, 1, t0 + 41 * TEST_NS_PER_S);
	assert_states(BS_BANK_CLOSED, BS_BANK_CLOSED, BS_BANK_CLOSED, BS_BANK_OPEN);
	assert_int_equal(bank_of(T0 + 40, BS_BANK_OPEN)->rx.packets, 1);
	assert_int_equal(bank_of(T0 + 30, BS_BANK_CLOSED)->rx.packets, 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_teardown(f, rig_teardown)
	const struct CMUnitTest tests[] = {
		T(upstream_counts_destination_tenant_in),
		T(downstream_counts_source_tenant_out),
		T(mirror_counts_both_sides_and_unattributed_once),
		T(outer_vlan_selects_the_pool),
		T(byte_measure_frame_or_ip),
		T(malformed_and_non_ip_only_in_their_buckets),
		T(direction_totals_are_sums_of_cells),
		T(interval_boundary_to_the_microsecond),
		T(timestamps_in_nanoseconds),
		T(interval_changes_close_and_open_banks),
		T(finish_without_traffic_closes_nothing),
		T(late_frames_count_in_the_open_bank),
		T(new_bank_never_opens_before_closed_upto),
		T(worker_waits_for_a_free_bank),
		T(system_clock_tick_rotates_without_traffic),
	};
#undef T
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
