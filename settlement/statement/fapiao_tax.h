/*
 * fapiao_tax.h — the VAT of one rate of an invoice split over its lines
 * for the fapiao export, so that the lines' tax adds up to exactly the VAT
 * the invoice states for the rate (invoice_vat.vat_fen; itself
 * round-half-up(base × rate) of the Σ of the lines, 0021).
 *
 * Largest remainder: line i's exact share is vat × amount_i / base; each
 * line gets the floor of its share, and the fen left over (fewer than the
 * number of lines) go one each to the lines with the largest remainders,
 * ties to the earlier line (lower index = lower line_no): deterministic.
 * Each line's tax is then within one fen of amount_i × rate, which is what
 * the tax system's per-line check (|tax − amount × rate| ≤ ¥0.06) needs.
 */
#ifndef BS_FAPIAO_TAX_H
#define BS_FAPIAO_TAX_H

#include <stddef.h>
#include <stdint.h>

/* The most lines of one rate on one invoice. */
#define BS_FAPIAO_TAX_MAX_LINES 4096

/* Splits vat over the n lines' amounts (all >= 0, their sum the base, at
 * most 10^15 fen) into tax[n]. A base of 0 takes a vat of 0 (every line
 * 0). Returns 0, or -1 on a bad argument (a negative amount or vat, n out
 * of range, a base of 0 with a vat, a vat larger than the base, a sum
 * beyond the limit). */
int bs_fapiao_tax_split(const int64_t *amount, size_t n, int64_t vat,
			int64_t *tax);

#endif
