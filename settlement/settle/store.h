/*
 * store.h — bandsplit-settle's side of PostgreSQL: one connection, and on
 * it the batch transaction, the stored Kafka offsets, the raw partitions,
 * the completeness check and raw retention.
 *
 * A batch is one transaction, in three steps (a few round trips):
 *   1. a pipeline: BEGIN; bs_offsets_advance(), the compare-and-set of every
 *      touched partition's next offset (fails with SQLSTATE BSF01 if another
 *      instance moved one); INSERT INTO node_interval ... ON CONFLICT DO
 *      NOTHING (summaries); INSERT INTO rejected_records ... (rejects);
 *      and whether the batch's first usage record is stored already;
 *   2. the usage rows as one binary COPY straight into usage_raw, under a
 *      savepoint. If a row is stored already (unique_violation: a replay,
 *      a record sent twice) the savepoint is rolled back and the same
 *      stream is copied into the session's temporary staging table instead.
 *      When the first record was found (a replay) only the identities are
 *      sent first, grouped as array parameters (batch.h, SETTLE_ID_*), and
 *      the stored rows matching them whole are counted: if that count is
 *      the batch's number of distinct identities, all are stored and no
 *      row is sent at all;
 *   3. a pipeline: the rollups — the batch's own sums when the COPY into
 *      usage_raw succeeded (every record was new), or, from the staging
 *      table, INSERT INTO usage_raw ... WHERE NOT EXISTS (stored) ON
 *      CONFLICT DO NOTHING RETURNING and the sums of exactly the rows
 *      returned — then COMMIT.
 * Any failure rolls the whole transaction back. settle_store_settle() runs
 * it, blocking: the consumer calls it from each lane's own thread.
 */
#ifndef BS_SETTLE_STORE_H
#define BS_SETTLE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "config.h"

#define STORE_OFFSET_NONE (-1)     /* next_offset NULL: start at the earliest */
#define STORE_GAP_KINDS 4

enum store_rc {
	STORE_OK = 0,
	STORE_FENCED,      /* the stored offset moved: another instance */
	STORE_DATA,        /* PostgreSQL refused the data (SQLSTATE 22xxx/23xxx) */
	STORE_RETRY,       /* connection lost, deadlock, server restarting, ... */
};

struct store_result {
	uint64_t usage_inserted;     /* new usage_raw rows */
	uint64_t usage_late;         /* of which flagged late */
	uint64_t buckets_touched;    /* usage_5m rows inserted or updated */
	uint64_t summaries_inserted;
	uint64_t rejects_inserted;
	uint64_t conflicts;          /* identity conflicts found (new rejects) */
	char conflict_example[256];  /* the first: "[partition] offset N: ..." */
	bool first_stored;           /* (inside settle_store_settle only) */
};

struct settle_store;

struct settle_store *settle_store_new(const struct settle_config *cfg,
				      const char *sql_dir);
void settle_store_free(struct settle_store *s);

/* (Re)connects. check_schema: refuse a database whose migrations differ
 * from sql_dir's (returns -2: not worth retrying). -1: retry later. */
int settle_store_connect(struct settle_store *s, bool check_schema,
			 char *err, size_t err_size);
bool settle_store_connected(const struct settle_store *s);
void settle_store_disconnect(struct settle_store *s);

/* next[i] = the stored next offset of partitions[i] (STORE_OFFSET_NONE if
 * nothing was settled); creates the missing rows. */
enum store_rc settle_store_load_offsets(struct settle_store *s,
	const int32_t *partitions, size_t n, int64_t *next, char *err,
	size_t err_size);

/* Creates the raw partitions of the batch's days not known to exist. */
enum store_rc settle_store_ensure_days(struct settle_store *s,
	const struct settle_batch *b, char *err, size_t err_size);

/* The raw retention horizon (Unix seconds) or SETTLE_NO_HORIZON. */
enum store_rc settle_store_horizon(struct settle_store *s, int64_t *horizon,
				   char *err, size_t err_size);

/* Settles the batch in one transaction (see above); expected[i] is the
 * stored next offset of b->parts[i] as last read or written
 * (STORE_OFFSET_NONE for NULL). Writes the batch's COPY trailer and sums
 * (b is not otherwise changed). */
enum store_rc settle_store_settle(struct settle_store *s, struct settle_batch *b,
	const int64_t *expected, struct store_result *out, char *err,
	size_t err_size);

/* Runs bs_refresh_gaps() over the last window_s seconds and counts the
 * open gaps per kind (seq_gap, missing_summary, count_mismatch,
 * sum_mismatch). */
enum store_rc settle_store_refresh_gaps(struct settle_store *s,
	uint32_t window_s, uint64_t open[STORE_GAP_KINDS], char *err,
	size_t err_size);
extern const char *const store_gap_kinds[STORE_GAP_KINDS];

/* For the metrics (obs): the pools in force now and their purchased
 * capacity in bits per second (at most max of them, by pool id), and the
 * newest prefix-map version exported (0: none). Column-level grants
 * (grants.sql, "-- obs") let the settle role read just these. */
enum store_rc settle_store_park_figures(struct settle_store *s, uint32_t *pool_id,
	int64_t *capacity_bps, size_t max, size_t *n, int64_t *map_version,
	char *err, size_t err_size);

/* The DLQ's outbox (migration 0015): claim opens a transaction and locks
 * up to limit rows of the given partitions (offset order; FOR UPDATE SKIP
 * LOCKED) that are not yet handed over to the DLQ, or handed over and not
 * confirmed (dlq_partition >= 0 then: a crash came in between); the rows
 * stay valid until done. handover records, for the rows about to be
 * produced for the first time, the DLQ partition and its end offset then,
 * and commits: from then on a crash leaves them to be looked for there.
 * done confirms where the DLQ stored each (its own statement) and
 * releases the rows. */
struct store_dlq_row {
	int64_t id;
	int32_t partition;
	int64_t offset;
	const char *key;             /* NULL: none */
	size_t key_len;
	const char *payload;         /* the kept part (at most 64 KiB) */
	size_t payload_len;
	int32_t payload_bytes;       /* the whole message's length */
	const char *reason, *error;
	const unsigned char *sha256; /* 32 bytes, NULL for rows before 0015 */
	int32_t dlq_partition;       /* handed over to it; -1: not yet */
	int64_t dlq_scan_from;       /* its end offset then; -1: not yet */
};
enum store_rc settle_store_dlq_claim(struct settle_store *s, const int32_t *partitions,
	size_t n, uint32_t limit, const struct store_dlq_row **rows, size_t *nrows,
	char *err, size_t err_size);
enum store_rc settle_store_dlq_handover(struct settle_store *s, const int64_t *ids,
	const int32_t *dlq_partitions, const int64_t *scan_from, size_t n,
	char *err, size_t err_size);
enum store_rc settle_store_dlq_done(struct settle_store *s, const int64_t *ids,
	const int32_t *dlq_partitions, const int64_t *dlq_offsets, size_t n,
	char *err, size_t err_size);

/* Ends the sessions of frozen bandsplit-settle instances: in a
 * transaction, unchanged for longer than statement_timeout (store.c).
 * Returns how many, or -1 with err. Called after a lock timeout. */
int settle_store_end_frozen(struct settle_store *s, char *err, size_t err_size);

/* Drops raw partitions older than keep_days days; returns the count. */
enum store_rc settle_store_retention(struct settle_store *s, uint32_t keep_days,
				     int *dropped, char *err, size_t err_size);

#endif
