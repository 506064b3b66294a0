/*
 * test_parse.c — the frame parser on well-formed frames (IPv4 with and
 * without options, IPv6, VLAN and QinQ tags, Ethernet padding, non-IP),
 * on every malformed reason, on every truncation of valid frames (each in a
 * buffer of exactly that size, so valgrind/ASan see any over-read), and on
 * random bytes; on frames of several mbufs whose headers straddle the
 * segments (every split point, as the meter fetches them); and on sliced
 * frames (cut short after their headers).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "meter.h"
#include "parse.h"

#define MAX_FRAME 2048

/* Writes the Ethernet header with `ntags` VLAN tags (tpid/tci pairs) and
 * the EtherType; returns the offset of the L3 header. */
static size_t put_eth(uint8_t *f, const uint16_t (*tags)[2], int ntags,
		      uint16_t type)
{
	size_t off = 12;

	for (int i = 0; i < 12; i++)
		f[i] = (uint8_t)(0xa0 + i);
	for (int t = 0; t < ntags; t++) {
		f[off] = (uint8_t)(tags[t][0] >> 8);
		f[off + 1] = (uint8_t)tags[t][0];
		f[off + 2] = (uint8_t)(tags[t][1] >> 8);
		f[off + 3] = (uint8_t)tags[t][1];
		off += 4;
	}
	f[off] = (uint8_t)(type >> 8);
	f[off + 1] = (uint8_t)type;
	return off + 2;
}

/* IPv4 header with `ihl` words (options filled with NOPs), then payload
 * bytes up to total_len if the frame has room. Returns header length. */
static size_t put_ipv4(uint8_t *p, unsigned ihl, unsigned total_len,
		       uint32_t src, uint32_t dst)
{
	memset(p, 0, ihl * 4);
	p[0] = (uint8_t)(0x40 | ihl);
	p[2] = (uint8_t)(total_len >> 8);
	p[3] = (uint8_t)total_len;
	p[8] = 64;
	p[9] = 17;
	for (int i = 0; i < 4; i++) {
		p[12 + i] = (uint8_t)(src >> (24 - 8 * i));
		p[16 + i] = (uint8_t)(dst >> (24 - 8 * i));
	}
	for (unsigned i = 20; i < ihl * 4; i++)
		p[i] = 1;   /* NOP option */
	return ihl * 4;
}

static const uint8_t SRC6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
				  0, 0, 0, 0, 0, 0, 0, 0x01 };
static const uint8_t DST6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0, 0,
				  0, 0, 0, 0, 0, 0, 0xab, 0xcd };

static size_t put_ipv6(uint8_t *p, unsigned payload_len, uint8_t next_hdr)
{
	memset(p, 0, 40);
	p[0] = 0x60;
	p[4] = (uint8_t)(payload_len >> 8);
	p[5] = (uint8_t)payload_len;
	p[6] = next_hdr;
	p[7] = 64;
	memcpy(p + 8, SRC6, 16);
	memcpy(p + 24, DST6, 16);
	return 40;
}

/* Parses a copy of frame in a heap buffer of exactly len bytes. */
static enum bs_frame_kind parse_exact(const uint8_t *frame, uint32_t len,
				      struct bs_frame *out)
{
	uint8_t *copy = malloc(len > 0 ? len : 1);
	assert_non_null(copy);
	memcpy(copy, frame, len);
	enum bs_frame_kind k = bs_parse_frame(copy, len, out);
	/* Address pointers must point into the buffer: rebase them onto
	 * the caller's frame before the copy goes away. */
	if (k == BS_FRAME_IPV6) {
		assert_true(out->src6 >= copy && out->src6 + 16 <= copy + len);
		assert_true(out->dst6 >= copy && out->dst6 + 16 <= copy + len);
		out->src6 = frame + (out->src6 - copy);
		out->dst6 = frame + (out->dst6 - copy);
	}
	free(copy);
	return k;
}

static void expect_malformed(const uint8_t *frame, uint32_t len,
			     enum bs_malformed_reason reason)
{
	struct bs_frame fr;

