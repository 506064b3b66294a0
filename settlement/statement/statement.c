/*
 * statement.c — a tenant's usage statement (see statement.h).
 *
 * Flow, all reads in the caller's transaction: the park's time zone and
 * measure give the period [start, end); the tenant, its allocations of the
 * period, its documents (invoice + notes + digest stored at close); its
 * samples in one binary query into dense per-pool arrays. Closed period
 * (the tenant has an invoice for it): the segments' figures are the
 * invoice lines'. Open: rated now with rating.c, like the close does.
 * Then each bucket's billable bytes and marks (billed / dropped / gap, by
 * the segment's direction rule and billed rank), the digest per currency,
 * daily volumes, and the chosen format written into one buffer with the
 * hand-written formatters of docfmt.c (no printf per field).
 */
#include "statement.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "copyrows.h"
#include "rating.h"
#include "sampledigest.h"

#define ST_MAX_ALLOCS   1000
#define ST_MAX_LINES    (4 * BS_RATING_MAX_SEGMENTS * 8)
#define ST_MAX_DOCS     16
#define ST_NAME_MAX     200

enum { MARK_BILLED = 1, MARK_DROPPED = 2, MARK_GAP = 4 };

struct st_alloc {
	struct bs_rating_alloc a;
	int64_t plan_id;
	char currency[4];
	char plan_name[ST_NAME_MAX + 1];
	char pool_name[ST_NAME_MAX + 1];
	size_t pool_row;
	int64_t first, n;             /* the buckets it is billed for */
	size_t first_version, n_versions;
	uint8_t *marks;               /* per bucket of [first, first + n) */
	int32_t *seg;                 /* per bucket: index into st->lines */
};

/* An invoice line with its evidence (from invoice_line or rated now). */
struct st_line {
	char currency[4];
	int segment_no;
	int64_t alloc_id, pool_id, plan_id;
	int32_t plan_version;
	char plan_kind[16], charge[12], direction[8];
	int64_t wfrom, wto, window_s, period_s;
	int64_t buckets, gaps, billed_rank, dropped;
	bool has_billed;
	int64_t billed_bucket, billed_bytes, commit_bps, bytes_in, bytes_out;
	char quantity[48];
	int64_t unit_price;           /* -1: none (volume) */
	int64_t amount;
	int32_t vat_bp;
	char description[512];
	enum bs_dir_rule rule;
	bool first_of_segment;
};

struct st_doc {
	char currency[4];
	bool closed;
	char number[32];
	char issue_date[16], due_date[16];
	int64_t subtotal, vat, total;
	char digest_close[BS_DIGEST_HEX_LEN + 1];
	int64_t samples_close;
	char digest_now[BS_DIGEST_HEX_LEN + 1];
	int64_t samples_now;
	char notes[1024];
	struct bs_vat_group groups[16];
	size_t n_groups;
};

struct st {
	PGconn *conn;
	char *err;
	size_t err_size;
	int rc;
	enum bs_doc_lang lang;
	char period[8];               /* "2026-11" */
	char period_date[16];
	int64_t tenant_id;
	char tenant_name[ST_NAME_MAX + 1];
	char time_zone[80];
	char measure[8];
	enum bs_byte_measure bmeasure;
	struct bs_interval period_iv;
	int64_t first_bucket, n_buckets;
	struct bs_doc_zone zone;
	bool closed;
	struct st_alloc *allocs;
	size_t n_allocs;
	int64_t *pools;               /* distinct pool ids, ascending */
	size_t n_pools;
	int64_t *in, *out;            /* [pool_row × n_buckets] */
	uint8_t *present;
	struct bs_plan_version *versions;
	size_t n_versions;
	struct st_line *lines;
	size_t n_lines;
	struct st_doc docs[ST_MAX_DOCS];
	size_t n_docs;
	struct bs_buf b;
	char generated[40];
};

/* BS_STATEMENT_TIMING=1: each phase's wall time on stderr. */
static void phase(const char *name)
{
	static struct timespec last;
	static int on = -1;
	if (on < 0)
		on = getenv("BS_STATEMENT_TIMING") != NULL;
	if (!on)
		return;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (name)
		fprintf(stderr, "statement: %-10s %8.2f ms\n", name,
			(double)(now.tv_sec - last.tv_sec) * 1e3 +
			(double)(now.tv_nsec - last.tv_nsec) / 1e6);
	last = now;
}

static int fail(struct st *s, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct st *s, int rc, const char *fmt, ...)
{
	if (s->rc == 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(s->err, s->err_size, fmt, ap);
		va_end(ap);
		s->rc = rc;
	}
	return s->rc;
}

static PGresult *query(struct st *s, const char *what, const char *sql,
		       int n, const char *const *params, int binary)
{
	if (s->rc != 0)
		return NULL;
	PGresult *res = PQexecParams(s->conn, sql, n, NULL, params, NULL, NULL,
				     binary);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fail(s, 3, "statement: %s: %s", what, PQresultErrorMessage(res));
		PQclear(res);
		return NULL;
	}
	return res;
}

static int64_t i64(const PGresult *r, int row, int col)
{
	return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static void text(char *dst, size_t n, const PGresult *r, int row, int col)
{
	snprintf(dst, n, "%s", PQgetvalue(r, row, col));
}

/* ---- loading -------------------------------------------------------------- */

#define EPOCH(x) "date_part('epoch', " x ")::bigint"
#define RANGE "tstzrange(to_timestamp($1::bigint), to_timestamp($2::bigint))"

static int load_period(struct st *s)
{
	const char *p[2] = { s->period_date, NULL };
	char tid[24];
	snprintf(tid, sizeof tid, "%" PRId64, s->tenant_id);
	p[1] = tid;
	PGresult *r = query(s, "the park's settings",
		"SELECT st.time_zone, st.billing_measure,"
		" " EPOCH("($1::date)::timestamp AT TIME ZONE st.time_zone") ","
		" " EPOCH("($1::date + interval '1 month')::timestamp AT TIME ZONE st.time_zone") ","
		" (SELECT t.name FROM tenant t WHERE t.tenant_id = $2::bigint),"
		" to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
		" FROM park_settings st", 2, p, 0);
	if (!r)
		return s->rc;
	if (PQntuples(r) != 1) {
		PQclear(r);
		return fail(s, 3, "statement: no park settings");
	}
	text(s->time_zone, sizeof s->time_zone, r, 0, 0);
	text(s->measure, sizeof s->measure, r, 0, 1);
	s->bmeasure = strcmp(s->measure, "ip") == 0 ? BS_MEASURE_IP : BS_MEASURE_FRAME;
	s->period_iv.from = i64(r, 0, 2);
	s->period_iv.to = i64(r, 0, 3);
	bool known = !PQgetisnull(r, 0, 4);
	text(s->tenant_name, sizeof s->tenant_name, r, 0, 4);
	text(s->generated, sizeof s->generated, r, 0, 5);
	PQclear(r);
	if (!known)
		return fail(s, 1, "--tenant %" PRId64 ": no such tenant", s->tenant_id);
	bs_rating_bucket_span(s->period_iv, &s->first_bucket, &s->n_buckets);
	char zerr[160];
	if (bs_doc_zone_load(&s->zone, s->time_zone, s->period_iv.from - 86400,
			     s->period_iv.to + 86400, zerr, sizeof zerr) != 0)
		return fail(s, 3, "statement: %s", zerr);
	return 0;
}

static size_t pool_row(const struct st *s, int64_t pool)
{
	for (size_t i = 0; i < s->n_pools; i++)
		if (s->pools[i] == pool)
			return i;
	return SIZE_MAX;
}

static int load_allocs(struct st *s, const char *const *pp)
{
	PGresult *r = query(s, "the allocations",
		"SELECT a.alloc_id, a.pool_id, a.plan_id, a.committed_bps, "
		EPOCH("lower(a.valid)") ", coalesce(" EPOCH("upper(a.valid)")
		", 9223372036854775807), pl.currency, pl.name, p.name"
		" FROM allocation a JOIN plan pl ON pl.plan_id = a.plan_id"
		" JOIN pool p ON p.pool_id = a.pool_id"
		" WHERE a.tenant_id = $3::bigint AND a.valid && " RANGE
		" ORDER BY a.alloc_id", 3, pp, 0);
	if (!r)
		return s->rc;
	s->n_allocs = (size_t)PQntuples(r);
	if (s->n_allocs > ST_MAX_ALLOCS) {
		PQclear(r);
		return fail(s, 3, "statement: %zu allocations; at most %d",
			    s->n_allocs, ST_MAX_ALLOCS);
	}
	s->allocs = calloc(s->n_allocs + 1, sizeof *s->allocs);
	s->pools = calloc(s->n_allocs + 1, sizeof *s->pools);
	struct bs_rating_alloc *plain = calloc(s->n_allocs + 1, sizeof *plain);
	if (!s->allocs || !s->pools || !plain) {
		free(plain);
		PQclear(r);
		return fail(s, 3, "statement: out of memory");
	}
	for (size_t i = 0; i < s->n_allocs; i++) {
		struct st_alloc *a = &s->allocs[i];
		int k = (int)i;
		a->a.alloc_id = i64(r, k, 0);
		a->a.tenant_id = s->tenant_id;
		a->a.pool_id = i64(r, k, 1);
		a->plan_id = i64(r, k, 2);
		a->a.committed_bps = i64(r, k, 3);
		a->a.valid.from = i64(r, k, 4);
		a->a.valid.to = i64(r, k, 5);
		text(a->currency, sizeof a->currency, r, k, 6);
		text(a->plan_name, sizeof a->plan_name, r, k, 7);
		text(a->pool_name, sizeof a->pool_name, r, k, 8);
		if (pool_row(s, a->a.pool_id) == SIZE_MAX)
			s->pools[s->n_pools++] = a->a.pool_id;
		plain[i] = a->a;
	}
	PQclear(r);
	bs_rating_mark_changes(plain, s->n_allocs);
	for (size_t i = 0; i < s->n_allocs; i++) {
		struct st_alloc *a = &s->allocs[i];
		a->a.first_bucket_elsewhere = plain[i].first_bucket_elsewhere;
		a->pool_row = pool_row(s, a->a.pool_id);
		bs_sample_alloc_buckets(s->period_iv, &a->a, &a->first, &a->n);
		a->marks = calloc((size_t)a->n + 1, 1);
		a->seg = calloc((size_t)a->n + 1, sizeof *a->seg);
		if (!a->marks || !a->seg)
			fail(s, 3, "statement: out of memory");
	}
	free(plain);
	return s->rc;
}

/* One sample into its cell; a pool the tenant has no allocation on, or a
 * bucket outside the period, is left out. v: bytes signed by direction. */
static void put_sample(struct st *s, int64_t pool, int64_t t, int64_t v)
{
	size_t row = pool_row(s, pool);
	int64_t b = (t - s->first_bucket) / BS_RATING_BUCKET_S;
	if (row == SIZE_MAX || b < 0 || b >= s->n_buckets)
		return;
	size_t c = row * (size_t)s->n_buckets + (size_t)b;
	if (v >= 0)
		s->in[c] = v;
	else
		s->out[c] = -1 - v;
	s->present[c] = 1;
}

/* The tenant's samples of the period, as one binary COPY: the rows stream
 * through libpq's small per-row buffers instead of a result holding all
 * of them (a month's 17,280 rows would be ~1.5 MB of fresh memory, every
 * page of it a page fault: README, "Performance (statements)"). COPY
 * takes no parameters: the values are integers, formatted here. The
 * direction travels as the sign of the bytes (in: bytes; out: -1 - bytes;
 * bytes >= 0 by the table's CHECK). */
static int load_samples(struct st *s)
{
	size_t cells = s->n_pools * (size_t)s->n_buckets;
	s->in = calloc(cells + 1, sizeof *s->in);
	s->out = calloc(cells + 1, sizeof *s->out);
	s->present = calloc(cells + 1, 1);
	if (!s->in || !s->out || !s->present)
		return fail(s, 3, "statement: out of memory");
	const char *col = s->bmeasure == BS_MEASURE_IP ? "ip_bytes" : "frame_bytes";
	char sql[512];
	snprintf(sql, sizeof sql,
		 "COPY (SELECT pool_id, bucket_start,"
		 " CASE WHEN direction = 'in' THEN %s ELSE -1 - %s END"
		 " FROM usage_5m WHERE tenant_id = %" PRId64
		 " AND bucket_start >= to_timestamp(%" PRId64 ")"
		 " AND bucket_start < to_timestamp(%" PRId64 ")) TO STDOUT (FORMAT binary)",
		 col, col, s->tenant_id, s->period_iv.from, s->period_iv.to);
	PGresult *r = PQexec(s->conn, sql);
	if (PQresultStatus(r) != PGRES_COPY_OUT) {
		fail(s, 3, "statement: the samples: %s", PQresultErrorMessage(r));
		PQclear(r);
		return s->rc;
	}
	PQclear(r);
	struct bs_copy3 copy = { 0 };
	bool bad = false;
	char *buf;
	int len;
	while ((len = PQgetCopyData(s->conn, &buf, 0)) > 0) {
		const unsigned char *p = (const unsigned char *)buf, *end = p + len;
		int64_t v[3];
		int got = 0;
		while (!bad && (got = bs_copy3_next(&copy, &p, end, v)) > 0)
			put_sample(s, v[0], bs_copy_timestamp_epoch(v[1]), v[2]);
		bad = bad || got < 0;
		PQfreemem(buf);
	}
	if (len == -2)
		fail(s, 3, "statement: the samples: %s", PQerrorMessage(s->conn));
	while ((r = PQgetResult(s->conn)) != NULL) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			fail(s, 3, "statement: the samples: %s", PQresultErrorMessage(r));
		PQclear(r);
	}
	if (s->rc == 0 && (bad || !copy.trailer))
		fail(s, 3, "statement: the samples: unexpected binary COPY data");
	return s->rc;
}

