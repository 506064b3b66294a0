/*
 * parse.h — frame → addresses and length. Pure: no DPDK, no I/O, no state,
 * so the unit tests and a fuzzer call it directly on byte arrays.
 *
 * Understands Ethernet II with up to two VLAN tags (802.1Q 0x8100, 802.1ad
 * 0x88a8 and the old QinQ 0x9100), IPv4 and IPv6. Only the addresses and the
 * IP length are needed, so IPv6 extension headers are never walked. A frame
 * that cannot be trusted is BS_FRAME_MALFORMED with a reason; it never reads
 * past `len`.
 */
#ifndef BS_PARSE_H
#define BS_PARSE_H

#include <stdint.h>

#define BS_MAX_VLAN_TAGS 2

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
	uint32_t src4, dst4;   /* IPv4 addresses, host byte order */
	const uint8_t *src6;   /* IPv6 addresses: 16 bytes each, inside frame */
	const uint8_t *dst6;
};

/* Parses one frame of `len` bytes. Fills *out (kind always set) and returns
 * out->kind. */
enum bs_frame_kind bs_parse_frame(const uint8_t *frame, uint32_t len,
				  struct bs_frame *out);

const char *bs_malformed_reason_name(enum bs_malformed_reason reason);

#endif
