/*
 * fuzz_statement_verify.c — libFuzzer target: the CSV reader of `bandsplit
 * statement verify` (settlement/statement/statement_verify.c). Beyond
 * memory safety: the result is 0, 1 or 2 with a NUL-terminated message,
 * and the same input gives the same answer twice.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "statement.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1 << 20))
		return 0;
	char m1[512], m2[512];
	memset(m1, 'x', sizeof m1);
	int a = bs_statement_verify_csv((const char *)data, size, m1, sizeof m1);
	int b = bs_statement_verify_csv((const char *)data, size, m2, sizeof m2);
	if (a < 0 || a > 2 || a != b || memchr(m1, '\0', sizeof m1) == NULL ||
	    strcmp(m1, m2) != 0)
		abort();
	return 0;
}