static int load_docs(struct st *s)
{
	char tid[24];
	snprintf(tid, sizeof tid, "%" PRId64, s->tenant_id);
	const char *p[2] = { s->period_date, tid };
	PGresult *r = query(s, "the invoices",
		"SELECT i.currency, i.number, i.issue_date::text, i.due_date::text,"
		" i.subtotal_fen, i.vat_fen, i.total_fen, coalesce(d.sha256, ''),"
		" coalesce(d.samples, 0), (SELECT string_agg(n.number || ' ' || n.kind"
		"   || ' ' || n.total_fen, ';' ORDER BY n.number) FROM invoice n"
		"   WHERE n.original_id = i.invoice_id), i.invoice_id"
		" FROM invoice i LEFT JOIN invoice_digest d USING (invoice_id)"
		" WHERE i.kind = 'invoice' AND i.period = $1::date"
		" AND i.tenant_id = $2::bigint ORDER BY i.currency", 2, p, 0);
	if (!r)
		return s->rc;
	for (int i = 0; i < PQntuples(r) && s->n_docs < ST_MAX_DOCS; i++) {
		struct st_doc *d = &s->docs[s->n_docs++];
		d->closed = true;
		text(d->currency, sizeof d->currency, r, i, 0);
		text(d->number, sizeof d->number, r, i, 1);
		text(d->issue_date, sizeof d->issue_date, r, i, 2);
		text(d->due_date, sizeof d->due_date, r, i, 3);
		d->subtotal = i64(r, i, 4);
		d->vat = i64(r, i, 5);
		d->total = i64(r, i, 6);
		text(d->digest_close, sizeof d->digest_close, r, i, 7);
		d->samples_close = i64(r, i, 8);
		text(d->notes, sizeof d->notes, r, i, 9);
	}
	s->closed = s->n_docs > 0;
	if (s->closed) {
		/* the lines of every invoice, in line order */
		PGresult *l = query(s, "the invoice lines",
			"SELECT i.currency, l.segment_no, l.alloc_id, l.pool_id, l.plan_id,"
			" l.plan_version, l.plan_kind, l.charge, " EPOCH("l.window_start")
			", " EPOCH("l.window_end") ", l.window_seconds, l.period_seconds,"
			" l.direction, l.buckets, l.gaps, coalesce(l.billed_rank, 0),"
			" l.dropped, coalesce(" EPOCH("l.billed_bucket") ", -1),"
			" coalesce(l.billed_bytes, 0), l.commit_bps, l.bytes_in, l.bytes_out,"
			" l.quantity::text, coalesce(l.unit_price_fen, -1), l.amount_fen,"
			" l.vat_bp, l.description"
			" FROM invoice i JOIN invoice_line l USING (invoice_id)"
			" WHERE i.kind = 'invoice' AND i.period = $1::date"
			" AND i.tenant_id = $2::bigint ORDER BY i.currency, l.line_no",
			2, p, 0);
		if (l) {
			int n = PQntuples(l);
			s->lines = calloc((size_t)n + 1, sizeof *s->lines);
			for (int i = 0; s->lines && i < n; i++) {
				struct st_line *x = &s->lines[s->n_lines++];
				text(x->currency, sizeof x->currency, l, i, 0);
				x->segment_no = (int)i64(l, i, 1);
				x->alloc_id = i64(l, i, 2);
				x->pool_id = i64(l, i, 3);
				x->plan_id = i64(l, i, 4);
				x->plan_version = (int32_t)i64(l, i, 5);
				text(x->plan_kind, sizeof x->plan_kind, l, i, 6);
				text(x->charge, sizeof x->charge, l, i, 7);
				x->wfrom = i64(l, i, 8);
				x->wto = i64(l, i, 9);
				x->window_s = i64(l, i, 10);
				x->period_s = i64(l, i, 11);
				text(x->direction, sizeof x->direction, l, i, 12);
				x->buckets = i64(l, i, 13);
				x->gaps = i64(l, i, 14);
				x->billed_rank = i64(l, i, 15);
				x->dropped = i64(l, i, 16);
				x->billed_bucket = i64(l, i, 17);
				x->has_billed = x->billed_rank > 0;
				x->billed_bytes = i64(l, i, 18);
				x->commit_bps = i64(l, i, 19);
				x->bytes_in = i64(l, i, 20);
				x->bytes_out = i64(l, i, 21);
				text(x->quantity, sizeof x->quantity, l, i, 22);
				x->unit_price = i64(l, i, 23);
				x->amount = i64(l, i, 24);
				x->vat_bp = (int32_t)i64(l, i, 25);
				text(x->description, sizeof x->description, l, i, 26);
				bs_dir_rule_parse(x->direction, &x->rule);
			}
			if (!s->lines)
				fail(s, 3, "statement: out of memory");
			PQclear(l);
		}
		PGresult *v = query(s, "the VAT", "SELECT i.currency, v.vat_bp,"
			" v.base_fen, v.vat_fen FROM invoice i JOIN invoice_vat v"
			" USING (invoice_id) WHERE i.kind = 'invoice' AND"
			" i.period = $1::date AND i.tenant_id = $2::bigint"
			" ORDER BY i.currency, v.vat_bp", 2, p, 0);
		for (int i = 0; v && i < PQntuples(v); i++)
			for (size_t k = 0; k < s->n_docs; k++) {
				struct st_doc *d = &s->docs[k];
				if (strcmp(d->currency, PQgetvalue(v, i, 0)) || d->n_groups == 16)
					continue;
				d->groups[d->n_groups++] = (struct bs_vat_group){
					(int32_t)i64(v, i, 1), i64(v, i, 2), i64(v, i, 3) };
			}
		PQclear(v);
	}
	PQclear(r);
	return s->rc;
}

static int parse_array(const char *t, int64_t *out, int cap)
{
	int n = 0;
	if (*t++ != '{')
		return -1;
	while (*t && *t != '}') {
		if (n == cap)
			return -1;
		char *end;
		out[n++] = strtoll(t, &end, 10);
		t = *end == ',' ? end + 1 : end;
	}
	return n;
}

/* Open period: the plan versions, then each allocation rated as the close
 * would (same library, same inputs). */
static void put_decimal(char *dst, size_t n, unsigned __int128 num,
			unsigned __int128 den, int places)
{
	unsigned __int128 scale = 1;
	for (int i = 0; i < places; i++)
		scale *= 10;
	unsigned __int128 q = (num * scale * 2 + den) / (den * 2);
	char digits[64], o[72];
	int k = 0, m = 0;
	do {
		digits[k++] = (char)('0' + (int)(q % 10));
		q /= 10;
	} while (q > 0 || k <= places);
	for (int i = k - 1; i >= 0; i--) {
		o[m++] = digits[i];
		if (i == places && places > 0)
			o[m++] = '.';
	}
	o[m] = '\0';
	snprintf(dst, n, "%s", o);
}

