/*
 * store.c — the settlement's PostgreSQL work. See store.h.
 */
#include "store.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "db.h"
#include "log.h"
#include "migrate.h"
#include "validate.h"

#define KNOWN_DAYS_MAX 4096        /* days known to have a raw partition */
#define MAX_PIPELINE 6             /* statements in one pipeline */
#define COPY_PIECE 65536           /* bytes per CopyData message */

enum stmt_kind {
	STMT_BEGIN, STMT_OFFSETS, STMT_SUMMARY_CONFLICT, STMT_SUMMARY, STMT_REJECT,
	STMT_PROBE,
	STMT_ROLLUP, STMT_STAGED, STMT_COMMIT,
};

struct settle_store {
	const struct settle_config *cfg;
	const char *sql_dir;
	PGconn *conn;
	int32_t known_days[KNOWN_DAYS_MAX];
	size_t nknown;
	/* the pipeline being sent */
	enum stmt_kind sent[MAX_PIPELINE];
	size_t nsent;
	/* offset arrays of the batch */
	struct bs_pgarray off_part, off_expected, off_next;
	/* the DLQ rows claimed (settle_store_dlq_claim) */
	PGresult *dlq_res;
	struct store_dlq_row *dlq_rows;
};

const char *const store_gap_kinds[STORE_GAP_KINDS] = {
	"seq_gap", "missing_summary", "count_mismatch", "sum_mismatch",
};

static const char OFFSETS_SQL[] =
	"SELECT bs_offsets_advance($1, $2, $3::int4[], $4::int8[], $5::int8[])";

/* The usage rows, straight into usage_raw: the first pass's way in. One
 * descent of the identity index per row; a row already stored fails the
 * whole COPY (unique_violation) and the savepoint takes it back. */
static const char COPY_RAW_SQL[] =
	"SAVEPOINT bs_usage; COPY usage_raw (" SETTLE_COPY_COLUMNS ")"
	" FROM STDIN (FORMAT binary)";

/* Otherwise (a replay, a record sent twice, a sum too large for the
 * client) the rows go to the session's staging table first ... */
static const char COPY_STAGE_AFTER_RAW_SQL[] =
	"ROLLBACK TO SAVEPOINT bs_usage; COPY bs_usage_stage (" SETTLE_COPY_COLUMNS ")"
	" FROM STDIN (FORMAT binary)";
static const char COPY_STAGE_SQL[] =
	"COPY bs_usage_stage (" SETTLE_COPY_COLUMNS ") FROM STDIN (FORMAT binary)";

/* The rollup's upsert: a bucket's counts grow by the rows' sums (the
 * statements below alias usage_5m as r). */
#define ROLLUP_ADD \
	" ON CONFLICT (tenant_id, pool_id, direction, bucket_start) DO UPDATE SET" \
	"  frame_packets = r.frame_packets + excluded.frame_packets," \
	"  frame_bytes = r.frame_bytes + excluded.frame_bytes," \
	"  ip_packets = r.ip_packets + excluded.ip_packets," \
	"  ip_bytes = r.ip_bytes + excluded.ip_bytes," \
	"  policed_packets = r.policed_packets + excluded.policed_packets," \
	"  policed_bytes = r.policed_bytes + excluded.policed_bytes," \
	"  records = r.records + excluded.records," \
	"  late_records = r.late_records + excluded.late_records," \
	"  updated_at = now()"

/* ... and from there into usage_raw, skipping the identities stored
 * already: each staged row's stored twin is looked up once (one index
 * probe per row, all a replay costs; the batch's range $1, $2 prunes the
 * partitions when planning, OFFSET 0 keeps it a per-row probe whatever the
 * statistics say), and the first copy of each identity not stored is
 * inserted (ON CONFLICT DO NOTHING for a concurrent insert); the rollups
 * add exactly the rows inserted. A record belongs to the 5-minute bucket
 * that contains its interval_start.
 *
 * A staged row whose stored twin — or, when none, whose first copy in the
 * batch — has other counts is an identity conflict: it goes to
 * rejected_records (reason identity_conflict, both values), named by the
 * Kafka partition and offset it was read at ($4, $5: per row in batch
 * order; ord counts the rows as the COPY staged them). */
#define COUNTS "packets, bytes, policed_packets, policed_bytes"
#define IDENTITY_EQ(a, b) \
	a ".interval_start = " b ".interval_start AND " a ".boot_id = " b ".boot_id" \
	" AND " a ".tenant_id = " b ".tenant_id AND " a ".pool_id = " b ".pool_id" \
	" AND " a ".direction = " b ".direction AND " a ".node_id = " b ".node_id"
#define RECORD_JSON(t, prefix) \
	"jsonb_build_object('node_id', " t ".node_id, 'boot_id', " t ".boot_id," \
	" 'interval_start', " t ".interval_start, 'tenant_id', " t ".tenant_id," \
	" 'pool_id', " t ".pool_id, 'direction', " t ".direction," \
	" 'packets', " t "." prefix "packets, 'bytes', " t "." prefix "bytes," \
	" 'policed_packets', " t "." prefix "policed_packets," \
	" 'policed_bytes', " t "." prefix "policed_bytes)"
