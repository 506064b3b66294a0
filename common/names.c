/*
 * names.c — the names of the byte measures and port roles (see names.h).
 */
#include "names.h"

#include <string.h>

const char *const bs_measure_names[] = {
	[BS_MEASURE_FRAME] = BS_MEASURE_FRAME_NAME,
	[BS_MEASURE_IP] = BS_MEASURE_IP_NAME,
	NULL,
};

const char *const bs_port_role_names[] = {
	[BS_ROLE_UPSTREAM] = "upstream",
	[BS_ROLE_DOWNSTREAM] = "downstream",
	[BS_ROLE_MIRROR] = "mirror",
	NULL,
};

#define N_MEASURES (sizeof(bs_measure_names) / sizeof(bs_measure_names[0]) - 1)
#define N_ROLES (sizeof(bs_port_role_names) / sizeof(bs_port_role_names[0]) - 1)

const char *bs_measure_name(enum bs_byte_measure m)
{
	return (unsigned)m < N_MEASURES ? bs_measure_names[m] : "?";
}

const char *bs_port_role_name(enum bs_port_role role)
{
	return (unsigned)role < N_ROLES ? bs_port_role_names[role] : "?";
}

/* The index of the name equal to the len bytes at s, or -1. */
static int lookup(const char *const *names, const char *s, size_t len)
{
	for (int i = 0; names[i] != NULL; i++)
		if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
			return i;
	return -1;
}

int bs_measure_parse(const char *s, size_t len, enum bs_byte_measure *out)
{
	int i = lookup(bs_measure_names, s, len);
	if (i < 0)
		return -1;
	*out = (enum bs_byte_measure)i;
	return 0;
}

int bs_port_role_parse(const char *s, size_t len, enum bs_port_role *out)
{
	int i = lookup(bs_port_role_names, s, len);
	if (i < 0)
		return -1;
	*out = (enum bs_port_role)i;
	return 0;
}
