/*
 * parse.c — the per-packet frame parser: Ethernet II (up to two VLAN tags),
 * IPv4 and IPv6 → addresses and IP length. Pure and branch-lean, since it
 * runs once per received packet; every read is bounds-checked against the
 * header bytes given before it happens, every length against the frame's. See parse.h for the contract.
 */
#include "parse.h"

#include <stddef.h>
#include <string.h>

#define ETHER_HDR_LEN     14u   /* dst, src, EtherType */
#define ETHER_TYPE_OFF    12u
#define ETHER_MIN_LEN     60u   /* minimum frame without FCS: shorter is padded */
#define VLAN_TAG_LEN      4u
#define ETHERTYPE_IPV4    0x0800u
#define ETHERTYPE_IPV6    0x86ddu
#define ETHERTYPE_8021Q   0x8100u
#define ETHERTYPE_8021AD  0x88a8u
#define ETHERTYPE_QINQ    0x9100u
#define VLAN_VID_MASK     0x0fffu
#define IPV4_MIN_HDR_LEN  20u
#define IPV6_HDR_LEN      40u

#define likely(x) __builtin_expect(!!(x), 1)

static inline uint16_t load_be16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return __builtin_bswap16(v);
}

static inline uint32_t load_be32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return __builtin_bswap32(v);
}

static inline int is_vlan_tpid(uint16_t type)
{
	return type == ETHERTYPE_8021Q || type == ETHERTYPE_8021AD ||
	       type == ETHERTYPE_QINQ;
}

static inline enum bs_frame_kind malformed(struct bs_frame *out,
					   enum bs_malformed_reason reason)
{
	out->kind = BS_FRAME_MALFORMED;
	out->reason = reason;
	return BS_FRAME_MALFORMED;
}

/* An IP packet of ip_len bytes starting l3_off bytes into a frame of
 * frame_len: within the frame, or (sliced) beyond it, when the bytes cut
 * off are noted for the frame measure. */
static inline int ip_len_fits(uint32_t l3_off, uint32_t ip_len, uint32_t frame_len,
			      bool sliced, struct bs_frame *out)
{
	uint32_t end = l3_off + ip_len;
	if (likely(end <= frame_len))
		return 1;
	if (!sliced)
		return 0;
	out->missing = end - frame_len;
	return 1;
}

/* IPv4 header at ip = frame + l3_off, `avail` header bytes from there on. */
static inline enum bs_frame_kind parse_ipv4(const uint8_t *ip, uint32_t avail,
					    uint32_t l3_off, uint32_t frame_len,
					    bool sliced, struct bs_frame *out)
{
	if (avail < IPV4_MIN_HDR_LEN)
		return malformed(out, BS_MAL_SHORT_IP);
	if ((ip[0] >> 4) != 4)
		return malformed(out, BS_MAL_BAD_VERSION);

	uint32_t hdr_len = (uint32_t)(ip[0] & 0x0fu) * 4u;
	if (hdr_len < IPV4_MIN_HDR_LEN || hdr_len > avail)
		return malformed(out, BS_MAL_BAD_IHL);

	/* Bytes after total_len are Ethernet padding, which is fine. */
	uint32_t total_len = load_be16(ip + 2);
	if (total_len < hdr_len || !ip_len_fits(l3_off, total_len, frame_len, sliced, out))
		return malformed(out, BS_MAL_BAD_LENGTH);

	out->kind = BS_FRAME_IPV4;
	out->ip_len = total_len;
	out->src4 = load_be32(ip + 12);
	out->dst4 = load_be32(ip + 16);
	return BS_FRAME_IPV4;
}

/* IPv6 header at ip = frame + l3_off, `avail` header bytes from there on. */
static inline enum bs_frame_kind parse_ipv6(const uint8_t *ip, uint32_t avail,
					    uint32_t l3_off, uint32_t frame_len,
					    bool sliced, struct bs_frame *out)
{
	if (avail < IPV6_HDR_LEN)
		return malformed(out, BS_MAL_SHORT_IP);
	if ((ip[0] >> 4) != 6)
		return malformed(out, BS_MAL_BAD_VERSION);

	uint32_t payload_len = load_be16(ip + 4);
	if (!ip_len_fits(l3_off, IPV6_HDR_LEN + payload_len, frame_len, sliced, out))
		return malformed(out, BS_MAL_BAD_LENGTH);
	/* Payload length 0 is an empty packet, possibly padded up to the
	 * Ethernet minimum; with more bytes than padding explains it is a
	 * jumbogram, whose length lives in an extension header we do not
	 * walk. */
	if (payload_len == 0 && frame_len - l3_off > IPV6_HDR_LEN &&
	    frame_len > ETHER_MIN_LEN)
		return malformed(out, BS_MAL_BAD_LENGTH);

	out->kind = BS_FRAME_IPV6;
	out->ip_len = IPV6_HDR_LEN + payload_len;
	out->src6 = ip + 8;
	out->dst6 = ip + 24;
	return BS_FRAME_IPV6;
}

/* len header bytes of a frame of frame_len: either every byte is there
 * (len == frame_len), or at least all that headers can take; with fewer,
 * a header cut off is reported as missing (never read past len). */
enum bs_frame_kind bs_parse_headers(const uint8_t *frame, uint32_t len,
				    uint32_t frame_len, bool sliced,
				    struct bs_frame *out)
{
	*out = (struct bs_frame){ .kind = BS_FRAME_MALFORMED };

	if (len < ETHER_HDR_LEN)
		return malformed(out, BS_MAL_SHORT_ETHER);

	/* type_off: where the current EtherType/TPID sits. Each tag pushes
	 * the real EtherType four bytes further. */
	uint32_t type_off = ETHER_TYPE_OFF;
	uint16_t type = load_be16(frame + type_off);
	while (is_vlan_tpid(type)) {
		if (out->vlan_count == BS_MAX_VLAN_TAGS)
			return malformed(out, BS_MAL_TOO_MANY_TAGS);
		if (len < type_off + VLAN_TAG_LEN + 2u)
			return malformed(out, BS_MAL_SHORT_ETHER);
		uint16_t vid = load_be16(frame + type_off + 2u) & VLAN_VID_MASK;
		if (out->vlan_count == 0)
			out->vlan_outer = vid;
		else
			out->vlan_inner = vid;
		out->vlan_count++;
		type_off += VLAN_TAG_LEN;
		type = load_be16(frame + type_off);
	}

	uint32_t l3_off = type_off + 2u;
	const uint8_t *ip = frame + l3_off;
	uint32_t avail = len - l3_off;

	if (type == ETHERTYPE_IPV4)
		return parse_ipv4(ip, avail, l3_off, frame_len, sliced, out);
	if (type == ETHERTYPE_IPV6)
		return parse_ipv6(ip, avail, l3_off, frame_len, sliced, out);
	out->kind = BS_FRAME_NON_IP;
	return BS_FRAME_NON_IP;
}

const char *bs_malformed_reason_name(enum bs_malformed_reason reason)
{
	static const char *const names[BS_MAL_REASON_COUNT] = {
		[BS_MAL_NONE] = "none",
		[BS_MAL_SHORT_ETHER] = "short_ether",
		[BS_MAL_TOO_MANY_TAGS] = "too_many_tags",
		[BS_MAL_SHORT_IP] = "short_ip",
		[BS_MAL_BAD_VERSION] = "bad_version",
		[BS_MAL_BAD_IHL] = "bad_ihl",
		[BS_MAL_BAD_LENGTH] = "bad_length",
	};

	if ((unsigned)reason >= BS_MAL_REASON_COUNT)
		return "unknown";
	return names[reason];
}