	assert_int_equal(parse_exact(frame, len, &fr), BS_FRAME_MALFORMED);
	assert_int_equal(fr.kind, BS_FRAME_MALFORMED);
	assert_int_equal(fr.reason, reason);
}

static void test_ipv4_plain(void **state)
{
	(void)state;
	uint8_t f[MAX_FRAME] = { 0 };
	struct bs_frame fr;
	size_t l3 = put_eth(f, NULL, 0, 0x0800);
	put_ipv4(f + l3, 5, 100, 0x0a010203, 0xc0a80001);

	assert_int_equal(parse_exact(f, (uint32_t)(l3 + 100), &fr),
			 BS_FRAME_IPV4);
	assert_int_equal(fr.reason, BS_MAL_NONE);
	assert_int_equal(fr.vlan_count, 0);
	assert_int_equal(fr.vlan_outer, 0);
	assert_int_equal(fr.vlan_inner, 0);
	assert_int_equal(fr.ip_len, 100);
	assert_int_equal(fr.src4, 0x0a010203);
	assert_int_equal(fr.dst4, 0xc0a80001);
	assert_null(fr.src6);
	assert_null(fr.dst6);
}

static void test_ipv4_options_and_padding(void **state)
{
	(void)state;
	uint8_t f[MAX_FRAME] = { 0 };
	struct bs_frame fr;
	size_t l3 = put_eth(f, NULL, 0, 0x0800);

	/* 15-word header (40 bytes of options), no payload. */
	put_ipv4(f + l3, 15, 60, 1, 2);
	assert_int_equal(parse_exact(f, (uint32_t)(l3 + 60), &fr),
			 BS_FRAME_IPV4);
	assert_int_equal(fr.ip_len, 60);

	/* A 28-byte packet padded to the 60-byte Ethernet minimum, and
	 * with 4 more bytes (an FCS kept by the capture). */
	put_ipv4(f + l3, 5, 28, 0xdeadbeef, 0x01020304);
	assert_int_equal(parse_exact(f, 60, &fr), BS_FRAME_IPV4);
	assert_int_equal(fr.ip_len, 28);
	assert_int_equal(fr.src4, 0xdeadbeef);
	assert_int_equal(parse_exact(f, 64, &fr), BS_FRAME_IPV4);
	assert_int_equal(fr.ip_len, 28);
}

static void test_vlan_and_qinq(void **state)
{
	(void)state;
	uint8_t f[MAX_FRAME] = { 0 };
	struct bs_frame fr;

	/* One 802.1Q tag: PCP 5, DEI 1, VID 100 → only the VID is kept. */
	const uint16_t one[1][2] = { { 0x8100, (5u << 13) | (1u << 12) | 100 } };
	size_t l3 = put_eth(f, one, 1, 0x0800);
	put_ipv4(f + l3, 5, 40, 7, 8);
	assert_int_equal(parse_exact(f, (uint32_t)(l3 + 40), &fr),
			 BS_FRAME_IPV4);
	assert_int_equal(fr.vlan_count, 1);
	assert_int_equal(fr.vlan_outer, 100);
	assert_int_equal(fr.vlan_inner, 0);
	assert_int_equal(fr.src4, 7);

	/* 802.1ad outer + 802.1Q inner, and the old 0x9100 outer. */
	const uint16_t tpids[] = { 0x88a8, 0x9100, 0x8100 };
	for (size_t t = 0; t < sizeof(tpids) / sizeof(tpids[0]); t++) {
		const uint16_t two[2][2] = { { tpids[t], 0xf000 | 4094 },
					     { 0x8100, 1 } };
		memset(f, 0, sizeof(f));
		l3 = put_eth(f, two, 2, 0x86dd);
		assert_int_equal(l3, 22);
		put_ipv6(f + l3, 8, 17);
		assert_int_equal(parse_exact(f, (uint32_t)(l3 + 48), &fr),
				 BS_FRAME_IPV6);
		assert_int_equal(fr.vlan_count, 2);
		assert_int_equal(fr.vlan_outer, 4094);
		assert_int_equal(fr.vlan_inner, 1);
		assert_memory_equal(fr.src6, SRC6, 16);
		assert_memory_equal(fr.dst6, DST6, 16);
		assert_int_equal(fr.ip_len, 48);
	}

	/* A third tag is refused. */
	const uint16_t three[3][2] = { { 0x88a8, 10 }, { 0x8100, 20 },
				       { 0x8100, 30 } };
	memset(f, 0, sizeof(f));
	l3 = put_eth(f, three, 3, 0x0800);
	put_ipv4(f + l3, 5, 20, 1, 2);
	expect_malformed(f, (uint32_t)(l3 + 20), BS_MAL_TOO_MANY_TAGS);
}