static int rate_open(struct st *s, const char *const *pp)
{
	PGresult *r = query(s, "the plan versions",
		"SELECT v.plan_id, v.version, v.kind, v.direction, v.vat_bp, "
		EPOCH("lower(v.valid)") ", coalesce(" EPOCH("upper(v.valid)")
		", 9223372036854775807), coalesce(v.price_fen_per_mbps, 0),"
		" coalesce(v.overage_fen_per_mbps, 0), coalesce(v.tier_from_gb, '{}'),"
		" coalesce(v.tier_fen_per_gb, '{}')"
		" FROM plan_version v WHERE v.plan_id IN (SELECT a.plan_id FROM"
		" allocation a WHERE a.tenant_id = $3::bigint AND a.valid && " RANGE ")"
		" ORDER BY v.plan_id, lower(v.valid)", 3, pp, 0);
	if (!r)
		return s->rc;
	s->n_versions = (size_t)PQntuples(r);
	s->versions = calloc(s->n_versions + 1, sizeof *s->versions);
	for (size_t i = 0; s->versions && i < s->n_versions; i++) {
		struct bs_plan_version *v = &s->versions[i];
		int k = (int)i;
		v->plan_id = i64(r, k, 0);
		v->version = (int32_t)i64(r, k, 1);
		bs_plan_kind_parse(PQgetvalue(r, k, 2), &v->kind);
		bs_dir_rule_parse(PQgetvalue(r, k, 3), &v->direction);
		v->vat_bp = (int32_t)i64(r, k, 4);
		v->valid.from = i64(r, k, 5);
		v->valid.to = i64(r, k, 6);
		v->price_fen_per_mbps = i64(r, k, 7);
		v->overage_fen_per_mbps = i64(r, k, 8);
		int nf = parse_array(PQgetvalue(r, k, 9), v->tier_from_gb, BS_RATING_MAX_TIERS);
		int np = parse_array(PQgetvalue(r, k, 10), v->tier_fen_per_gb, BS_RATING_MAX_TIERS);
		v->n_tiers = (uint32_t)(nf < 0 || nf != np ? 0 : nf);
	}
	PQclear(r);
	if (!s->versions)
		return fail(s, 3, "statement: out of memory");

	size_t cap = ST_MAX_LINES;
	s->lines = calloc(cap, sizeof *s->lines);
	struct bs_sample *samples = calloc((size_t)s->n_buckets + 1, sizeof *samples);
	struct bs_rating_scratch *scratch = malloc(sizeof *scratch);
	struct bs_charge_line lines[2 * BS_RATING_MAX_SEGMENTS];
	if (!s->lines || !samples || !scratch) {
		free(samples);
		free(scratch);
		return fail(s, 3, "statement: out of memory");
	}
	/* segment numbers per currency, in the close's order (pool, start) */
	for (size_t cur = 0; cur < s->n_allocs && s->rc == 0; cur++) {
		const char *currency = s->allocs[cur].currency;
		bool seen = false;
		for (size_t j = 0; j < cur; j++)
			seen = seen || strcmp(s->allocs[j].currency, currency) == 0;
		if (seen)
			continue;
		/* the close's order: pool, lower(valid), alloc_id */
		size_t order[ST_MAX_ALLOCS], m = 0;
		for (size_t j = 0; j < s->n_allocs; j++)
			if (strcmp(s->allocs[j].currency, currency) == 0)
				order[m++] = j;
		for (size_t x = 1; x < m; x++)
			for (size_t y = x; y > 0; y--) {
				const struct bs_rating_alloc *p = &s->allocs[order[y - 1]].a,
							     *q = &s->allocs[order[y]].a;
				bool swap = p->pool_id > q->pool_id ||
					(p->pool_id == q->pool_id && (p->valid.from > q->valid.from ||
					 (p->valid.from == q->valid.from && p->alloc_id > q->alloc_id)));
				if (!swap)
					break;
				size_t t = order[y]; order[y] = order[y - 1]; order[y - 1] = t;
			}
		int segment_no = 0;
		for (size_t x = 0; x < m && s->rc == 0; x++) {
			struct st_alloc *a = &s->allocs[order[x]];
			size_t lo = 0;
			while (lo < s->n_versions && s->versions[lo].plan_id != a->plan_id)
				lo++;
			size_t hi = lo;
			while (hi < s->n_versions && s->versions[hi].plan_id == a->plan_id)
				hi++;
			size_t ns = 0;
			const size_t base = a->pool_row * (size_t)s->n_buckets;
			for (int64_t b = 0; b < s->n_buckets; b++)
				if (s->present[base + (size_t)b])
					samples[ns++] = (struct bs_sample){
						s->first_bucket + b * 300, s->in[base + (size_t)b],
						s->out[base + (size_t)b] };
			struct bs_rating_error e;
			size_t n = 0;
			if (bs_rating_rate_allocation(s->period_iv, &a->a, &s->versions[lo],
						      hi - lo, samples, ns, s->bmeasure,
						      scratch, lines, 2 * BS_RATING_MAX_SEGMENTS,
						      &n, &e) != 0) {
				fail(s, 3, "statement: allocation %" PRId64 ": %s",
				     a->a.alloc_id, e.msg);
				break;
			}
			for (size_t k = 0; k < n && s->n_lines < cap; k++) {
				const struct bs_charge_line *l = &lines[k];
				if (k == 0 || l->window.from != lines[k - 1].window.from)
					segment_no++;
				struct st_line *o = &s->lines[s->n_lines++];
				snprintf(o->currency, sizeof o->currency, "%s", currency);
				o->segment_no = segment_no;
				o->alloc_id = a->a.alloc_id;
				o->pool_id = a->a.pool_id;
				o->plan_id = l->plan_id;
				o->plan_version = l->plan_version;
				snprintf(o->plan_kind, sizeof o->plan_kind, "%s", bs_plan_kind_name(l->plan_kind));
				snprintf(o->charge, sizeof o->charge, "%s", bs_charge_name(l->charge));
				snprintf(o->direction, sizeof o->direction, "%s", bs_dir_rule_name(l->direction));
				o->rule = l->direction;
				o->wfrom = l->window.from;
				o->wto = l->window.to;
				o->window_s = l->window_s;
				o->period_s = l->period_s;
				o->buckets = l->p95.n_buckets;
				o->gaps = l->p95.gaps;
				o->has_billed = l->p95.has_billed;
				o->billed_rank = l->p95.has_billed ? l->p95.billed_rank : 0;
				o->dropped = l->p95.dropped;
				o->billed_bucket = l->p95.has_billed ? l->p95.billed_bucket : -1;
				o->billed_bytes = l->p95.has_billed ? l->p95.billed_bytes : 0;
				o->commit_bps = l->commit_bps;
				o->bytes_in = l->p95.bytes_in;
				o->bytes_out = l->p95.bytes_out;
				const char *unit = "Mbps";
				switch (l->charge) {
				case BS_CHARGE_COMMIT:
					put_decimal(o->quantity, sizeof o->quantity,
						    (unsigned __int128)l->commit_bps, 1000000, 6);
					break;
				case BS_CHARGE_OVERAGE: {
					unsigned __int128 bits = (unsigned __int128)l->p95.billed_bytes * 8;
					unsigned __int128 c = (unsigned __int128)l->commit_bps * 300;
					put_decimal(o->quantity, sizeof o->quantity,
						    bits > c ? bits - c : 0, 300000000, 6);
					unit = "Mbps above the commit";
					break;
				}
				case BS_CHARGE_VOLUME:
					put_decimal(o->quantity, sizeof o->quantity,
						    (unsigned __int128)l->quantity, 1000000000, 9);
					unit = "GB";
					break;
				}
				o->unit_price = l->charge == BS_CHARGE_VOLUME ? -1 : l->unit_price_fen;
				o->amount = l->amount_fen;
				o->vat_bp = l->vat_bp;
				snprintf(o->description, sizeof o->description, "%s v%d %s (%s), "
					 "allocation %" PRId64 " on pool %s", a->plan_name,
					 l->plan_version, bs_charge_name(l->charge), unit,
					 a->a.alloc_id, a->pool_name);
			}
		}
		/* the document this currency would be */
		if (s->n_docs < ST_MAX_DOCS) {
			struct st_doc *d = &s->docs[s->n_docs++];
			snprintf(d->currency, sizeof d->currency, "%s", currency);
			struct bs_line_amount la[ST_MAX_LINES];
			size_t nl = 0;
			for (size_t k = 0; k < s->n_lines; k++)
				if (strcmp(s->lines[k].currency, currency) == 0)
					la[nl++] = (struct bs_line_amount){ s->lines[k].amount,
									    s->lines[k].vat_bp };
			struct bs_rating_error e;
			if (bs_rating_invoice_totals(la, nl, d->groups, 16, &d->n_groups,
						     &d->subtotal, &d->vat, &d->total, &e) != 0)
				fail(s, 3, "statement: totals: %s", e.msg);
		}
	}
	free(samples);
	free(scratch);
	return s->rc;
}

/* ---- marks and digests ----------------------------------------------------- */

struct rank_item {
	int64_t value, bucket;
	int32_t pos;
};

static int by_value(const void *x, const void *y)
{
	const struct rank_item *a = x, *b = y;
	if (a->value != b->value)
		return a->value < b->value ? -1 : 1;
	return (a->bucket > b->bucket) - (a->bucket < b->bucket);
}

static int64_t billable(enum bs_dir_rule r, int64_t in, int64_t out)
{
	switch (r) {
	case BS_RULE_IN: return in;
	case BS_RULE_OUT: return out;
	case BS_RULE_SUM: return in + out;   /* ≤ 2^63-1: checked by the rating */
	case BS_RULE_MAX: break;
	}
	return in > out ? in : out;
}

static size_t cell(const struct st *s, const struct st_alloc *a, int64_t t)
{
	return a->pool_row * (size_t)s->n_buckets +
	       (size_t)((t - s->first_bucket) / BS_RATING_BUCKET_S);
}

