/*
 * server.c — bandsplit-api's HTTP side (libmicrohttpd, an internal thread
 * pool): routing, the token, query parameters, the per-request transaction
 * on a pooled connection, the rate limit, the one JSON error shape, the
 * metrics and the access log. The order of checks is in api.h.
 *
 * An HTTP thread answers at once what needs no database (health, metrics,
 * routing, the token's shape, parameters); a request that does is
 * suspended and queued (workq.h): the database workers take the queue in
 * arrival order, and resume the connection with its answer.
 *
 * The access log has exactly these fields, from an allowlist: time,
 * tenant, method, route (the template, not the raw path), status, bytes,
 * duration. Nothing of the request's headers - the Authorization header,
 * the token - nor its query string is ever logged.
 */
#include "api.h"

#include "api_auth.h"
#include "db.h"
#include "log.h"
#include "workq.h"

#include <arpa/inet.h>
#include <assert.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <microhttpd.h>

#define TOKEN_MAX 256
#define NUMBER_MAX 16               /* CN-YYYY-NNNNNN and its NUL */

/* One request, from libmicrohttpd's first call of answer() to its
 * completion (the connection's req_cls). */
struct api_job {
	struct api_req q;
	struct MHD_Connection *conn;
	const char *method;         /* method_label(): static */
	uint64_t t0;                /* first call, µs (monotonic) */
	bool queued;                /* suspended, in or taken from the queue */
	bool answered;              /* q holds the response */
	bool responded;             /* the response is queued in MHD */
	char token[TOKEN_MAX];
	char number[NUMBER_MAX];    /* q.args.number points here */
};

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int api_error(struct api_req *q, int status, const char *code,
	      const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object *e = json_object_new_object();
	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(msg));
	json_object *root = json_object_new_object();
	json_object_object_add(root, "error", e);
	size_t len;
	const char *s = json_object_to_json_string_length(root,
		JSON_C_TO_STRING_PLAIN, &len);
	free(q->body);
	q->body = malloc(len + 1);
	if (q->body != NULL) {
		memcpy(q->body, s, len);
		q->body[len++] = '\n';
	}
	q->len = q->body != NULL ? len : 0;
	json_object_put(root);
	q->status = status;
	q->content_type = "application/json";
	q->filename[0] = '\0';
	q->gzip = false;
	return status;
}

int api_ok(struct api_req *q, char *body, size_t len, const char *content_type)
{
	free(q->body);
	q->body = body;
	q->len = len;
	q->status = 200;
	q->content_type = content_type;
	return 200;
}

/* --- query parameters ------------------------------------------------------ */

struct arg_walk {
	struct api_req *q;
	const char *seen[8];
	int nseen;
	bool failed;
};

static bool in_list(const char *list, const char *key)
{
	size_t n = strlen(key);
	for (const char *p = list; *p; ) {
		const char *sp = strchr(p, ' ');
		size_t len = sp != NULL ? (size_t)(sp - p) : strlen(p);
		if (len == n && strncmp(p, key, n) == 0)
			return true;
		p += len + (sp != NULL);
	}
	return false;
}

static int bad_param(struct api_req *q, const char *name, const char *why)
{
	return api_error(q, 400, "bad_parameter", "%s: %s", name, why);
}

