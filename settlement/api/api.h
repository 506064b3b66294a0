/*
 * api.h — bandsplit-api's insides shared by the server (server.c: HTTP,
 * tokens, rate limit, transaction, errors, access log) and the endpoint
 * handlers (handlers.c: parameterised SQL, documents).
 *
 * A request goes: route and method → token shape (401) → query parameters
 * (400) → the queue of the database workers (workq.h; 503 after
 * request_timeout_ms), a worker's pooled connection → BEGIN
 * ISOLATION LEVEL REPEATABLE READ and bs_api_auth_open's token check in
 * one round trip (401; it sets the transaction's token for row-level
 * security, and makes the transaction READ ONLY) → the tenant's rate
 * (429) → the handler → COMMIT (sent with the handler's last statement
 * where it has one) → the connection back (rolled back / reset when
 * anything failed).
 */
#ifndef BS_API_API_H
#define BS_API_API_H

#include "api_metrics.h"
#include "cache.h"
#include "config.h"
#include "params.h"
#include "pool.h"
#include "ratelimit.h"
#include "routes.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <libpq-fe.h>

struct api_server {
	const struct api_config *cfg;
	struct api_pool *pool;
	struct api_cache *cache;
	struct api_ratelimit *rate;
	struct api_metrics metrics;
	FILE *access_log;           /* NULL: off */
	pthread_mutex_t log_lock;
	volatile int stopping;
	struct MHD_Daemon *daemon;
	struct api_workq *workq;    /* requests waiting for the database */
	unsigned jobs_open;         /* requests begun and not completed (atomic) */
	char *tls_cert_pem, *tls_key_pem;
	/* /v1/usage (handlers.c): the last compacted UTC day (days since
	 * 1970-01-01; -1: none) as of the monotonic second checked_at (0:
	 * never). Atomic. A range that starts after it has no compacted day
	 * (compaction goes forward): its rows alone are read. Stale is safe:
	 * a day compacted since is read as rows, as before its compaction. */
	int64_t usage_day_last;
	int64_t usage_day_checked_at;
};

/* Starts the HTTP server on cfg->listen (*port: the port bound). 0 or -1
 * with err set. */
int api_server_start(struct api_server *srv, uint16_t *port, char *err,
		     size_t err_size);
void api_server_stop(struct api_server *srv);

/* The parsed query and path parameters of a request. */
struct api_args {
	bool has_from, has_to, has_step, has_direction, has_allocation, has_period;
	int64_t from, to;           /* epoch seconds */
	int step;                   /* seconds */
	enum api_direction direction;
	int64_t allocation;
	char period[8];             /* "YYYY-MM" (path or ?period=) */
	const char *number;         /* the invoice number of the path */
	enum api_format format;
	enum api_lang lang;
	bool gzip;                  /* Accept-Encoding takes gzip */
};

/* One request being answered. */
struct api_req {
	struct api_server *srv;
	enum api_route route;
	struct api_args args;
	PGconn *db;
	int64_t tenant;             /* 0 until authenticated */
	/* the response */
	int status;
	char *body;                 /* malloc'd */
	size_t len;
	const char *content_type;
	char filename[64];          /* Content-Disposition when set */
	unsigned retry_after;       /* 429 */
	bool cache_hit;
	bool gzip;                  /* the body is gzip (Content-Encoding) */
	bool committed;             /* the handler sent COMMIT (api_run_last) */
};

/* Sets an error response {"error":{"code","message"}}; returns status. */
int api_error(struct api_req *q, int status, const char *code,
	      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Sets a 200 response taking body (malloc'd). Returns 200. */
int api_ok(struct api_req *q, char *body, size_t len, const char *content_type);

/* The endpoint handlers: inside the request's read-only transaction, for
 * q->tenant. Each sets the response and returns its status. */
int api_h_usage(struct api_req *q);
int api_h_statement(struct api_req *q);
int api_h_invoices(struct api_req *q);
int api_h_invoice(struct api_req *q);
int api_h_notes(struct api_req *q);
int api_h_allocations(struct api_req *q);

/* Session set-up of every pooled connection: time zone, timeouts,
 * prepared statements. ctx is the struct api_config. */
int api_db_setup(PGconn *conn, void *ctx, char *err, size_t err_size);

#endif