static const char STAGED_SQL[] =
	"WITH s AS MATERIALIZED ("
	"  SELECT s.*, s.ord - min(s.ord) OVER () + 1 AS n,"
	"    row_number() OVER w AS copy_no,"
	"    first_value(s.packets) OVER w AS f_packets, first_value(s.bytes) OVER w AS f_bytes,"
	"    first_value(s.policed_packets) OVER w AS f_policed_packets,"
	"    first_value(s.policed_bytes) OVER w AS f_policed_bytes,"
	"    st.found, st.packets AS st_packets, st.bytes AS st_bytes,"
	"    st.policed_packets AS st_policed_packets, st.policed_bytes AS st_policed_bytes"
	"  FROM bs_usage_stage s"
	"  LEFT JOIN LATERAL (SELECT true AS found, " COUNTS " FROM usage_raw r"
	"    WHERE r.interval_start BETWEEN $1::timestamptz AND $2::timestamptz"
	"      AND " IDENTITY_EQ("r", "s") " OFFSET 0) st ON true"
	"  WINDOW w AS (PARTITION BY s.interval_start, s.boot_id, s.tenant_id,"
	"    s.pool_id, s.direction, s.node_id ORDER BY s.ord)"
	"), ins AS ("
	"  INSERT INTO usage_raw (" SETTLE_COPY_COLUMNS ")"
	"  SELECT " SETTLE_COPY_COLUMNS " FROM s WHERE s.found IS NULL AND s.copy_no = 1"
	"  ORDER BY s.ord"
	"  ON CONFLICT (interval_start, boot_id, tenant_id, pool_id, direction, node_id)"
	"  DO NOTHING"
	"  RETURNING tenant_id, pool_id, direction, interval_start, byte_measure,"
	"    packets, bytes, policed_packets, policed_bytes, late"
	"), conflict AS ("
	"  SELECT s.*, CASE WHEN s.found THEN " RECORD_JSON("s", "st_")
	"    ELSE " RECORD_JSON("s", "f_") " END AS stored"
	"  FROM s WHERE CASE WHEN s.found"
	"    THEN (s.st_packets, s.st_bytes, s.st_policed_packets, s.st_policed_bytes)"
	"      IS DISTINCT FROM (s.packets, s.bytes, s.policed_packets, s.policed_bytes)"
	"    ELSE s.copy_no > 1 AND (s.f_packets, s.f_bytes, s.f_policed_packets,"
	"      s.f_policed_bytes) IS DISTINCT FROM (s.packets, s.bytes,"
	"      s.policed_packets, s.policed_bytes) END"
	"), rej AS ("
	"  INSERT INTO rejected_records (topic, kafka_partition, kafka_offset, payload,"
	"    payload_bytes, payload_sha256, reason, error, conflict)"
	"  SELECT $3, ($4::int4[])[c.n::int4], ($5::int8[])[c.n::int4], p.payload,"
	"    length(p.payload), sha256(p.payload), 'identity_conflict',"
	"    format('identity stored with other counts: stored packets %s bytes %s,"
	" received packets %s bytes %s', c.stored->'packets', c.stored->'bytes',"
	"      c.packets, c.bytes),"
	"    jsonb_build_object('stored', c.stored, 'received', " RECORD_JSON("c", "") ")"
	"  FROM conflict c,"
	"    LATERAL (SELECT convert_to(" RECORD_JSON("c", "") "::text, 'UTF8') AS payload) p"
	"  ORDER BY c.ord"
	"  ON CONFLICT (topic, kafka_partition, kafka_offset) DO NOTHING"
	"  RETURNING error, kafka_partition, kafka_offset"
	"), sums AS ("
	"  SELECT tenant_id, pool_id, direction,"
	"    date_bin('300 seconds', interval_start, timestamptz 'epoch') AS bucket_start,"
	"    coalesce(sum(packets) FILTER (WHERE byte_measure = 'frame'), 0) AS frame_packets,"
	"    coalesce(sum(bytes) FILTER (WHERE byte_measure = 'frame'), 0) AS frame_bytes,"
	"    coalesce(sum(packets) FILTER (WHERE byte_measure = 'ip'), 0) AS ip_packets,"
	"    coalesce(sum(bytes) FILTER (WHERE byte_measure = 'ip'), 0) AS ip_bytes,"
	"    sum(policed_packets) AS policed_packets, sum(policed_bytes) AS policed_bytes,"
	"    count(*) AS records, count(*) FILTER (WHERE ins.late) AS late_records"
	"  FROM ins GROUP BY 1, 2, 3, 4"
	"), up AS ("
	"  INSERT INTO usage_5m AS r (tenant_id, pool_id, direction, bucket_start,"
	"    frame_packets, frame_bytes, ip_packets, ip_bytes, policed_packets,"
	"    policed_bytes, records, late_records)"
	"  SELECT * FROM sums ORDER BY 1, 2, 3, 4"
	ROLLUP_ADD
	"  RETURNING 1"
	") SELECT (SELECT count(*) FROM ins), (SELECT coalesce(sum(late_records), 0) FROM sums),"
	"  (SELECT count(*) FROM up), (SELECT count(*) FROM rej),"
	"  (SELECT format('[%s] offset %s: %s', kafka_partition, kafka_offset, error)"
	"     FROM rej ORDER BY kafka_partition, kafka_offset LIMIT 1)";

/* A summary whose (node, boot, interval) is stored with other values is
 * an identity conflict too, and so is a second copy in the batch with
 * other values than the first (sent before SUMMARY_SQL, which keeps the
 * stored one, or the batch's first copy). */
#define SUMMARY_JSON(t) \
	"jsonb_build_object('node_id', " t ".node_id, 'boot_id', " t ".boot_id," \
	" 'interval_start', " t ".interval_start, 'record_count', " t ".record_count," \
	" 'in_packets', " t ".in_packets, 'in_bytes', " t ".in_bytes," \
	" 'out_packets', " t ".out_packets, 'out_bytes', " t ".out_bytes)"
#define SUMMARY_VALUES(t) \
	"(" t ".record_count, " t ".in_packets, " t ".in_bytes, " t ".out_packets, " \
	t ".out_bytes)"
#define SUMMARY_ARRAYS \
	"unnest($2::text[], $3::uuid[], $4::timestamptz[], $5::int4[]," \
	"  $6::int8[], $7::int8[], $8::int8[], $9::int8[], $10::int4[], $11::int8[])" \
	" WITH ORDINALITY"
static const char SUMMARY_CONFLICT_SQL[] =
	"WITH u AS MATERIALIZED ("
	"  SELECT * FROM " SUMMARY_ARRAYS
	"    AS u(node_id, boot_id, interval_start, record_count, in_packets, in_bytes,"
	"      out_packets, out_bytes, kafka_partition, kafka_offset, ord)"
	"), c AS ("
	"  SELECT u.*, coalesce(n.v, f.v) AS stored FROM u"
	"  LEFT JOIN LATERAL (SELECT " SUMMARY_JSON("n") " AS v, " SUMMARY_VALUES("n") " AS vals"
	"    FROM node_interval n WHERE n.node_id = u.node_id AND n.boot_id = u.boot_id"
	"      AND n.interval_start = u.interval_start) n ON true"
	"  LEFT JOIN LATERAL (SELECT " SUMMARY_JSON("f") " AS v, " SUMMARY_VALUES("f") " AS vals"
	"    FROM u f WHERE f.node_id = u.node_id AND f.boot_id = u.boot_id"
	"      AND f.interval_start = u.interval_start AND f.ord < u.ord"
	"    ORDER BY f.ord LIMIT 1) f ON true"
	"  WHERE CASE WHEN n.v IS NOT NULL THEN n.vals IS DISTINCT FROM " SUMMARY_VALUES("u")
	"    ELSE f.v IS NOT NULL AND f.vals IS DISTINCT FROM " SUMMARY_VALUES("u") " END"
	"), rej AS ("
	"  INSERT INTO rejected_records (topic, kafka_partition, kafka_offset, payload,"
	"    payload_bytes, payload_sha256, reason, error, conflict)"
	"  SELECT $1, c.kafka_partition, c.kafka_offset, p.payload, length(p.payload),"
	"    sha256(p.payload), 'identity_conflict',"
	"    format('summary stored with other counts: stored records %s in_bytes %s"
	" out_bytes %s, received records %s in_bytes %s out_bytes %s',"
	"      c.stored->'record_count', c.stored->'in_bytes', c.stored->'out_bytes',"
	"      c.record_count, c.in_bytes, c.out_bytes),"
	"    jsonb_build_object('stored', c.stored, 'received', " SUMMARY_JSON("c") ")"
	"  FROM c CROSS JOIN LATERAL (SELECT convert_to(" SUMMARY_JSON("c") "::text,"
	"    'UTF8') AS payload) p"
	"  ORDER BY c.ord"
	"  ON CONFLICT (topic, kafka_partition, kafka_offset) DO NOTHING"
	"  RETURNING error, kafka_partition, kafka_offset"
	") SELECT (SELECT count(*) FROM rej),"
	"  (SELECT format('[%s] offset %s: %s', kafka_partition, kafka_offset, error)"
	"     FROM rej ORDER BY kafka_partition, kafka_offset LIMIT 1)";

/* Is the batch's first usage record stored already? Then the batch is
 * (part of) a replay: staged at once, without a COPY into usage_raw
 * bound to fail (it would write and roll back its first rows). */
static const char PROBE_SQL[] =
	"SELECT EXISTS (SELECT FROM usage_raw WHERE interval_start = $1::timestamptz"
	" AND boot_id = $2::uuid AND tenant_id = $3::int8 AND pool_id = $4::int8"
	" AND direction = $5::text AND node_id = $6::text)";

/* When the COPY into usage_raw succeeded, every record was new: the
 * rollups add the batch's own sums (batch.h, AGG_*). */