static void test_ipv6(void **state)
{
	(void)state;
	uint8_t f[MAX_FRAME] = { 0 };
	struct bs_frame fr;
	size_t l3 = put_eth(f, NULL, 0, 0x86dd);

	put_ipv6(f + l3, 1000, 6);
	assert_int_equal(parse_exact(f, (uint32_t)(l3 + 1040), &fr),
			 BS_FRAME_IPV6);
	assert_int_equal(fr.ip_len, 1040);
	assert_ptr_equal(fr.src6, f + l3 + 8);
	assert_ptr_equal(fr.dst6, f + l3 + 24);
	assert_memory_equal(fr.src6, SRC6, 16);
	assert_memory_equal(fr.dst6, DST6, 16);

	/* Extension headers (hop-by-hop, then routing) are not walked: the
	 * length is still 40 + payload length. */
	put_ipv6(f + l3, 64, 0);
	f[l3 + 40] = 43;
	assert_int_equal(parse_exact(f, (uint32_t)(l3 + 104), &fr),
			 BS_FRAME_IPV6);
	assert_int_equal(fr.ip_len, 104);

	/* Payload bytes past payload_len (padding/FCS) are fine. */
	put_ipv6(f + l3, 8, 17);
	assert_int_equal(parse_exact(f, (uint32_t)(l3 + 52), &fr),
			 BS_FRAME_IPV6);
	assert_int_equal(fr.ip_len, 48);
}

static void test_ipv6_empty_payload(void **state)
{
	(void)state;
	uint8_t f[MAX_FRAME] = { 0 };
	struct bs_frame fr;
	size_t l3 = put_eth(f, NULL, 0, 0x86dd);
	put_ipv6(f + l3, 0, 59);

	/* Exactly 40 bytes of IP. */
	assert_int_equal(parse_exact(f, (uint32_t)(l3 + 40), &fr),
			 BS_FRAME_IPV6);
	assert_int_equal(fr.ip_len, 40);
	/* The same packet padded to the Ethernet minimum. */
	assert_int_equal(parse_exact(f, 60, &fr), BS_FRAME_IPV6);
	assert_int_equal(fr.ip_len, 40);
	/* More bytes than padding: a jumbogram, whose length we cannot
	 * know without walking extension headers. */
	put_ipv6(f + l3, 0, 0);
	expect_malformed(f, (uint32_t)(l3 + 200), BS_MAL_BAD_LENGTH);
}

static void test_non_ip(void **state)
{
	(void)state;
	uint8_t f[MAX_FRAME] = { 0 };
	struct bs_frame fr;

	size_t l3 = put_eth(f, NULL, 0, 0x0806);   /* ARP */
	assert_int_equal(parse_exact(f, (uint32_t)(l3 + 28), &fr),
			 BS_FRAME_NON_IP);
	assert_int_equal(fr.reason, BS_MAL_NONE);
	assert_int_equal(fr.ip_len, 0);

	/* Bare 14-byte header, and a tagged LLDP frame. */
	assert_int_equal(parse_exact(f, 14, &fr), BS_FRAME_NON_IP);
	const uint16_t one[1][2] = { { 0x8100, 42 } };
	l3 = put_eth(f, one, 1, 0x88cc);
	assert_int_equal(parse_exact(f, (uint32_t)l3, &fr), BS_FRAME_NON_IP);
	assert_int_equal(fr.vlan_count, 1);
	assert_int_equal(fr.vlan_outer, 42);
}

