/*
 * parse.h — frame → addresses and length. Pure: no DPDK, no I/O, no state,
 * so the unit tests and a fuzzer call it directly on byte arrays.
 *
 * Understands Ethernet II with up to two VLAN tags (802.1Q 0x8100, 802.1ad
 * 0x88a8 and the old QinQ 0x9100), IPv4 and IPv6. Only the addresses and the
 * IP length are needed, so IPv6 extension headers are never walked. A frame
 * that cannot be trusted is BS_FRAME_MALFORMED with a reason; it never reads
 * past the bytes it is given.
 *
 * The parser sees the frame's first bytes (its headers) and is told the
 * whole frame's length apart: a frame of several mbufs (jumbo frames, Rx
 * scatter) gives its headers copied out of the chain, and the length of the
 * chain. On a sliced port (a packet broker or a snaplen capture keeps only
 * each packet's first bytes), a frame shorter than its IP length is counted
 * with that IP length, provided its Ethernet, VLAN and IP headers are there
 * whole; see bs_parse_headers().
 */
#ifndef BS_PARSE_H
#define BS_PARSE_H

#include <stdbool.h>
#include <stdint.h>

#define BS_MAX_VLAN_TAGS 2
/* Bytes that hold every header the parser reads: Ethernet + two tags +
 * the longest IPv4 header (60) or the IPv6 header (40). */
#define BS_PARSE_HDR_MAX (14u + 2u * 4u + 60u)

enum bs_frame_kind {
	BS_FRAME_IPV4 = 0,
	BS_FRAME_IPV6,
	BS_FRAME_NON_IP,     /* well-formed Ethernet, another EtherType */
	BS_FRAME_MALFORMED,
};

enum bs_malformed_reason {
	BS_MAL_NONE = 0,
	BS_MAL_SHORT_ETHER,   /* shorter than an Ethernet header (+ tags) */
	BS_MAL_TOO_MANY_TAGS, /* more than BS_MAX_VLAN_TAGS VLAN tags */
	BS_MAL_SHORT_IP,      /* shorter than the fixed IP header */
	BS_MAL_BAD_VERSION,   /* EtherType says IPv4/IPv6, version nibble disagrees */
	BS_MAL_BAD_IHL,       /* IPv4 IHL < 5 or options past the frame */
	BS_MAL_BAD_LENGTH,    /* IP length field < header or > bytes present */
	BS_MAL_REASON_COUNT,
};

struct bs_frame {
	enum bs_frame_kind kind;
	enum bs_malformed_reason reason;
	uint8_t vlan_count;
	uint16_t vlan_outer;   /* VID (12 bits) of the outer tag, 0 if none */
	uint16_t vlan_inner;   /* VID of the inner tag, 0 if none */
	uint32_t ip_len;       /* IPv4 total length; IPv6 40 + payload length */
	uint32_t missing;      /* sliced: bytes of the IP packet cut off the
				* frame (the frame measure adds them), else 0 */
	uint32_t src4, dst4;   /* IPv4 addresses, host byte order */
	const uint8_t *src6;   /* IPv6 addresses: 16 bytes each, inside frame */
	const uint8_t *dst6;
};

/* Parses the headers of one frame of frame_len bytes: `hdr` holds its first
 * hdr_len of them (hdr_len ≤ frame_len; all of them, or at least
 * BS_PARSE_HDR_MAX). Lengths are checked against frame_len, header reads
 * against hdr_len. With `sliced`, an IP length beyond the frame is taken as
 * the truth (the frame was cut short on its way here): out->missing is the
 * bytes cut off, so frame_len + missing = L2 header + IP length; without,
 * it is BS_MAL_BAD_LENGTH. Fills *out (kind
 * always set; src6/dst6 point into hdr) and returns out->kind. */
enum bs_frame_kind bs_parse_headers(const uint8_t *hdr, uint32_t hdr_len,
				    uint32_t frame_len, bool sliced,
				    struct bs_frame *out);

/* One whole frame of `len` bytes in one buffer, on a port that is not
 * sliced. */
static inline enum bs_frame_kind bs_parse_frame(const uint8_t *frame, uint32_t len,
						struct bs_frame *out)
{
	return bs_parse_headers(frame, len, len, false, out);
}

const char *bs_malformed_reason_name(enum bs_malformed_reason reason);

#endif