static const char ROLLUP_SQL[] =
	"INSERT INTO usage_5m AS r (tenant_id, pool_id, direction, bucket_start,"
	"  frame_packets, frame_bytes, ip_packets, ip_bytes, policed_packets,"
	"  policed_bytes, records, late_records)"
	" SELECT * FROM unnest($1::int8[], $2::int8[], $3::text[], $4::timestamptz[],"
	"   $5::int8[], $6::int8[], $7::int8[], $8::int8[], $9::int8[], $10::int8[],"
	"   $11::int8[], $12::int8[]) AS a(tenant_id, pool_id, direction, bucket_start)"
	" ORDER BY 1, 2, 3, 4"
	ROLLUP_ADD;

/* The session's staging table (connect); emptied by every commit. */
static const char STAGE_TABLE_SQL[] =
	"CREATE TEMP TABLE IF NOT EXISTS bs_usage_stage (LIKE usage_raw INCLUDING DEFAULTS,"
	"  ord bigint GENERATED ALWAYS AS IDENTITY)"
	" ON COMMIT DELETE ROWS";
/* A replayed batch (its first record stored) is checked first by its
 * identities only, grouped (batch.h, SETTLE_ID_*): when every one is
 * stored (a replay, the usual case), nothing else is sent. One descent of
 * the identity index per (node, boot, interval, tenant, pool) finds its
 * stored rows — a tenant's in and out records of a node's interval, side
 * by side in the index — and counts those whose full identity, direction
 * included, is in the batch; the identity is unique, so the count equals
 * the batch's distinct identities only if every one of them is stored.
 * The identities come as array parameters of the one statement (tens of
 * kB: no temporary table to copy into and empty at commit, one round trip
 * less). The batch's range ($1, $2) prunes the partitions when planning; the
 * LATERAL subquery, kept one by OFFSET 0 (never pulled up into a join the
 * planner could make a hash join reading the whole partition), is probed
 * pair by pair. */
static const char COUNT_STORED_SQL[] =
	"SELECT count(*) FROM (SELECT g.node_id, g.boot_id, g.interval_start,"
	"    generate_series(g.first, g.last) AS i"
	"  FROM unnest($3::text[], $4::uuid[], $5::timestamptz[], $6::int4[], $7::int4[])"
	"    AS g(node_id, boot_id, interval_start, first, last)) g"
	" CROSS JOIN LATERAL (SELECT FROM usage_raw r"
	"  WHERE r.interval_start BETWEEN $1::timestamptz AND $2::timestamptz"
	"    AND r.interval_start = g.interval_start AND r.boot_id = g.boot_id"
	"    AND r.tenant_id = ($8::int8[])[g.i] >> 32 & 4294967295"
	"    AND r.pool_id = ($8::int8[])[g.i] & 4294967295"
	"    AND r.node_id = g.node_id COLLATE \"C\""
	"    AND (CASE r.direction WHEN 'in' THEN 1 WHEN 'out' THEN 2 ELSE 0 END"
	"      & ($9::int2[])[g.i]) <> 0"
	/* stored with the same counts: else an identity conflict */
	"    AND r.packets = CASE r.direction WHEN 'in' THEN ($10::int8[])[g.i]"
	"      ELSE ($14::int8[])[g.i] END"
	"    AND r.bytes = CASE r.direction WHEN 'in' THEN ($11::int8[])[g.i]"
	"      ELSE ($15::int8[])[g.i] END"
	"    AND r.policed_packets = CASE r.direction WHEN 'in' THEN ($12::int8[])[g.i]"
	"      ELSE ($16::int8[])[g.i] END"
	"    AND r.policed_bytes = CASE r.direction WHEN 'in' THEN ($13::int8[])[g.i]"
	"      ELSE ($17::int8[])[g.i] END"
	"  OFFSET 0) r";
static_assert(SETTLE_ID_IN_COUNTS == 7 && SETTLE_ID_OUT_COUNTS == 11 &&
	      SETTLE_ID_NCOLS == 15, "COUNT_STORED_SQL's parameters");
static_assert(SETTLE_DIR_BIT_IN == 1 && SETTLE_DIR_BIT_OUT == 2, "COUNT_STORED_SQL");

static const char SUMMARY_SQL[] =
	"INSERT INTO node_interval (node_id, boot_id, interval_start, interval_len,"
	"  byte_measure, map_version, seq, record_count, first_seq,"
	"  in_packets, in_bytes, out_packets, out_bytes,"
	"  unattributed_packets, unattributed_bytes, malformed_packets, malformed_bytes,"
	"  non_ip_packets, non_ip_bytes, rx_packets, rx_bytes, late,"
	"  late_packets, late_bytes, malformed_short_ether, malformed_too_many_tags,"
	"  malformed_short_ip, malformed_bad_version, malformed_bad_ihl,"
	"  malformed_bad_length)"
	" SELECT u.*"
	" FROM unnest($1::text[], $2::uuid[], $3::timestamptz[], $4::int4[],"
	"   $5::text[], $6::int8[], $7::int8[], $8::int4[], $9::int8[],"
	"   $10::int8[], $11::int8[], $12::int8[], $13::int8[], $14::int8[],"
	"   $15::int8[], $16::int8[], $17::int8[], $18::int8[], $19::int8[],"
	"   $20::int8[], $21::int8[], $22::bool[], $23::int8[], $24::int8[],"
	"   $25::int8[], $26::int8[], $27::int8[], $28::int8[], $29::int8[],"
	"   $30::int8[])"
	"   AS u(node_id, boot_id, interval_start, interval_len, byte_measure,"
	"     map_version, seq, record_count, first_seq, in_packets, in_bytes,"
	"     out_packets, out_bytes, unattributed_packets, unattributed_bytes,"
	"     malformed_packets, malformed_bytes, non_ip_packets, non_ip_bytes,"
	"     rx_packets, rx_bytes, late, late_packets, late_bytes,"
	"     malformed_short_ether, malformed_too_many_tags, malformed_short_ip,"
	"     malformed_bad_version, malformed_bad_ihl, malformed_bad_length)"
	" ON CONFLICT (node_id, boot_id, interval_start) DO NOTHING";

static const char REJECT_SQL[] =
	"INSERT INTO rejected_records (topic, kafka_partition, kafka_offset,"
	"  kafka_key, payload, payload_bytes, reason, error, payload_sha256)"
	" SELECT $1, u.* FROM unnest($2::int4[], $3::int8[], $4::bytea[],"
	"   $5::bytea[], $6::int4[], $7::text[], $8::text[], $9::bytea[])"
	"   AS u(kafka_partition, kafka_offset, kafka_key, payload, payload_bytes,"
	"     reason, error, payload_sha256)"
	" ON CONFLICT (topic, kafka_partition, kafka_offset) DO NOTHING";

struct settle_store *settle_store_new(const struct settle_config *cfg,
				      const char *sql_dir)
{
	struct settle_store *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->cfg = cfg;
	s->sql_dir = sql_dir;
	if (bs_pgarray_init(&s->off_part, PG_OID_INT4, 4096) < 0 ||
	    bs_pgarray_init(&s->off_expected, PG_OID_INT8, 4096) < 0 ||
	    bs_pgarray_init(&s->off_next, PG_OID_INT8, 4096) < 0) {
		settle_store_free(s);
		return NULL;
	}
	return s;
}

void settle_store_free(struct settle_store *s)
{
	if (s == NULL)
		return;
	settle_store_disconnect(s);
	PQclear(s->dlq_res);
	free(s->dlq_rows);
	bs_pgarray_free(&s->off_part);
	bs_pgarray_free(&s->off_expected);
	bs_pgarray_free(&s->off_next);
	free(s);
}

bool settle_store_connected(const struct settle_store *s)
{
	return s->conn != NULL && PQstatus(s->conn) == CONNECTION_OK;
}

void settle_store_disconnect(struct settle_store *s)
{
	if (s->conn != NULL)
		PQfinish(s->conn);
	s->conn = NULL;
	s->nsent = 0;
	s->nknown = 0;   /* partitions may have been dropped meanwhile */
}

