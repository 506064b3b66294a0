-- 0003_ingest_state.sql — Kafka offsets, rejected records, completeness gaps.
--
-- kafka_offsets is the consumer's position of record: bandsplit-settle seeks
-- each assigned partition to next_offset (not to Kafka's committed offset)
-- and advances it in the same transaction as the rows it settles, through
-- bs_offsets_advance(), a compare-and-set that fences out a second instance
-- writing the same partition.
--
-- rejected_records keeps every Kafka message the consumer refused (it also
-- goes to bandsplit.usage.dlq), once per (topic, partition, offset).
--
-- completeness_gaps is the last view of bs_find_gaps() kept by the consumer
-- (bs_refresh_gaps): sequence gaps per (node, boot), intervals whose summary
-- does not equal the sum of their usage records, usage without a summary.

CREATE TABLE kafka_offsets (
    consumer_group  text NOT NULL CHECK (length(consumer_group) BETWEEN 1 AND 255),
    topic           text NOT NULL CHECK (length(topic) BETWEEN 1 AND 249),
    kafka_partition integer NOT NULL CHECK (kafka_partition >= 0),
    -- NULL: nothing settled yet, start from the earliest offset Kafka has
    next_offset     bigint CHECK (next_offset >= 0),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, kafka_partition)
);

-- Moves next_offset of each listed partition from p_expected[i] to
-- p_next[i]. If any row does not hold the expected value (another instance
-- advanced it, or an operator reset it), raises SQLSTATE BSF01 naming the
-- partitions, which rolls back the whole batch transaction.
CREATE FUNCTION bs_offsets_advance(p_group text, p_topic text,
                                   p_partitions integer[], p_expected bigint[],
                                   p_next bigint[])
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n       integer;
    wanted  integer := coalesce(cardinality(p_partitions), 0);
    stale   text;
BEGIN
    IF cardinality(p_expected) IS DISTINCT FROM wanted
       OR cardinality(p_next) IS DISTINCT FROM wanted THEN
        RAISE EXCEPTION 'bs_offsets_advance: arrays of different lengths'
            USING ERRCODE = '22023';
    END IF;
    -- lock the rows in one order (two instances never deadlock here), then
    -- compare, then move
    PERFORM 1 FROM kafka_offsets o
      WHERE o.consumer_group = p_group AND o.topic = p_topic
        AND o.kafka_partition = ANY (p_partitions)
      ORDER BY o.kafka_partition
      FOR UPDATE;
    SELECT string_agg(format('%s (expected %s, stored %s)', u.kafka_partition,
                             coalesce(u.expected::text, 'none'),
                             CASE WHEN o.kafka_partition IS NULL THEN 'no row'
                                  ELSE coalesce(o.next_offset::text, 'none') END),
                      ', ' ORDER BY u.kafka_partition)
      INTO stale
      FROM unnest(p_partitions, p_expected, p_next)
           AS u(kafka_partition, expected, next_offset)
      LEFT JOIN kafka_offsets o
             ON o.consumer_group = p_group AND o.topic = p_topic
            AND o.kafka_partition = u.kafka_partition
     WHERE o.kafka_partition IS NULL
        OR o.next_offset IS DISTINCT FROM u.expected
        OR u.next_offset < coalesce(u.expected, 0);
    IF stale IS NOT NULL THEN
        RAISE EXCEPTION 'offset fence: %/% partition(s) % moved under this consumer',
            p_group, p_topic, stale USING ERRCODE = 'BSF01';
    END IF;
    UPDATE kafka_offsets o
       SET next_offset = u.next_offset, updated_at = now()
      FROM unnest(p_partitions, p_next) AS u(kafka_partition, next_offset)
     WHERE o.consumer_group = p_group AND o.topic = p_topic
       AND o.kafka_partition = u.kafka_partition;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> wanted THEN
        RAISE EXCEPTION 'bs_offsets_advance: % rows moved, % partitions listed '
            '(a partition listed twice?)', n, wanted USING ERRCODE = '22023';
    END IF;
    RETURN n;
END
$$;

