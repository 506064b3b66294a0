/*
 * names.h — the names users write and read for the byte measures ("frame",
 * "ip") and the port roles ("upstream", "downstream", "mirror"): in the
 * meter's configuration and options, the usage records, the CLI, the
 * generator and the benchmark. Parsed and printed here only.
 */
#ifndef BS_NAMES_H
#define BS_NAMES_H

#include <stddef.h>

/* Which bytes a record counts: whole Ethernet frames or IP lengths. */
enum bs_byte_measure { BS_MEASURE_FRAME = 0, BS_MEASURE_IP = 1 };
#define BS_MEASURE_FRAME_NAME "frame"
#define BS_MEASURE_IP_NAME    "ip"

/* What a port sees: traffic from the internet to the tenants (upstream),
 * from the tenants out (downstream), or both (a mirror). */
enum bs_port_role { BS_ROLE_UPSTREAM = 0, BS_ROLE_DOWNSTREAM, BS_ROLE_MIRROR };

/* NULL-terminated lists of the names, indexed by the enums. */
extern const char *const bs_measure_names[];
extern const char *const bs_port_role_names[];

const char *bs_measure_name(enum bs_byte_measure m);    /* "?" if unknown */
const char *bs_port_role_name(enum bs_port_role role);  /* "?" if unknown */

/* The len bytes at s (no NUL needed) name a measure / a role: 0 and *out
 * set, or -1. */
int bs_measure_parse(const char *s, size_t len, enum bs_byte_measure *out);
int bs_port_role_parse(const char *s, size_t len, enum bs_port_role *out);

#endif
