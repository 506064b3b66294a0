/*
 * promtext.c — the Prometheus text writer of promtext.h.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "promtext.h"

void bs_prom_emit(struct bs_prom_out *o, const char *fmt, ...)
{
	if (o->full)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->size - o->len) {
		o->full = true;          /* drop the partial line */
		o->buf[o->len] = '\0';
		return;
	}
	o->len += (size_t)n;
}

void bs_prom_family(struct bs_prom_out *o, const char *name, const char *type,
		    const char *help)
{
	bs_prom_emit(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void bs_prom_counter(struct bs_prom_out *o, const char *name, const char *help,
		     uint64_t v)
{
	bs_prom_family(o, name, "counter", help);
	bs_prom_emit(o, "%s %" PRIu64 "\n", name, v);
}

void bs_prom_gauge(struct bs_prom_out *o, const char *name, const char *help,
		   int64_t v)
{
	bs_prom_family(o, name, "gauge", help);
	bs_prom_emit(o, "%s %" PRId64 "\n", name, v);
}