/* Each bucket's segment (the line of the segment in force at its start),
 * its gap mark, and per segment the billed and dropped buckets. */
static int mark(struct st *s)
{
	struct rank_item *items = calloc((size_t)s->n_buckets + 1, sizeof *items);
	if (!items)
		return fail(s, 3, "statement: out of memory");
	for (size_t i = 0; i < s->n_lines; i++)
		s->lines[i].first_of_segment = i == 0 ||
			s->lines[i].segment_no != s->lines[i - 1].segment_no ||
			strcmp(s->lines[i].currency, s->lines[i - 1].currency) != 0;
	for (size_t ai = 0; ai < s->n_allocs; ai++) {
		struct st_alloc *a = &s->allocs[ai];
		/* the segment lines of this allocation, in time order */
		for (int64_t b = 0; b < a->n; b++) {
			int64_t t = a->first + b * BS_RATING_BUCKET_S;
			int32_t best = -1;
			for (size_t i = 0; i < s->n_lines; i++) {
				const struct st_line *l = &s->lines[i];
				if (!l->first_of_segment || l->alloc_id != a->a.alloc_id)
					continue;
				if (best < 0 || (l->wfrom <= t && l->wfrom > s->lines[best].wfrom) ||
				    (s->lines[best].wfrom > t && l->wfrom < s->lines[best].wfrom))
					best = (int32_t)i;
			}
			a->seg[b] = best;
			if (!s->present[cell(s, a, t)])
				a->marks[b] |= MARK_GAP;
		}
		for (size_t i = 0; i < s->n_lines; i++) {
			const struct st_line *l = &s->lines[i];
			if (!l->first_of_segment || l->alloc_id != a->a.alloc_id)
				continue;
			size_t m = 0;
			for (int64_t b = 0; b < a->n; b++) {
				if (a->seg[b] != (int32_t)i)
					continue;
				int64_t t = a->first + b * BS_RATING_BUCKET_S;
				size_t c = cell(s, a, t);
				items[m++] = (struct rank_item){
					billable(l->rule, s->in[c], s->out[c]), t, (int32_t)b };
			}
			qsort(items, m, sizeof *items, by_value);
			int64_t k = bs_rating_billed_rank((int64_t)m);
			for (size_t j = (size_t)k; j < m; j++)
				a->marks[items[j].pos] |= MARK_DROPPED;
			/* the billed bucket as the evidence names it */
			if (l->has_billed && l->billed_bucket >= a->first &&
			    l->billed_bucket < a->first + a->n * BS_RATING_BUCKET_S)
				a->marks[(l->billed_bucket - a->first) / BS_RATING_BUCKET_S] |=
					MARK_BILLED;
		}
	}
	free(items);
	/* the digest of the samples now, per currency */
	struct bs_sample_digest *d = malloc(sizeof *d);
	for (size_t k = 0; d && k < s->n_docs && s->rc == 0; k++) {
		struct st_doc *doc = &s->docs[k];
		if (bs_sample_digest_begin(d) != 0) {
			fail(s, 3, "statement: SHA-256 failed");
			break;
		}
		for (size_t ai = 0; ai < s->n_allocs; ai++) {
			const struct st_alloc *a = &s->allocs[ai];
			if (strcmp(a->currency, doc->currency) != 0)
				continue;
			for (int64_t b = 0; b < a->n; b++) {
				int64_t t = a->first + b * BS_RATING_BUCKET_S;
				size_t c = cell(s, a, t);
				bs_sample_digest_add(d, a->a.alloc_id, a->a.pool_id, t,
						     s->present[c], s->in[c], s->out[c]);
			}
		}
		doc->samples_now = d->lines;
		if (bs_sample_digest_end(d, doc->digest_now) != 0)
			fail(s, 3, "statement: SHA-256 failed");
	}
	if (!d)
		fail(s, 3, "statement: out of memory");
	free(d);
	return s->rc;
}

/* ---- shared writing helpers ------------------------------------------------- */

static const char *mark_name(uint8_t m)
{
	switch (m & (MARK_BILLED | MARK_DROPPED | MARK_GAP)) {
	case MARK_BILLED: return "billed";
	case MARK_DROPPED: return "dropped";
	case MARK_GAP: return "gap";
	case MARK_GAP | MARK_BILLED: return "gap+billed";
	case MARK_GAP | MARK_DROPPED: return "gap+dropped";
	default: return "";
	}
}

/* bytes × 8 / 300 bit/s in Mbps, 3 decimals half-up, no grouping. */
static void buf_mbps(struct bs_buf *b, int64_t bytes)
{
	int64_t milli = (int64_t)(((unsigned __int128)bytes * 2 + 37500) / 75000);
	bs_buf_i64(b, milli / 1000);
	char f[4] = { (char)('0' + milli / 100 % 10), (char)('0' + milli / 10 % 10),
		      (char)('0' + milli % 10), 0 };
	bs_buf_putc(b, '.');
	bs_buf_put(b, f, 3);
}

/* Local time "2026-11-01T00:00:00+08:00". */
static void buf_local(struct bs_buf *b, const struct bs_doc_zone *z, int64_t t)
{
	int32_t off = bs_doc_zone_offset(z, t);
	struct bs_doc_civil c;
	bs_doc_civil(t, off, &c);
	char o[8];
	bs_doc_fmt_offset(o, sizeof o, off);
	char x[32];
	char *p = x;
	const int f[6] = { c.year, c.month, c.day, c.hour, c.minute, c.second };
	const char sep[6] = { '-', '-', 'T', ':', ':', 0 };
	for (int i = 0; i < 6; i++) {
		if (i == 0) {
			*p++ = (char)('0' + f[0] / 1000 % 10);
			*p++ = (char)('0' + f[0] / 100 % 10);
		}
		*p++ = (char)('0' + f[i] / 10 % 10);
		*p++ = (char)('0' + f[i] % 10);
		if (sep[i])
			*p++ = sep[i];
	}
	bs_buf_put(b, x, (size_t)(p - x));
	bs_buf_puts(b, o);
}

/* A CSV field: quoted when it holds , " CR or LF. */
static void buf_csv(struct bs_buf *b, const char *v)
{
	if (strpbrk(v, ",\"\r\n") == NULL) {
		bs_buf_puts(b, v);
		return;
	}
	bs_buf_putc(b, '"');
	for (; *v; v++) {
		if (*v == '"')
			bs_buf_putc(b, '"');
		bs_buf_putc(b, *v);
	}
	bs_buf_putc(b, '"');
}

static void buf_utc_or_empty(struct bs_buf *b, bool has, int64_t t)
{
	if (has)
		bs_buf_utc(b, t);
}

/* Per local day: its key and the day's in, out, billable bytes. */
struct day {
	int32_t y, m, d;
	int64_t in, out, billable;
};

/* The days of the period with their volumes (all allocations). */
static size_t days_of(const struct st *s, struct day *days, size_t cap,
		      int64_t alloc_filter)
{
	size_t n = 0;
	struct bs_doc_civil c;
	/* every day of the period, even without traffic */
	for (int64_t t = s->period_iv.from; t < s->period_iv.to && n < cap; t += 3600) {
		bs_doc_civil(t, bs_doc_zone_offset(&s->zone, t), &c);
		if (n == 0 || days[n - 1].d != c.day || days[n - 1].m != c.month)
			days[n++] = (struct day){ c.year, c.month, c.day, 0, 0, 0 };
	}
	for (size_t ai = 0; ai < s->n_allocs; ai++) {
		const struct st_alloc *a = &s->allocs[ai];
		if (alloc_filter >= 0 && a->a.alloc_id != alloc_filter)
			continue;
		size_t di = 0;
		for (int64_t b = 0; b < a->n; b++) {
			int64_t t = a->first + b * BS_RATING_BUCKET_S;
			size_t ci = cell(s, a, t);
			bs_doc_civil(t < s->period_iv.from ? s->period_iv.from : t,
				     bs_doc_zone_offset(&s->zone, t), &c);
			while (di + 1 < n && !(days[di].d == c.day && days[di].m == c.month))
				di++;
			days[di].in += s->in[ci];
			days[di].out += s->out[ci];
			if (a->seg[b] >= 0)
				days[di].billable += billable(s->lines[a->seg[b]].rule,
							      s->in[ci], s->out[ci]);
		}
	}
	return n;
}

/* ---- CSV --------------------------------------------------------------------- */

