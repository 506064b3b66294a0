-- case_from_db.sql — the input of the rating reference (rating_ref.py) for
-- one month, read from a bandsplit database: the park's zone and billing
-- measure, pools, tenants, plans with their versions, allocations, and the
-- 5-minute rollups (already summed over nodes) of every bucket overlapping
-- the month. So `bandsplit close`'s invoices and carrier bills can be
-- compared with the reference on the same data:
--
--   psql -At -v month=2026-11 -f tests/reference/case_from_db.sql >case.json
--   tests/reference/rating_ref.py case.json >expected.json
--
-- Times become epoch seconds (date_part('epoch', …)::bigint); an open
-- validity becomes null. The billing measure is park_settings.billing_measure
-- where that column exists, else 'frame'.
SET search_path = pg_catalog, public, pg_temp;

WITH ps AS (
    SELECT p.time_zone,
           coalesce(to_jsonb(p) ->> 'billing_measure', 'frame') AS measure
      FROM public.park_settings p
), per AS (
    SELECT ps.*,
           ((:'month' || '-01')::date)::timestamp AT TIME ZONE ps.time_zone AS t0,
           ((:'month' || '-01')::date + interval '1 month')::timestamp
               AT TIME ZONE ps.time_zone AS t1
      FROM ps
)
SELECT json_build_object(
    'time_zone', per.time_zone,
    'month', :'month',
    'byte_measure', per.measure,
    'pools', coalesce((
        SELECT json_agg(json_build_object(
                 'pool_id', p.pool_id,
                 'valid', json_build_array(
                     date_part('epoch', lower(p.valid))::bigint,
                     date_part('epoch', upper(p.valid))::bigint),
                 'cost_model', p.cost_model,
                 'monthly_fee_fen', p.monthly_fee_fen,
                 'price_fen_per_mbps', p.price_fen_per_mbps,
                 'commit_floor_bps', p.commit_floor_bps) ORDER BY p.pool_id)
          FROM public.pool p), '[]'),
    'tenants', coalesce((
        SELECT json_agg(json_build_object('tenant_id', t.tenant_id)
                        ORDER BY t.tenant_id)
          FROM public.tenant t), '[]'),
    'plans', coalesce((
        SELECT json_agg(json_build_object(
                 'plan_id', pl.plan_id, 'kind', pl.kind,
                 'currency', pl.currency,
                 'versions', coalesce((
                    SELECT json_agg(json_build_object(
                             'version', v.version,
                             'valid', json_build_array(
                                 date_part('epoch', lower(v.valid))::bigint,
                                 date_part('epoch', upper(v.valid))::bigint),
                             'direction', v.direction,
                             'vat_bp', v.vat_bp,
                             'price_fen_per_mbps', v.price_fen_per_mbps,
                             'overage_fen_per_mbps', v.overage_fen_per_mbps,
                             'tier_from_gb', v.tier_from_gb,
                             'tier_fen_per_gb', v.tier_fen_per_gb)
                           ORDER BY lower(v.valid))
                      FROM public.plan_version v
                     WHERE v.plan_id = pl.plan_id), '[]'))
               ORDER BY pl.plan_id)
          FROM public.plan pl), '[]'),
    'allocations', coalesce((
        SELECT json_agg(json_build_object(
                 'alloc_id', a.alloc_id, 'tenant_id', a.tenant_id,
                 'pool_id', a.pool_id, 'plan_id', a.plan_id,
                 'committed_bps', a.committed_bps,
                 'valid', json_build_array(
                     date_part('epoch', lower(a.valid))::bigint,
                     date_part('epoch', upper(a.valid))::bigint))
               ORDER BY a.alloc_id)
          FROM public.allocation a
         WHERE a.valid && tstzrange(per.t0, per.t1)), '[]'),
    'rollups', coalesce((
        SELECT json_agg(json_build_object(
                 'tenant_id', u.tenant_id, 'pool_id', u.pool_id,
                 'direction', u.direction,
                 'bucket', date_part('epoch', u.bucket_start)::bigint,
                 'bytes', CASE per.measure WHEN 'ip' THEN u.ip_bytes
                                           ELSE u.frame_bytes END)
               ORDER BY u.tenant_id, u.pool_id, u.bucket_start, u.direction)
          FROM public.usage_5m u
         WHERE u.bucket_start > per.t0 - interval '300 seconds'
           AND u.bucket_start < per.t1), '[]'))
  FROM per;