static void test_malformed_reasons(void **state)
{
	(void)state;
	uint8_t f[MAX_FRAME] = { 0 };

	/* SHORT_ETHER: under 14 bytes; a tag with no EtherType after it. */
	size_t l3 = put_eth(f, NULL, 0, 0x0800);
	for (uint32_t len = 0; len < 14; len++)
		expect_malformed(f, len, BS_MAL_SHORT_ETHER);
	const uint16_t one[1][2] = { { 0x8100, 5 } };
	l3 = put_eth(f, one, 1, 0x0800);
	expect_malformed(f, 14, BS_MAL_SHORT_ETHER);
	expect_malformed(f, 17, BS_MAL_SHORT_ETHER);

	/* SHORT_IP */
	l3 = put_eth(f, NULL, 0, 0x0800);
	put_ipv4(f + l3, 5, 20, 1, 2);
	expect_malformed(f, (uint32_t)(l3 + 19), BS_MAL_SHORT_IP);
	l3 = put_eth(f, NULL, 0, 0x86dd);
	put_ipv6(f + l3, 0, 59);
	expect_malformed(f, (uint32_t)(l3 + 39), BS_MAL_SHORT_IP);

	/* BAD_VERSION: EtherType and version nibble disagree. */
	l3 = put_eth(f, NULL, 0, 0x0800);
	put_ipv6(f + l3, 0, 59);
	expect_malformed(f, (uint32_t)(l3 + 40), BS_MAL_BAD_VERSION);
	l3 = put_eth(f, NULL, 0, 0x86dd);
	put_ipv4(f + l3, 5, 60, 1, 2);
	expect_malformed(f, (uint32_t)(l3 + 60), BS_MAL_BAD_VERSION);

	/* BAD_IHL: below 5 words; options past the frame. */
	l3 = put_eth(f, NULL, 0, 0x0800);
	put_ipv4(f + l3, 5, 20, 1, 2);
	f[l3] = 0x44;
	expect_malformed(f, (uint32_t)(l3 + 20), BS_MAL_BAD_IHL);
	f[l3] = 0x40;
	expect_malformed(f, (uint32_t)(l3 + 20), BS_MAL_BAD_IHL);
	put_ipv4(f + l3, 15, 60, 1, 2);
	expect_malformed(f, (uint32_t)(l3 + 59), BS_MAL_BAD_IHL);

	/* BAD_LENGTH: total length below the header, above the frame. */
	put_ipv4(f + l3, 6, 20, 1, 2);
	expect_malformed(f, (uint32_t)(l3 + 24), BS_MAL_BAD_LENGTH);
	put_ipv4(f + l3, 5, 0, 1, 2);
	expect_malformed(f, (uint32_t)(l3 + 46), BS_MAL_BAD_LENGTH);
	put_ipv4(f + l3, 5, 1500, 1, 2);
	expect_malformed(f, (uint32_t)(l3 + 1499), BS_MAL_BAD_LENGTH);
	put_ipv4(f + l3, 5, 65535, 1, 2);
	expect_malformed(f, (uint32_t)(l3 + 1500), BS_MAL_BAD_LENGTH);
	l3 = put_eth(f, NULL, 0, 0x86dd);
	put_ipv6(f + l3, 1460, 6);
	expect_malformed(f, (uint32_t)(l3 + 1499), BS_MAL_BAD_LENGTH);
	put_ipv6(f + l3, 65535, 6);
	expect_malformed(f, (uint32_t)(l3 + 1500), BS_MAL_BAD_LENGTH);
}

/* Every prefix of a valid, unpadded frame is malformed, for the reason the
 * missing bytes imply. */
