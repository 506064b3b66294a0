/*
 * test_names.c — common/names.c: every byte measure and port role prints
 * as the word users write and parses back from it; other words, other
 * cases, prefixes and words with more bytes after them are refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "names.h"

static void measures(void **state)
{
	(void)state;
	enum bs_byte_measure m;
	assert_string_equal(bs_measure_name(BS_MEASURE_FRAME), "frame");
	assert_string_equal(bs_measure_name(BS_MEASURE_IP), "ip");
	assert_string_equal(bs_measure_name((enum bs_byte_measure)2), "?");
	for (int i = 0; bs_measure_names[i] != NULL; i++) {
		const char *name = bs_measure_name((enum bs_byte_measure)i);
		assert_int_equal(bs_measure_parse(name, strlen(name), &m), 0);
		assert_int_equal(m, i);
	}
	static const char *const bad[] = { "", "Frame", "fram", "frames", "IP",
					   "i", "ipv4", "?" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(bs_measure_parse(bad[i], strlen(bad[i]), &m), -1);
	/* Length-delimited: "ip" inside a longer buffer is "ip" only with
	 * its own length. */
	assert_int_equal(bs_measure_parse("ip\"}", 2, &m), 0);
	assert_int_equal(m, BS_MEASURE_IP);
	assert_int_equal(bs_measure_parse("ip\0x", 4, &m), -1);
}

static void roles(void **state)
{
	(void)state;
	enum bs_port_role r;
	assert_string_equal(bs_port_role_name(BS_ROLE_UPSTREAM), "upstream");
	assert_string_equal(bs_port_role_name(BS_ROLE_DOWNSTREAM), "downstream");
	assert_string_equal(bs_port_role_name(BS_ROLE_MIRROR), "mirror");
	assert_string_equal(bs_port_role_name((enum bs_port_role)3), "?");
	for (int i = 0; bs_port_role_names[i] != NULL; i++) {
		const char *name = bs_port_role_name((enum bs_port_role)i);
		assert_int_equal(bs_port_role_parse(name, strlen(name), &r), 0);
		assert_int_equal(r, i);
	}
	static const char *const bad[] = { "", "up", "Upstream", "mirrors",
					   "sideways", "down stream" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(bs_port_role_parse(bad[i], strlen(bad[i]), &r), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(measures),
		cmocka_unit_test(roles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
