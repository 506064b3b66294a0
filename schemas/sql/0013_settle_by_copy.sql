-- 0013_settle_by_copy.sql — bandsplit-settle no longer calls
-- bs_settle_usage() (0004): its usage rows now arrive by binary COPY.
--
-- A batch (settlement/settle/store.c) copies its usage rows straight into
-- usage_raw under a savepoint and adds its own per-(tenant, pool,
-- direction, bucket) sums to usage_5m; if a row is stored already
-- (unique_violation on usage_raw_identity) the savepoint is rolled back and
-- the same rows are copied into the session's temporary table
-- bs_usage_stage, then inserted into usage_raw leaving out the identities
-- stored (probed through the identity index) and ON CONFLICT DO NOTHING,
-- the rollups summing exactly the rows inserted. Same transaction, same
-- offsets compare-and-set, same exactly-once guarantee as before; the
-- function is dropped so that the schema does not describe a path nothing
-- takes. (The header comments of 0001 and 0004 describe the old path;
-- applied migrations are never edited.)
--
-- Numbered 0013, after the last applied one: bandsplit migrate refuses a
-- migration numbered below one already applied (it would run out of order
-- on existing databases).

DROP FUNCTION bs_settle_usage(
    text[], uuid[], bigint[], timestamptz[], integer[], text[], bigint[],
    bigint[], bigint[], text[], bigint[], bigint[], bigint[], bigint[],
    boolean[], bigint[], bigint[], text[], timestamptz[], bigint[], bigint[],
    bigint[], bigint[], bigint[], bigint[], bigint[], bigint[]);