static void check_truncations(const uint8_t *f, uint32_t full_len,
			      uint32_t l3, uint32_t ip_hdr_len, int is_v4)
{
	struct bs_frame fr;
	uint32_t fixed = is_v4 ? 20 : 40;

	assert_int_not_equal(parse_exact(f, full_len, &fr),
			     BS_FRAME_MALFORMED);
	for (uint32_t len = 0; len < full_len; len++) {
		enum bs_malformed_reason want;
		if (len < l3)
			want = BS_MAL_SHORT_ETHER;
		else if (len < l3 + fixed)
			want = BS_MAL_SHORT_IP;
		else if (len < l3 + ip_hdr_len)
			want = BS_MAL_BAD_IHL;
		else
			want = BS_MAL_BAD_LENGTH;
		expect_malformed(f, len, want);
	}
}

static void test_every_truncation(void **state)
{
	(void)state;
	uint8_t f[MAX_FRAME];

	/* QinQ + IPv4 with 12 bytes of options and 100 bytes of payload. */
	memset(f, 0x5a, sizeof(f));
	const uint16_t two[2][2] = { { 0x88a8, 300 }, { 0x8100, 400 } };
	uint32_t l3 = (uint32_t)put_eth(f, two, 2, 0x0800);
	put_ipv4(f + l3, 8, 132, 0x0a000001, 0x0a000002);
	check_truncations(f, l3 + 132, l3, 32, 1);

	/* Untagged IPv4, the minimal header. */
	memset(f, 0x5a, sizeof(f));
	l3 = (uint32_t)put_eth(f, NULL, 0, 0x0800);
	put_ipv4(f + l3, 5, 46, 1, 2);
	check_truncations(f, l3 + 46, l3, 20, 1);

	/* 802.1Q + IPv6 with 200 bytes of payload. */
	memset(f, 0x5a, sizeof(f));
	const uint16_t one[1][2] = { { 0x8100, 7 } };
	l3 = (uint32_t)put_eth(f, one, 1, 0x86dd);
	put_ipv6(f + l3, 200, 6);
	check_truncations(f, l3 + 240, l3, 40, 0);
}

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint32_t rng(void)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rng_state >> 32);
}

static void test_random_bytes(void **state)
{
	(void)state;
	static const uint16_t types[] = { 0x0800, 0x86dd, 0x8100, 0x88a8,
					  0x9100, 0x0806 };
	uint8_t f[256];
	unsigned counts[BS_FRAME_MALFORMED + 1] = { 0 };
	unsigned reasons[BS_MAL_REASON_COUNT] = { 0 };

	for (int iter = 0; iter < 200000; iter++) {
		for (size_t i = 0; i < sizeof(f); i++)
			f[i] = (uint8_t)rng();
		/* Plant plausible EtherTypes, then a plausible IP header
		 * start (version, small length) where L3 may begin, so the
		 * deeper paths get exercised too. */
		for (int t = 0; t < 3; t++) {
			uint16_t ty = types[rng() % 6];
			f[12 + 4 * t] = (uint8_t)(ty >> 8);
			f[13 + 4 * t] = (uint8_t)ty;
		}
		uint32_t at = 14 + 4 * (rng() % 4);
		if (rng() & 1) {
			f[at] = (uint8_t)(0x40 | (rng() % 16));
			f[at + 2] = 0;
			f[at + 3] = (uint8_t)rng();
		} else {
			f[at] = 0x60;
			f[at + 4] = 0;
			f[at + 5] = (uint8_t)(rng() % 4 == 0 ? 0 : rng());
		}
		uint32_t len = rng() % (uint32_t)(sizeof(f) + 1);
		struct bs_frame fr;
		enum bs_frame_kind k = parse_exact(f, len, &fr);
		assert_true(k <= BS_FRAME_MALFORMED);
		assert_int_equal(fr.kind, k);
		counts[k]++;
		if (k == BS_FRAME_MALFORMED) {
			assert_true(fr.reason > BS_MAL_NONE &&
				    fr.reason < BS_MAL_REASON_COUNT);
			reasons[fr.reason]++;
			continue;
		}
		assert_int_equal(fr.reason, BS_MAL_NONE);
		assert_true(fr.vlan_count <= BS_MAX_VLAN_TAGS);
		uint32_t l3 = 14u + 4u * fr.vlan_count;
		if (k == BS_FRAME_IPV4)
			assert_true(fr.ip_len >= 20 && fr.ip_len <= len - l3);
		if (k == BS_FRAME_IPV6)
			assert_true(fr.ip_len >= 40 && fr.ip_len <= len - l3);
	}
	/* The generator must reach every outcome, or the test proves
	 * little. */
	for (int k = 0; k <= BS_FRAME_MALFORMED; k++)
		assert_true(counts[k] > 100);
	for (int r = BS_MAL_NONE + 1; r < BS_MAL_REASON_COUNT; r++)
		assert_true(reasons[r] > 100);
}

