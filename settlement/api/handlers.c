/*
 * handlers.c — bandsplit-api's endpoints. Each runs inside the request's
 * read-only transaction, on a connection of the role bandsplit_api whose
 * rows row-level security already limits to the token's tenant; every
 * query also names the tenant itself (tenant_id = $1), so that a mistake
 * in one of the two still shows nothing of another tenant. Only prepared
 * statements with parameters (api_db_setup prepares them on every pooled
 * connection); PostgreSQL builds the JSON and CSV text, so a response is
 * one round trip and no row is copied twice.
 */
#include "api.h"

#include "api_auth.h"
#include "db.h"
#include "docfmt.h"
#include "gzip.h"
#include "invoice_doc.h"
#include "log.h"
#include "statement.h"
#include "usage_set.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum stmt {
	S_USAGE, S_USAGE_5M, S_USAGE_ROWS, S_USAGE_ROWS_5M, S_USAGE_LAST,
	S_ALLOC_OWNED,
	S_INVOICES_JSON, S_INVOICES_CSV,
	S_INVOICE_JSON, S_INVOICE_OWNED,
	S_ALLOCS_JSON, S_ALLOCS_CSV,
	S_STMT_VERSION,
	S_GENERIC, S_COMMIT,
	S_COUNT
};

/* The tenant's (pool, direction) pairs, by a skip scan of the primary key
 * (tenant_id, pool_id, direction, bucket_start): each pair's rows are then
 * one index range, whatever the other tenants' rows. $1 tenant. It starts
 * from (-1, ''), before any pair (pool_id >= 0), which has no rows: one
 * reference to usage_5m fewer (each costs a call of bs_api_tenant(), row
 * security's, ~40 us); and only when some day is to be read as rows (span,
 * below), else not at all. */
#define USAGE_PAIRS(gate) \
	"pd AS (SELECT -1::bigint AS pool_id, ''::text COLLATE \"C\" AS direction " \
	gate \
	"      UNION ALL " \
	"      SELECT n.pool_id, n.direction FROM pd, LATERAL (SELECT pool_id, direction " \
	"        FROM public.usage_5m WHERE tenant_id = $1::bigint " \
	"         AND (pool_id, direction) > (pd.pool_id, pd.direction) " \
	"        ORDER BY pool_id, direction LIMIT 1) n) "

/* The caller's rows of usage_5m in [lo, hi) (SQL expressions), u: the
 * direction and the allocation's validity (per bucket) checked. (step:
 * only so that every usage statement declares $4, used or not.) */
#define USAGE_ROWS(lo, hi) \
	"u AS (SELECT x.*, $4::int AS step FROM pd JOIN LATERAL (SELECT * FROM public.usage_5m z " \
	"        WHERE z.tenant_id = $1::bigint AND z.pool_id = pd.pool_id " \
	"          AND z.direction = pd.direction " \
	"          AND z.bucket_start >= to_timestamp(" lo ") " \
	"          AND z.bucket_start < to_timestamp(" hi ")) x ON true " \
	"     WHERE ($5::text IS NULL OR pd.direction = $5::text) " \
	"       AND ($6::bigint IS NULL OR EXISTS (SELECT 1 FROM a " \
	"            WHERE a.pool_id = x.pool_id AND a.valid @> x.bucket_start))) "

#define USAGE_ALLOC \
	"WITH RECURSIVE a AS (SELECT pool_id, valid FROM public.allocation " \
	"            WHERE alloc_id = $6::bigint AND tenant_id = $1::bigint), "

/* The caller's usage over [from, to): one statement, in one snapshot, that
 * reads each UTC day of the range either from usage_5m's rows or from
 * usage_day (compacted and clean: a run of buckets per (pool, direction),
 * sliced to the range), assembled by usage_set.c (usage_answer).
 * usage_day_state says which days are clean in the same snapshot as the
 * rows: a late write to a compacted day marks it dirty in the writer's
 * transaction (0029), so a snapshot that sees the write reads that day's
 * rows. The rows are read in one range per (pool, direction), from the
 * first day that is not clean to the last (span: a clean day between two
 * others is read as rows too, rare: a dirty day between clean ones), the
 * clean days before and after it as runs. With an allocation filter every
 * day is read as rows (its validity is checked per bucket).
 * $1 tenant, $2 from, $3 to (epoch s, 5-minute boundaries), $4 step (s),
 * $5 direction or NULL, $6 allocation or NULL, $7 row cap + 1.
 * Columns: t (a row's bucket or bin start; a run's first bucket), pool_id,
 * direction, the four measures (and buckets, S_USAGE), NULL for a run;
 * then the run's measures, NULL for a row. */
#define USAGE_SPAN \
	USAGE_ALLOC \
	"span AS (SELECT min(n) AS lo_n, max(n) AS hi_n, " \
	"                min(greatest($2::bigint, n::bigint * 86400)) AS lo, " \
	"                max(least($3::bigint, (n::bigint + 1) * 86400)) AS hi " \
	"           FROM generate_series(($2::bigint / 86400)::int, " \
	"                                (($3::bigint - 1) / 86400)::int) n " \
	"          WHERE $6::bigint IS NOT NULL OR NOT EXISTS (SELECT FROM public.usage_day_state s " \
	"                  WHERE s.day = date '1970-01-01' + n AND NOT s.dirty)), " \
	USAGE_PAIRS("        WHERE (SELECT lo FROM span) IS NOT NULL ") ", " \
	USAGE_ROWS("(SELECT lo FROM span)", "(SELECT hi FROM span)")

/* The same without usage_day: every day of [from, to) read as rows (a
 * range after the last compacted day: usage_answer). */
#define USAGE_ALL_ROWS \
	USAGE_ALLOC USAGE_PAIRS("") ", " USAGE_ROWS("$2::bigint", "$3::bigint")

/* The clean days' runs outside the span: the buckets of [from, to) of
 * each, the four measures' slices one after the other in one bytea (a
 * column for the runs alone: each row sends it as a NULL). After the NULL
 * measures (and buckets) of S_USAGE's or S_USAGE_5M's rows. OFFSET 0
 * keeps each day's read a probe of usage_day's key (day, tenant) under
 * the generic plan, which otherwise may hash-join a scan of the tenant's
 * every day. */
