-- 0002_rollups_and_summaries.sql — 5-minute rollups and node interval summaries.
--
-- usage_5m: one row per (tenant, pool, direction, 5-minute bucket aligned
-- to the Unix epoch), the sums of the usage records settled into it, per
-- byte measure. A record belongs to the bucket that contains its
-- interval_start (intervals divide 300 s in every supported configuration,
-- so a record never straddles two buckets). The consumer adds exactly the
-- rows that its INSERT into usage_raw actually inserted, in the same
-- transaction, so the rollup always equals the sum of the raw records
-- (until raw retention drops them; the rollups are kept).
--
-- node_interval: one row per (node, boot, interval): the node's own totals,
-- against which the completeness check (0003) compares the usage records.

CREATE TABLE usage_5m (
    tenant_id       bigint NOT NULL CHECK (tenant_id BETWEEN 0 AND 4294967295),
    pool_id         bigint NOT NULL CHECK (pool_id BETWEEN 0 AND 4294967295),
    direction       text COLLATE "C" NOT NULL CHECK (direction IN ('in', 'out')),
    bucket_start    timestamptz NOT NULL
                    CHECK (extract(epoch FROM bucket_start)::bigint % 300 = 0),
    frame_packets   bigint NOT NULL DEFAULT 0 CHECK (frame_packets >= 0),
    frame_bytes     bigint NOT NULL DEFAULT 0 CHECK (frame_bytes >= 0),
    ip_packets      bigint NOT NULL DEFAULT 0 CHECK (ip_packets >= 0),
    ip_bytes        bigint NOT NULL DEFAULT 0 CHECK (ip_bytes >= 0),
    policed_packets bigint NOT NULL DEFAULT 0 CHECK (policed_packets >= 0),
    policed_bytes   bigint NOT NULL DEFAULT 0 CHECK (policed_bytes >= 0),
    records         bigint NOT NULL DEFAULT 0 CHECK (records >= 0),
    late_records    bigint NOT NULL DEFAULT 0
                    CHECK (late_records BETWEEN 0 AND records),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, pool_id, direction, bucket_start)
);

COMMENT ON TABLE usage_5m IS
    'Sum of usage_raw per (tenant, pool, direction, 5-minute bucket), per byte measure.';

CREATE INDEX usage_5m_bucket ON usage_5m (bucket_start);

CREATE TABLE node_interval (
    node_id              text COLLATE "C" NOT NULL
                         CHECK (length(node_id) BETWEEN 1 AND 63),
    boot_id              uuid NOT NULL,
    interval_start       timestamptz NOT NULL,
    interval_len         integer NOT NULL CHECK (interval_len BETWEEN 1 AND 86400),
    byte_measure         text COLLATE "C" NOT NULL
                         CHECK (byte_measure IN ('frame', 'ip')),
    map_version          bigint NOT NULL CHECK (map_version >= 0),
    seq                  bigint NOT NULL CHECK (seq >= 1),
    record_count         integer NOT NULL CHECK (record_count >= 0),
    first_seq            bigint NOT NULL CHECK (first_seq >= 0),
    in_packets           bigint NOT NULL CHECK (in_packets >= 0),
    in_bytes             bigint NOT NULL CHECK (in_bytes >= 0),
    out_packets          bigint NOT NULL CHECK (out_packets >= 0),
    out_bytes            bigint NOT NULL CHECK (out_bytes >= 0),
    unattributed_packets bigint NOT NULL CHECK (unattributed_packets >= 0),
    unattributed_bytes   bigint NOT NULL CHECK (unattributed_bytes >= 0),
    malformed_packets    bigint NOT NULL CHECK (malformed_packets >= 0),
    malformed_bytes      bigint NOT NULL CHECK (malformed_bytes >= 0),
    non_ip_packets       bigint NOT NULL CHECK (non_ip_packets >= 0),
    non_ip_bytes         bigint NOT NULL CHECK (non_ip_bytes >= 0),
    rx_packets           bigint NOT NULL CHECK (rx_packets >= 0),
    rx_bytes             bigint NOT NULL CHECK (rx_bytes >= 0),
    late                 boolean NOT NULL DEFAULT false,
    settled_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (node_id, boot_id, interval_start),
    CHECK ((record_count = 0) = (first_seq = 0))
);

COMMENT ON TABLE node_interval IS
    'Per-node interval summaries: the node''s totals and its number of usage records.';

CREATE INDEX node_interval_start ON node_interval (interval_start);