/* One query parameter: known for the route, given once, valid. */
static enum MHD_Result one_arg(void *cls, enum MHD_ValueKind kind,
			       const char *key, const char *value)
{
	(void)kind;
	struct arg_walk *w = cls;
	struct api_req *q = w->q;
	struct api_args *a = &q->args;
	char err[256];
	const char *known = api_routes[q->route].params;
	if (!in_list(known, key)) {
		char name[API_PARAM_ECHO_MAX + 1];
		size_t i = 0;
		for (; key[i] && i < API_PARAM_ECHO_MAX; i++)
			name[i] = key[i] > 0x20 && key[i] < 0x7f ? key[i] : '?';
		name[i] = '\0';
		api_error(q, 400, "bad_parameter", "%s: unknown parameter (this "
			  "route takes: %s)", name, known[0] ? known : "none");
		w->failed = true;
		return MHD_NO;
	}
	for (int i = 0; i < w->nseen; i++)
		if (strcmp(w->seen[i], key) == 0) {
			bad_param(q, key, "given more than once");
			w->failed = true;
			return MHD_NO;
		}
	if (w->nseen < (int)(sizeof(w->seen) / sizeof(w->seen[0])))
		w->seen[w->nseen++] = key;
	if (value == NULL)
		value = "";
	int rc = 0;
	if (strcmp(key, "from") == 0) {
		rc = api_parse_time(value, &a->from, err, sizeof(err));
		a->has_from = true;
	} else if (strcmp(key, "to") == 0) {
		rc = api_parse_time(value, &a->to, err, sizeof(err));
		a->has_to = true;
	} else if (strcmp(key, "step") == 0) {
		rc = api_parse_step(value, &a->step, err, sizeof(err));
		a->has_step = true;
	} else if (strcmp(key, "direction") == 0) {
		rc = api_parse_direction(value, &a->direction, err, sizeof(err));
		a->has_direction = true;
	} else if (strcmp(key, "allocation") == 0) {
		rc = api_parse_id(value, &a->allocation, err, sizeof(err));
		a->has_allocation = true;
	} else if (strcmp(key, "period") == 0) {
		rc = api_parse_period(value, a->period, err, sizeof(err));
		a->has_period = true;
	} else if (strcmp(key, "format") == 0) {
		rc = api_parse_format(value, api_routes[q->route].formats, &a->format,
				      err, sizeof(err));
	} else if (strcmp(key, "lang") == 0) {
		rc = api_parse_lang(value, &a->lang, err, sizeof(err));
	}
	if (rc < 0) {
		bad_param(q, key, err);
		w->failed = true;
		return MHD_NO;
	}
	return MHD_YES;
}

/* Parses the path and query parameters; 0 or the error status (set). */
static int parse_args(struct api_req *q, struct MHD_Connection *conn,
		      const char *path_arg)
{
	struct api_args *a = &q->args;
	const struct api_config *cfg = q->srv->cfg;
	char err[256];
	memset(a, 0, sizeof(*a));
	a->format = api_format_from_accept(
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept"),
		api_routes[q->route].formats);
	a->gzip = api_accepts_gzip(MHD_lookup_connection_value(conn,
		MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING));
	struct arg_walk w = { .q = q };
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, one_arg, &w);
	if (w.failed)
		return q->status;
	if (q->route == R_STATEMENT) {
		if (api_parse_period(path_arg, a->period, err, sizeof(err)) < 0)
			return bad_param(q, "period", err);
		a->has_period = true;
	}
	if (q->route == R_INVOICE) {
		if (api_parse_invoice_number(path_arg, err, sizeof(err)) < 0)
			return bad_param(q, "number", err);
		a->number = path_arg;
	}
	if (q->route != R_USAGE)
		return 0;
	if (!a->has_from)
		return bad_param(q, "from", "required (RFC 3339 time or date)");
	if (!a->has_to)
		return bad_param(q, "to", "required (RFC 3339 time or date)");
	if (!a->has_step)
		a->step = 300;
	if (a->to <= a->from)
		return bad_param(q, "to", "must be after from");
	if (a->from % 300 != 0 || a->to % 300 != 0)
		return bad_param(q, a->from % 300 ? "from" : "to", "must be on a "
				 "5-minute boundary (the samples are 5-minute "
				 "buckets)");
	if (a->to - a->from > (int64_t)cfg->max_range_days * 86400)
		return api_error(q, 422, "range_too_long", "to - from: more than "
				 "max_range_days (%u days)", cfg->max_range_days);
	return 0;
}

/* --- the request's transaction -------------------------------------------- */

typedef int (*handler_fn)(struct api_req *q);
static const handler_fn handlers[R_COUNT] = {
	[R_USAGE] = api_h_usage,
	[R_STATEMENT] = api_h_statement,
	[R_INVOICES] = api_h_invoices,
	[R_INVOICE] = api_h_invoice,
	[R_NOTES] = api_h_notes,
	[R_ALLOCATIONS] = api_h_allocations,
};

static bool tx(struct api_req *q, const char *what, const char *sql)
{
	char err[BS_DB_ERR_MAX];
	if (bs_db_exec(q->db, what, sql, 0, NULL, err, sizeof(err)) == 0)
		return true;
	BS_ERROR("%s", err);
	api_error(q, 500, "internal", "the server failed; it has been logged");
	return false;
}