#define USAGE_RUNS(nulls) \
	" UNION ALL " \
	"SELECT c.t0 + 300 * w.i0, d.pool_id, d.direction, " nulls \
	"       substring(d.frame_bytes FROM 8 * w.i0 + 1 FOR 8 * (w.i1 - w.i0)) " \
	"       || substring(d.ip_bytes FROM 8 * w.i0 + 1 FOR 8 * (w.i1 - w.i0)) " \
	"       || substring(d.frame_packets FROM 8 * w.i0 + 1 FOR 8 * (w.i1 - w.i0)) " \
	"       || substring(d.ip_packets FROM 8 * w.i0 + 1 FOR 8 * (w.i1 - w.i0)) " \
	"  FROM (SELECT s.day, (s.day - date '1970-01-01')::bigint * 86400 AS t0 " \
	"          FROM public.usage_day_state s, span " \
	"         WHERE s.day >= date '1970-01-01' + ($2::bigint / 86400)::int " \
	"           AND s.day <= date '1970-01-01' + (($3::bigint - 1) / 86400)::int " \
	"           AND NOT s.dirty AND $6::bigint IS NULL " \
	"           AND (span.lo_n IS NULL OR s.day < date '1970-01-01' + span.lo_n " \
	"                OR s.day > date '1970-01-01' + span.hi_n)) c " \
	"  CROSS JOIN LATERAL (SELECT " \
	"         greatest(0, ($2::bigint - c.t0) / 300)::int AS i0, " \
	"         least(288, ($3::bigint - c.t0) / 300)::int AS i1) w " \
	"  CROSS JOIN LATERAL (SELECT * FROM public.usage_day d " \
	"        WHERE d.day = c.day AND d.tenant_id = $1::bigint " \
	"          AND ($5::text IS NULL OR d.direction = $5::text) OFFSET 0) d " \
	" LIMIT $7::bigint"
#define NULL_MEASURES "NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, "

/* The rows' columns: binned by step from `from` (S_USAGE*), or as they
 * are (S_USAGE_5M*, no buckets column: a row is one bucket). */
#define USAGE_BINNED \
	"SELECT extract(epoch FROM date_bin(make_interval(secs => $4::int), u.bucket_start, " \
	"                 to_timestamp($2::bigint)))::bigint, u.pool_id, u.direction, " \
	"       sum(u.frame_bytes)::bigint, sum(u.ip_bytes)::bigint, " \
	"       sum(u.frame_packets)::bigint, sum(u.ip_packets)::bigint, count(*)"
#define USAGE_5M_ROWS \
	"SELECT date_part('epoch', u.bucket_start)::bigint, u.pool_id, u.direction, " \
	"       u.frame_bytes, u.ip_bytes, u.frame_packets, u.ip_packets"

/* The caller's invoices or notes of a period (or all), as the JSON and CSV
 * forms of /v1/invoices and /v1/notes both list them:
 * $1 tenant, $2 period 'YYYY-MM' or NULL, $3 notes (bool), $4 cap + 1 */
#define INVOICES_CTE \
	"WITH s AS (SELECT i.number, i.kind, o.number AS original," \
	"       to_char(i.period, 'YYYY-MM') AS period, i.issue_date, i.due_date," \
	"       i.currency, public.bs_yuan(i.subtotal_fen) AS subtotal," \
	"       public.bs_yuan(i.vat_fen) AS vat, public.bs_yuan(i.total_fen) AS total" \
	"  FROM public.invoice i LEFT JOIN public.invoice o ON o.invoice_id = i.original_id" \
	" WHERE i.tenant_id = $1::bigint" \
	"   AND ($2::text IS NULL OR i.period = ($2::text || '-01')::date)" \
	"   AND (i.kind <> 'invoice') = $3::bool" \
	" ORDER BY i.period, i.number LIMIT $4::bigint) "