int settle_store_connect(struct settle_store *s, bool check_schema, char *err,
			 size_t err_size)
{
	settle_store_disconnect(s);
	s->conn = bs_db_connect(s->cfg->conninfo, "bandsplit-settle", err, err_size);
	if (s->conn == NULL)
		return -1;
	/* JIT would compile the batch statements again and again for
	 * nothing; times are UTC in every message. */
	char timeouts[3][16];
	snprintf(timeouts[0], sizeof(timeouts[0]), "%" PRIu32, s->cfg->lock_timeout_ms);
	snprintf(timeouts[1], sizeof(timeouts[1]), "%" PRIu32, s->cfg->statement_timeout_ms);
	snprintf(timeouts[2], sizeof(timeouts[2]), "%" PRIu32,
		 s->cfg->idle_in_transaction_timeout_ms);
	const char *tv[3] = { timeouts[0], timeouts[1], timeouts[2] };
	/* A frozen instance (SIGSTOP, a VM paused) holding its batch's row
	 * locks is cut off by its own session's idle_in_transaction timeout
	 * (or statement_timeout inside a COPY), and its successor's lock
	 * waits end in lock_not_available, retried: nobody waits for ever. */
	if (bs_db_exec(s->conn, "session settings", "SET jit = off", 0, NULL,
		       err, err_size) < 0 ||
	    bs_db_exec(s->conn, "session settings", "SET TimeZone = 'UTC'", 0,
		       NULL, err, err_size) < 0 ||
	    bs_db_exec(s->conn, "session timeouts",
		       "SELECT set_config('lock_timeout', $1, false),"
		       " set_config('statement_timeout', $2, false),"
		       " set_config('idle_in_transaction_session_timeout', $3, false)",
		       3, tv, err, err_size) < 0) {
		settle_store_disconnect(s);
		return -1;
	}
	if (check_schema) {
		enum bs_migrate_result m = bs_migrate_check(s->conn, s->sql_dir,
							    err, err_size);
		if (m != BS_MIGRATE_OK) {
			settle_store_disconnect(s);
			return m == BS_MIGRATE_REFUSED ? -2 : -1;
		}
	}
	if (bs_db_exec(s->conn, "staging table", STAGE_TABLE_SQL, 0, NULL, err,
		       err_size) < 0) {
		settle_store_disconnect(s);
		return -1;
	}
	return 0;
}

/* Maps a failed result (or lost connection) to a store_rc. */
static enum store_rc classify(struct settle_store *s, const PGresult *res,
			      const char *what, char *err, size_t err_size)
{
	bs_db_format_error(s->conn, res, what, err, err_size);
	const char *state = bs_db_sqlstate(res);
	if (strcmp(state, BS_SQLSTATE_FENCE) == 0)
		return STORE_FENCED;
	if (bs_db_error_data(state) && PQstatus(s->conn) == CONNECTION_OK)
		return STORE_DATA;
	if (!bs_db_error_transient(s->conn, state))
		BS_ERROR("%s (not a known transient error; retrying anyway, "
			 "nothing is skipped)", err);
	return STORE_RETRY;
}

/* One synchronous statement outside a batch. */
static enum store_rc run(struct settle_store *s, const char *what,
			 const char *sql, int n, const Oid *types,
			 const char *const *values, const int *lengths,
			 const int *formats, PGresult **out, char *err,
			 size_t err_size)
{
	if (!settle_store_connected(s)) {
		snprintf(err, err_size, "%s: not connected to PostgreSQL", what);
		return STORE_RETRY;
	}
	PGresult *res = PQexecParams(s->conn, sql, n, types, values, lengths,
				     formats, 0);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		enum store_rc rc = classify(s, res, what, err, err_size);
		PQclear(res);
		return rc == STORE_OK ? STORE_RETRY : rc;
	}
	if (out != NULL)
		*out = res;
	else
		PQclear(res);
	return STORE_OK;
}

enum store_rc settle_store_load_offsets(struct settle_store *s,
	const int32_t *partitions, size_t n, int64_t *next, char *err,
	size_t err_size)
{
	bs_pgarray_reset(&s->off_part);
	for (size_t i = 0; i < n; i++)
		if (bs_pgarray_add_i32(&s->off_part, partitions[i]) < 0) {
			snprintf(err, err_size, "load offsets: out of memory");
			return STORE_RETRY;
		}
	int alen;
	const char *arr = bs_pgarray_finish(&s->off_part, &alen);
	const char *values[3] = { s->cfg->group, s->cfg->topic, arr };
	int lengths[3] = { 0, 0, alen };
	int formats[3] = { 0, 0, 1 };
	Oid types[3] = { PG_OID_TEXT, PG_OID_TEXT, PG_OID_INT4_ARRAY };
	PGresult *res = NULL;
	enum store_rc rc = run(s, "load offsets",
		"WITH missing AS ("
		"  INSERT INTO kafka_offsets (consumer_group, topic, kafka_partition)"
		"  SELECT $1, $2, p FROM unnest($3::int4[]) AS p"
		"  ON CONFLICT DO NOTHING)"
		"SELECT p, o.next_offset FROM unnest($3::int4[]) WITH ORDINALITY AS u(p, i)"
		"  LEFT JOIN kafka_offsets o ON o.consumer_group = $1 AND o.topic = $2"
		"   AND o.kafka_partition = u.p ORDER BY u.i",
		3, types, values, lengths, formats, &res, err, err_size);
	if (rc != STORE_OK)
		return rc;
	assert((size_t)PQntuples(res) == n);
	for (size_t i = 0; i < n; i++)
		next[i] = PQgetisnull(res, (int)i, 1) ? STORE_OFFSET_NONE
			: strtoll(PQgetvalue(res, (int)i, 1), NULL, 10);
	PQclear(res);
	return STORE_OK;
}

static bool day_known(const struct settle_store *s, int32_t day)
{
	for (size_t i = 0; i < s->nknown; i++)
		if (s->known_days[i] == day)
			return true;
	return false;
}

enum store_rc settle_store_ensure_days(struct settle_store *s,
	const struct settle_batch *b, char *err, size_t err_size)
{
	for (uint32_t i = 0; i < b->ndays; i++) {
		int32_t day = b->days[i];
		if (day_known(s, day))
			continue;
		char from[32];
		snprintf(from, sizeof(from), "%" PRId64, (int64_t)day * 86400);
		const char *values[1] = { from };
		enum store_rc rc = run(s, "create raw partition",
			"SELECT bs_usage_raw_ensure_partitions(to_timestamp($1::int8),"
			" to_timestamp($1::int8))", 1, NULL, values, NULL, NULL,
			NULL, err, err_size);
		if (rc != STORE_OK)
			return rc;
		if (s->nknown == KNOWN_DAYS_MAX)
			s->nknown = 0;
		s->known_days[s->nknown++] = day;
	}
	return STORE_OK;
}

enum store_rc settle_store_horizon(struct settle_store *s, int64_t *horizon,
				   char *err, size_t err_size)
{
	PGresult *res = NULL;
	enum store_rc rc = run(s, "read retention horizon",
		"SELECT extract(epoch FROM dropped_before)::int8 FROM usage_raw_horizon",
		0, NULL, NULL, NULL, NULL, &res, err, err_size);
	if (rc != STORE_OK)
		return rc;
	*horizon = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)
		? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : SETTLE_NO_HORIZON;
	PQclear(res);
	return STORE_OK;
}

/* Queues one statement whose parameters are the arrays cols[0..n-1]
 * (binary) followed by extra text parameters. */