static void run_authenticated(struct api_req *q, const char *token)
{
	struct api_server *srv = q->srv;
	int slot;
	q->db = api_pool_take(srv->pool, &slot);
	bool dirty = true;
	char err[BS_DB_ERR_MAX] = "";
	int64_t tenant = 0;
	/* BEGIN, the token's hash, the lookup and READ ONLY: one round trip */
	int rc = bs_api_auth_open(q->db, token, &tenant, err, sizeof(err));
	/* a connection the server dropped (restart, idle timeout, terminated)
	 * is found here, before anything of the request ran: reconnected once */
	if (rc == 2) {
		BS_WARN("database connection %d lost; reconnecting", slot);
		if (api_pool_repair(srv->pool, slot))
			rc = bs_api_auth_open(q->db, token, &tenant, err, sizeof(err));
	}
	if (rc == 2) {
		BS_ERROR("begin: %s", err);
		api_error(q, 503, "unavailable", "the database is not "
			  "reachable; try again");
		q->retry_after = 1;
	} else if (rc == 1) {
		api_error(q, 401, "unauthorized", "the token is not valid (unknown, "
			  "revoked or expired)");
	} else if (rc != 0) {
		BS_ERROR("token check: %s", err);
		api_error(q, 500, "internal", "the server failed; it has been logged");
	} else {
		q->tenant = tenant;
		unsigned retry = 1;
		if (!api_ratelimit_take(srv->rate, tenant, now_us(), &retry)) {
			q->retry_after = retry;
			api_error(q, 429, "rate_limited", "more than %u requests per "
				  "second (burst %u); retry after %u s",
				  srv->cfg->rate_limit, srv->cfg->rate_burst, retry);
		} else {
			/* bs_api_auth_open made the transaction READ ONLY (and the
			 * role may write nothing): no round trip of our own */
			handlers[q->route](q);
		}
	}
	/* the token's last use is recorded even when the answer is an error;
	 * a handler may have sent COMMIT with its last statement (q->committed) */
	if (PQtransactionStatus(q->db) == PQTRANS_INTRANS) {
		if (tx(q, "commit", "COMMIT"))
			dirty = q->status >= 500;
	} else if (q->committed && PQtransactionStatus(q->db) == PQTRANS_IDLE) {
		dirty = q->status >= 500;
	}
	api_pool_give(srv->pool, slot, dirty);
	q->db = NULL;
}

/* --- HTTP ------------------------------------------------------------------ */

static void healthz(struct api_req *q)
{
	unsigned idle, busy;
	api_pool_counts(q->srv->pool, &idle, &busy);
	char buf[128];
	int n = snprintf(buf, sizeof(buf), "{\"status\":\"%s\",\"db_pool\":"
			 "{\"idle\":%u,\"busy\":%u}}\n",
			 q->srv->stopping ? "stopping" : "ok", idle, busy);
	char *body = strdup(buf);
	if (body == NULL) {
		api_error(q, 500, "internal", "out of memory");
		return;
	}
	api_ok(q, body, (size_t)n, "application/json");
	if (q->srv->stopping)
		q->status = 503;
}

static void metrics(struct api_req *q)
{
	struct api_metrics_extra x;
	api_pool_counts(q->srv->pool, &x.pool_idle, &x.pool_busy);
	x.queue_depth = q->srv->workq != NULL ? api_workq_depth(q->srv->workq) : 0;
	api_cache_stats(q->srv->cache, &x.cache_hits, &x.cache_misses,
			&x.cache_entries);
	size_t len;
	char *body = api_metrics_render(&q->srv->metrics, &x, &len);
	if (body == NULL)
		api_error(q, 500, "internal", "out of memory");
	else
		api_ok(q, body, len, "text/plain; version=0.0.4");
}

/* "Bearer TOKEN" → TOKEN copied into out; false when absent or not a
 * bearer token of a sane length. */
static bool bearer(struct MHD_Connection *conn, char *out, size_t size)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	h += 7;
	while (*h == ' ')
		h++;
	size_t n = strnlen(h, size);
	while (n > 0 && h[n - 1] == ' ')
		n--;
	if (n == 0 || n >= size)
		return false;
	memcpy(out, h, n);
	out[n] = '\0';
	return true;
}

/* What an HTTP thread does: true when the request needs the database
 * (its token and parameters are in j, to be queued), false when j->q is
 * answered already. */
