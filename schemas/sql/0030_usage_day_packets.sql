-- 0030_usage_day_packets.sql — compacted days also serve the tenants' API:
-- usage_day gains the day's packet counts, and bandsplit_api may read it
-- (through row-level security, as usage_5m) and see which days are clean.
--
-- /v1/usage answers frame and IP bytes *and* packets. With the two packet
-- columns a compacted (day, tenant, pool, direction) row holds everything
-- a sample has, so the API reads a clean day as a handful of rows instead
-- of 288 per (pool, direction) (README, "Performance (tenant API)").
--
-- frame_packets and ip_packets: 288 big-endian int8 each, -1 where the
-- bucket has no row (the same gaps as the byte columns). Stored EXTERNAL:
-- out of the row, uncompressed. The row itself keeps its two PLAIN byte
-- columns (4.6 KB, what the month close reads: it never touches the
-- packet columns, so never their TOAST); an uncompressed value is read in
-- slices, so the API fetches only the buckets of the range it answers.
--
-- usage_day is derived from usage_5m. The days compacted before this
-- migration have no packets: they are forgotten here (usage_day emptied,
-- usage_day_state with it) and compacted anew by the next
-- `bandsplit rollup compact` (the daily timer, or by hand). Until then the
-- close and the API read those days from usage_5m, as they read any day
-- not compacted: the answers are the same, only slower.

TRUNCATE public.usage_day;
DELETE FROM public.usage_day_state;

ALTER TABLE public.usage_day
    ADD COLUMN frame_packets bytea NOT NULL
        CHECK (length(frame_packets) = 288 * 8),
    ADD COLUMN ip_packets bytea NOT NULL
        CHECK (length(ip_packets) = 288 * 8);
ALTER TABLE public.usage_day
    ALTER COLUMN frame_packets SET STORAGE EXTERNAL,
    ALTER COLUMN ip_packets SET STORAGE EXTERNAL;

-- One day, compacted anew (0029's, with the packet columns); the pairs
-- written.
CREATE OR REPLACE FUNCTION public.bs_usage_day_compact(p_day date) RETURNS bigint
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
                                  frame_bytes, ip_bytes,
                                  frame_packets, ip_packets)
    WITH r AS MATERIALIZED (
        SELECT tenant_id, pool_id, direction,
               ((extract(epoch FROM bucket_start) - extract(epoch FROM t0)) / 300)::int AS i,
               frame_bytes, ip_bytes, frame_packets, ip_packets
          FROM public.usage_5m
         WHERE bucket_start >= t0 AND bucket_start < t0 + interval '1 day'),
    g AS (
        SELECT tenant_id, pool_id, direction, count(*) AS n,
               string_agg(int8send(frame_bytes), ''::bytea ORDER BY i) AS f,
               string_agg(int8send(ip_bytes), ''::bytea ORDER BY i) AS ip,
               string_agg(int8send(frame_packets), ''::bytea ORDER BY i) AS fp,
               string_agg(int8send(ip_packets), ''::bytea ORDER BY i) AS ipp
          FROM r GROUP BY tenant_id, pool_id, direction),
    gaps AS (
        SELECT p.tenant_id, p.pool_id, p.direction,
               string_agg(int8send(coalesce(x.frame_bytes, -1)), ''::bytea ORDER BY s.i) AS f,
               string_agg(int8send(coalesce(x.ip_bytes, -1)), ''::bytea ORDER BY s.i) AS ip,
               string_agg(int8send(coalesce(x.frame_packets, -1)), ''::bytea ORDER BY s.i) AS fp,
               string_agg(int8send(coalesce(x.ip_packets, -1)), ''::bytea ORDER BY s.i) AS ipp
          FROM g p CROSS JOIN generate_series(0, 287) s(i)
          LEFT JOIN r x ON x.tenant_id = p.tenant_id AND x.pool_id = p.pool_id
                       AND x.direction = p.direction AND x.i = s.i
         WHERE p.n < 288
         GROUP BY p.tenant_id, p.pool_id, p.direction)
    SELECT p_day, tenant_id, pool_id, direction, f, ip, fp, ipp FROM g WHERE n = 288
    UNION ALL
    SELECT p_day, tenant_id, pool_id, direction, f, ip, fp, ipp FROM gaps;
    GET DIAGNOSTICS written = ROW_COUNT;
    INSERT INTO public.usage_day_state (day, compacted_at, pairs, dirty)
    VALUES (p_day, now(), written, false)
    ON CONFLICT (day) DO UPDATE SET compacted_at = excluded.compacted_at,
        pairs = excluded.pairs, dirty = false;
    RETURN written;
END $$;
REVOKE EXECUTE ON FUNCTION public.bs_usage_day_compact(date) FROM PUBLIC;

-- The API's policy on usage_day (0027's bs_api_rls: ENABLE and FORCE row
-- security; the tenant of the request's token for bandsplit_api, every row
-- for the owner, settle and the CLI). usage_day_state is park-wide (which
-- days are compacted and clean): the API reads its day and dirty columns
-- only (grants.sql), not the park's count of pairs.
SELECT public.bs_api_rls('public.usage_day', 'tenant_id = (SELECT public.bs_api_tenant())');