static void write_csv(struct st *s)
{
	struct bs_buf *b = &s->b;
	bs_buf_puts(b, "statement,form,tenant_id,tenant,period,time_zone,period_start_utc,"
		    "period_end_utc,byte_measure,status,generated_utc\n");
	bs_buf_puts(b, "statement,bandsplit-statement-v1,");
	bs_buf_i64(b, s->tenant_id);
	bs_buf_putc(b, ',');
	buf_csv(b, s->tenant_name);
	bs_buf_printf(b, ",%s,%s,", s->period, s->time_zone);
	bs_buf_utc(b, s->period_iv.from);
	bs_buf_putc(b, ',');
	bs_buf_utc(b, s->period_iv.to);
	bs_buf_printf(b, ",%s,%s,%s\n", s->measure, s->closed ? "final" : "not final",
		      s->generated);

	bs_buf_puts(b, "document,currency,invoice,issue_date,due_date,subtotal_fen,"
		    "vat_fen,total_fen,notes,digest_form,sha256_samples,samples,"
		    "sha256_at_close,samples_at_close\n");
	for (size_t k = 0; k < s->n_docs; k++) {
		const struct st_doc *d = &s->docs[k];
		bs_buf_printf(b, "document,%s,%s,%s,%s,", d->currency,
			      d->closed ? d->number : "", d->issue_date, d->due_date);
		bs_buf_i64(b, d->subtotal);
		bs_buf_putc(b, ',');
		bs_buf_i64(b, d->vat);
		bs_buf_putc(b, ',');
		bs_buf_i64(b, d->total);
		bs_buf_putc(b, ',');
		buf_csv(b, d->notes);
		bs_buf_printf(b, ",%s,%s,%" PRId64 ",%s,", BS_SAMPLE_FORM, d->digest_now,
			      d->samples_now, d->digest_close);
		if (d->closed)
			bs_buf_i64(b, d->samples_close);
		bs_buf_putc(b, '\n');
	}

	bs_buf_puts(b, "line,currency,segment_no,alloc_id,pool_id,plan_id,plan_version,"
		    "plan_kind,charge,window_start_utc,window_end_utc,window_seconds,"
		    "period_seconds,direction,byte_measure,buckets,gaps,billed_rank,"
		    "dropped,billed_bucket_utc,billed_bytes,commit_bps,bytes_in,"
		    "bytes_out,quantity,unit_price_fen,amount_fen,vat_bp,description\n");
	for (size_t i = 0; i < s->n_lines; i++) {
		const struct st_line *l = &s->lines[i];
		bs_buf_printf(b, "line,%s,%d,%" PRId64 ",%" PRId64 ",%" PRId64 ",%d,%s,%s,",
			      l->currency, l->segment_no, l->alloc_id, l->pool_id,
			      l->plan_id, l->plan_version, l->plan_kind, l->charge);
		bs_buf_utc(b, l->wfrom);
		bs_buf_putc(b, ',');
		bs_buf_utc(b, l->wto);
		bs_buf_printf(b, ",%" PRId64 ",%" PRId64 ",%s,%s,%" PRId64 ",%" PRId64 ",",
			      l->window_s, l->period_s, l->direction, s->measure,
			      l->buckets, l->gaps);
		if (l->has_billed)
			bs_buf_i64(b, l->billed_rank);
		bs_buf_printf(b, ",%" PRId64 ",", l->dropped);
		buf_utc_or_empty(b, l->has_billed, l->billed_bucket);
		bs_buf_putc(b, ',');
		if (l->has_billed)
			bs_buf_i64(b, l->billed_bytes);
		bs_buf_printf(b, ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%s,", l->commit_bps,
			      l->bytes_in, l->bytes_out, l->quantity);
		if (l->unit_price >= 0)
			bs_buf_i64(b, l->unit_price);
		bs_buf_printf(b, ",%" PRId64 ",%d,", l->amount, l->vat_bp);
		buf_csv(b, l->description);
		bs_buf_putc(b, '\n');
	}

	bs_buf_puts(b, "day,date,in_bytes,out_bytes,billable_bytes\n");
	struct day days[40];
	size_t nd = days_of(s, days, 40, -1);
	struct day month = { 0, 0, 0, 0, 0, 0 };
	for (size_t i = 0; i < nd; i++) {
		month.in += days[i].in;
		month.out += days[i].out;
		month.billable += days[i].billable;
	}
	for (size_t i = 0; i < nd; i++) {
		bs_buf_printf(b, "day,%04d-%02d-%02d,", days[i].y, days[i].m, days[i].d);
		bs_buf_i64(b, days[i].in);
		bs_buf_putc(b, ',');
		bs_buf_i64(b, days[i].out);
		bs_buf_putc(b, ',');
		bs_buf_i64(b, days[i].billable);
		bs_buf_putc(b, '\n');
	}

	bs_buf_puts(b, "month,period,in_bytes,out_bytes,billable_bytes\n");
	bs_buf_printf(b, "month,%s,%" PRId64 ",%" PRId64 ",%" PRId64 "\n", s->period,
		      month.in, month.out, month.billable);

	/* every bucket: columns 2–6 are the canonical line (sampledigest.h) */
	bs_buf_puts(b, "bucket,alloc_id,pool_id,bucket_utc,in_bytes,out_bytes,currency,"
		    "segment_no,direction,local_time,billable_bytes,rate_mbps,mark\n");
	for (size_t ai = 0; ai < s->n_allocs; ai++) {
		const struct st_alloc *a = &s->allocs[ai];
		char pre[64];
		size_t np = 0;
		memcpy(pre, "bucket,", 7);
		np = 7;
		np += bs_doc_i64_raw(pre + np, a->a.alloc_id);
		pre[np++] = ',';
		np += bs_doc_i64_raw(pre + np, a->a.pool_id);
		pre[np++] = ',';
		bs_buf_reserve(b, (size_t)a->n * 128);
		for (int64_t k = 0; k < a->n; k++) {
			int64_t t = a->first + k * BS_RATING_BUCKET_S;
			size_t c = cell(s, a, t);
			const struct st_line *l = a->seg[k] >= 0 ? &s->lines[a->seg[k]] : NULL;
			bool p = s->present[c];
			bs_buf_put(b, pre, np);
			bs_buf_utc(b, t);
			bs_buf_putc(b, ',');
			if (p)
				bs_buf_i64(b, s->in[c]);
			bs_buf_putc(b, ',');
			if (p)
				bs_buf_i64(b, s->out[c]);
			bs_buf_putc(b, ',');
			bs_buf_puts(b, a->currency);
			bs_buf_putc(b, ',');
			bs_buf_i64(b, l ? l->segment_no : 0);
			bs_buf_putc(b, ',');
			bs_buf_puts(b, l ? l->direction : "max");
			bs_buf_putc(b, ',');
			buf_local(b, &s->zone, t);
			bs_buf_putc(b, ',');
			int64_t bb = billable(l ? l->rule : BS_RULE_MAX, s->in[c], s->out[c]);
			bs_buf_i64(b, bb);
			bs_buf_putc(b, ',');
			buf_mbps(b, bb);
			bs_buf_putc(b, ',');
			bs_buf_puts(b, mark_name(a->marks[k]));
			bs_buf_putc(b, '\n');
		}
	}
}

/* ---- JSON --------------------------------------------------------------------- */

static json_object *jutc(int64_t t)
{
	struct bs_buf b;
	bs_buf_init(&b);
	bs_buf_utc(&b, t);
	json_object *o = json_object_new_string(b.p ? b.p : "");
	bs_buf_free(&b);
	return o;
}