static int send_arrays(struct settle_store *s, const char *sql,
		       const char *const *text_first, int ntext_first,
		       struct bs_pgarray *cols, int ncols,
		       const char *const *text_last, int ntext_last)
{
	enum { MAXP = 32 };
	const char *values[MAXP];
	int lengths[MAXP], formats[MAXP];
	int n = 0;
	assert(ntext_first + ncols + ntext_last <= MAXP);
	for (int i = 0; i < ntext_first; i++, n++) {
		values[n] = text_first[i];
		lengths[n] = 0;
		formats[n] = 0;
	}
	for (int i = 0; i < ncols; i++, n++) {
		values[n] = bs_pgarray_finish(&cols[i], &lengths[n]);
		formats[n] = 1;
	}
	for (int i = 0; i < ntext_last; i++, n++) {
		values[n] = text_last[i];
		lengths[n] = 0;
		formats[n] = 0;
	}
	return PQsendQueryParams(s->conn, sql, n, NULL, values, lengths, formats,
				 0) == 1 ? 0 : -1;
}

static uint64_t value_u64(const PGresult *res, int col)
{
	return PQntuples(res) > 0 ? strtoull(PQgetvalue(res, 0, col), NULL, 10) : 0;
}

/* The count of identity conflicts in column col, an example in col + 1. */
static void note_conflicts(struct store_result *out, const PGresult *res, int col)
{
	uint64_t n = value_u64(res, col);
	if (n > 0 && out->conflicts == 0 && PQntuples(res) > 0)
		snprintf(out->conflict_example, sizeof(out->conflict_example), "%s",
			 PQgetvalue(res, 0, col + 1));
	out->conflicts += n;
}

static const char *stmt_name(enum stmt_kind k)
{
	switch (k) {
	case STMT_BEGIN: return "batch: begin";
	case STMT_OFFSETS: return "batch: store offsets";
	case STMT_SUMMARY_CONFLICT: return "batch: summary conflicts";
	case STMT_SUMMARY: return "batch: insert summaries";
	case STMT_REJECT: return "batch: insert rejects";
	case STMT_PROBE: return "batch: probe";
	case STMT_ROLLUP: return "batch: rollups";
	case STMT_STAGED: return "batch: insert usage (staged)";
	case STMT_COMMIT: return "batch: commit";
	}
	return "batch";
}

/* Queues one statement of the pipeline. */
static int queue(struct settle_store *s, enum stmt_kind kind, const char *sql)
{
	assert(s->nsent < MAX_PIPELINE);
	if (PQsendQueryParams(s->conn, sql, 0, NULL, NULL, NULL, NULL, 0) != 1)
		return -1;
	s->sent[s->nsent++] = kind;
	return 0;
}

/* A timestamptz parameter in binary: microseconds since 2000-01-01. */
struct ts_param {
	char be[8];
};

static struct ts_param ts_param(int64_t unix_s)
{
	struct ts_param t;
	uint64_t v = (uint64_t)((unix_s - INT64_C(946684800)) * 1000000);
	for (int i = 0; i < 8; i++)
		t.be[i] = (char)(v >> (56 - 8 * i));
	return t;
}

/* The first record's identity probe (PROBE_SQL). */
static int queue_probe(struct settle_store *s, const struct settle_batch *b)
{
	assert(s->nsent < MAX_PIPELINE && b->usage_count > 0);
	const struct bs_record *r = &b->first;
	struct ts_param start = ts_param(r->head.interval_start);
	char tenant[24], pool[24];
	snprintf(tenant, sizeof(tenant), "%" PRIu32, r->usage.tenant_id);
	snprintf(pool, sizeof(pool), "%" PRIu32, r->usage.pool_id);
	const char *values[6] = { start.be, r->head.boot_id, tenant, pool,
				  bs_direction_name(r->usage.direction), r->head.node_id };
	int lengths[6] = { 8, 0, 0, 0, 0, 0 };
	int formats[6] = { 1, 0, 0, 0, 0, 0 };
	if (PQsendQueryParams(s->conn, PROBE_SQL, 6, NULL, values, lengths, formats,
			      0) != 1)
		return -1;
	s->sent[s->nsent++] = STMT_PROBE;
	return 0;
}

/* The staged rows into usage_raw (STAGED_SQL). */
static int queue_staged(struct settle_store *s, struct settle_batch *b)
{
	assert(s->nsent < MAX_PIPELINE && b->usage_count > 0);
	struct ts_param lo = ts_param(b->start_min), hi = ts_param(b->start_max);
	const char *values[5] = { lo.be, hi.be, s->cfg->topic };
	int lengths[5] = { 8, 8, 0 };
	int formats[5] = { 1, 1, 0, 1, 1 };
	for (int i = 0; i < 2; i++)
		values[3 + i] = bs_pgarray_finish(&b->usage_src[i], &lengths[3 + i]);
	if (PQsendQueryParams(s->conn, STAGED_SQL, 5, NULL, values, lengths, formats,
			      0) != 1)
		return -1;
	s->sent[s->nsent++] = STMT_STAGED;
	return 0;
}

static int queue_arrays(struct settle_store *s, enum stmt_kind kind,
			const char *sql, const char *const *text_first,
			int ntext_first, struct bs_pgarray *cols, int ncols)
{
	assert(s->nsent < MAX_PIPELINE);
	if (send_arrays(s, sql, text_first, ntext_first, cols, ncols, NULL, 0) < 0)
		return -1;
	s->sent[s->nsent++] = kind;
	return 0;
}

/* Syncs the queued pipeline and reads every statement's outcome into out;
 * leaves pipeline mode. The first failure decides the result. */
static enum store_rc run_pipeline(struct settle_store *s, struct store_result *out,
				  char *err, size_t err_size)
{
	enum store_rc rc = STORE_OK;
	bool synced = false;
	if (PQpipelineSync(s->conn) != 1) {
		classify(s, NULL, "batch: send", err, err_size);
		settle_store_disconnect(s);   /* the pipeline state is unknown */
		return STORE_RETRY;
	}
	for (size_t i = 0; i < s->nsent; i++) {
		PGresult *res = PQgetResult(s->conn);
		if (res == NULL) {
			if (rc == STORE_OK)
				rc = classify(s, NULL, stmt_name(s->sent[i]), err, err_size);
			break;
		}
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
			switch (s->sent[i]) {
			case STMT_BEGIN: case STMT_OFFSETS: case STMT_COMMIT: break;
			case STMT_PROBE:
				out->first_stored = PQntuples(res) == 1 &&
					strcmp(PQgetvalue(res, 0, 0), "t") == 0;
				break;
			case STMT_ROLLUP:
				out->buckets_touched = strtoull(PQcmdTuples(res), NULL, 10);
				break;
			case STMT_STAGED:
				out->usage_inserted = value_u64(res, 0);
				out->usage_late = value_u64(res, 1);
				out->buckets_touched = value_u64(res, 2);
				note_conflicts(out, res, 3);
				break;
			case STMT_SUMMARY_CONFLICT:
				note_conflicts(out, res, 0);
				break;
			case STMT_SUMMARY:
				out->summaries_inserted = strtoull(PQcmdTuples(res), NULL, 10);
				break;
			case STMT_REJECT:
				out->rejects_inserted = strtoull(PQcmdTuples(res), NULL, 10);
				break;
			}
		} else if (st != PGRES_PIPELINE_ABORTED && rc == STORE_OK) {
			rc = classify(s, res, stmt_name(s->sent[i]), err, err_size);
		}
		PQclear(res);
		/* each statement's results end with a NULL */
		res = PQgetResult(s->conn);
		PQclear(res);
	}
	if (settle_store_connected(s)) {
		PGresult *res = PQgetResult(s->conn);
		synced = res != NULL && PQresultStatus(res) == PGRES_PIPELINE_SYNC;
		if (!synced && rc == STORE_OK)
			rc = classify(s, res, "batch: sync", err, err_size);
		PQclear(res);
	}
	s->nsent = 0;
	if (synced && PQexitPipelineMode(s->conn) == 1 && settle_store_connected(s))
		return rc;
	if (rc == STORE_OK) {
		/* committed or not, we cannot tell: the caller re-reads the
		 * stored offsets, which say */
		classify(s, NULL, "batch: commit", err, err_size);
		rc = STORE_RETRY;
	}
	settle_store_disconnect(s);
	return rc;
}