static const char *const sql[S_COUNT] = {
	/* rows and runs, assembled and formatted in C (usage_answer: to_char
	 * and json_build_object per row cost more than the query itself: see
	 * README, Performance (tenant API)) */
	[S_USAGE] = USAGE_SPAN USAGE_BINNED ", NULL::bytea FROM u GROUP BY 1, 2, 3"
	USAGE_RUNS(NULL_MEASURES "NULL::bigint, "),
	[S_USAGE_ROWS] = USAGE_ALL_ROWS USAGE_BINNED
	" FROM u GROUP BY 1, 2, 3 LIMIT $7::bigint",
	/* step=5m: each sample is one row of usage_5m (the primary key makes
	 * (bucket, pool, direction) unique and buckets are on 5-minute
	 * boundaries, as `from` is): the rows themselves, without date_bin,
	 * sums and grouping; no buckets column (1 for a row). In no order:
	 * usage_answer sorts. */
	[S_USAGE_5M] = USAGE_SPAN USAGE_5M_ROWS ", NULL::bytea FROM u"
	USAGE_RUNS(NULL_MEASURES),
	[S_USAGE_ROWS_5M] = USAGE_ALL_ROWS USAGE_5M_ROWS " FROM u LIMIT $7::bigint",
	/* the last compacted day (days since 1970-01-01), -1 for none */
	[S_USAGE_LAST] =
	"SELECT coalesce(max(day) - date '1970-01-01', -1) FROM public.usage_day_state",
	[S_ALLOC_OWNED] =
	"SELECT 1 FROM public.allocation WHERE alloc_id = $2::bigint "
	"   AND tenant_id = $1::bigint",

	/* $1 tenant, $2 period 'YYYY-MM' or NULL, $3 notes (bool), $4 cap + 1 */
	[S_INVOICES_JSON] =
	INVOICES_CTE
	"SELECT count(*), json_build_object(CASE WHEN $3::bool THEN 'notes' ELSE 'invoices' END,"
	"  coalesce(json_agg(json_strip_nulls(row_to_json(s)) ORDER BY period, number),"
	"           '[]'::json))::text FROM s",
	[S_INVOICES_CSV] =
	INVOICES_CTE
	"SELECT count(*), 'number,kind,original,period,issue_date,due_date,currency,"
	"subtotal,vat,total' || E'\\n' || coalesce(string_agg(concat_ws(',', number,"
	"  kind, original, period, issue_date, due_date, currency, subtotal, vat,"
	"  total) || E'\\n', '' ORDER BY period, number), '') FROM s",

	/* $1 tenant, $2 number */
	[S_INVOICE_JSON] =
	"SELECT json_strip_nulls(json_build_object('number', i.number, 'kind', i.kind,"
	"  'original', o.number, 'period', to_char(i.period, 'YYYY-MM'),"
	"  'period_start', public.bs_iso(i.period_start),"
	"  'period_end', public.bs_iso(i.period_end),"
	"  'issue_date', i.issue_date, 'due_date', i.due_date, 'currency', i.currency,"
	"  'seller', json_build_object('name', i.seller_name, 'tax_id', i.seller_tax_id,"
	"     'address', i.seller_address, 'bank', i.seller_bank),"
	"  'buyer', json_build_object('name', i.buyer_name, 'tax_id', i.buyer_tax_id,"
	"     'address', i.buyer_address, 'bank', i.buyer_bank),"
	"  'subtotal', public.bs_yuan(i.subtotal_fen), 'vat', public.bs_yuan(i.vat_fen),"
	"  'total', public.bs_yuan(i.total_fen),"
	"  'lines', (SELECT coalesce(json_agg(json_build_object('line', l.line_no,"
	"       'segment', l.segment_no, 'allocation', l.alloc_id, 'pool_id', l.pool_id,"
	"       'plan_id', l.plan_id, 'plan_version', l.plan_version,"
	"       'charge', l.charge, 'description', l.description,"
	"       'window_start', public.bs_iso(l.window_start),"
	"       'window_end', public.bs_iso(l.window_end),"
	"       'direction', l.direction, 'byte_measure', l.byte_measure,"
	"       'buckets', l.buckets, 'gaps', l.gaps, 'billed_bytes', l.billed_bytes,"
	"       'bytes_in', l.bytes_in, 'bytes_out', l.bytes_out,"
	"       'quantity', l.quantity::text, 'unit_price', public.bs_yuan(l.unit_price_fen),"
	"       'amount', public.bs_yuan(l.amount_fen), 'vat_rate_bp', l.vat_bp)"
	"       ORDER BY l.line_no), '[]'::json)"
	"     FROM public.invoice_line l WHERE l.invoice_id = i.invoice_id),"
	"  'vat_rates', (SELECT coalesce(json_agg(json_build_object('rate_bp', v.vat_bp,"
	"       'base', public.bs_yuan(v.base_fen), 'vat', public.bs_yuan(v.vat_fen))"
	"       ORDER BY v.vat_bp), '[]'::json)"
	"     FROM public.invoice_vat v WHERE v.invoice_id = i.invoice_id)))::text"
	"  FROM public.invoice i LEFT JOIN public.invoice o ON o.invoice_id = i.original_id"
	" WHERE i.number = $2::text AND i.tenant_id = $1::bigint",
	[S_INVOICE_OWNED] =
	"SELECT 1 FROM public.invoice WHERE number = $2::text AND tenant_id = $1::bigint",

	/* $1 tenant, $2 cap + 1 */
	[S_ALLOCS_JSON] =
	"WITH s AS (SELECT a.alloc_id AS id, a.pool_id, a.pool_name, a.plan_id,"
	"       a.plan_name AS plan, a.plan_kind, a.plan_currency AS currency,"
	"       a.committed_bps, a.burst_bps,"
	"       public.bs_mbps(a.committed_bps) AS committed_mbps,"
	"       public.bs_mbps(a.burst_bps) AS burst_mbps,"
	"       public.bs_iso(a.valid_from) AS valid_from,"
	"       public.bs_iso(a.valid_to) AS valid_to"
	"  FROM public.api_allocation a"
	" WHERE a.tenant_id = $1::bigint ORDER BY a.alloc_id LIMIT $2::bigint) "
	"SELECT count(*), json_build_object('allocations', coalesce(json_agg("
	"  row_to_json(s) ORDER BY id), '[]'::json))::text FROM s",
	[S_ALLOCS_CSV] =
	"WITH s AS (SELECT a.alloc_id AS id, a.pool_id, a.pool_name, a.plan_id,"
	"       a.plan_name AS plan, a.plan_kind, a.plan_currency AS currency,"
	"       a.committed_bps, a.burst_bps,"
	"       public.bs_iso(a.valid_from) AS valid_from,"
	"       public.bs_iso(a.valid_to) AS valid_to"
	"  FROM public.api_allocation a"
	" WHERE a.tenant_id = $1::bigint ORDER BY a.alloc_id LIMIT $2::bigint) "
	"SELECT count(*), 'id,pool_id,pool_name,plan_id,plan,plan_kind,currency,"
	"committed_bps,burst_bps,valid_from,valid_to' || E'\\n' || coalesce(string_agg("
	"  concat_ws(',', id, pool_id, '\"' || replace(pool_name, '\"', '\"\"') || '\"',"
	"  plan_id, '\"' || replace(plan, '\"', '\"\"') || '\"', plan_kind, currency,"
	"  committed_bps, burst_bps, valid_from, valid_to) || E'\\n', '' ORDER BY id), '')"
	"  FROM s",

	/* $1 tenant, $2 period: the tenant's latest document of a closed
	 * period (NULL while not closed for it) */
	[S_STMT_VERSION] =
	"SELECT max(invoice_id) FROM public.invoice WHERE tenant_id = $1::bigint"
	"   AND period = ($2::text || '-01')::date",

	/* run_last's: the transaction's next statements run their generic
	 * plans; the end of the transaction (prepared: not parsed each time) */
	[S_GENERIC] =
	"SELECT pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true)",
	[S_COMMIT] = "COMMIT",
};

static const char *const stmt_names[S_COUNT] = {
	"api_usage", "api_usage_5m", "api_usage_rows", "api_usage_rows_5m",
	"api_last_compacted_day", "api_alloc_owned",
	"api_invoices_json", "api_invoices_csv",
	"api_invoice_json", "api_invoice_owned",
	"api_allocs_json", "api_allocs_csv",
	"api_stmt_version",
	"api_generic", "api_commit",
};

