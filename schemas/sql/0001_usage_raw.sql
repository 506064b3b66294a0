-- 0001_usage_raw.sql — raw usage records as received from Kafka.
--
-- One row per usage record (schemas/usage.v1.schema.json, type "usage").
-- The record identity of ARCHITECTURE.md is the unique key: a second
-- delivery of the same record is skipped by INSERT ... ON CONFLICT DO
-- NOTHING, which is what makes the settlement exactly-once.
--
-- The table is range-partitioned by interval_start, one partition per UTC
-- day, named usage_raw_YYYYMMDD. bs_usage_raw_ensure_partitions() creates
-- them ahead of need (bandsplit migrate, and bandsplit-settle for every day
-- it sees); bs_usage_raw_drop_before() drops old ones (raw retention).
-- The 5-minute rollups (0002) are kept when raw partitions go.

CREATE TABLE usage_raw (
    node_id         text COLLATE "C" NOT NULL
                    CHECK (length(node_id) BETWEEN 1 AND 63),
    boot_id         uuid NOT NULL,
    seq             bigint NOT NULL CHECK (seq >= 1),
    interval_start  timestamptz NOT NULL,
    interval_len    integer NOT NULL CHECK (interval_len BETWEEN 1 AND 86400),
    byte_measure    text COLLATE "C" NOT NULL
                    CHECK (byte_measure IN ('frame', 'ip')),
    map_version     bigint NOT NULL CHECK (map_version >= 0),
    tenant_id       bigint NOT NULL CHECK (tenant_id BETWEEN 0 AND 4294967295),
    pool_id         bigint NOT NULL CHECK (pool_id BETWEEN 0 AND 4294967295),
    direction       text COLLATE "C" NOT NULL CHECK (direction IN ('in', 'out')),
    packets         bigint NOT NULL CHECK (packets >= 0),
    bytes           bigint NOT NULL CHECK (bytes >= 0),
    policed_packets bigint NOT NULL CHECK (policed_packets >= 0),
    policed_bytes   bigint NOT NULL CHECK (policed_bytes >= 0),
    -- interval ended more than the consumer's late_after_s before it was
    -- settled (its rollup bucket may already have been billed)
    late            boolean NOT NULL DEFAULT false,
    settled_at      timestamptz NOT NULL DEFAULT now(),
    -- the identity; fixed-width columns first, so that the index's key
    -- comparisons find their attributes at fixed offsets
    CONSTRAINT usage_raw_identity UNIQUE
        (interval_start, boot_id, tenant_id, pool_id, direction, node_id)
) PARTITION BY RANGE (interval_start);

COMMENT ON TABLE usage_raw IS
    'Usage records as received; identity (node_id, boot_id, interval_start, '
    'tenant_id, pool_id, direction) is unique. Daily partitions usage_raw_YYYYMMDD.';

-- Raw partitions older than this were dropped (retention). Records for
-- intervals before it are refused by the consumer ("expired"): their
-- duplicates could no longer be recognised, so settling them again would
-- count them twice in the rollups.
CREATE TABLE usage_raw_horizon (
    only_row        boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    dropped_before  timestamptz
);
INSERT INTO usage_raw_horizon (only_row, dropped_before) VALUES (true, NULL);

-- Creates the daily partitions covering [p_from, p_to] (UTC days) that do
-- not exist yet, skipping days before the retention horizon. Returns the
-- number created. Serialised by an advisory lock so that two consumers can
-- call it at once.
CREATE FUNCTION bs_usage_raw_ensure_partitions(p_from timestamptz, p_to timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    first_day date := (p_from AT TIME ZONE 'UTC')::date;
    last_day  date := (p_to AT TIME ZONE 'UTC')::date;
    horizon   timestamptz;
    d         date;
    part      text;
    created   integer := 0;
BEGIN
    IF p_from IS NULL OR p_to IS NULL OR last_day < first_day THEN
        RAISE EXCEPTION 'bs_usage_raw_ensure_partitions: empty range % .. %',
            p_from, p_to USING ERRCODE = '22023';
    END IF;
    IF last_day - first_day > 400 THEN
        RAISE EXCEPTION 'bs_usage_raw_ensure_partitions: % days requested, limit 400',
            last_day - first_day + 1 USING ERRCODE = '22023';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('bandsplit.usage_raw.partitions'));
    SELECT dropped_before INTO horizon FROM usage_raw_horizon;
    d := first_day;
    WHILE d <= last_day LOOP
        part := 'usage_raw_' || to_char(d, 'YYYYMMDD');
        IF (horizon IS NULL OR (d::timestamp AT TIME ZONE 'UTC') >= horizon)
           AND to_regclass(quote_ident(part)) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF usage_raw '
                           'FOR VALUES FROM (%L) TO (%L)', part,
                           d::timestamp AT TIME ZONE 'UTC',
                           (d + 1)::timestamp AT TIME ZONE 'UTC');
            created := created + 1;
        END IF;
        d := d + 1;
    END LOOP;
    RETURN created;
END
$$;

-- Drops the daily partitions whose whole day is before p_before (a UTC
-- date) and moves the horizon. Returns the number dropped.
CREATE FUNCTION bs_usage_raw_drop_before(p_before date)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    part    record;
    dropped integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('bandsplit.usage_raw.partitions'));
    FOR part IN
        SELECT c.relname
          FROM pg_inherits i
          JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'usage_raw'::regclass
           AND c.relname ~ '^usage_raw_[0-9]{8}$'
           AND to_date(substr(c.relname, 11), 'YYYYMMDD') < p_before
         ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE %I', part.relname);
        dropped := dropped + 1;
    END LOOP;
    UPDATE usage_raw_horizon
       SET dropped_before = greatest(coalesce(dropped_before, '-infinity'),
                                     p_before::timestamp AT TIME ZONE 'UTC');
    RETURN dropped;
END
$$;

-- Partitions for the days around the migration, so a fresh database takes
-- today's records without waiting for the consumer to create them.
SELECT bs_usage_raw_ensure_partitions(now() - interval '1 day', now() + interval '7 days');