/* Runs sql (statements ending with a COPY FROM STDIN) and sends data as
 * the COPY's input. STORE_OK, or the failure with *sqlstate (unique
 * violations are the caller's to handle). */
static enum store_rc copy_in(struct settle_store *s, const char *what,
			     const char *sql, const char *data, size_t len,
			     char sqlstate[6], char *err, size_t err_size)
{
	sqlstate[0] = '\0';
	if (PQsendQuery(s->conn, sql) != 1) {
		classify(s, NULL, what, err, err_size);
		settle_store_disconnect(s);
		return STORE_RETRY;
	}
	enum store_rc rc = STORE_OK;
	bool copying = false;
	PGresult *res;
	while ((res = PQgetResult(s->conn)) != NULL) {
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_COPY_IN) {
			copying = true;
			PQclear(res);
			break;
		}
		if (st != PGRES_COMMAND_OK && rc == STORE_OK) {
			snprintf(sqlstate, 6, "%s", bs_db_sqlstate(res));
			rc = classify(s, res, what, err, err_size);
		}
		PQclear(res);
	}
	if (copying) {
		/* one CopyData message per piece: small enough for the server
		 * to read each into memory it reuses (a large message is a
		 * fresh allocation, page faults and all); in blocking mode each
		 * call returns once libpq has passed it on */
		int sent = 1;
		for (size_t off = 0; off < len && sent == 1; ) {
			size_t n = len - off < COPY_PIECE ? len - off : COPY_PIECE;
			sent = PQputCopyData(s->conn, data + off, (int)n);
			off += n;
		}
		if (sent != 1 || PQputCopyEnd(s->conn, NULL) != 1) {
			classify(s, NULL, what, err, err_size);
			settle_store_disconnect(s);
			return STORE_RETRY;
		}
		while ((res = PQgetResult(s->conn)) != NULL) {
			ExecStatusType st = PQresultStatus(res);
			if (st != PGRES_COMMAND_OK && rc == STORE_OK) {
				snprintf(sqlstate, 6, "%s", bs_db_sqlstate(res));
				rc = classify(s, res, what, err, err_size);
			}
			PQclear(res);
		}
	} else if (rc == STORE_OK) {
		rc = classify(s, NULL, what, err, err_size);
	}
	if (!settle_store_connected(s)) {
		settle_store_disconnect(s);
		return STORE_RETRY;
	}
	return rc;
}

/* How many of the batch's identities (idcol[]) are stored; -1 on failure
 * (*rc says). */
static int64_t count_stored(struct settle_store *s, struct settle_batch *b,
			    enum store_rc *rc, char *err, size_t err_size)
{
	struct ts_param lo = ts_param(b->start_min), hi = ts_param(b->start_max);
	const char *values[2 + SETTLE_ID_NCOLS] = { lo.be, hi.be };
	int lengths[2 + SETTLE_ID_NCOLS] = { 8, 8 };
	int formats[2 + SETTLE_ID_NCOLS];
	for (int i = 0; i < 2 + SETTLE_ID_NCOLS; i++)
		formats[i] = 1;
	for (int i = 0; i < SETTLE_ID_NCOLS; i++)
		values[2 + i] = bs_pgarray_finish(&b->idcol[i], &lengths[2 + i]);
	PGresult *res = PQexecParams(s->conn, COUNT_STORED_SQL, 2 + SETTLE_ID_NCOLS,
				     NULL, values, lengths, formats, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		*rc = classify(s, res, "batch: probe usage", err, err_size);
		if (*rc == STORE_OK)
			*rc = STORE_RETRY;
		PQclear(res);
		return -1;
	}
	int64_t n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return n;
}

/* A failed batch: roll back what is open; STORE_RETRY drops the
 * connection (its state is unknown). */
static enum store_rc abandon(struct settle_store *s, enum store_rc rc)
{
	assert(rc != STORE_OK);
	if (rc == STORE_RETRY)
		settle_store_disconnect(s);
	else if (settle_store_connected(s)) {
		PGresult *res = PQexec(s->conn, "ROLLBACK");
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			settle_store_disconnect(s);
		PQclear(res);
	}
	return rc;
}