CREATE TABLE rejected_records (
    id              bigserial PRIMARY KEY,
    topic           text NOT NULL,
    kafka_partition integer NOT NULL CHECK (kafka_partition >= 0),
    kafka_offset    bigint NOT NULL CHECK (kafka_offset >= 0),
    kafka_key       bytea,
    payload         bytea NOT NULL,          -- at most 64 KiB kept
    payload_bytes   integer NOT NULL CHECK (payload_bytes >= 0),
    reason          text NOT NULL CHECK (reason ~ '^[a-z_]{1,32}$'),
    error           text NOT NULL,
    rejected_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic, kafka_partition, kafka_offset),
    CHECK (length(payload) <= 65536 AND length(payload) <= payload_bytes)
);

CREATE INDEX rejected_records_at ON rejected_records (rejected_at);

CREATE TABLE completeness_gaps (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN
                        ('seq_gap', 'missing_summary', 'count_mismatch', 'sum_mismatch')),
    node_id         text COLLATE "C" NOT NULL,
    boot_id         uuid NOT NULL,
    interval_start  timestamptz NOT NULL,
    seq_from        bigint CHECK (seq_from >= 1),
    seq_to          bigint CHECK (seq_to >= seq_from),
    expected        numeric CHECK (expected >= 0),
    actual          numeric CHECK (actual >= 0),
    detail          text NOT NULL,
    first_seen      timestamptz NOT NULL DEFAULT now(),
    last_seen       timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    UNIQUE NULLS NOT DISTINCT (kind, node_id, boot_id, interval_start, seq_from)
);

CREATE INDEX completeness_gaps_open ON completeness_gaps (interval_start)
    WHERE resolved_at IS NULL;

