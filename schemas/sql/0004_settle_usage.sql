-- 0004_settle_usage.sql — one batch of usage records into usage_raw and
-- the 5-minute rollups, for bandsplit-settle.
--
-- bs_settle_usage() inserts the batch's records (duplicates by identity are
-- skipped) and adds exactly the inserted ones to usage_5m, in the caller's
-- transaction. The caller also sends the batch's own sums per (tenant,
-- pool, direction, bucket) (a_* arrays; NULL if it could not compute them).
-- A record belongs to the bucket containing its interval_start (0002).
--
-- Two ways in:
--  * unless the batch's first record is already stored, a plain INSERT of
--    the whole batch, in a subtransaction: when every record is new (the
--    usual case) it succeeds, and each row costs one descent of the
--    identity index instead of the two of ON CONFLICT (its pre-check, then
--    the insertion). The rollup's increments are then the batch's own sums
--    (a_*, or summed here from the batch's arrays if the caller sent none);
--    no row is read back.
--  * if the first record is stored (a replay), or that INSERT meets a
--    record already stored (unique_violation; its subtransaction is rolled
--    back), the batch goes through INSERT ... ON CONFLICT DO NOTHING; when
--    some were inserted, the increments are summed from the rows this
--    transaction inserted (xmin = the current transaction).

CREATE FUNCTION bs_settle_usage(
    p_node text[], p_boot uuid[], p_seq bigint[], p_start timestamptz[],
    p_len integer[], p_measure text[], p_map bigint[], p_tenant bigint[],
    p_pool bigint[], p_dir text[], p_packets bigint[], p_bytes bigint[],
    p_policed_packets bigint[], p_policed_bytes bigint[], p_late boolean[],
    a_tenant bigint[], a_pool bigint[], a_dir text[], a_bucket timestamptz[],
    a_frame_packets bigint[], a_frame_bytes bigint[], a_ip_packets bigint[],
    a_ip_bytes bigint[], a_policed_packets bigint[], a_policed_bytes bigint[],
    a_records bigint[], a_late bigint[],
    OUT inserted bigint, OUT late bigint, OUT buckets bigint)
LANGUAGE plpgsql AS $$
DECLARE
    all_new boolean;
BEGIN
    -- a batch whose first record is known is (part of) a replay: straight
    -- to ON CONFLICT, without materialising the batch for an INSERT bound
    -- to fail
    all_new := cardinality(p_node) IS DISTINCT FROM 0 AND NOT EXISTS (
        SELECT 1 FROM usage_raw
         WHERE interval_start = p_start[1] AND boot_id = p_boot[1]
           AND tenant_id = p_tenant[1] AND pool_id = p_pool[1]
           AND direction = p_dir[1] AND node_id = p_node[1]);
    IF all_new THEN
    BEGIN
        INSERT INTO usage_raw (node_id, boot_id, seq, interval_start, interval_len,
                               byte_measure, map_version, tenant_id, pool_id, direction,
                               packets, bytes, policed_packets, policed_bytes, late)
        SELECT * FROM unnest(p_node, p_boot, p_seq, p_start, p_len, p_measure, p_map,
                             p_tenant, p_pool, p_dir, p_packets, p_bytes,
                             p_policed_packets, p_policed_bytes, p_late);
        GET DIAGNOSTICS inserted = ROW_COUNT;
    EXCEPTION WHEN unique_violation THEN
        all_new := false;
    END;
    END IF;
    late := 0;
    buckets := 0;
    IF all_new THEN
        IF inserted = 0 THEN
            RETURN;
        END IF;
        IF a_tenant IS NULL THEN
            -- every record was inserted: its sums are the batch's
            SELECT array_agg(tenant_id), array_agg(pool_id), array_agg(direction),
                   array_agg(bucket_start), array_agg(fp), array_agg(fb),
                   array_agg(ipp), array_agg(ipb), array_agg(pp), array_agg(pb),
                   array_agg(n), array_agg(nl)
              INTO a_tenant, a_pool, a_dir, a_bucket, a_frame_packets, a_frame_bytes,
                   a_ip_packets, a_ip_bytes, a_policed_packets, a_policed_bytes,
                   a_records, a_late
              FROM (SELECT tenant_id, pool_id, direction,
                           date_bin('300 seconds', interval_start,
                                    timestamptz 'epoch') AS bucket_start,
                           coalesce(sum(packets) FILTER (WHERE byte_measure = 'frame'), 0) AS fp,
                           coalesce(sum(bytes) FILTER (WHERE byte_measure = 'frame'), 0) AS fb,
                           coalesce(sum(packets) FILTER (WHERE byte_measure = 'ip'), 0) AS ipp,
                           coalesce(sum(bytes) FILTER (WHERE byte_measure = 'ip'), 0) AS ipb,
                           sum(policed_packets) AS pp, sum(policed_bytes) AS pb,
                           count(*) AS n, count(*) FILTER (WHERE u.late) AS nl
                      FROM unnest(p_tenant, p_pool, p_dir, p_start, p_measure, p_packets,
                                  p_bytes, p_policed_packets, p_policed_bytes, p_late)
                           AS u(tenant_id, pool_id, direction, interval_start,
                                byte_measure, packets, bytes, policed_packets,
                                policed_bytes, late)
                     GROUP BY 1, 2, 3, 4) AS g;
        END IF;
    ELSE
        -- a replay: every record stored already (the usual case) leaves
        -- nothing to insert nor to roll up; counting the known identities
        -- reads the identity index once per record and skips the full rows
        IF (SELECT bool_and(EXISTS (
                       SELECT 1 FROM usage_raw r
                        WHERE r.interval_start = u.s AND r.boot_id = u.b
                          AND r.tenant_id = u.t AND r.pool_id = u.p
                          AND r.direction = u.d AND r.node_id = u.n))
              FROM unnest(p_start, p_boot, p_tenant, p_pool, p_dir, p_node)
                   AS u(s, b, t, p, d, n)) THEN
            inserted := 0;
            RETURN;
        END IF;
        INSERT INTO usage_raw (node_id, boot_id, seq, interval_start, interval_len,
                               byte_measure, map_version, tenant_id, pool_id, direction,
                               packets, bytes, policed_packets, policed_bytes, late)
        SELECT * FROM unnest(p_node, p_boot, p_seq, p_start, p_len, p_measure, p_map,
                             p_tenant, p_pool, p_dir, p_packets, p_bytes,
                             p_policed_packets, p_policed_bytes, p_late)
        ON CONFLICT (interval_start, boot_id, tenant_id, pool_id, direction, node_id)
        DO NOTHING;
        GET DIAGNOSTICS inserted = ROW_COUNT;
        IF inserted = 0 THEN
            RETURN;
        END IF;
    END IF;

    IF a_tenant IS NOT NULL AND inserted = cardinality(p_node) THEN
        INSERT INTO usage_5m AS r (tenant_id, pool_id, direction, bucket_start,
                                   frame_packets, frame_bytes, ip_packets, ip_bytes,
                                   policed_packets, policed_bytes, records, late_records)
        SELECT * FROM unnest(a_tenant, a_pool, a_dir, a_bucket, a_frame_packets,
                             a_frame_bytes, a_ip_packets, a_ip_bytes,
                             a_policed_packets, a_policed_bytes, a_records, a_late)
                 AS a(tenant_id, pool_id, direction, bucket_start)
         ORDER BY 1, 2, 3, 4
        ON CONFLICT (tenant_id, pool_id, direction, bucket_start) DO UPDATE SET
            frame_packets = r.frame_packets + excluded.frame_packets,
            frame_bytes = r.frame_bytes + excluded.frame_bytes,
            ip_packets = r.ip_packets + excluded.ip_packets,
            ip_bytes = r.ip_bytes + excluded.ip_bytes,
            policed_packets = r.policed_packets + excluded.policed_packets,
            policed_bytes = r.policed_bytes + excluded.policed_bytes,
            records = r.records + excluded.records,
            late_records = r.late_records + excluded.late_records,
            updated_at = now();
        GET DIAGNOSTICS buckets = ROW_COUNT;
        SELECT coalesce(sum(x), 0) INTO late FROM unnest(a_late) AS x;
        RETURN;
    END IF;

    WITH ids AS (
        SELECT DISTINCT * FROM unnest(p_start, p_boot, p_tenant, p_pool, p_dir, p_node)
            AS u(interval_start, boot_id, tenant_id, pool_id, direction, node_id)
    ), ins AS (
        SELECT r.* FROM usage_raw r
          JOIN ids USING (interval_start, boot_id, tenant_id, pool_id, direction, node_id)
         WHERE r.xmin = pg_current_xact_id()::xid
    ), sums AS (
        SELECT tenant_id, pool_id, direction,
               date_bin('300 seconds', interval_start, timestamptz 'epoch') AS bucket_start,
               coalesce(sum(packets) FILTER (WHERE byte_measure = 'frame'), 0) AS frame_packets,
               coalesce(sum(bytes) FILTER (WHERE byte_measure = 'frame'), 0) AS frame_bytes,
               coalesce(sum(packets) FILTER (WHERE byte_measure = 'ip'), 0) AS ip_packets,
               coalesce(sum(bytes) FILTER (WHERE byte_measure = 'ip'), 0) AS ip_bytes,
               sum(policed_packets) AS policed_packets, sum(policed_bytes) AS policed_bytes,
               count(*) AS records, count(*) FILTER (WHERE ins.late) AS late_records
          FROM ins GROUP BY 1, 2, 3, 4
    ), up AS (
        INSERT INTO usage_5m AS r (tenant_id, pool_id, direction, bucket_start,
                                   frame_packets, frame_bytes, ip_packets, ip_bytes,
                                   policed_packets, policed_bytes, records, late_records)
        SELECT * FROM sums ORDER BY 1, 2, 3, 4
        ON CONFLICT (tenant_id, pool_id, direction, bucket_start) DO UPDATE SET
            frame_packets = r.frame_packets + excluded.frame_packets,
            frame_bytes = r.frame_bytes + excluded.frame_bytes,
            ip_packets = r.ip_packets + excluded.ip_packets,
            ip_bytes = r.ip_bytes + excluded.ip_bytes,
            policed_packets = r.policed_packets + excluded.policed_packets,
            policed_bytes = r.policed_bytes + excluded.policed_bytes,
            records = r.records + excluded.records,
            late_records = r.late_records + excluded.late_records,
            updated_at = now()
        RETURNING r.late_records
    )
    SELECT (SELECT count(*) FROM up), (SELECT coalesce(sum(late_records), 0) FROM sums)
      INTO buckets, late;
END
$$;