enum store_rc settle_store_settle(struct settle_store *s, struct settle_batch *b,
	const int64_t *expected, struct store_result *out, char *err,
	size_t err_size)
{
	assert(b->nparts > 0);
	memset(out, 0, sizeof(*out));
	if (!settle_store_connected(s)) {
		snprintf(err, err_size, "batch: not connected to PostgreSQL");
		return STORE_RETRY;
	}
	bs_pgarray_reset(&s->off_part);
	bs_pgarray_reset(&s->off_expected);
	bs_pgarray_reset(&s->off_next);
	int rc = 0;
	for (uint32_t i = 0; i < b->nparts; i++) {
		rc |= bs_pgarray_add_i32(&s->off_part, b->parts[i].partition);
		rc |= expected[i] == STORE_OFFSET_NONE
			? bs_pgarray_add_null(&s->off_expected)
			: bs_pgarray_add_i64(&s->off_expected, expected[i]);
		rc |= bs_pgarray_add_i64(&s->off_next, b->parts[i].last_offset + 1);
	}
	if (rc != 0) {
		snprintf(err, err_size, "batch: out of memory");
		return STORE_RETRY;
	}
	struct bs_pgarray offs[3] = { s->off_part, s->off_expected, s->off_next };
	const char *names[2] = { s->cfg->group, s->cfg->topic };
	const char *topic[1] = { s->cfg->topic };
	/* SUMMARY_CONFLICT_SQL's arrays (shallow copies) */
	enum { SUMC_NCOLS = 10 };
	struct bs_pgarray sumc[SUMC_NCOLS] = {
		b->summary[SUM_NODE], b->summary[SUM_BOOT], b->summary[SUM_START],
		b->summary[SUM_RECORD_COUNT], b->summary[SUM_IN_PACKETS],
		b->summary[SUM_IN_BYTES], b->summary[SUM_OUT_PACKETS],
		b->summary[SUM_OUT_BYTES], b->summary_src[0], b->summary_src[1],
	};

	/* 1. the transaction, the offsets' compare-and-set first (another
	 * instance is fenced before any row is written), summaries, rejects */
	s->nsent = 0;
	if (PQenterPipelineMode(s->conn) != 1 || queue(s, STMT_BEGIN, "BEGIN") < 0 ||
	    queue_arrays(s, STMT_OFFSETS, OFFSETS_SQL, names, 2, offs, 3) < 0 ||
	    (b->summary_count > 0 &&
	     queue_arrays(s, STMT_SUMMARY_CONFLICT, SUMMARY_CONFLICT_SQL, topic, 1,
			  sumc, SUMC_NCOLS) < 0) ||
	    (b->summary_count > 0 &&
	     queue_arrays(s, STMT_SUMMARY, SUMMARY_SQL, NULL, 0, b->summary, SUM_NCOLS) < 0) ||
	    (b->reject_count > 0 &&
	     queue_arrays(s, STMT_REJECT, REJECT_SQL, topic, 1, b->reject, REJ_NCOLS) < 0) ||
	    (b->usage_count > 0 && queue_probe(s, b) < 0)) {
		classify(s, NULL, "batch: send", err, err_size);
		settle_store_disconnect(s);
		return STORE_RETRY;
	}
	enum store_rc src = run_pipeline(s, out, err, err_size);
	if (src != STORE_OK)
		return abandon(s, src);

	/* 2. the usage rows: straight into usage_raw when the batch's sums
	 * are usable, else (or when a row is stored already) staged */
	bool direct = false, stored = false;
	if (b->usage_count > 0 && out->first_stored) {
		/* a replay? its identities alone answer (out of memory for
		 * them: the rows are staged and checked one by one) */
		int64_t identities = settle_batch_identity_arrays(b);
		if (identities > 0 && !b->id_conflict) {
			int64_t n = count_stored(s, b, &src, err, err_size);
			if (n < 0)
				return abandon(s, src);
			assert(n <= identities);
			stored = n == identities;
		}
	}
	if (b->usage_count > 0 && !stored) {
		size_t len;
		const char *data = settle_batch_copy_data(b, &len);
		char state[6];
		const char *stage_sql = COPY_STAGE_SQL;
		if (!out->first_stored && settle_batch_aggregates(b)) {
			src = copy_in(s, "batch: copy usage", COPY_RAW_SQL, data, len,
				      state, err, err_size);
			if (src == STORE_OK)
				direct = true;
			else if (strcmp(state, "23505") == 0 && settle_store_connected(s))
				stage_sql = COPY_STAGE_AFTER_RAW_SQL;   /* unique_violation */
			else
				return abandon(s, src);
		}
		if (!direct) {
			src = copy_in(s, "batch: stage usage", stage_sql, data, len,
				      state, err, err_size);
			if (src != STORE_OK)
				return abandon(s, src);
		}
	}

	/* 3. the rollups, and the commit */
	if (PQenterPipelineMode(s->conn) != 1 ||
	    (direct && queue_arrays(s, STMT_ROLLUP, ROLLUP_SQL, NULL, 0, b->aggcol,
				    AGG_NCOLS) < 0) ||
	    (b->usage_count > 0 && !direct && !stored && queue_staged(s, b) < 0) ||
	    queue(s, STMT_COMMIT, "COMMIT") < 0) {
		classify(s, NULL, "batch: send", err, err_size);
		settle_store_disconnect(s);
		return STORE_RETRY;
	}
	src = run_pipeline(s, out, err, err_size);
	if (src != STORE_OK)
		return abandon(s, src);
	out->first_stored = false;
	if (direct) {
		out->usage_inserted = b->usage_count;
		for (uint32_t i = 0; i < b->nagg; i++)
			out->usage_late += b->agg[i].sum[AGG_LATE - AGG_FRAME_PACKETS];
	}
	return STORE_OK;
}

enum store_rc settle_store_refresh_gaps(struct settle_store *s,
	uint32_t window_s, uint64_t open[STORE_GAP_KINDS], char *err,
	size_t err_size)
{
	char window[16];
	snprintf(window, sizeof(window), "%" PRIu32, window_s);
	const char *values[1] = { window };
	enum store_rc rc = run(s, "completeness check",
		"SELECT bs_refresh_gaps(now() - $1::int4 * interval '1 second',"
		" now() + interval '1 day')", 1, NULL, values, NULL, NULL, NULL,
		err, err_size);
	if (rc != STORE_OK)
		return rc;
	PGresult *res = NULL;
	rc = run(s, "count gaps", "SELECT kind, count(*) FROM completeness_gaps"
		 " WHERE resolved_at IS NULL GROUP BY kind", 0, NULL, NULL, NULL,
		 NULL, &res, err, err_size);
	if (rc != STORE_OK)
		return rc;
	memset(open, 0, STORE_GAP_KINDS * sizeof(open[0]));
	for (int r = 0; r < PQntuples(res); r++)
		for (int k = 0; k < STORE_GAP_KINDS; k++)
			if (strcmp(PQgetvalue(res, r, 0), store_gap_kinds[k]) == 0)
				open[k] = strtoull(PQgetvalue(res, r, 1), NULL, 10);
	PQclear(res);
	return STORE_OK;
}

enum store_rc settle_store_park_figures(struct settle_store *s, uint32_t *pool_id,
	int64_t *capacity_bps, size_t max, size_t *n, int64_t *map_version,
	char *err, size_t err_size)
{
	PGresult *res = NULL;
	enum store_rc rc = run(s, "pool capacity",
		"SELECT pool_id, capacity_bps FROM pool WHERE valid @> now()"
		" ORDER BY pool_id", 0, NULL, NULL, NULL, NULL, &res, err, err_size);
	if (rc != STORE_OK)
		return rc;
	*n = 0;
	for (int r = 0; r < PQntuples(res) && *n < max; r++, (*n)++) {
		pool_id[*n] = (uint32_t)strtoul(PQgetvalue(res, r, 0), NULL, 10);
		capacity_bps[*n] = strtoll(PQgetvalue(res, r, 1), NULL, 10);
	}
	PQclear(res);
	res = NULL;
	rc = run(s, "prefix map version", "SELECT coalesce(max(version), 0)"
		 " FROM prefix_map_export", 0, NULL, NULL, NULL, NULL, &res, err,
		 err_size);
	if (rc != STORE_OK)
		return rc;
	*map_version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return STORE_OK;
}

enum store_rc settle_store_retention(struct settle_store *s, uint32_t keep_days,
				     int *dropped, char *err, size_t err_size)
{
	char days[16];
	snprintf(days, sizeof(days), "%" PRIu32, keep_days);
	const char *values[1] = { days };
	PGresult *res = NULL;
	enum store_rc rc = run(s, "raw retention",
		"SELECT bs_usage_raw_drop_before(((now() AT TIME ZONE 'UTC')::date"
		" - $1::int4))", 1, NULL, values, NULL, NULL, &res, err, err_size);
	if (rc != STORE_OK)
		return rc;
	*dropped = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	s->nknown = 0;
	return STORE_OK;
}

/* ---- the DLQ's outbox (rejected_records, migration 0015) ---------------- */

static const char DLQ_CLAIM_SQL[] =
	"SELECT id, kafka_partition, kafka_offset, kafka_key, payload, payload_bytes,"
	"  reason, error, payload_sha256, coalesce(dlq_partition, -1),"
	"  coalesce(dlq_scan_from, -1)"
	" FROM rejected_records"
	" WHERE topic = $1 AND kafka_partition = ANY($2::int4[])"
	"   AND (dlq_sent_at IS NULL OR (dlq_partition IS NOT NULL AND dlq_offset IS NULL))"
	" ORDER BY topic, kafka_partition, kafka_offset LIMIT $3::int4"
	" FOR UPDATE SKIP LOCKED";

static const char DLQ_HANDOVER_SQL[] =
	"UPDATE rejected_records r SET dlq_sent_at = now(), dlq_partition = u.p,"
	"  dlq_scan_from = u.o"
	" FROM unnest($1::int8[], $2::int4[], $3::int8[]) AS u(id, p, o)"
	" WHERE r.id = u.id AND r.dlq_sent_at IS NULL";

static const char DLQ_DONE_SQL[] =
	"UPDATE rejected_records r SET dlq_partition = u.p, dlq_offset = u.o"
	" FROM unnest($1::int8[], $2::int4[], $3::int8[]) AS u(id, p, o)"
	" WHERE r.id = u.id AND r.dlq_offset IS NULL";