/* ---- frames of several segments ---------------------------------------- */

#define SEG_ROOM 9100

/* An mbuf over buf, without a mempool: what rte_pktmbuf_read walks. */
static void seg_init(struct rte_mbuf *m, uint8_t *buf, uint16_t len)
{
	memset(m, 0, sizeof(*m));
	m->buf_addr = buf;
	m->buf_len = SEG_ROOM;
	m->data_off = 0;
	m->data_len = len;
	m->nb_segs = 1;
}

/* Splits frame (len bytes) into three segments: [0, split), the next
 * `mid` bytes, the rest; returns the head of the chain. */
static struct rte_mbuf *chain3(struct rte_mbuf seg[3], uint8_t bufs[3][SEG_ROOM],
			       const uint8_t *frame, uint32_t len, uint32_t split,
			       uint32_t mid)
{
	uint32_t l0 = split, l1 = mid, l2 = len - split - mid;
	memcpy(bufs[0], frame, l0);
	memcpy(bufs[1], frame + l0, l1);
	memcpy(bufs[2], frame + l0 + l1, l2);
	seg_init(&seg[0], bufs[0], (uint16_t)l0);
	seg_init(&seg[1], bufs[1], (uint16_t)l1);
	seg_init(&seg[2], bufs[2], (uint16_t)l2);
	seg[0].next = &seg[1];
	seg[1].next = &seg[2];
	seg[0].nb_segs = 3;
	seg[0].pkt_len = len;
	return &seg[0];
}

/* Every split of the headers over segments parses as the whole frame does:
 * same kind, addresses, tags and IP length, and the frame counts pkt_len. */
static void check_every_split(const uint8_t *frame, uint32_t len, uint32_t hdr_end)
{
	static uint8_t bufs[3][SEG_ROOM];
	struct rte_mbuf seg[3];
	struct bs_frame whole, got;
	uint8_t tmp[BS_PARSE_HDR_MAX];

	enum bs_frame_kind kind = bs_parse_frame(frame, len, &whole);
	assert_true(kind == BS_FRAME_IPV4 || kind == BS_FRAME_IPV6);
	for (uint32_t split = 1; split <= hdr_end + 1; split++) {
		for (uint32_t mid = 1; mid <= 9; mid += 4) {
			struct rte_mbuf *m = chain3(seg, bufs, frame, len, split, mid);
			uint32_t hdr_len;
			const uint8_t *hdr = bs_meter_frame_headers(m, tmp, &hdr_len);
			assert_true(hdr_len >= hdr_end);
			assert_int_equal(bs_parse_headers(hdr, hdr_len, m->pkt_len, false, &got), kind);
			assert_int_equal(got.ip_len, whole.ip_len);
			assert_int_equal(got.missing, 0);
			assert_int_equal(got.vlan_count, whole.vlan_count);
			assert_int_equal(got.vlan_outer, whole.vlan_outer);
			assert_int_equal(got.vlan_inner, whole.vlan_inner);
			if (kind == BS_FRAME_IPV4) {
				assert_int_equal(got.src4, whole.src4);
				assert_int_equal(got.dst4, whole.dst4);
			} else {
				assert_memory_equal(got.src6, whole.src6, 16);
				assert_memory_equal(got.dst6, whole.dst6, 16);
			}
		}
	}
}

