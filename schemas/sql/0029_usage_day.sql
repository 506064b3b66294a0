-- 0029_usage_day.sql — finished UTC days of 5-minute rollups kept compacted:
-- one row per (day, tenant, pool, direction) holding the day's 288 buckets,
-- so that the month close reads a month in 62,000 rows instead of 17.3
-- million (a park of 1,000 tenants). usage_5m stays what everything else
-- reads and what settlement writes; usage_day is derived from it and says
-- nothing it does not.
--
-- usage_day: frame_bytes and ip_bytes are 288 big-endian int8 each, bucket i
-- starting at the day's 00:00 UTC + 5 i minutes; -1 where usage_5m has no row
-- (a gap, which the rating reports, unlike a row of 0 bytes). Stored PLAIN,
-- in the row (4.6 KB, one row a page): neither compressed nor TOASTed, so
-- that reading it is a copy (README, "Performance (month close)").
--
-- usage_day_state: the days compacted, and whether one became dirty: a row
-- of usage_5m written to a compacted day after its compaction. Statement
-- triggers on usage_5m mark the day in the writer's own transaction, so any
-- snapshot that sees the write also sees the mark; `bandsplit close` reads a
-- clean compacted day from usage_day and every other day from usage_5m.
--
-- bs_usage_day_compact(day) compacts one day under a SHARE lock on usage_5m
-- (writers wait, about half a second for a day of 1,000 tenants; readers do
-- not): nothing can be written to the day while it is read, and the day is
-- clean when the lock goes. Run by `bandsplit rollup compact` (daily).

CREATE TABLE public.usage_day (
    day date NOT NULL,
    tenant_id bigint NOT NULL CHECK (tenant_id BETWEEN 0 AND 4294967295),
    pool_id bigint NOT NULL CHECK (pool_id BETWEEN 0 AND 4294967295),
    direction text COLLATE "C" NOT NULL CHECK (direction IN ('in', 'out')),
    frame_bytes bytea NOT NULL CHECK (length(frame_bytes) = 288 * 8),
    ip_bytes bytea NOT NULL CHECK (length(ip_bytes) = 288 * 8),
    PRIMARY KEY (day, tenant_id, pool_id, direction)
);
ALTER TABLE public.usage_day
    ALTER COLUMN frame_bytes SET STORAGE PLAIN,
    ALTER COLUMN ip_bytes SET STORAGE PLAIN;

CREATE TABLE public.usage_day_state (
    day date PRIMARY KEY,
    compacted_at timestamptz NOT NULL,
    pairs bigint NOT NULL CHECK (pairs >= 0),
    dirty boolean NOT NULL DEFAULT false
);

-- The days of the changed rows that are compacted and still clean, marked.
-- SECURITY DEFINER: bandsplit-settle writes usage_5m, not the state.
CREATE FUNCTION public.bs_usage_day_mark() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    UPDATE public.usage_day_state s SET dirty = true
     WHERE NOT s.dirty
       AND s.day IN (SELECT DISTINCT (c.bucket_start AT TIME ZONE 'UTC')::date
                       FROM changed c);
    RETURN NULL;
END $$;
REVOKE EXECUTE ON FUNCTION public.bs_usage_day_mark() FROM PUBLIC;

-- A trigger with a transition table has one event (PostgreSQL): settle's
-- INSERT ... ON CONFLICT DO UPDATE fires both, each with its own rows.
CREATE TRIGGER usage_day_mark_insert AFTER INSERT ON public.usage_5m
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION public.bs_usage_day_mark();
CREATE TRIGGER usage_day_mark_update AFTER UPDATE ON public.usage_5m
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION public.bs_usage_day_mark();
-- usage_5m is never deleted from or emptied by the roles that use it
-- (grants.sql); the owner's DELETE or TRUNCATE would leave usage_day stale,
-- so they are refused while any day is compacted.
CREATE FUNCTION public.bs_usage_day_keep() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT FROM public.usage_day_state) THEN
        RAISE EXCEPTION 'usage_5m: % refused: compacted days (usage_day) '
            'are derived from it', TG_OP
            USING ERRCODE = 'P0001', HINT = 'empty usage_day_state first';
    END IF;
    RETURN NULL;
END $$;
REVOKE EXECUTE ON FUNCTION public.bs_usage_day_keep() FROM PUBLIC;
CREATE TRIGGER usage_day_keep BEFORE DELETE OR TRUNCATE ON public.usage_5m
    FOR EACH STATEMENT EXECUTE FUNCTION public.bs_usage_day_keep();