int api_db_setup(PGconn *conn, void *ctx, char *err, size_t err_size)
{
	const struct api_config *cfg = ctx;
	char timeout[16], idle[16];
	snprintf(timeout, sizeof(timeout), "%u", cfg->statement_timeout_ms);
	snprintf(idle, sizeof(idle), "%u", cfg->request_timeout_ms);
	const char *params[] = { timeout, cfg->time_zone, idle };
	if (bs_db_exec(conn, "session settings",
		       "SELECT set_config('statement_timeout', $1, false),"
		       "       set_config('TimeZone', $2, false),"
		       "       set_config('idle_in_transaction_session_timeout', $3, false)",
		       3, params, err, err_size) < 0)
		return -1;
	if (bs_api_auth_prepare(conn, err, err_size) < 0)
		return -1;
	for (int i = 0; i < S_COUNT; i++) {
		PGresult *r = PQprepare(conn, stmt_names[i], sql[i], 0, NULL);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			char what[64];
			snprintf(what, sizeof(what), "prepare %s", stmt_names[i]);
			bs_db_format_error(conn, r, what, err, err_size);
			PQclear(r);
			return -1;
		}
		PQclear(r);
	}
	return 0;
}

/* The failure of statement s (result r, NULL when the connection failed)
 * as run() answers it: 503 for statement_timeout, else 500; logged. */
static void failed(struct api_req *q, enum stmt s, const PGresult *r)
{
	char err[BS_DB_ERR_MAX];
	bs_db_format_error(q->db, r, stmt_names[s], err, sizeof(err));
	if (strcmp(r != NULL ? bs_db_sqlstate(r) : "", "57014") == 0) {
		BS_WARN("tenant %" PRId64 ": %s", q->tenant, err);
		api_error(q, 503, "timeout", "the query took longer than the "
			  "server allows; ask for less");
	} else {
		BS_ERROR("tenant %" PRId64 ": %s", q->tenant, err);
		api_error(q, 500, "internal", "the server failed; it has been "
			  "logged");
	}
}

/* Runs a prepared statement; NULL (logged, the response set to 500) on
 * failure. */
static PGresult *run(struct api_req *q, enum stmt s, int n,
		     const char *const *params)
{
	assert(s < S_COUNT);
	PGresult *r = PQexecPrepared(q->db, stmt_names[s], n, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		return r;
	failed(q, s, r);
	PQclear(r);
	return NULL;
}

/* The next result of a pipeline, and the NULL that ends it. */
static PGresult *next_result(PGconn *conn)
{
	PGresult *r = PQgetResult(conn), *end;
	if (r != NULL)
		while ((end = PQgetResult(conn)) != NULL)
			PQclear(end);
	return r;
}

/* A handler's last statement and the COMMIT in one round trip (libpq
 * pipeline mode, one Sync), preceded when generic is set by
 * SET LOCAL plan_cache_mode = force_generic_plan (in the same round trip:
 * the statement then runs its generic plan, not one planned for these
 * parameters: see README, Performance (tenant API)). Returns the
 * statement's rows as run() does; on success the transaction is committed
 * (q->committed), on a failure (NULL, the response set) it is aborted and
 * rolled back when the connection is given back. */
static PGresult *run_last(struct api_req *q, enum stmt s, int n,
			  const char *const *params, bool generic)
{
	assert(s < S_COUNT);
	PGconn *c = q->db;
	PGresult *r = NULL, *set = NULL, *commit = NULL;
	if (PQenterPipelineMode(c) != 1)
		goto fail;
	bool sent = (!generic || PQsendQueryPrepared(c, stmt_names[S_GENERIC],
			0, NULL, NULL, NULL, 0) == 1) &&
		PQsendQueryPrepared(c, stmt_names[s], n, params, NULL, NULL, 0) == 1 &&
		PQsendQueryPrepared(c, stmt_names[S_COMMIT], 0, NULL, NULL, NULL, 0) == 1 &&
		PQpipelineSync(c) == 1;
	if (sent) {
		if (generic)
			set = next_result(c);
		r = next_result(c);
		commit = next_result(c);
	}
	/* up to the Sync, then out of pipeline mode (when not all was sent,
	 * or the connection is lost, it stays in pipeline mode, fails the
	 * ROLLBACK when given back and is reset: pool.c) */
	if (!sent || !bs_db_pipeline_end(c))
		goto fail;
	if (generic && PQresultStatus(set) != PGRES_TUPLES_OK) {
		failed(q, s, set);
		goto out;
	}
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		failed(q, s, r);
		goto out;
	}
	if (PQresultStatus(commit) != PGRES_COMMAND_OK) {
		char err[BS_DB_ERR_MAX];
		bs_db_format_error(c, commit, "commit", err, sizeof(err));
		BS_ERROR("%s", err);
		api_error(q, 500, "internal", "the server failed; it has been logged");
		goto out;
	}
	q->committed = true;
	PQclear(set);
	PQclear(commit);
	return r;
fail:
	failed(q, s, NULL);
out:
	PQclear(set);
	PQclear(r);
	PQclear(commit);
	return NULL;
}

/* A (count, text) answer: 413 when count exceeds the cap, else 200 with
 * the text. */
static int counted(struct api_req *q, PGresult *r, const char *what)
{
	uint32_t cap = q->srv->cfg->max_rows;
	long long n = atoll(PQgetvalue(r, 0, 0));
	if (n > (long long)cap) {
		PQclear(r);
		return api_error(q, 413, "too_many_rows", "more than max_rows (%u) "
				 "%s; ask for a shorter range or a longer step",
				 cap, what);
	}
	char *body = strdup(PQgetvalue(r, 0, 1));
	size_t len = (size_t)PQgetlength(r, 0, 1);
	PQclear(r);
	if (body == NULL)
		return api_error(q, 500, "internal", "out of memory");
	return api_ok(q, body, len, api_format_media_type(q->args.format));
}