static void test_headers_straddle_segments(void **state)
{
	(void)state;
	static uint8_t f[SEG_ROOM];

	/* QinQ + IPv4 with 40 bytes of options (82 header bytes), a
	 * 2,049-byte frame. */
	memset(f, 0x5a, sizeof(f));
	const uint16_t two[2][2] = { { 0x88a8, 300 }, { 0x8100, 400 } };
	uint32_t l3 = (uint32_t)put_eth(f, two, 2, 0x0800);
	put_ipv4(f + l3, 15, 2049 - l3, 0x0a000001, 0xc0a80102);
	check_every_split(f, 2049, l3 + 60);

	/* 802.1Q + IPv6, a 9,014-byte frame. */
	memset(f, 0x5a, sizeof(f));
	const uint16_t one[1][2] = { { 0x8100, 7 } };
	l3 = (uint32_t)put_eth(f, one, 1, 0x86dd);
	put_ipv6(f + l3, 9014 - l3 - 40, 6);
	check_every_split(f, 9014, l3 + 40);

	/* A chain shorter than BS_PARSE_HDR_MAX: every byte is copied. */
	memset(f, 0x5a, sizeof(f));
	l3 = (uint32_t)put_eth(f, NULL, 0, 0x0800);
	put_ipv4(f + l3, 5, 46, 1, 2);
	check_every_split(f, 60, l3 + 20);
}

/* ---- sliced frames ----------------------------------------------------- */

static void test_sliced(void **state)
{
	(void)state;
	uint8_t f[MAX_FRAME] = { 0 };
	struct bs_frame fr;

	/* 802.1Q + IPv4 of 1,500 bytes, cut after its TCP header. */
	const uint16_t one[1][2] = { { 0x8100, 9 } };
	uint32_t l3 = (uint32_t)put_eth(f, one, 1, 0x0800);
	put_ipv4(f + l3, 5, 1500, 0x0a000001, 0x0a000002);
	uint32_t cut = l3 + 20 + 20;
	assert_int_equal(bs_parse_headers(f, cut, cut, true, &fr), BS_FRAME_IPV4);
	assert_int_equal(fr.ip_len, 1500);
	assert_int_equal(cut + fr.missing, l3 + 1500);
	/* not sliced: the IP length lies */
	assert_int_equal(bs_parse_headers(f, cut, cut, false, &fr), BS_FRAME_MALFORMED);
	assert_int_equal(fr.reason, BS_MAL_BAD_LENGTH);
	/* a whole frame on a sliced port misses nothing */
	assert_int_equal(bs_parse_headers(f, l3 + 1500, l3 + 1500, true, &fr), BS_FRAME_IPV4);
	assert_int_equal(fr.missing, 0);
	/* cut inside its headers: still malformed */
	assert_int_equal(bs_parse_headers(f, l3 + 19, l3 + 19, true, &fr), BS_FRAME_MALFORMED);
	assert_int_equal(fr.reason, BS_MAL_SHORT_IP);
	assert_int_equal(bs_parse_headers(f, l3 - 1, l3 - 1, true, &fr), BS_FRAME_MALFORMED);
	assert_int_equal(fr.reason, BS_MAL_SHORT_ETHER);
	/* options cut off */
	put_ipv4(f + l3, 8, 1500, 0x0a000001, 0x0a000002);
	assert_int_equal(bs_parse_headers(f, l3 + 28, l3 + 28, true, &fr), BS_FRAME_MALFORMED);
	assert_int_equal(fr.reason, BS_MAL_BAD_IHL);
	/* an IP length shorter than its header is inconsistent, sliced or not */
	put_ipv4(f + l3, 8, 24, 0x0a000001, 0x0a000002);
	assert_int_equal(bs_parse_headers(f, l3 + 32, l3 + 32, true, &fr), BS_FRAME_MALFORMED);
	assert_int_equal(fr.reason, BS_MAL_BAD_LENGTH);

	/* IPv6 with 8,000 bytes of payload, cut after the fixed header. */
	memset(f, 0, sizeof(f));
	l3 = (uint32_t)put_eth(f, NULL, 0, 0x86dd);
	put_ipv6(f + l3, 8000, 17);
	cut = l3 + 40 + 8;
	assert_int_equal(bs_parse_headers(f, cut, cut, true, &fr), BS_FRAME_IPV6);
	assert_int_equal(fr.ip_len, 8040);
	assert_int_equal(cut + fr.missing, l3 + 8040);
	assert_memory_equal(fr.src6, SRC6, 16);
	assert_int_equal(bs_parse_headers(f, cut, cut, false, &fr), BS_FRAME_MALFORMED);
	assert_int_equal(fr.reason, BS_MAL_BAD_LENGTH);
	assert_int_equal(bs_parse_headers(f, l3 + 39, l3 + 39, true, &fr), BS_FRAME_MALFORMED);
	assert_int_equal(fr.reason, BS_MAL_SHORT_IP);
}

