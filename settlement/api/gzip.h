/*
 * gzip.h — a document compressed for Content-Encoding: gzip (zlib's
 * deflate with the gzip wrapper, RFC 1952). bandsplit-api compresses a
 * closed statement once, when it enters the statement cache, for the
 * clients that say Accept-Encoding: gzip (params.h). Usage answers go
 * as they are: compressing each one (level 1, ~0.1 ms a day of samples)
 * cost more than the bytes it saved, measured on loopback (README,
 * "Performance (tenant API)").
 */
#ifndef BS_API_GZIP_H
#define BS_API_GZIP_H

#include <stddef.h>

/* Documents over this are not compressed (the cache keeps none so big). */
#define API_GZIP_MAX ((size_t)256 << 20)

/* A malloc'd gzip stream of in[0..len), *out_len bytes; NULL when out of
 * memory, empty or over API_GZIP_MAX, or when it would not be smaller
 * than len. */
char *api_gzip(const char *in, size_t len, size_t *out_len);

#endif