-- One day, compacted anew; the pairs written.
CREATE FUNCTION public.bs_usage_day_compact(p_day date) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
SET enable_mergejoin = off SET work_mem = '64MB' AS $$
DECLARE
    t0 constant timestamptz := p_day::timestamp AT TIME ZONE 'UTC';
    written bigint;
BEGIN
    IF p_day IS NULL THEN
        RAISE EXCEPTION 'bs_usage_day_compact: no day' USING ERRCODE = '22004';
    END IF;
    LOCK TABLE public.usage_5m IN SHARE MODE;
    DELETE FROM public.usage_day WHERE day = p_day;
    -- every (pair, bucket) of the day, the bucket's row or -1. The day's
    -- rows are read once (usage_5m_bucket); a pair with all 288 buckets
    -- (the usual case) is its rows in order; only the pairs with gaps are
    -- laid over the grid of buckets (a hash join: the function's SET).
    INSERT INTO public.usage_day (day, tenant_id, pool_id, direction,
                                  frame_bytes, ip_bytes)
    WITH r AS MATERIALIZED (
        SELECT tenant_id, pool_id, direction,
               ((extract(epoch FROM bucket_start) - extract(epoch FROM t0)) / 300)::int AS i,
               frame_bytes, ip_bytes
          FROM public.usage_5m
         WHERE bucket_start >= t0 AND bucket_start < t0 + interval '1 day'),
    g AS (
        SELECT tenant_id, pool_id, direction, count(*) AS n,
               string_agg(int8send(frame_bytes), ''::bytea ORDER BY i) AS f,
               string_agg(int8send(ip_bytes), ''::bytea ORDER BY i) AS ip
          FROM r GROUP BY tenant_id, pool_id, direction),
    gaps AS (
        SELECT p.tenant_id, p.pool_id, p.direction,
               string_agg(int8send(coalesce(x.frame_bytes, -1)), ''::bytea ORDER BY s.i) AS f,
               string_agg(int8send(coalesce(x.ip_bytes, -1)), ''::bytea ORDER BY s.i) AS ip
          FROM g p CROSS JOIN generate_series(0, 287) s(i)
          LEFT JOIN r x ON x.tenant_id = p.tenant_id AND x.pool_id = p.pool_id
                       AND x.direction = p.direction AND x.i = s.i
         WHERE p.n < 288
         GROUP BY p.tenant_id, p.pool_id, p.direction)
    SELECT p_day, tenant_id, pool_id, direction, f, ip FROM g WHERE n = 288
    UNION ALL
    SELECT p_day, tenant_id, pool_id, direction, f, ip FROM gaps;
    GET DIAGNOSTICS written = ROW_COUNT;
    INSERT INTO public.usage_day_state (day, compacted_at, pairs, dirty)
    VALUES (p_day, now(), written, false)
    ON CONFLICT (day) DO UPDATE SET compacted_at = excluded.compacted_at,
        pairs = excluded.pairs, dirty = false;
    RETURN written;
END $$;
REVOKE EXECUTE ON FUNCTION public.bs_usage_day_compact(date) FROM PUBLIC;

-- The UTC days through p_through that have usage and are not compacted or
-- are dirty, oldest first: one descent of usage_5m_bucket a day with usage.
CREATE FUNCTION public.bs_usage_day_pending(p_through date) RETURNS SETOF date
LANGUAGE sql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
    WITH RECURSIVE d(day) AS (
        SELECT (min(bucket_start) AT TIME ZONE 'UTC')::date FROM public.usage_5m
        UNION ALL
        SELECT (SELECT (min(u.bucket_start) AT TIME ZONE 'UTC')::date
                  FROM public.usage_5m u
                 WHERE u.bucket_start >= (d.day + 1)::timestamp AT TIME ZONE 'UTC')
          FROM d WHERE d.day IS NOT NULL AND d.day < p_through
    )
    SELECT d.day FROM d
     WHERE d.day IS NOT NULL AND d.day <= p_through
       AND NOT EXISTS (SELECT FROM public.usage_day_state s
                        WHERE s.day = d.day AND NOT s.dirty)
     ORDER BY d.day
$$;
REVOKE EXECUTE ON FUNCTION public.bs_usage_day_pending(date) FROM PUBLIC;
