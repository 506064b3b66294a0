/*
 * routes.c — bandsplit-api's route table and path matching. See routes.h.
 */
#include "routes.h"

#include "params.h"

#include <assert.h>
#include <string.h>

#define DOCS (API_FMT_BIT(API_FMT_JSON) | API_FMT_BIT(API_FMT_CSV) | \
	      API_FMT_BIT(API_FMT_HTML) | API_FMT_BIT(API_FMT_PDF))
#define JSON_CSV (API_FMT_BIT(API_FMT_JSON) | API_FMT_BIT(API_FMT_CSV))
#define INVOICE (API_FMT_BIT(API_FMT_JSON) | API_FMT_BIT(API_FMT_HTML) | \
		 API_FMT_BIT(API_FMT_PDF))

/* 400 bad parameter, 401 no valid token, 404 not the caller's, 405 wrong
 * method, 413 more rows than max_rows, 422 a range over max_range_days,
 * 429 over the tenant's rate, 500 a failure, 503 no database connection
 * within request_timeout_ms (or shutting down). */
const struct api_route_info api_routes[R_COUNT] = {
	[R_USAGE] = { "/v1/usage", "from to step direction allocation format",
		true, JSON_CSV, { 200, 400, 401, 404, 405, 413, 422, 429, 500, 503 } },
	[R_STATEMENT] = { "/v1/statements/{period}", "format lang",
		true, DOCS, { 200, 400, 401, 404, 405, 429, 500, 503 } },
	[R_INVOICES] = { "/v1/invoices", "period format",
		true, JSON_CSV, { 200, 400, 401, 405, 413, 429, 500, 503 } },
	[R_INVOICE] = { "/v1/invoices/{number}", "format lang",
		true, INVOICE, { 200, 400, 401, 404, 405, 429, 500, 503 } },
	[R_NOTES] = { "/v1/notes", "period format",
		true, JSON_CSV, { 200, 400, 401, 405, 413, 429, 500, 503 } },
	[R_ALLOCATIONS] = { "/v1/allocations", "format",
		true, JSON_CSV, { 200, 400, 401, 405, 413, 429, 500, 503 } },
	[R_HEALTHZ] = { "/healthz", "", false, 0, { 200, 405, 500, 503 } },
	[R_METRICS] = { "/metrics", "", false, 0, { 200, 405, 500 } },
};

/* "/v1/invoices/" + one non-empty segment without '/'. */
static bool one_segment(const char *path, const char *prefix, const char **arg)
{
	size_t n = strlen(prefix);
	if (strncmp(path, prefix, n) != 0 || path[n] == '\0' ||
	    strchr(path + n, '/') != NULL)
		return false;
	*arg = path + n;
	return true;
}

enum api_route api_route_match(const char *path, const char **arg)
{
	*arg = NULL;
	for (int r = 0; r < R_COUNT; r++) {
		const char *t = api_routes[r].template;
		const char *brace = strchr(t, '{');
		if (brace == NULL) {
			if (strcmp(path, t) == 0)
				return (enum api_route)r;
			continue;
		}
		char prefix[64];
		size_t n = (size_t)(brace - t);
		assert(n < sizeof(prefix));
		memcpy(prefix, t, n);
		prefix[n] = '\0';
		if (one_segment(path, prefix, arg))
			return (enum api_route)r;
	}
	return R_NONE;
}

const char *api_route_label(enum api_route r)
{
	return r < R_COUNT ? api_routes[r].template : "other";
}

bool api_route_has_status(enum api_route r, int status)
{
	if (r >= R_COUNT)
		return status == 404 || status == 405;
	for (int i = 0; i < API_ROUTE_STATUSES_MAX && api_routes[r].statuses[i]; i++)
		if (api_routes[r].statuses[i] == status)
			return true;
	return false;
}

void api_routes_print(FILE *out)
{
	for (int r = 0; r < R_COUNT; r++) {
		fprintf(out, "GET\t%s\t", api_routes[r].template);
		for (int i = 0; i < API_ROUTE_STATUSES_MAX && api_routes[r].statuses[i]; i++)
			fprintf(out, "%s%d", i ? "," : "", api_routes[r].statuses[i]);
		fputc('\t', out);
		for (const char *p = api_routes[r].params; *p; p++)
			fputc(*p == ' ' ? ',' : *p, out);
		fputc('\n', out);
	}
}
