/*
 * fastdecode.h — a fast path for the records bandsplit itself writes.
 *
 * bs_record_encode() always writes the same layout: fields in a fixed
 * order, no whitespace, no escapes. settle_fast_decode() recognises exactly
 * that layout with a single left-to-right scan and no allocation, and
 * accepts a record only when every value is clearly within the limits that
 * bs_record_decode() enforces; for anything else (another layout, a value
 * near or beyond a limit, a failed cross-field check) it answers "not
 * recognised" and the caller runs the strict decoder, which decides. So
 * the fast path never accepts what the strict decoder would refuse, and
 * what it accepts decodes to the same struct (tests/unit/test_settle_fastdecode.c
 * checks both).
 */
#ifndef BS_SETTLE_FASTDECODE_H
#define BS_SETTLE_FASTDECODE_H

#include <stdbool.h>
#include <stddef.h>

#include "record.h"

/* true: *rec holds the record; false: use bs_record_decode(). */
bool settle_fast_decode(const char *buf, size_t len, struct bs_record *rec);

#endif
