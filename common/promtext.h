/*
 * promtext.h — writing Prometheus's text exposition format into a fixed
 * buffer: the one writer bandsplit-meter's and bandsplit-settle's /metrics
 * share. A line that does not fit is dropped whole and the output marked
 * full; nothing is allocated.
 */
#ifndef BS_PROMTEXT_H
#define BS_PROMTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bs_prom_out {
	char *buf;
	size_t size, len;   /* len < size: buf stays NUL-terminated */
	bool full;          /* a line did not fit: it and all after are dropped */
};

void bs_prom_emit(struct bs_prom_out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "# HELP name help" and "# TYPE name type" */
void bs_prom_family(struct bs_prom_out *o, const char *name, const char *type,
		    const char *help);
/* a family of one unlabelled sample */
void bs_prom_counter(struct bs_prom_out *o, const char *name, const char *help,
		     uint64_t v);
void bs_prom_gauge(struct bs_prom_out *o, const char *name, const char *help,
		   int64_t v);

#endif