/* An instant as the API shows it: RFC 3339 local time with the given UTC
 * offset (seconds) of the park's zone (TZ, the same zone as the sessions'
 * TimeZone), "2026-11-12T00:00:00+08:00". Returns its length (25 for years
 * 0-9999). */
static size_t iso_at(int64_t epoch, int32_t offset, char out[32])
{
	struct bs_doc_civil c;
	bs_doc_civil(epoch, offset, &c);
	long off = offset;
	char sign = off < 0 ? '-' : '+';
	if (off < 0)
		off = -off;
	if (c.year < 0 || c.year > 9999 || off / 3600 > 99)
		return (size_t)snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld",
					(int)c.year, (int)c.month, (int)c.day, (int)c.hour,
					(int)c.minute, (int)c.second, sign, off / 3600,
					off / 60 % 60);
	/* the same characters as that snprintf, without its cost (once per
	 * sample time of a response) */
	const int v[] = { c.year / 100, c.year % 100, c.month, c.day, c.hour,
			  c.minute, c.second, (int)(off / 3600), (int)(off / 60 % 60) };
	const char sep[] = { 0, '-', '-', 'T', ':', ':', 0, ':', 0 };
	char *o = out;
	for (int i = 0; i < 9; i++) {
		if (i == 7)
			*o++ = sign;
		*o++ = (char)('0' + v[i] / 10);
		*o++ = (char)('0' + v[i] % 10);
		if (sep[i])
			*o++ = sep[i];
	}
	*o = '\0';
	return (size_t)(o - out);
}

static char *put(char *o, const char *s, size_t n)
{
	memcpy(o, s, n);
	return o + n;
}
#define PUT(o, lit) put((o), (lit), sizeof(lit) - 1)

/* A decimal integer (docfmt's, two digits a division); returns the end. */
static char *put_i64(char *o, int64_t v)
{
	return o + bs_doc_i64_raw(o, v);
}

/* A decimal int8 as PostgreSQL writes it; -1 when it is not one. */
static int parse_i64(const char *s, int len, int64_t *out)
{
	bool neg = len > 0 && s[0] == '-';
	int i = neg;
	if (len <= i || len - i > 19)
		return -1;
	uint64_t x = 0;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	if (x > (uint64_t)INT64_MAX)
		return -1;
	*out = neg ? -(int64_t)x : (int64_t)x;
	return 0;
}

static int field_i64(const PGresult *r, int row, int col, int64_t *out)
{
	return parse_i64(PQgetvalue(r, row, col), PQgetlength(r, row, col), out);
}

/* Column numbers of the usage statements' results (text): the measures,
 * then buckets unless the step is 5m (a row is one bucket), then the
 * compacted run unless the statement reads rows only (S_USAGE_ROWS*). */
enum { UC_T, UC_POOL, UC_DIR, UC_V, UC_BUCKETS = UC_V + USAGE_MEASURES };

struct usage_shape {
	const PGresult *r;
	bool buckets;               /* the buckets column is there */
	int run_col;                /* the run's column, or -1 */
};

static struct usage_shape usage_shape_of(const struct api_req *q, const PGresult *r)
{
	struct usage_shape u = { .r = r, .buckets = q->args.step != 300 };
	int rows_only = UC_V + USAGE_MEASURES + u.buckets;
	u.run_col = PQnfields(r) == rows_only + 1 ? rows_only
		  : PQnfields(r) == rows_only ? -1 : -2;
	return u;
}

/* usage_row_values for a row of those results (ctx: its usage_shape). */
static int row_values(void *ctx, int row, int64_t v[USAGE_MEASURES],
		      int64_t *buckets)
{
	const struct usage_shape *u = ctx;
	for (int m = 0; m < USAGE_MEASURES; m++)
		if (field_i64(u->r, row, UC_V + m, &v[m]) < 0)
			return -1;
	*buckets = 1;
	return u->buckets ? field_i64(u->r, row, UC_BUCKETS, buckets) : 0;
}

/* A bytea in PostgreSQL's hex output ("\x..."), at most cap bytes, into
 * out; its length, or -1. */