-- The completeness check over usage of intervals starting in [p_from, p_to):
--   seq_gap          seqs seq_from..seq_to of (node, boot) never arrived
--                    (interval_start: of the first record after the gap);
--   count_mismatch   summary.record_count <> number of usage records;
--   sum_mismatch     counts agree but the per-direction packets or bytes
--                    differ from the summary's;
--   missing_summary  usage records of an interval without its summary.
-- Usage and summary records share one seq space per (node, boot).
CREATE FUNCTION bs_find_gaps(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (kind text, node_id text, boot_id uuid, interval_start timestamptz,
               seq_from bigint, seq_to bigint, expected numeric, actual numeric,
               detail text)
LANGUAGE sql STABLE AS $$
WITH seqs AS (
    SELECT r.node_id, r.boot_id, r.seq, r.interval_start
      FROM usage_raw r
     WHERE r.interval_start >= p_from AND r.interval_start < p_to
    UNION ALL
    SELECT s.node_id, s.boot_id, s.seq, s.interval_start
      FROM node_interval s
     WHERE s.interval_start >= p_from AND s.interval_start < p_to
), ordered AS (
    SELECT q.node_id, q.boot_id, q.seq, q.interval_start,
           lag(q.seq) OVER (PARTITION BY q.node_id, q.boot_id ORDER BY q.seq) AS prev_seq
      FROM seqs q
), sums AS (
    SELECT r.node_id, r.boot_id, r.interval_start, count(*) AS n,
           coalesce(sum(r.packets) FILTER (WHERE r.direction = 'in'), 0) AS in_packets,
           coalesce(sum(r.bytes) FILTER (WHERE r.direction = 'in'), 0) AS in_bytes,
           coalesce(sum(r.packets) FILTER (WHERE r.direction = 'out'), 0) AS out_packets,
           coalesce(sum(r.bytes) FILTER (WHERE r.direction = 'out'), 0) AS out_bytes
      FROM usage_raw r
     WHERE r.interval_start >= p_from AND r.interval_start < p_to
     GROUP BY r.node_id, r.boot_id, r.interval_start
), found AS (
    SELECT 'seq_gap'::text AS kind, o.node_id, o.boot_id, o.interval_start,
           o.prev_seq + 1 AS seq_from, o.seq - 1 AS seq_to,
           NULL::numeric AS expected, NULL::numeric AS actual,
           format('%s record(s) missing', o.seq - o.prev_seq - 1) AS detail
      FROM ordered o
     WHERE o.prev_seq IS NOT NULL AND o.seq > o.prev_seq + 1
    UNION ALL
    -- the boot's first records are missing (the window holds its start)
    SELECT 'seq_gap', o.node_id, o.boot_id, o.interval_start, 1, o.seq - 1,
           NULL, NULL, format('%s record(s) missing at boot start', o.seq - 1)
      FROM ordered o
     WHERE o.prev_seq IS NULL AND o.seq > 1
       AND NOT EXISTS (SELECT 1 FROM node_interval e
                        WHERE e.node_id = o.node_id AND e.boot_id = o.boot_id
                          AND e.interval_start < p_from)
    UNION ALL
    SELECT CASE WHEN s.record_count <> coalesce(m.n, 0) THEN 'count_mismatch'
                ELSE 'sum_mismatch' END,
           s.node_id, s.boot_id, s.interval_start, NULL, NULL,
           CASE WHEN s.record_count <> coalesce(m.n, 0) THEN s.record_count
                ELSE s.in_bytes + s.out_bytes END,
           CASE WHEN s.record_count <> coalesce(m.n, 0) THEN coalesce(m.n, 0)
                ELSE m.in_bytes + m.out_bytes END,
           format('summary: %s records, in %s pkts %s bytes, out %s pkts %s bytes; '
                  'usage: %s records, in %s pkts %s bytes, out %s pkts %s bytes',
                  s.record_count, s.in_packets, s.in_bytes, s.out_packets, s.out_bytes,
                  coalesce(m.n, 0), coalesce(m.in_packets, 0), coalesce(m.in_bytes, 0),
                  coalesce(m.out_packets, 0), coalesce(m.out_bytes, 0))
      FROM node_interval s
      LEFT JOIN sums m ON m.node_id = s.node_id AND m.boot_id = s.boot_id
                      AND m.interval_start = s.interval_start
     WHERE s.interval_start >= p_from AND s.interval_start < p_to
       AND (s.record_count <> coalesce(m.n, 0)
            OR s.in_packets <> coalesce(m.in_packets, 0)
            OR s.in_bytes <> coalesce(m.in_bytes, 0)
            OR s.out_packets <> coalesce(m.out_packets, 0)
            OR s.out_bytes <> coalesce(m.out_bytes, 0))
    UNION ALL
    SELECT 'missing_summary', m.node_id, m.boot_id, m.interval_start, NULL, NULL,
           NULL, m.n, format('%s usage record(s), no summary', m.n)
      FROM sums m
     WHERE NOT EXISTS (SELECT 1 FROM node_interval s
                        WHERE s.node_id = m.node_id AND s.boot_id = m.boot_id
                          AND s.interval_start = m.interval_start)
)
SELECT f.kind, f.node_id, f.boot_id, f.interval_start, f.seq_from, f.seq_to,
       f.expected, f.actual, f.detail
  FROM found f
 ORDER BY f.node_id, f.boot_id, f.interval_start, f.kind, f.seq_from
$$;

-- Brings completeness_gaps up to date for intervals in [p_from, p_to):
-- records what bs_find_gaps() finds now and marks resolved the open gaps
-- it no longer finds (late records filled them). Returns the open count.
CREATE FUNCTION bs_refresh_gaps(p_from timestamptz, p_to timestamptz)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    open_now bigint;
BEGIN
    WITH found AS (
        SELECT * FROM bs_find_gaps(p_from, p_to)
    ), upserted AS (
        INSERT INTO completeness_gaps AS g
               (kind, node_id, boot_id, interval_start, seq_from, seq_to,
                expected, actual, detail)
        SELECT f.kind, f.node_id, f.boot_id, f.interval_start, f.seq_from,
               f.seq_to, f.expected, f.actual, f.detail
          FROM found f
        ON CONFLICT (kind, node_id, boot_id, interval_start, seq_from) DO UPDATE
           SET seq_to = excluded.seq_to, expected = excluded.expected,
               actual = excluded.actual, detail = excluded.detail,
               last_seen = now(), resolved_at = NULL
        RETURNING g.id
    )
    UPDATE completeness_gaps g
       SET resolved_at = now()
     WHERE g.resolved_at IS NULL
       AND g.interval_start >= p_from AND g.interval_start < p_to
       AND g.id NOT IN (SELECT u.id FROM upserted u);
    SELECT count(*) INTO open_now FROM completeness_gaps WHERE resolved_at IS NULL;
    RETURN open_now;
END
$$;
