-- 0014_node_interval_late_malformed.sql — the node summary's v2 counts
-- (schemas/README.md, bandsplit.usage.v2) kept with it:
--   late_packets, late_bytes    frames older than the interval they were
--                               counted in (packet clock: a reordered
--                               capture), part of rx_*;
--   malformed_<reason>          frames that failed to parse, per reason
--                               (the dataplane parser's), summing to
--                               malformed_packets.
-- A v1 summary does not say: all eight are NULL, never 0. The constraints
-- hold what the record's decoder checks, so a row cannot disagree with
-- the record it came from whatever wrote it.

ALTER TABLE public.node_interval
    ADD COLUMN late_packets            bigint CHECK (late_packets >= 0),
    ADD COLUMN late_bytes              bigint CHECK (late_bytes >= 0),
    ADD COLUMN malformed_short_ether   bigint CHECK (malformed_short_ether >= 0),
    ADD COLUMN malformed_too_many_tags bigint CHECK (malformed_too_many_tags >= 0),
    ADD COLUMN malformed_short_ip      bigint CHECK (malformed_short_ip >= 0),
    ADD COLUMN malformed_bad_version   bigint CHECK (malformed_bad_version >= 0),
    ADD COLUMN malformed_bad_ihl       bigint CHECK (malformed_bad_ihl >= 0),
    ADD COLUMN malformed_bad_length    bigint CHECK (malformed_bad_length >= 0),
    ADD CONSTRAINT node_interval_v2_all_or_none CHECK (
        num_nulls(late_packets, late_bytes, malformed_short_ether,
                  malformed_too_many_tags, malformed_short_ip,
                  malformed_bad_version, malformed_bad_ihl,
                  malformed_bad_length) IN (0, 8)),
    ADD CONSTRAINT node_interval_late_within_rx CHECK (
        late_packets <= rx_packets AND late_bytes <= rx_bytes),
    ADD CONSTRAINT node_interval_malformed_reasons_sum CHECK (
        malformed_short_ether + malformed_too_many_tags + malformed_short_ip
        + malformed_bad_version + malformed_bad_ihl + malformed_bad_length
        = malformed_packets);

COMMENT ON COLUMN public.node_interval.late_packets IS
    'Frames counted in this interval although older than it (packet clock); NULL: a v1 summary.';
COMMENT ON COLUMN public.node_interval.malformed_bad_length IS
    'Malformed frames whose IP length field lies (or, on a port without sliced, frames cut short); NULL: a v1 summary.';
