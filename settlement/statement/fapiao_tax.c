/*
 * fapiao_tax.c — the largest-remainder split of a rate's VAT over its
 * lines (fapiao_tax.h). Exact integer arithmetic: vat × amount_i fits in
 * 128 bits.
 */
#include "fapiao_tax.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>

#define SUM_LIMIT INT64_C(1000000000000000)

int bs_fapiao_tax_split(const int64_t *amount, size_t n, int64_t vat,
			int64_t *tax)
{
	if (n == 0 || n > BS_FAPIAO_TAX_MAX_LINES || amount == NULL ||
	    tax == NULL || vat < 0)
		return -1;
	int64_t base = 0;
	for (size_t i = 0; i < n; i++) {
		if (amount[i] < 0 || amount[i] > SUM_LIMIT - base)
			return -1;
		base += amount[i];
	}
	if (vat > base || (base == 0 && vat != 0))
		return -1;
	if (base == 0) {
		for (size_t i = 0; i < n; i++)
			tax[i] = 0;
		return 0;
	}

	/* floors, and the remainders (numerators over base) */
	int64_t *rem = malloc(n * sizeof(*rem));
	if (rem == NULL)
		return -1;
	int64_t given = 0;
	for (size_t i = 0; i < n; i++) {
		__int128 share = (__int128)vat * amount[i];
		tax[i] = (int64_t)(share / base);
		rem[i] = (int64_t)(share % base);
		given += tax[i];
	}
	int64_t left = vat - given;
	assert(left >= 0 && (size_t)left < n);

	/* one fen each to the largest remainders, earlier line on a tie; a
	 * line with no remainder (a line of 0 among them) never gets one,
	 * since left < the number of lines with a remainder */
	for (int64_t k = 0; k < left; k++) {
		size_t best = n;
		for (size_t i = 0; i < n; i++)
			if (rem[i] > 0 && (best == n || rem[i] > rem[best]))
				best = i;
		assert(best < n);
		tax[best]++;
		rem[best] = 0;
	}
	free(rem);
	return 0;
}
