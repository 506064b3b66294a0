/*
 * routes.h — bandsplit-api's route table: each route's method, path
 * template, the response formats it offers, whether it needs a token, and
 * every HTTP status its code can answer with. The dispatcher, the metrics
 * (route label = the template, never the raw path), the access log and
 * `bandsplit-api --routes` (checked against schemas/openapi.yaml by the
 * api_openapi test) all read this one table.
 */
#ifndef BS_API_ROUTES_H
#define BS_API_ROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum api_route {
	R_USAGE = 0,
	R_STATEMENT,
	R_INVOICES,
	R_INVOICE,
	R_NOTES,
	R_ALLOCATIONS,
	R_HEALTHZ,
	R_METRICS,
	R_COUNT,
	R_NONE = R_COUNT,   /* no route: 404 (label "other") */
};

#define API_ROUTE_STATUSES_MAX 12

struct api_route_info {
	const char *template;        /* "/v1/invoices/{number}" */
	const char *params;          /* query parameters, space separated */
	bool auth;                   /* needs Authorization: Bearer */
	unsigned formats;            /* API_FMT_BIT mask; 0: fixed type */
	int statuses[API_ROUTE_STATUSES_MAX];  /* ascending, 0-terminated */
};

extern const struct api_route_info api_routes[R_COUNT];

/* The route of a path (no query string). For a template with a {param},
 * *arg points at the path's last segment. R_NONE when nothing matches. */
enum api_route api_route_match(const char *path, const char **arg);

/* The route's label for metrics and the access log: its template, or
 * "other". */
const char *api_route_label(enum api_route r);

/* True when the route's code can answer with status (an assertion aid). */
bool api_route_has_status(enum api_route r, int status);

/* `bandsplit-api --routes`: one line per route, tab-separated: "GET",
 * the template, the statuses (comma-separated), the query parameters
 * (comma-separated, maybe none). */
void api_routes_print(FILE *out);

#endif
