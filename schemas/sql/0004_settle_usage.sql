-- 0004_settle_usage.sql — one batch of usage records into usage_raw and
-- the 5-minute rollups, for bandsplit-settle.
--
-- bs_settle_usage() inserts the batch's records (duplicates by identity are
-- skipped) and adds exactly the inserted ones to usage_5m, in the caller's
-- transaction. The caller also sends the batch's own sums per (tenant,
-- pool, direction, bucket) (a_* arrays; NULL if it could not compute them):
-- when every record was new, those sums are the rollup's increments and no
-- row is read back; when some were duplicates, the increments are summed
-- from the rows this transaction inserted (xmin = the current transaction).
-- A record belongs to the bucket containing its interval_start (0002).

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
BEGIN
    INSERT INTO usage_raw (node_id, boot_id, seq, interval_start, interval_len,
                           byte_measure, map_version, tenant_id, pool_id, direction,
                           packets, bytes, policed_packets, policed_bytes, late)
    SELECT * FROM unnest(p_node, p_boot, p_seq, p_start, p_len, p_measure, p_map,
                         p_tenant, p_pool, p_dir, p_packets, p_bytes,
                         p_policed_packets, p_policed_bytes, p_late)
    ON CONFLICT (interval_start, boot_id, tenant_id, pool_id, direction, node_id)
    DO NOTHING;
    GET DIAGNOSTICS inserted = ROW_COUNT;
    late := 0;
    buckets := 0;
    IF inserted = 0 THEN
        RETURN;
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