static bool dispatch(struct api_job *j, struct MHD_Connection *conn,
		     const char *url, const char *method)
{
	struct api_req *q = &j->q;
	const char *path_arg;
	q->route = api_route_match(url, &path_arg);
	if (q->route == R_NONE) {
		api_error(q, 404, "not_found", "no such route (see the API's "
			  "OpenAPI document)");
		return false;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		api_error(q, 405, "method_not_allowed", "only GET (and HEAD)");
		return false;
	}
	if (q->route == R_HEALTHZ) {
		healthz(q);
		return false;
	}
	if (q->route == R_METRICS) {
		metrics(q);
		return false;
	}
	assert(api_routes[q->route].auth);
	if (!bearer(conn, j->token, sizeof(j->token)) ||
	    !bs_api_token_wellformed(j->token)) {
		api_error(q, 401, "unauthorized", "a valid token is required: "
			  "Authorization: Bearer bst_...");
		return false;
	}
	if (parse_args(q, conn, path_arg) != 0)
		return false;
	if (q->args.number != NULL) {   /* the path's: copied, as it is short */
		assert(strlen(q->args.number) < sizeof(j->number));
		strcpy(j->number, q->args.number);
		q->args.number = j->number;
	}
	if (q->srv->stopping) {
		api_error(q, 503, "unavailable", "shutting down");
		return false;
	}
	return true;
}

static const char *method_label(const char *m)
{
	static const char *const known[] = { "GET", "HEAD", "POST", "PUT",
		"DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT" };
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(m, known[i]) == 0)
			return known[i];
	return "OTHER";
}

static void access_log(struct api_server *srv, const struct api_req *q,
		       const char *method, uint64_t micros)
{
	if (srv->access_log == NULL)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[32], tenant[24] = "-";
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	if (q->tenant > 0)
		snprintf(tenant, sizeof(tenant), "%" PRId64, q->tenant);
	pthread_mutex_lock(&srv->log_lock);
	fprintf(srv->access_log, "%s.%03ldZ tenant=%s method=%s route=%s status=%d "
		"bytes=%zu duration_ms=%.3f%s\n", when, ts.tv_nsec / 1000000L,
		tenant, method_label(method), api_route_label(q->route), q->status,
		q->len, (double)micros / 1000.0, q->cache_hit ? " cache=hit" : "");
	fflush(srv->access_log);
	pthread_mutex_unlock(&srv->log_lock);
}

/* Hands j's response to libmicrohttpd, and counts and logs it. */
static enum MHD_Result respond(struct api_job *j)
{
	struct api_req *q = &j->q;
	assert(j->answered && !j->responded);
	assert(q->status != 0);
	assert(api_route_has_status(q->route, q->status));
	j->responded = true;
	struct MHD_Response *resp = MHD_create_response_from_buffer(q->len,
		q->body != NULL ? q->body : (void *)"", q->body != NULL
		? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (resp == NULL) {
		free(q->body);
		q->body = NULL;
		return MHD_NO;
	}
	q->body = NULL;             /* the response's now */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				q->content_type != NULL ? q->content_type
				: "application/json");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (q->srv->stopping)       /* no further request on this connection */
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	if (q->status == 401)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer realm=\"bandsplit\"");
	if (q->status == 405)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	if (q->retry_after > 0) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%u", q->retry_after);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	if (q->gzip)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
	if (q->route == R_STATEMENT)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
	if (q->status == 200 && q->filename[0] != '\0') {
		char cd[96];
		snprintf(cd, sizeof(cd), "inline; filename=\"%s\"", q->filename);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, cd);
	}
	enum MHD_Result r = MHD_queue_response(j->conn, (unsigned)q->status, resp);
	MHD_destroy_response(resp);
	uint64_t micros = now_us() - j->t0;
	api_metrics_observe(&q->srv->metrics, q->route, q->status, micros);
	access_log(q->srv, q, j->method, micros);
	return r;
}

/* Under the queue's lock, before a worker can see j (workq.h). */
static void suspend(void *item)
{
	struct api_job *j = item;
	j->queued = true;
	MHD_suspend_connection(j->conn);
}

/* j answered: its token forgotten, its connection resumed (an HTTP
 * thread then writes the answer). */