/* Random header bytes on random frame lengths: sliced and not sliced agree
 * except where the IP length runs past the frame (not sliced: bad_length;
 * sliced: counted, the missing bytes exactly what the IP length says). */
static void test_sliced_random(void **state)
{
	(void)state;
	uint8_t f[BS_PARSE_HDR_MAX + 40];
	unsigned counted = 0;
	for (int iter = 0; iter < 200000; iter++) {
		uint32_t len = rng() % sizeof(f);
		for (uint32_t i = 0; i < len; i++)
			f[i] = (uint8_t)rng();
		if (len >= 14 && rng() % 2) {   /* a plausible IPv4 or IPv6 header */
			int v6 = rng() % 2;
			f[12] = v6 ? 0x86 : 0x08;
			f[13] = v6 ? 0xdd : 0x00;
			if (len > 14)
				f[14] = (uint8_t)(v6 ? 0x60 : 0x45 + rng() % 3);
		}
		/* the contract: every byte given, or at least BS_PARSE_HDR_MAX */
		uint32_t frame_len = len >= BS_PARSE_HDR_MAX ? len + rng() % 9000 : len;
		struct bs_frame plain, sliced;
		enum bs_frame_kind kp = bs_parse_headers(f, len, frame_len, false, &plain);
		enum bs_frame_kind ks = bs_parse_headers(f, len, frame_len, true, &sliced);
		assert_int_equal(plain.missing, 0);
		if (kp == BS_FRAME_MALFORMED && plain.reason == BS_MAL_BAD_LENGTH &&
		    ks != BS_FRAME_MALFORMED) {
			assert_true(ks == BS_FRAME_IPV4 || ks == BS_FRAME_IPV6);
			uint32_t l3 = 14u + 4u * sliced.vlan_count;
			assert_true(sliced.missing > 0);
			assert_int_equal(frame_len + sliced.missing, l3 + sliced.ip_len);
			counted++;
			continue;
		}
		assert_int_equal(ks, kp);
		assert_int_equal(sliced.reason, plain.reason);
		assert_int_equal(sliced.missing, 0);
		assert_int_equal(sliced.ip_len, plain.ip_len);
	}
	assert_true(counted > 1000);
}

static void test_reason_names(void **state)
{
	(void)state;
	for (int i = 0; i < BS_MAL_REASON_COUNT; i++) {
		const char *a = bs_malformed_reason_name(i);
		assert_non_null(a);
		assert_string_not_equal(a, "unknown");
		for (int j = 0; j < i; j++)
			assert_string_not_equal(a, bs_malformed_reason_name(j));
	}
	assert_string_equal(bs_malformed_reason_name(BS_MAL_BAD_IHL),
			    "bad_ihl");
	assert_string_equal(bs_malformed_reason_name(BS_MAL_REASON_COUNT),
			    "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4_plain),
		cmocka_unit_test(test_ipv4_options_and_padding),
		cmocka_unit_test(test_vlan_and_qinq),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_ipv6_empty_payload),
		cmocka_unit_test(test_non_ip),
		cmocka_unit_test(test_malformed_reasons),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_headers_straddle_segments),
		cmocka_unit_test(test_sliced),
		cmocka_unit_test(test_sliced_random),
		cmocka_unit_test(test_reason_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