static uint32_t be32_at(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

static uint64_t be64_at(const char *p)
{
	return (uint64_t)be32_at(p) << 32 | be32_at(p + 4);
}

static void dlq_release(struct settle_store *s)
{
	PQclear(s->dlq_res);
	s->dlq_res = NULL;
	free(s->dlq_rows);
	s->dlq_rows = NULL;
}

enum store_rc settle_store_dlq_claim(struct settle_store *s, const int32_t *partitions,
	size_t n, uint32_t limit, const struct store_dlq_row **rows, size_t *nrows,
	char *err, size_t err_size)
{
	dlq_release(s);
	*rows = NULL;
	*nrows = 0;
	bs_pgarray_reset(&s->off_part);
	for (size_t i = 0; i < n; i++)
		if (bs_pgarray_add_i32(&s->off_part, partitions[i]) < 0) {
			snprintf(err, err_size, "DLQ outbox: out of memory");
			return STORE_RETRY;
		}
	enum store_rc rc = run(s, "DLQ outbox: begin", "BEGIN", 0, NULL, NULL, NULL,
			       NULL, NULL, err, err_size);
	if (rc != STORE_OK)
		return rc;
	char lim[16];
	snprintf(lim, sizeof(lim), "%" PRIu32, limit);
	int alen;
	const char *arr = bs_pgarray_finish(&s->off_part, &alen);
	const char *values[3] = { s->cfg->topic, arr, lim };
	int lengths[3] = { 0, alen, 0 };
	int formats[3] = { 0, 1, 0 };
	PGresult *res = PQexecParams(s->conn, DLQ_CLAIM_SQL, 3, NULL, values, lengths,
				     formats, 1);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = classify(s, res, "DLQ outbox: claim", err, err_size);
		PQclear(res);
		return abandon(s, rc == STORE_OK ? STORE_RETRY : rc);
	}
	int nt = PQntuples(res);
	struct store_dlq_row *r = calloc(nt > 0 ? (size_t)nt : 1, sizeof(*r));
	if (r == NULL) {
		PQclear(res);
		snprintf(err, err_size, "DLQ outbox: out of memory");
		return abandon(s, STORE_RETRY);
	}
	for (int i = 0; i < nt; i++) {
		r[i].id = (int64_t)be64_at(PQgetvalue(res, i, 0));
		r[i].partition = (int32_t)be32_at(PQgetvalue(res, i, 1));
		r[i].offset = (int64_t)be64_at(PQgetvalue(res, i, 2));
		if (!PQgetisnull(res, i, 3)) {
			r[i].key = PQgetvalue(res, i, 3);
			r[i].key_len = (size_t)PQgetlength(res, i, 3);
		}
		r[i].payload = PQgetvalue(res, i, 4);
		r[i].payload_len = (size_t)PQgetlength(res, i, 4);
		r[i].payload_bytes = (int32_t)be32_at(PQgetvalue(res, i, 5));
		r[i].reason = PQgetvalue(res, i, 6);   /* libpq ends every value with a NUL */
		r[i].error = PQgetvalue(res, i, 7);
		if (!PQgetisnull(res, i, 8) && PQgetlength(res, i, 8) == 32)
			r[i].sha256 = (const unsigned char *)PQgetvalue(res, i, 8);
		r[i].dlq_partition = (int32_t)be32_at(PQgetvalue(res, i, 9));
		r[i].dlq_scan_from = (int64_t)be64_at(PQgetvalue(res, i, 10));
	}
	s->dlq_res = res;
	s->dlq_rows = r;
	*rows = r;
	*nrows = (size_t)nt;
	return STORE_OK;
}

/* One of the outbox's updates (ids[i] → p[i], o[i]). */
static enum store_rc dlq_update(struct settle_store *s, const char *what,
	const char *sql, const int64_t *ids, const int32_t *p, const int64_t *o,
	size_t n, char *err, size_t err_size)
{
	if (n == 0)
		return STORE_OK;
	struct bs_pgarray a[3];
	int rc = bs_pgarray_init(&a[0], PG_OID_INT8, 64 + n * 12);
	rc |= bs_pgarray_init(&a[1], PG_OID_INT4, 64 + n * 8);
	rc |= bs_pgarray_init(&a[2], PG_OID_INT8, 64 + n * 12);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc |= bs_pgarray_add_i64(&a[0], ids[i]);
		rc |= bs_pgarray_add_i32(&a[1], p[i]);
		rc |= bs_pgarray_add_i64(&a[2], o[i]);
	}
	enum store_rc src;
	if (rc != 0) {
		snprintf(err, err_size, "%s: out of memory", what);
		src = STORE_RETRY;
	} else {
		const char *values[3];
		int lengths[3], formats[3] = { 1, 1, 1 };
		for (int i = 0; i < 3; i++)
			values[i] = bs_pgarray_finish(&a[i], &lengths[i]);
		src = run(s, what, sql, 3, NULL, values, lengths, formats, NULL, err,
			  err_size);
	}
	for (int i = 0; i < 3; i++)
		bs_pgarray_free(&a[i]);
	return src;
}

enum store_rc settle_store_dlq_handover(struct settle_store *s, const int64_t *ids,
	const int32_t *dlq_partitions, const int64_t *scan_from, size_t n,
	char *err, size_t err_size)
{
	enum store_rc rc = dlq_update(s, "DLQ outbox: hand over", DLQ_HANDOVER_SQL,
				      ids, dlq_partitions, scan_from, n, err, err_size);
	if (rc == STORE_OK)
		rc = run(s, "DLQ outbox: commit", "COMMIT", 0, NULL, NULL, NULL, NULL,
			 NULL, err, err_size);
	if (rc != STORE_OK)
		return abandon(s, rc);
	return STORE_OK;
}

enum store_rc settle_store_dlq_done(struct settle_store *s, const int64_t *ids,
	const int32_t *dlq_partitions, const int64_t *dlq_offsets, size_t n,
	char *err, size_t err_size)
{
	dlq_release(s);
	return dlq_update(s, "DLQ outbox: confirm", DLQ_DONE_SQL, ids,
			  dlq_partitions, dlq_offsets, n, err, err_size);
}

/* A frozen instance (SIGSTOP, a paused VM) in the middle of a COPY keeps
 * its backend waiting for data that never comes: no server timeout ends
 * that wait (statement_timeout's cancel is only seen once data arrives),
 * and its row locks stall whoever takes over its partitions. A session of
 * bandsplit-settle, in a transaction, whose state has not changed for
 * longer than statement_timeout (and 1 s) cannot be alive — a live one's
 * statement would have been cancelled — so it is ended; its transaction
 * rolls back and its locks go. */
static const char END_FROZEN_SQL[] =
	"SELECT count(pg_terminate_backend(a.pid)) FROM pg_stat_activity a"
	" WHERE a.application_name = 'bandsplit-settle' AND a.pid <> pg_backend_pid()"
	"   AND a.datname = current_database() AND a.usename = current_user"
	"   AND a.xact_start IS NOT NULL"
	"   AND a.state_change < now() - make_interval(secs => $1::int4 / 1000.0 + 1)";

int settle_store_end_frozen(struct settle_store *s, char *err, size_t err_size)
{
	if (s->cfg->statement_timeout_ms == 0)
		return 0;   /* no bound on a live statement: nobody can be judged */
	char ms[16];
	snprintf(ms, sizeof(ms), "%" PRIu32, s->cfg->statement_timeout_ms);
	const char *values[1] = { ms };
	PGresult *res = NULL;
	if (run(s, "end frozen sessions", END_FROZEN_SQL, 1, NULL, values, NULL, NULL,
		&res, err, err_size) != STORE_OK)
		return -1;
	int n = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return n;
}