static void resume_answered(struct api_job *j)
{
	explicit_bzero(j->token, sizeof(j->token));
	j->answered = true;
	MHD_resume_connection(j->conn);
}

/* A database worker's part (workq.h): the transaction, then the
 * connection resumed with the answer. */
static void work(void *item, void *ctx)
{
	struct api_job *j = item;
	struct api_server *srv = ctx;
	assert(j->queued && !j->answered);
	if (srv->stopping)
		api_error(&j->q, 503, "unavailable", "shutting down");
	else
		run_authenticated(&j->q, j->token);
	resume_answered(j);
}

/* The queue's reaper (workq.h): j waited request_timeout_ms while every
 * worker was busy. 503 now, without waiting for a worker. */
static void expire(void *item, void *ctx)
{
	struct api_job *j = item;
	const struct api_server *srv = ctx;
	assert(j->queued && !j->answered);
	api_error(&j->q, 503, "unavailable", "no database connection free "
		  "within %u ms; try again", srv->cfg->request_timeout_ms);
	j->q.retry_after = 1;
	resume_answered(j);
}

/* libmicrohttpd's access handler: called first when a request's headers
 * are in, again for any body (ignored), and again after a resume. */
static enum MHD_Result answer(void *cls, struct MHD_Connection *conn,
			      const char *url, const char *method,
			      const char *version, const char *upload_data,
			      size_t *upload_size, void **req_cls)
{
	(void)version; (void)upload_data;
	struct api_server *srv = cls;
	struct api_job *j = *req_cls;
	if (j != NULL) {            /* a body (ignored), or the answer is in */
		*upload_size = 0;
		if (!j->answered || j->responded)
			return MHD_YES;
		return respond(j);
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return MHD_NO;
	__atomic_add_fetch(&srv->jobs_open, 1, __ATOMIC_RELAXED);
	*req_cls = j;
	j->t0 = now_us();
	j->conn = conn;
	j->method = method_label(method);
	j->q = (struct api_req){ .srv = srv, .route = R_NONE };
	if (dispatch(j, conn, url, method)) {
		if (api_workq_push(srv->workq, j, suspend))
			return MHD_YES;
		api_error(&j->q, 503, "unavailable", srv->stopping ? "shutting "
			  "down" : "too many requests waiting; try again");
		j->q.retry_after = 1;
	}
	explicit_bzero(j->token, sizeof(j->token));
	j->answered = true;
	return respond(j);
}

/* The end of a request, answered or not (the client gone, the server
 * stopping): its memory. A queued request is never here before its
 * worker resumed it (suspended connections are not closed, and the
 * workers are stopped before the daemon). An answer the daemon's stop cut
 * off is logged: api_server_stop waits for them to be written. */
static void completed(void *cls, struct MHD_Connection *conn, void **req_cls,
		      enum MHD_RequestTerminationCode why)
{
	(void)conn;
	struct api_server *srv = cls;
	struct api_job *j = *req_cls;
	if (j == NULL)
		return;
	__atomic_sub_fetch(&srv->jobs_open, 1, __ATOMIC_RELEASE);
	assert(!j->queued || j->answered);
	if (j->answered && why == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN)
		BS_WARN("stopping: an answer (%s %d) was not written out before "
			"the server stopped", api_route_label(j->q.route), j->q.status);
	explicit_bzero(j->token, sizeof(j->token));
	free(j->q.body);
	free(j);
	*req_cls = NULL;
}

static int read_file(const char *path, char **out, char *err, size_t err_size)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(err, err_size, "%s: cannot open", path);
		return -1;
	}
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char chunk[4096];
	size_t n;
	while (m != NULL && (n = fread(chunk, 1, sizeof(chunk), f)) > 0 && len < (1u << 20))
		fwrite(chunk, 1, n, m);
	bool bad = ferror(f) || m == NULL;
	fclose(f);
	if (m != NULL)
		fclose(m);
	if (bad || len == 0 || len >= (1u << 20)) {
		free(buf);
		snprintf(err, err_size, "%s: unreadable, empty or over 1 MiB", path);
		return -1;
	}
	*out = buf;
	return 0;
}