static int unhex(const char *s, int len, unsigned char *out, int cap)
{
	/* a hex digit's value + 1, 0 for any other byte */
	static const unsigned char val[256] = {
		['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
		['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
		['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15,
		['f'] = 16,
	};
	if (len < 2 || s[0] != '\\' || s[1] != 'x' || len % 2 != 0 ||
	    (len - 2) / 2 > cap)
		return -1;
	const unsigned char *h = (const unsigned char *)s + 2;
	int n = (len - 2) / 2;
	unsigned bad = 0;
	for (int i = 0; i < n; i++) {
		unsigned hi = val[h[2 * i]], lo = val[h[2 * i + 1]];
		bad |= (hi == 0) | (lo == 0);
		out[i] = (unsigned char)((hi - 1) << 4 | (lo - 1));
	}
	return bad ? -1 : n;
}

/* The rows and runs of r, checked, into set: a row by reference (its
 * text is copied to the answer as it is), a run decoded. USAGE_SET_FULL
 * past the set's cap, USAGE_SET_BAD (logged) for what the schema does
 * not allow. */
static int usage_collect(struct api_req *q, const struct usage_shape *u,
			 struct usage_set *set)
{
	const PGresult *r = u->r;
	const int n = PQntuples(r), run_col = u->run_col;
	if (run_col < -1) {
		BS_ERROR("tenant %" PRId64 ": usage: %d columns", q->tenant,
			 PQnfields(r));
		return USAGE_SET_BAD;
	}
	static __thread unsigned char run_bytes[USAGE_MEASURES * 288 * 8];
	for (int i = 0; i < n; i++) {
		const char *dir = PQgetvalue(r, i, UC_DIR);
		int dlen = PQgetlength(r, i, UC_DIR);
		int d = dlen == 2 && memcmp(dir, "in", 2) == 0 ? 0
		      : dlen == 3 && memcmp(dir, "out", 3) == 0 ? 1 : -1;
		bool run = run_col >= 0 && !PQgetisnull(r, i, run_col);
		int64_t t, pool;
		int rc = USAGE_SET_BAD;
		if (d >= 0 && field_i64(r, i, UC_T, &t) == 0 &&
		    field_i64(r, i, UC_POOL, &pool) == 0) {
			if (!run) {
				rc = usage_set_add_row(set, t, pool, d, i);
			} else {
				/* the four measures' slices, each len bytes */
				int all = unhex(PQgetvalue(r, i, run_col),
						PQgetlength(r, i, run_col), run_bytes,
						(int)sizeof(run_bytes));
				int len = all / USAGE_MEASURES;
				const unsigned char *cols[USAGE_MEASURES];
				for (int m = 0; m < USAGE_MEASURES; m++)
					cols[m] = run_bytes + m * len;
				if (all >= 0 && len % 8 == 0 && all == USAGE_MEASURES * len)
					rc = usage_set_add_run(set, t, pool, d, cols,
							       (size_t)len / 8);
			}
		}
		if (rc == USAGE_SET_BAD)
			BS_ERROR("tenant %" PRId64 ": usage: row %d of the answer "
				 "is not a sample (%s)", q->tenant, i,
				 run ? "usage_day" : "usage_5m");
		if (rc != USAGE_SET_OK)
			return rc;
	}
	return USAGE_SET_OK;
}

/* Value k (a measure or buckets) of sample s: its row's text when it is
 * one row's, else the number. */
static char *put_value(char *o, const struct usage_sample *s,
		       const struct usage_shape *u, int k)
{
	if (s->row >= 0 && k == UC_BUCKETS && !u->buckets)
		return PUT(o, "1");
	if (s->row >= 0)
		return put(o, PQgetvalue(u->r, s->row, k),
			   (size_t)PQgetlength(u->r, s->row, k));
	return put_i64(o, k == UC_BUCKETS ? s->buckets : s->v[k - UC_V]);
}

/* The usage rows and runs as JSON or CSV (numbers and 'in'/'out' only:
 * nothing to escape), by (time, pool, direction). 413 over max_rows:
 * PostgreSQL's rows (a compacted day's run counts as one) or the samples.
 * Takes r. The text is written into one buffer of a size known before:
 * no printf per sample (a third of the API's time for a day of samples). */
static int usage_answer(struct api_req *q, PGresult *r)
{
	const struct api_args *a = &q->args;
	const uint32_t max_rows = q->srv->cfg->max_rows;
	/* a sample has at most three parts: one of usage_5m's (summed over
	 * all those days) and one of each of the (at most two) UTC days its
	 * bin overlaps; more than 3 max_rows + 3 parts is more than max_rows
	 * samples */
	const size_t parts = 3 * (size_t)max_rows + 3;
	struct usage_set set;
	if ((uint32_t)PQntuples(r) > max_rows) {
		PQclear(r);
		goto too_many;
	}
	if (usage_set_init(&set, parts, a->from, a->step) < 0) {
		PQclear(r);
		return api_error(q, 500, "internal", "out of memory");
	}
	const struct usage_shape shape = usage_shape_of(q, r);
	int rc = usage_collect(q, &shape, &set);
	long n = rc == USAGE_SET_OK ? usage_set_finish(&set, row_values,
						       (void *)&shape) : rc;
	if (n == USAGE_SET_FULL || n > (long)max_rows) {
		usage_set_free(&set);
		PQclear(r);
		goto too_many;
	}
	if (n < 0) {
		usage_set_free(&set);
		PQclear(r);
		BS_ERROR("tenant %" PRId64 ": usage: the samples do not add up",
			 q->tenant);
		return api_error(q, 500, "internal", "the server failed; it has "
				 "been logged");
	}
	static const char csv_head[] = "start,pool_id,direction,frame_bytes,"
		"ip_bytes,frame_packets,ip_packets,buckets\n";
	/* the JSON of a sample: its text between the values */
	static const char *const jk[] = { "{\"start\":\"", "\",\"pool_id\":",
		",\"direction\":\"", "\",\"frame_bytes\":", ",\"ip_bytes\":",
		",\"frame_packets\":", ",\"ip_packets\":", ",\"buckets\":", "}" };
	size_t jkl[9], jrow = 1;                /* 1: the ',' between samples */
	for (int k = 0; k < 9; k++)
		jrow += jkl[k] = strlen(jk[k]);
	/* the park zone's offsets over [from, to]: a few localtime_r calls
	 * (docfmt.h), then arithmetic for each sample time */
	struct bs_doc_zone zone;
	char zerr[160];
	if (bs_doc_zone_load(&zone, q->srv->cfg->time_zone, a->from, a->to + 1,
			     zerr, sizeof(zerr)) < 0) {
		usage_set_free(&set);
		PQclear(r);
		BS_ERROR("tenant %" PRId64 ": usage: %s", q->tenant, zerr);
		return api_error(q, 500, "internal", "the server failed; it has "
				 "been logged");
	}
	bool csv = a->format == API_FMT_CSV;
	char head[256];
	size_t hlen;
	if (csv) {
		hlen = sizeof(csv_head) - 1;
		memcpy(head, csv_head, hlen);
	} else {
		char from[32], to[32];
		iso_at(a->from, bs_doc_zone_offset(&zone, a->from), from);
		iso_at(a->to, bs_doc_zone_offset(&zone, a->to), to);
		hlen = (size_t)snprintf(head, sizeof(head), "{\"from\":\"%s\",\"to\":"
			"\"%s\",\"step\":\"%s\",\"direction\":\"%s\",\"samples\":[",
			from, to, a->step == 300 ? "5m" : a->step == 3600 ? "1h" : "1d",
			a->direction == API_DIR_IN ? "in"
			: a->direction == API_DIR_OUT ? "out" : "both");
	}
	/* the most a sample takes: the time (31), 'out' (3), the pool and
	 * five values (20 each with a sign, or the row's text) and the JSON
	 * keys or the CSV commas */
	size_t size = hlen + 4;
	for (long j = 0; j < n; j++) {
		size += (csv ? 8 : jrow) + 31 + 3 + 20 + 1;   /* 1: a 5m row's buckets */
		if (set.s[j].row < 0)
			size += 5 * 20;
		else
			for (int k = UC_V; k < UC_BUCKETS + shape.buckets; k++)
				size += (size_t)PQgetlength(r, set.s[j].row, k);
	}
	char *buf = malloc(size);
	if (buf == NULL) {
		usage_set_free(&set);
		PQclear(r);
		return api_error(q, 500, "internal", "out of memory");
	}
	char *o = put(buf, head, hlen), when[32] = "";
	size_t wlen = 0;
	for (long j = 0; j < n; j++) {
		const struct usage_sample *s = &set.s[j];
		/* the samples of one time are consecutive: one conversion each */
		if (j == 0 || s->t != set.s[j - 1].t)
			wlen = iso_at(s->t, bs_doc_zone_offset(&zone, s->t), when);
		const char *dir = s->dir ? "out" : "in";
		size_t dlen = s->dir ? 3 : 2;
		if (csv) {
			o = put(o, when, wlen);
			*o++ = ',';
			o = put_i64(o, s->pool);
			*o++ = ',';
			o = put(o, dir, dlen);
			for (int k = UC_V; k <= UC_BUCKETS; k++) {
				*o++ = ',';
				o = put_value(o, s, &shape, k);
			}
			*o++ = '\n';
			continue;
		}
		if (j > 0)
			*o++ = ',';
		o = put(o, jk[0], jkl[0]);
		o = put(o, when, wlen);
		o = put(o, jk[1], jkl[1]);
		o = put_i64(o, s->pool);
		o = put(o, jk[2], jkl[2]);
		o = put(o, dir, dlen);
		for (int k = UC_V; k <= UC_BUCKETS; k++) {
			o = put(o, jk[3 + k - UC_V], jkl[3 + k - UC_V]);
			o = put_value(o, s, &shape, k);
		}
		o = put(o, jk[8], jkl[8]);
	}
	if (!csv)
		o = PUT(o, "]}\n");
	size_t len = (size_t)(o - buf);
	assert(len <= size);
	usage_set_free(&set);
	PQclear(r);
	return api_ok(q, buf, len, api_format_media_type(a->format));
too_many:
	return api_error(q, 413, "too_many_rows", "more than max_rows (%u) "
			 "samples; ask for a shorter range or a longer step",
			 max_rows);
}

/* Whether a range starting on UTC day first_day comes after the last
 * compacted day, so that it has no compacted day and is read as rows
 * without looking at usage_day (which costs about a tenth more of
 * PostgreSQL's time for a day of rows). The last compacted day is looked
 * up again (in the request's transaction) every usage_day_check_s
 * seconds (0: every request); in between, a day compacted since is read
 * as rows, which are the truth it was compacted from. 0, or -1 with the
 * response set. */
static int usage_after_last_compacted(struct api_req *q, int64_t first_day,
				      bool *after)
{
	struct api_server *srv = q->srv;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t checked = __atomic_load_n(&srv->usage_day_checked_at, __ATOMIC_ACQUIRE);
	if (checked == 0 || now.tv_sec - checked >= (int64_t)srv->cfg->usage_day_check_s) {
		PGresult *r = run(q, S_USAGE_LAST, 0, NULL);
		if (r == NULL)
			return -1;
		int64_t last = -1;
		if (field_i64(r, 0, 0, &last) < 0)
			last = INT64_MAX;       /* unknown: assume any day may be */
		PQclear(r);
		__atomic_store_n(&srv->usage_day_last, last, __ATOMIC_RELAXED);
		__atomic_store_n(&srv->usage_day_checked_at,
				 now.tv_sec > 0 ? now.tv_sec : 1, __ATOMIC_RELEASE);
	}
	*after = first_day > __atomic_load_n(&srv->usage_day_last, __ATOMIC_RELAXED);
	return 0;
}

int api_h_usage(struct api_req *q)
{
	const struct api_args *a = &q->args;
	char tenant[24], from[24], to[24], step[16], alloc[24], cap[16];
	snprintf(tenant, sizeof(tenant), "%" PRId64, q->tenant);
	snprintf(from, sizeof(from), "%" PRId64, a->from);
	snprintf(to, sizeof(to), "%" PRId64, a->to);
	snprintf(step, sizeof(step), "%d", a->step);
	snprintf(alloc, sizeof(alloc), "%" PRId64, a->allocation);
	snprintf(cap, sizeof(cap), "%u", q->srv->cfg->max_rows + 1);
	if (a->has_allocation) {
		const char *p[] = { tenant, alloc };
		PGresult *r = run(q, S_ALLOC_OWNED, 2, p);
		if (r == NULL)
			return q->status;
		int n = PQntuples(r);
		PQclear(r);
		if (n == 0)
			return api_error(q, 404, "not_found", "allocation %" PRId64
					 ": no such allocation of yours", a->allocation);
	}
	const char *dir = a->direction == API_DIR_IN ? "in"
			: a->direction == API_DIR_OUT ? "out" : NULL;
	const char *p[] = { tenant, from, to, step, dir,
			    a->has_allocation ? alloc : NULL, cap };
	bool rows_only = false;
	if (usage_after_last_compacted(q, a->from / 86400, &rows_only) < 0)
		return q->status;
	enum stmt st = a->step == 300 ? (rows_only ? S_USAGE_ROWS_5M : S_USAGE_5M)
		     : (rows_only ? S_USAGE_ROWS : S_USAGE);
	PGresult *r = run_last(q, st, 7, p, true);
	if (r == NULL)
		return q->status;
	return usage_answer(q, r);
}

static int list_documents(struct api_req *q, bool notes)
{
	char tenant[24], cap[16];
	snprintf(tenant, sizeof(tenant), "%" PRId64, q->tenant);
	snprintf(cap, sizeof(cap), "%u", q->srv->cfg->max_rows + 1);
	const char *p[] = { tenant, q->args.has_period ? q->args.period : NULL,
			    notes ? "true" : "false", cap };
	PGresult *r = run(q, q->args.format == API_FMT_CSV ? S_INVOICES_CSV
			  : S_INVOICES_JSON, 4, p);
	if (r == NULL)
		return q->status;
	return counted(q, r, notes ? "notes" : "invoices");
}

int api_h_invoices(struct api_req *q)
{
	return list_documents(q, false);
}

int api_h_notes(struct api_req *q)
{
	return list_documents(q, true);
}

int api_h_allocations(struct api_req *q)
{
	char tenant[24], cap[16];
	snprintf(tenant, sizeof(tenant), "%" PRId64, q->tenant);
	snprintf(cap, sizeof(cap), "%u", q->srv->cfg->max_rows + 1);
	const char *p[] = { tenant, cap };
	PGresult *r = run(q, q->args.format == API_FMT_CSV ? S_ALLOCS_CSV
			  : S_ALLOCS_JSON, 2, p);
	if (r == NULL)
		return q->status;
	return counted(q, r, "allocations");
}

static enum bs_doc_format doc_format(enum api_format f)
{
	switch (f) {
	case API_FMT_CSV: return BS_DOC_CSV;
	case API_FMT_HTML: return BS_DOC_HTML;
	case API_FMT_PDF: return BS_DOC_PDF;
	default: return BS_DOC_JSON;
	}
}

/* A document written by fn into memory: 200, 404 (fn's 1: not the
 * caller's or none), 400 (2) or 500. */
static int document(struct api_req *q, int rc, char *buf, size_t len,
		    const char *err, const char *what)
{
	switch (rc) {
	case 0:
		return api_ok(q, buf, len, api_format_media_type(q->args.format));
	case 1:
		free(buf);
		return api_error(q, 404, "not_found", "%s: not found", what);
	case 2:
		free(buf);
		return api_error(q, 400, "bad_parameter", "%s: %s", what, err);
	default:
		free(buf);
		BS_ERROR("tenant %" PRId64 ": %s: %s", q->tenant, what, err);
		return api_error(q, 500, "internal", "the server failed; it has "
				 "been logged");
	}
}

int api_h_statement(struct api_req *q)
{
	const struct api_args *a = &q->args;
	char tenant[24], what[40];
	snprintf(tenant, sizeof(tenant), "%" PRId64, q->tenant);
	snprintf(what, sizeof(what), "statement %s", a->period);
	const char *p[] = { tenant, a->period };
	PGresult *r = run(q, S_STMT_VERSION, 2, p);
	if (r == NULL)
		return q->status;
	bool closed = !PQgetisnull(r, 0, 0);
	struct api_cache_key key = { .tenant = q->tenant, .format = (int)a->format,
				     .lang = (int)a->lang };
	if (closed)
		key.version = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	memcpy(key.period, a->period, sizeof(key.period));
	snprintf(q->filename, sizeof(q->filename), "statement-%s.%s", a->period,
		 api_format_name(a->format));
	/* a closed statement goes gzip-compressed to a client that takes it
	 * (compressed once, when cached: a month of samples in JSON is about
	 * half a megabyte, a tenth of that compressed); PDF is compressed
	 * already */
	bool gzip = closed && a->gzip && a->format != API_FMT_PDF;
	size_t len = 0;
	char *doc = NULL;
	if (closed) {
		key.encoding = gzip;
		doc = api_cache_get(q->srv->cache, &key, &len);
		if (doc != NULL) {
			q->cache_hit = true;
			q->gzip = gzip;
			return api_ok(q, doc, len, api_format_media_type(a->format));
		}
		key.encoding = 0;
		if (gzip)
			doc = api_cache_get(q->srv->cache, &key, &len);
	}
	if (doc == NULL) {
		char err[512] = "";
		FILE *out = open_memstream(&doc, &len);
		if (out == NULL)
			return api_error(q, 500, "internal", "out of memory");
		int rc = bs_statement_write(q->db, q->tenant, a->period,
					    doc_format(a->format),
					    a->lang == API_LANG_ZH ? BS_LANG_ZH : BS_LANG_EN,
					    out, err, sizeof(err));
		if (fclose(out) != 0 && rc == 0)
			rc = 3;
		if (rc != 0)
			return document(q, rc, doc, len, err, what);
		if (closed)
			api_cache_put(q->srv->cache, &key, doc, len);
	}
	size_t zlen = 0;
	char *z = gzip ? api_gzip(doc, len, &zlen) : NULL;
	if (z != NULL) {
		key.encoding = 1;
		api_cache_put(q->srv->cache, &key, z, zlen);
		free(doc);
		doc = z;
		len = zlen;
		q->gzip = true;
	}
	return api_ok(q, doc, len, api_format_media_type(a->format));
}

int api_h_invoice(struct api_req *q)
{
	const struct api_args *a = &q->args;
	char tenant[24], what[48];
	snprintf(tenant, sizeof(tenant), "%" PRId64, q->tenant);
	snprintf(what, sizeof(what), "invoice %s", a->number);
	const char *p[] = { tenant, a->number };
	if (a->format == API_FMT_JSON) {
		PGresult *r = run(q, S_INVOICE_JSON, 2, p);
		if (r == NULL)
			return q->status;
		if (PQntuples(r) == 0) {
			PQclear(r);
			return api_error(q, 404, "not_found", "%s: not found", what);
		}
		char *body = strdup(PQgetvalue(r, 0, 0));
		size_t len = (size_t)PQgetlength(r, 0, 0);
		PQclear(r);
		if (body == NULL)
			return api_error(q, 500, "internal", "out of memory");
		return api_ok(q, body, len, "application/json");
	}
	/* the document is rendered only for the caller's own number (row
	 * security makes another's invisible to the renderer as well) */
	PGresult *r = run(q, S_INVOICE_OWNED, 2, p);
	if (r == NULL)
		return q->status;
	int n = PQntuples(r);
	PQclear(r);
	if (n == 0)
		return api_error(q, 404, "not_found", "%s: not found", what);
	snprintf(q->filename, sizeof(q->filename), "%s.%s", a->number,
		 api_format_name(a->format));
	char *buf = NULL, err[512] = "";
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	if (out == NULL)
		return api_error(q, 500, "internal", "out of memory");
	int rc = bs_invoice_render(q->db, a->number, doc_format(a->format),
				   a->lang == API_LANG_ZH ? BS_LANG_ZH : BS_LANG_EN,
				   out, err, sizeof(err));
	if (fclose(out) != 0 && rc == 0)
		rc = 3;
	return document(q, rc, buf, len, err, what);
}