static void write_json(struct st *s)
{
	json_object *root = json_object_new_object();
	json_object_object_add(root, "form", json_object_new_string("bandsplit-statement-v1"));
	json_object_object_add(root, "tenant_id", json_object_new_int64(s->tenant_id));
	json_object_object_add(root, "tenant", json_object_new_string(s->tenant_name));
	json_object_object_add(root, "period", json_object_new_string(s->period));
	json_object_object_add(root, "time_zone", json_object_new_string(s->time_zone));
	json_object_object_add(root, "period_start", jutc(s->period_iv.from));
	json_object_object_add(root, "period_end", jutc(s->period_iv.to));
	json_object_object_add(root, "byte_measure", json_object_new_string(s->measure));
	json_object_object_add(root, "final", json_object_new_boolean(s->closed));
	json_object_object_add(root, "generated", json_object_new_string(s->generated));
	json_object *docs = json_object_new_array();
	for (size_t k = 0; k < s->n_docs; k++) {
		const struct st_doc *d = &s->docs[k];
		json_object *o = json_object_new_object();
		json_object_object_add(o, "currency", json_object_new_string(d->currency));
		json_object_object_add(o, "invoice", d->closed ? json_object_new_string(d->number) : NULL);
		json_object_object_add(o, "issue_date", d->closed ? json_object_new_string(d->issue_date) : NULL);
		json_object_object_add(o, "due_date", d->closed ? json_object_new_string(d->due_date) : NULL);
		json_object_object_add(o, "subtotal_fen", json_object_new_int64(d->subtotal));
		json_object_object_add(o, "vat_fen", json_object_new_int64(d->vat));
		json_object_object_add(o, "total_fen", json_object_new_int64(d->total));
		json_object_object_add(o, "notes", json_object_new_string(d->notes));
		json_object *vat = json_object_new_array();
		for (size_t g = 0; g < d->n_groups; g++) {
			json_object *x = json_object_new_object();
			json_object_object_add(x, "vat_bp", json_object_new_int(d->groups[g].vat_bp));
			json_object_object_add(x, "base_fen", json_object_new_int64(d->groups[g].base_fen));
			json_object_object_add(x, "vat_fen", json_object_new_int64(d->groups[g].vat_fen));
			json_object_array_add(vat, x);
		}
		json_object_object_add(o, "vat", vat);
		json_object_object_add(o, "digest_form", json_object_new_string(BS_SAMPLE_FORM));
		json_object_object_add(o, "sha256_samples", json_object_new_string(d->digest_now));
		json_object_object_add(o, "samples", json_object_new_int64(d->samples_now));
		json_object_object_add(o, "sha256_at_close", d->closed ? json_object_new_string(d->digest_close) : NULL);
		json_object_array_add(docs, o);
	}
	json_object_object_add(root, "documents", docs);
	json_object *lines = json_object_new_array();
	for (size_t i = 0; i < s->n_lines; i++) {
		const struct st_line *l = &s->lines[i];
		json_object *o = json_object_new_object();
		json_object_object_add(o, "currency", json_object_new_string(l->currency));
		json_object_object_add(o, "segment_no", json_object_new_int(l->segment_no));
		json_object_object_add(o, "alloc_id", json_object_new_int64(l->alloc_id));
		json_object_object_add(o, "pool_id", json_object_new_int64(l->pool_id));
		json_object_object_add(o, "plan_id", json_object_new_int64(l->plan_id));
		json_object_object_add(o, "plan_version", json_object_new_int(l->plan_version));
		json_object_object_add(o, "plan_kind", json_object_new_string(l->plan_kind));
		json_object_object_add(o, "charge", json_object_new_string(l->charge));
		json_object_object_add(o, "window_start", jutc(l->wfrom));
		json_object_object_add(o, "window_end", jutc(l->wto));
		json_object_object_add(o, "window_seconds", json_object_new_int64(l->window_s));
		json_object_object_add(o, "period_seconds", json_object_new_int64(l->period_s));
		json_object_object_add(o, "direction", json_object_new_string(l->direction));
		json_object_object_add(o, "buckets", json_object_new_int64(l->buckets));
		json_object_object_add(o, "gaps", json_object_new_int64(l->gaps));
		json_object_object_add(o, "billed_rank", l->has_billed ? json_object_new_int64(l->billed_rank) : NULL);
		json_object_object_add(o, "dropped", json_object_new_int64(l->dropped));
		json_object_object_add(o, "billed_bucket", l->has_billed ? jutc(l->billed_bucket) : NULL);
		json_object_object_add(o, "billed_bytes", l->has_billed ? json_object_new_int64(l->billed_bytes) : NULL);
		json_object_object_add(o, "commit_bps", json_object_new_int64(l->commit_bps));
		json_object_object_add(o, "bytes_in", json_object_new_int64(l->bytes_in));
		json_object_object_add(o, "bytes_out", json_object_new_int64(l->bytes_out));
		json_object_object_add(o, "quantity", json_object_new_string(l->quantity));
		json_object_object_add(o, "unit_price_fen", l->unit_price >= 0 ? json_object_new_int64(l->unit_price) : NULL);
		json_object_object_add(o, "amount_fen", json_object_new_int64(l->amount));
		json_object_object_add(o, "vat_bp", json_object_new_int(l->vat_bp));
		json_object_object_add(o, "description", json_object_new_string(l->description));
		json_object_array_add(lines, o);
	}
	json_object_object_add(root, "lines", lines);
	json_object *days = json_object_new_array();
	struct day dd[40];
	size_t nd = days_of(s, dd, 40, -1);
	for (size_t i = 0; i < nd; i++) {
		char date[16];
		snprintf(date, sizeof date, "%04d-%02d-%02d", dd[i].y, dd[i].m, dd[i].d);
		json_object *o = json_object_new_object();
		json_object_object_add(o, "date", json_object_new_string(date));
		json_object_object_add(o, "in_bytes", json_object_new_int64(dd[i].in));
		json_object_object_add(o, "out_bytes", json_object_new_int64(dd[i].out));
		json_object_object_add(o, "billable_bytes", json_object_new_int64(dd[i].billable));
		json_object_array_add(days, o);
	}
	json_object_object_add(root, "days", days);
	json_object *mo = json_object_new_object();
	int64_t mi = 0, mout = 0, mb = 0;
	for (size_t i = 0; i < nd; i++) {
		mi += dd[i].in;
		mout += dd[i].out;
		mb += dd[i].billable;
	}
	json_object_object_add(mo, "in_bytes", json_object_new_int64(mi));
	json_object_object_add(mo, "out_bytes", json_object_new_int64(mout));
	json_object_object_add(mo, "billable_bytes", json_object_new_int64(mb));
	json_object_object_add(root, "month", mo);
	/* buckets: per allocation, columns named once */
	json_object *allocs = json_object_new_array();
	for (size_t ai = 0; ai < s->n_allocs; ai++) {
		const struct st_alloc *a = &s->allocs[ai];
		json_object *o = json_object_new_object();
		json_object_object_add(o, "alloc_id", json_object_new_int64(a->a.alloc_id));
		json_object_object_add(o, "pool_id", json_object_new_int64(a->a.pool_id));
		json_object_object_add(o, "pool", json_object_new_string(a->pool_name));
		json_object_object_add(o, "plan", json_object_new_string(a->plan_name));
		json_object_object_add(o, "currency", json_object_new_string(a->currency));
		json_object_object_add(o, "committed_bps", json_object_new_int64(a->a.committed_bps));
		json_object *cols = json_object_new_array();
		const char *cn[] = { "bucket_utc", "in_bytes", "out_bytes", "segment_no",
				     "billable_bytes", "mark" };
		for (size_t k = 0; k < 6; k++)
			json_object_array_add(cols, json_object_new_string(cn[k]));
		json_object_object_add(o, "bucket_columns", cols);
		json_object *bk = json_object_new_array_ext((int)a->n);
		for (int64_t k = 0; k < a->n; k++) {
			int64_t t = a->first + k * BS_RATING_BUCKET_S;
			size_t c = cell(s, a, t);
			const struct st_line *l = a->seg[k] >= 0 ? &s->lines[a->seg[k]] : NULL;
			json_object *r = json_object_new_array_ext(6);
			json_object_array_add(r, jutc(t));
			json_object_array_add(r, s->present[c] ? json_object_new_int64(s->in[c]) : NULL);
			json_object_array_add(r, s->present[c] ? json_object_new_int64(s->out[c]) : NULL);
			json_object_array_add(r, json_object_new_int(l ? l->segment_no : 0));
			json_object_array_add(r, json_object_new_int64(billable(
				l ? l->rule : BS_RULE_MAX, s->in[c], s->out[c])));
			json_object_array_add(r, json_object_new_string(mark_name(a->marks[k])));
			json_object_array_add(bk, r);
		}
		json_object_object_add(o, "buckets", bk);
		json_object_array_add(allocs, o);
	}
	json_object_object_add(root, "allocations", allocs);
	bs_buf_puts(&s->b, json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
	bs_buf_putc(&s->b, '\n');
	json_object_put(root);
}

/* ---- HTML ------------------------------------------------------------------------ */

#define L(x) bs_doc_label(x, s->lang)

static void h(struct st *s, const char *t)   /* escaped text */
{
	bs_buf_html(&s->b, t);
}

static void raw(struct st *s, const char *t)
{
	bs_buf_puts(&s->b, t);
}

static void td_num(struct st *s, const char *v)
{
	raw(s, "<td class=n>");
	h(s, v);
	raw(s, "</td>");
}

static void td_int(struct st *s, int64_t v)
{
	char x[BS_DOC_NUM_MAX];
	bs_doc_fmt_int(x, sizeof x, v);
	td_num(s, x);
}

static void td_bytes(struct st *s, int64_t v)
{
	char x[BS_DOC_NUM_MAX];
	bs_doc_fmt_bytes(x, sizeof x, v);
	td_num(s, x);
}

static void td_money(struct st *s, int64_t fen)
{
	char x[BS_DOC_NUM_MAX];
	bs_doc_fmt_money(x, sizeof x, fen, s->lang);
	td_num(s, x);
}

static void td_text(struct st *s, const char *v)
{
	raw(s, "<td>");
	h(s, v);
	raw(s, "</td>");
}

static void th(struct st *s, const char *v, bool num)
{
	raw(s, num ? "<th class=n>" : "<th>");
	h(s, v);
	raw(s, "</th>");
}

static void kv(struct st *s, const char *k, const char *v, bool mono)
{
	raw(s, "<tr><th>");
	h(s, k);
	raw(s, mono ? "</th><td class=mono>" : "</th><td>");
	h(s, v);
	raw(s, "</td></tr>\n");
}

static const char *charge_label(const struct st *s, const char *charge)
{
	if (strcmp(charge, "commit") == 0) return L(BS_L_CHARGE_COMMIT);
	if (strcmp(charge, "overage") == 0) return L(BS_L_CHARGE_OVERAGE);
	if (strcmp(charge, "volume") == 0) return L(BS_L_CHARGE_VOLUME);
	return L(BS_L_CHARGE_FLAT);
}

/* The rate chart of one allocation: x = bucket index, y = 0..H; in and out
 * one polyline each with one point per bucket (no decimation: the test
 * counts a->n points), the commit as a line, per segment its 95th as a
 * line and its billed bucket as a circle (class "billed"). */
static void svg_rates(struct st *s, const struct st_alloc *a)
{
	const int64_t H = 1000;
	int64_t max = a->a.committed_bps * BS_RATING_BUCKET_S / 8;   /* bytes */
	for (int64_t k = 0; k < a->n; k++) {
		size_t c = cell(s, a, a->first + k * BS_RATING_BUCKET_S);
		if (s->in[c] > max) max = s->in[c];
		if (s->out[c] > max) max = s->out[c];
	}
	if (max <= 0)
		max = 1;
	max += max / 10;
	int64_t w = a->n > 1 ? a->n - 1 : 1;
	struct bs_buf *b = &s->b;
	char ymax[BS_DOC_NUM_MAX];
	bs_doc_fmt_bucket_mbps(ymax, sizeof ymax, max);
	bs_buf_printf(b, "<svg class=rates xmlns='http://www.w3.org/2000/svg' viewBox='-2 -20 %" PRId64
		      " %" PRId64 "' preserveAspectRatio='none' width='100%%' height='60mm' role='img'>"
		      "<rect x='0' y='0' width='%" PRId64 "' height='%" PRId64
		      "' fill='#fafafa' stroke='#999' vector-effect='non-scaling-stroke'/>\n",
		      w + 4, H + 40, w, H);
	for (int dir = 0; dir < 2; dir++) {
		bs_buf_printf(b, "<polyline class='%s' fill='none' stroke='%s' stroke-width='1' "
			      "vector-effect='non-scaling-stroke' points='", dir ? "out" : "in",
			      dir ? "#d62728" : "#1f77b4");
		bs_buf_reserve(b, (size_t)a->n * 12);
		for (int64_t k = 0; k < a->n; k++) {
			size_t c = cell(s, a, a->first + k * BS_RATING_BUCKET_S);
			int64_t v = dir ? s->out[c] : s->in[c];
			int64_t y = H - (int64_t)((unsigned __int128)v * (uint64_t)H / (uint64_t)max);
			bs_buf_i64(b, k);
			bs_buf_putc(b, ',');
			bs_buf_i64(b, y);
			if (k + 1 < a->n)
				bs_buf_putc(b, ' ');
		}
		raw(s, "'/>\n");
	}
	int64_t cy = H - (int64_t)((unsigned __int128)(a->a.committed_bps * BS_RATING_BUCKET_S / 8) *
				    (uint64_t)H / (uint64_t)max);
	bs_buf_printf(b, "<line class='commit' x1='0' x2='%" PRId64 "' y1='%" PRId64 "' y2='%" PRId64
		      "' stroke='#2ca02c' stroke-dasharray='6 4' vector-effect='non-scaling-stroke'/>\n",
		      w, cy, cy);
	for (size_t i = 0; i < s->n_lines; i++) {
		const struct st_line *l = &s->lines[i];
		if (!l->first_of_segment || l->alloc_id != a->a.alloc_id || !l->has_billed)
			continue;
		int64_t x0 = -1, x1 = -1;
		for (int64_t k = 0; k < a->n; k++)
			if (a->seg[k] == (int32_t)i) {
				if (x0 < 0) x0 = k;
				x1 = k;
			}
		int64_t y = H - (int64_t)((unsigned __int128)l->billed_bytes * (uint64_t)H / (uint64_t)max);
		bs_buf_printf(b, "<line class='p95' x1='%" PRId64 "' x2='%" PRId64 "' y1='%" PRId64
			      "' y2='%" PRId64 "' stroke='#9467bd' stroke-dasharray='2 2' "
			      "vector-effect='non-scaling-stroke'/>\n", x0, x1, y, y);
		int64_t bx = (l->billed_bucket - a->first) / BS_RATING_BUCKET_S;
		bs_buf_printf(b, "<circle class='billed' cx='%" PRId64 "' cy='%" PRId64 "' r='6' "
			      "fill='none' stroke='#000' stroke-width='2' vector-effect='non-scaling-stroke'/>\n",
			      bx, y);
	}
	bs_buf_puts(b, "</svg>\n<p class=small>");
	bs_buf_printf(b, "<span style='color:#1f77b4'>&#9632; %s</span> "
		      "<span style='color:#d62728'>&#9632; %s</span> "
		      "<span style='color:#2ca02c'>- - %s</span> "
		      "<span style='color:#9467bd'>&middot;&middot; %s</span> &#9675; %s; "
		      "y: 0 – %s</p>\n", L(BS_L_IN), L(BS_L_OUT), L(BS_L_COMMIT),
		      L(BS_L_P95), L(BS_L_BILLED_SAMPLE), ymax);
}

static void svg_days(struct st *s, const struct day *d, size_t n)
{
	int64_t max = 1;
	for (size_t i = 0; i < n; i++) {
		if (d[i].in > max) max = d[i].in;
		if (d[i].out > max) max = d[i].out;
	}
	const int64_t H = 300, W = 30;
	bs_buf_printf(&s->b, "<svg class=days xmlns='http://www.w3.org/2000/svg' viewBox='0 0 %zu %"
		      PRId64 "' preserveAspectRatio='none' width='100%%' height='35mm' role='img'>\n",
		      n * (size_t)W, H);
	for (size_t i = 0; i < n; i++)
		for (int dir = 0; dir < 2; dir++) {
			int64_t v = dir ? d[i].out : d[i].in;
			int64_t hh = (int64_t)((unsigned __int128)v * (uint64_t)(H - 10) / (uint64_t)max);
			bs_buf_printf(&s->b, "<rect class='day' x='%" PRId64 "' y='%" PRId64
				      "' width='12' height='%" PRId64 "' fill='%s'/>",
				      (int64_t)i * W + 2 + dir * 13, H - hh, hh,
				      dir ? "#d62728" : "#1f77b4");
		}
	raw(s, "\n</svg>\n");
}

static void write_html(struct st *s)
{
	char x[256], y[256];
	raw(s, "<!DOCTYPE html>\n<html lang='");
	raw(s, s->lang == BS_LANG_ZH ? "zh-CN" : "en");
	raw(s, "'><head><meta charset='utf-8'><title>");
	h(s, L(BS_L_STATEMENT_TITLE));
	raw(s, " ");
	h(s, s->tenant_name);
	raw(s, " ");
	h(s, s->period);
	raw(s, "</title><style>\n");
	raw(s, bs_doc_print_css());
	raw(s, "</style></head><body>\n");
	if (!s->closed) {
		/* position:fixed repeats it on every printed page */
		raw(s, "<div class=notfinal>");
		h(s, L(BS_L_NOT_FINAL));
		raw(s, "</div>\n");
	}
	raw(s, "<h1>");
	h(s, L(BS_L_STATEMENT_TITLE));
	raw(s, "</h1>\n");
	raw(s, s->closed ? "<p>" : "<p class=banner>");
	h(s, L(s->closed ? BS_L_FINAL : BS_L_NOT_FINAL));
	raw(s, "</p>\n<table class=kv>");
	snprintf(x, sizeof x, "%s (%" PRId64 ")", s->tenant_name, s->tenant_id);
	kv(s, L(BS_L_TENANT), x, false);
	bs_doc_fmt_datetime(x, sizeof x, &s->zone, s->period_iv.from, s->lang);
	bs_doc_fmt_datetime(y, sizeof y, &s->zone, s->period_iv.to, s->lang);
	char per[600];
	snprintf(per, sizeof per, "%s: %s – %s", s->period, x, y);
	kv(s, L(BS_L_PERIOD), per, false);
	kv(s, L(BS_L_TIME_ZONE), s->time_zone, false);
	kv(s, L(BS_L_GENERATED), s->generated, false);
	raw(s, "</table>\n");

	/* documents: invoice summary and digest */
	for (size_t k = 0; k < s->n_docs; k++) {
		const struct st_doc *d = &s->docs[k];
		raw(s, "<h2>");
		h(s, L(BS_L_INVOICE));
		raw(s, " ");
		h(s, d->currency);
		raw(s, "</h2>\n<table class=kv>");
		if (d->closed) {
			kv(s, L(BS_L_INVOICE_NUMBER), d->number, false);
			kv(s, L(BS_L_ISSUE_DATE), d->issue_date, false);
			kv(s, L(BS_L_DUE_DATE), d->due_date, false);
		}
		bs_doc_fmt_money(x, sizeof x, d->subtotal, s->lang);
		kv(s, L(BS_L_SUBTOTAL), x, false);
		for (size_t g = 0; g < d->n_groups; g++) {
			char m[BS_DOC_NUM_MAX], lab[128];
			bs_doc_fmt_money(m, sizeof m, d->groups[g].vat_fen, s->lang);
			snprintf(lab, sizeof lab, "%s %d.%02d%%", L(BS_L_VAT),
				 d->groups[g].vat_bp / 100, d->groups[g].vat_bp % 100);
			kv(s, lab, m, false);
		}
		bs_doc_fmt_money(x, sizeof x, d->total, s->lang);
		kv(s, L(BS_L_TOTAL), x, false);
		if (d->notes[0])
			kv(s, L(BS_L_NOTES), d->notes, false);
		raw(s, "</table>\n<p><b>");
		h(s, L(BS_L_DIGEST));
		raw(s, "</b></p>\n<p class='mono digest'>");
		h(s, d->closed ? d->digest_close : d->digest_now);
		raw(s, "</p>\n");
		if (d->closed && strcmp(d->digest_close, d->digest_now) != 0) {
			raw(s, "<p>");
			h(s, s->lang == BS_LANG_ZH
			  ? "结账后有迟到用量，当前采样摘要为："
			  : "Usage settled after the close; the samples' digest now is:");
			raw(s, "</p>\n<p class='mono digest'>");
			h(s, d->digest_now);
			raw(s, "</p>\n");
		}
		raw(s, "<p class=small>");
		h(s, L(BS_L_PAGE_NOTE_DIGEST));
		raw(s, "</p>\n");
	}

	/* segments and charges */
	raw(s, "<h2>");
	h(s, L(BS_L_CHARGES));
	raw(s, "</h2>\n<table><thead><tr>");
	th(s, L(BS_L_SEGMENT), false);
	th(s, L(BS_L_ALLOCATION), false);
	th(s, L(BS_L_WINDOW), false);
	th(s, L(BS_L_CHARGE), false);
	th(s, L(BS_L_QUANTITY), true);
	th(s, L(BS_L_UNIT_PRICE), true);
	th(s, L(BS_L_AMOUNT), true);
	raw(s, "</tr></thead><tbody>\n");
	for (size_t i = 0; i < s->n_lines; i++) {
		const struct st_line *l = &s->lines[i];
		raw(s, "<tr>");
		td_int(s, l->segment_no);
		snprintf(x, sizeof x, "#%" PRId64 " %s v%d", l->alloc_id, l->plan_kind, l->plan_version);
		td_text(s, x);
		bs_doc_fmt_datetime(x, sizeof x, &s->zone, l->wfrom, s->lang);
		bs_doc_fmt_datetime(y, sizeof y, &s->zone, l->wto, s->lang);
		snprintf(per, sizeof per, "%s – %s", x, y);
		td_text(s, per);
		td_text(s, charge_label(s, l->charge));
		td_num(s, l->quantity);
		if (l->unit_price >= 0)
			td_money(s, l->unit_price);
		else
			td_text(s, "");
		td_money(s, l->amount);
		raw(s, "</tr>\n");
	}
	raw(s, "</tbody></table>\n");

	/* the evidence per segment */
	raw(s, "<h2>");
	h(s, L(BS_L_P95));
	raw(s, "</h2>\n<table class=ev><thead><tr>");
	th(s, L(BS_L_SEGMENT), false);
	th(s, L(BS_L_BUCKETS), true);
	th(s, L(BS_L_GAPS), true);
	th(s, L(BS_L_BILLED_RANK), true);
	th(s, L(BS_L_DROPPED), true);
	th(s, L(BS_L_BILLED_SAMPLE), false);
	th(s, L(BS_L_BILLABLE), true);
	th(s, L(BS_L_BILLABLE_BW), true);
	th(s, L(BS_L_COMMIT), true);
	th(s, L(BS_L_IN), true);
	th(s, L(BS_L_OUT), true);
	raw(s, "</tr></thead><tbody>\n");
	for (size_t i = 0; i < s->n_lines; i++) {
		const struct st_line *l = &s->lines[i];
		if (!l->first_of_segment)
			continue;
		raw(s, "<tr>");
		snprintf(x, sizeof x, "%d (%s)", l->segment_no, l->direction);
		td_text(s, x);
		td_int(s, l->buckets);
		td_int(s, l->gaps);
		if (l->has_billed) {
			td_int(s, l->billed_rank);
		} else {
			td_text(s, "");
		}
		td_int(s, l->dropped);
		if (l->has_billed) {
			bs_doc_fmt_datetime(x, sizeof x, &s->zone, l->billed_bucket, s->lang);
			td_text(s, x);
			td_int(s, l->billed_bytes);
			bs_doc_fmt_bucket_mbps(x, sizeof x, l->billed_bytes);
			td_num(s, x);
		} else {
			td_text(s, "");
			td_text(s, "");
			td_text(s, "");
		}
		bs_doc_fmt_mbps(x, sizeof x, (unsigned __int128)l->commit_bps, 1);
		td_num(s, x);
		td_bytes(s, l->bytes_in);
		td_bytes(s, l->bytes_out);
		raw(s, "</tr>\n");
	}
	raw(s, "</tbody></table>\n");

	/* per allocation: the rate chart */
	for (size_t ai = 0; ai < s->n_allocs; ai++) {
		const struct st_alloc *a = &s->allocs[ai];
		raw(s, "<div class=keep><h2>");
		h(s, L(BS_L_RATE_CHART));
		snprintf(x, sizeof x, " — %s #%" PRId64 " (%s, %s)", L(BS_L_ALLOCATION),
			 a->a.alloc_id, a->pool_name, a->plan_name);
		h(s, x);
		raw(s, "</h2>\n");
		svg_rates(s, a);
		raw(s, "</div>\n");
	}

	/* daily volumes: chart and table; the month's total */
	struct day dd[40];
	size_t nd = days_of(s, dd, 40, -1);
	raw(s, "<div class=keep><h2>");
	h(s, L(BS_L_DAILY_VOLUME));
	raw(s, "</h2>\n");
	svg_days(s, dd, nd);
	raw(s, "</div>\n<table><thead><tr>");
	th(s, L(BS_L_DATE), false);
	th(s, L(BS_L_IN), true);
	th(s, L(BS_L_OUT), true);
	th(s, L(BS_L_BILLABLE), true);
	raw(s, "</tr></thead><tbody>\n");
	int64_t tin = 0, tout = 0, tbill = 0;
	for (size_t i = 0; i < nd; i++) {
		raw(s, "<tr>");
		if (s->lang == BS_LANG_ZH)
			snprintf(x, sizeof x, "%d年%d月%d日", dd[i].y, dd[i].m, dd[i].d);
		else
			snprintf(x, sizeof x, "%04d-%02d-%02d", dd[i].y, dd[i].m, dd[i].d);
		td_text(s, x);
		td_bytes(s, dd[i].in);
		td_bytes(s, dd[i].out);
		td_bytes(s, dd[i].billable);
		raw(s, "</tr>\n");
		tin += dd[i].in;
		tout += dd[i].out;
		tbill += dd[i].billable;
	}
	raw(s, "</tbody><tfoot><tr>");
	td_text(s, L(BS_L_MONTHLY_VOLUME));
	td_bytes(s, tin);
	td_bytes(s, tout);
	td_bytes(s, tbill);
	raw(s, "</tr></tfoot></table>\n");

	/* the marked buckets: billed, dropped, gaps — six to a row */
	raw(s, "<h2>");
	h(s, L(BS_L_BUCKET_MARKS));
	raw(s, "</h2>\n<p class=small>B = ");
	h(s, L(BS_L_BILLED_SAMPLE));
	raw(s, ", D = ");
	h(s, L(BS_L_DROPPED_SAMPLE));
	raw(s, ", G = ");
	h(s, L(BS_L_GAP));
	raw(s, "; ");
	h(s, L(BS_L_RATE_MBPS));
	raw(s, "</p>\n");
	for (size_t ai = 0; ai < s->n_allocs; ai++) {
		const struct st_alloc *a = &s->allocs[ai];
		snprintf(x, sizeof x, "%s #%" PRId64, L(BS_L_ALLOCATION), a->a.alloc_id);
		raw(s, "<h3>");
		h(s, x);
		raw(s, "</h3>\n<table class=marks><thead><tr>");
		for (int k = 0; k < 6; k++) {
			th(s, L(BS_L_BUCKET), false);
			th(s, "Mbps", true);
		}
		raw(s, "</tr></thead><tbody>\n");
		int col = 0;
		for (int64_t k = 0; k < a->n; k++) {
			if (!(a->marks[k] & (MARK_BILLED | MARK_DROPPED)))
				continue;
			int64_t t = a->first + k * BS_RATING_BUCKET_S;
			size_t c = cell(s, a, t);
			const struct st_line *l = a->seg[k] >= 0 ? &s->lines[a->seg[k]] : NULL;
			if (col == 0)
				raw(s, "<tr>");
			char dt[64], m[8] = "";
			bs_doc_fmt_date(dt, sizeof dt, &s->zone, t, BS_LANG_EN);
			size_t nm = 0;
			if (a->marks[k] & MARK_BILLED) m[nm++] = 'B';
			if (a->marks[k] & MARK_DROPPED) m[nm++] = 'D';
			if (a->marks[k] & MARK_GAP) m[nm++] = 'G';
			m[nm] = '\0';
			char hm[8];
			bs_doc_fmt_hhmm(hm, sizeof hm, &s->zone, t);
			snprintf(x, sizeof x, "%s %s %s", dt + 5, hm, m);
			bs_buf_printf(&s->b, "<td class=%s>", (a->marks[k] & MARK_BILLED) ? "bm" : "m");
			h(s, x);
			raw(s, "</td>");
			bs_doc_fmt_mbps(y, sizeof y, (unsigned __int128)billable(
				l ? l->rule : BS_RULE_MAX, s->in[c], s->out[c]) * 8, 300);
			y[strlen(y) - 5] = '\0';   /* the unit is in the header */
			td_num(s, y);
			if (++col == 6) {
				raw(s, "</tr>\n");
				col = 0;
			}
		}
		if (col)
			raw(s, "</tr>\n");
		raw(s, "</tbody></table>\n");
		/* gaps as runs of consecutive buckets */
		raw(s, "<p class=small><b>");
		h(s, L(BS_L_GAP));
		raw(s, ":</b> ");
		int runs = 0;
		for (int64_t k = 0; k < a->n; k++) {
			if (!(a->marks[k] & MARK_GAP))
				continue;
			int64_t e = k;
			while (e + 1 < a->n && (a->marks[e + 1] & MARK_GAP))
				e++;
			int64_t t0 = a->first + k * BS_RATING_BUCKET_S;
			int64_t t1 = a->first + (e + 1) * BS_RATING_BUCKET_S;
			bs_doc_fmt_datetime(x, sizeof x, &s->zone, t0, s->lang);
			bs_doc_fmt_hhmm(y, sizeof y, &s->zone, t1);
			bs_buf_printf(&s->b, "%s", runs++ ? "; " : "");
			h(s, x);
			raw(s, " – ");
			h(s, y);
			bs_buf_printf(&s->b, " (%" PRId64 ")", e - k + 1);
			k = e;
		}
		if (runs == 0)
			raw(s, "0");
		raw(s, "</p>\n");
	}
	raw(s, "<style>td.bm{font-weight:bold;background:#ffe}td.m,td.bm{white-space:nowrap}"
	       "svg.rates{height:62mm}svg.days{height:32mm}"
	       "table.marks,table.ev{font-size:7.5pt}p.digest{font-size:8.5pt;"
	       "word-break:normal;white-space:nowrap}</style>\n");
	raw(s, "</body></html>\n");
}

/* ---- the entry point --------------------------------------------------------------- */

static int check_period(const char *p)
{
	if (!p || strlen(p) != 7 || p[4] != '-')
		return -1;
	for (int i = 0; i < 7; i++)
		if (i != 4 && !isdigit((unsigned char)p[i]))
			return -1;
	int y = atoi(p), m = atoi(p + 5);
	return y >= 2000 && y <= 9999 && m >= 1 && m <= 12 ? 0 : -1;
}

static void free_st(struct st *s)
{
	for (size_t i = 0; s->allocs && i < s->n_allocs; i++) {
		free(s->allocs[i].marks);
		free(s->allocs[i].seg);
	}
	free(s->allocs);
	free(s->pools);
	free(s->in);
	free(s->out);
	free(s->present);
	free(s->versions);
	free(s->lines);
	bs_buf_free(&s->b);
}

static int write_pdf(struct st *s, FILE *out)
{
	char e[600];
	if (bs_doc_pdf_write(s->b.p, s->b.len, out, e, sizeof e) != 0)
		return fail(s, 3, "statement: %s", e);
	return s->rc;
}

int bs_statement_write(PGconn *conn, int64_t tenant_id, const char *period,
		       enum bs_doc_format fmt, enum bs_doc_lang lang,
		       FILE *out, char *err, size_t err_size)
{
	struct st *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, err_size, "statement: out of memory");
		return 3;
	}
	s->conn = conn;
	s->err = err;
	s->err_size = err_size;
	s->lang = lang;
	s->tenant_id = tenant_id;
	err[0] = '\0';
	phase(NULL);
	if (check_period(period) != 0) {
		fail(s, 2, "--period '%s': expected YYYY-MM (2000-01 .. 9999-12)",
		     period ? period : "");
	} else if (tenant_id < 1 || tenant_id > 4294967295LL) {
		fail(s, 2, "--tenant %" PRId64 ": expected 1 .. 4294967295", tenant_id);
	} else if ((unsigned)fmt > BS_DOC_PDF || (unsigned)lang > BS_LANG_ZH) {
		fail(s, 2, "--format/--lang: unknown value");
	}
	if (s->rc == 0) {
		snprintf(s->period, sizeof s->period, "%s", period);
		snprintf(s->period_date, sizeof s->period_date, "%s-01", period);
		load_period(s);
	}
	char from[24], to[24], tid[24];
	snprintf(from, sizeof from, "%" PRId64, s->period_iv.from);
	snprintf(to, sizeof to, "%" PRId64, s->period_iv.to);
	snprintf(tid, sizeof tid, "%" PRId64, tenant_id);
	const char *pp[3] = { from, to, tid };
	phase("period");
	if (s->rc == 0 && load_allocs(s, pp) == 0 && (phase("allocs"), 1) &&
	    load_samples(s) == 0 && (phase("samples"), 1) && load_docs(s) == 0) {
		phase("documents");
		if (s->n_allocs == 0 && !s->closed)
			fail(s, 1, "--tenant %" PRId64 ": no allocation in %s",
			     tenant_id, period);
		if (s->rc == 0 && !s->closed)
			rate_open(s, pp);
		phase("rate");
		if (s->rc == 0)
			mark(s);
		phase("mark");
	}
	if (s->rc == 0) {
		bs_buf_reserve(&s->b, 1 << 20);
		switch (fmt) {
		case BS_DOC_CSV: write_csv(s); break;
		case BS_DOC_JSON: write_json(s); break;
		case BS_DOC_HTML:
		case BS_DOC_PDF: write_html(s); break;
		}
		if (s->b.failed)
			fail(s, 3, "statement: out of memory (over %zu bytes)",
			     (size_t)BS_BUF_MAX);
	}
	phase("format");
	if (s->rc == 0) {
		if (fmt == BS_DOC_PDF)
			write_pdf(s, out);
		else if (fwrite(s->b.p, 1, s->b.len, out) != s->b.len)
			fail(s, 3, "statement: writing the output failed");
	}
	phase("write");
	int rc = s->rc;
	free_st(s);
	free(s);
	return rc;
}