int api_server_start(struct api_server *srv, uint16_t *port, char *err,
		     size_t err_size)
{
	const struct api_config *cfg = srv->cfg;
	char host[128];
	const char *colon = strrchr(cfg->listen, ':');
	assert(colon != NULL);
	size_t hl = (size_t)(colon - cfg->listen);
	if (hl >= sizeof(host)) {
		snprintf(err, err_size, "listen '%s': address too long", cfg->listen);
		return -1;
	}
	memcpy(host, cfg->listen, hl);
	host[hl] = '\0';
	struct sockaddr_in addr;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
		snprintf(err, err_size, "%s: [api] listen '%s': '%s' is not an IPv4 "
			 "address", cfg->source, cfg->listen, host);
		return -1;
	}
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			 MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
	char *cert = NULL, *key = NULL;
	if (cfg->tls_cert[0] != '\0') {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			snprintf(err, err_size, "TLS configured but this libmicrohttpd "
				 "has no TLS support");
			return -1;
		}
		if (read_file(cfg->tls_cert, &cert, err, err_size) < 0 ||
		    read_file(cfg->tls_key, &key, err, err_size) < 0) {
			free(cert);
			return -1;
		}
		flags |= MHD_USE_TLS;
	}
	unsigned timeout_s = (cfg->request_timeout_ms + 999) / 1000;
	/* one worker per pooled connection; a connection has at most one
	 * request in flight, so max_connections bound the queue */
	srv->workq = api_workq_start(cfg->db_pool_size, cfg->max_connections,
				     work, expire, cfg->request_timeout_ms, srv);
	if (srv->workq == NULL) {
		free(cert);
		free(key);
		snprintf(err, err_size, "cannot start %u database workers",
			 cfg->db_pool_size);
		return -1;
	}
	if (cert != NULL)
		srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, answer, srv,
			MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
			MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->threads,
			MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
			MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
			MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
			MHD_OPTION_NOTIFY_COMPLETED, completed, srv,
			MHD_OPTION_HTTPS_MEM_CERT, cert,
			MHD_OPTION_HTTPS_MEM_KEY, key,
			MHD_OPTION_END);
	else
		srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, answer, srv,
			MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
			MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->threads,
			MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
			MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
			MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
			MHD_OPTION_NOTIFY_COMPLETED, completed, srv,
			MHD_OPTION_END);
	/* libmicrohttpd keeps pointers to the PEM texts: freed at stop */
	srv->tls_cert_pem = cert;
	srv->tls_key_pem = key;
	if (srv->daemon == NULL) {
		api_workq_stop(srv->workq);
		srv->workq = NULL;
		snprintf(err, err_size, "listen %s: cannot start the HTTP server "
			 "(address in use? bad TLS certificate or key?)", cfg->listen);
		return -1;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon,
		MHD_DAEMON_INFO_BIND_PORT);
	*port = info != NULL ? info->port : ntohs(addr.sin_port);
	return 0;
}

void api_server_stop(struct api_server *srv)
{
	assert(srv->stopping);
	/* no new connections; the requests in flight finish, those still
	 * queued get 503 (srv->stopping), and every suspended connection is
	 * resumed before the daemon stops (workq.h) */
	if (srv->daemon != NULL) {
		MHD_socket listener = MHD_quiesce_daemon(srv->daemon);
		if (listener != MHD_INVALID_SOCKET)
			close(listener);
	}
	api_workq_stop(srv->workq);
	srv->workq = NULL;
	/* the answers given written out, and the clients gone (an answer
	 * given while stopping says Connection: close), before the daemon
	 * closes what is left: at most 5 s */
	for (int i = 0; i < 500 && srv->daemon != NULL; i++) {
		const union MHD_DaemonInfo *open = MHD_get_daemon_info(srv->daemon,
			MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (__atomic_load_n(&srv->jobs_open, __ATOMIC_ACQUIRE) == 0 &&
		    (open == NULL || open->num_connections == 0))
			break;
		struct timespec tick = { 0, 10 * 1000 * 1000 };
		nanosleep(&tick, NULL);
	}
	if (srv->daemon != NULL)
		MHD_stop_daemon(srv->daemon);
	srv->daemon = NULL;
	if (srv->tls_key_pem != NULL)
		explicit_bzero(srv->tls_key_pem, strlen(srv->tls_key_pem));
	free(srv->tls_key_pem);
	free(srv->tls_cert_pem);
	srv->tls_key_pem = srv->tls_cert_pem = NULL;
}
