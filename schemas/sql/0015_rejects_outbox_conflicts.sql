-- 0015_rejects_outbox_conflicts.sql — rejected_records becomes the dead
-- letter queue's outbox, keeps a digest of every rejected message, and
-- keeps identity conflicts with both values.
--
-- DLQ. bandsplit-settle used to produce each rejected message to
-- bandsplit.usage.dlq while collecting its batch, before the batch's
-- transaction: a batch retried (PostgreSQL restart, a moved offset, a DLQ
-- delivery failure) produced its rejects again, and a message the DLQ
-- producer refused (larger than its message.max.bytes) stalled the
-- partition for ever. Now the batch only inserts the reject here (same
-- transaction as the offsets); once committed, the consumer publishes the
-- rows, in two steps:
--   hand-over: dlq_sent_at, the DLQ partition chosen (dlq_partition) and
--     that partition's end offset then (dlq_scan_from) are committed
--     before the message is produced;
--   confirmation: dlq_offset, where the DLQ stored it, once acknowledged.
-- A row handed over and not confirmed (a crash in between) is looked for
-- in its DLQ partition from dlq_scan_from on before it is produced again:
-- found, it is confirmed with that offset and not sent twice.
-- Rows rejected before this migration were sent the old way: they are
-- marked sent (dlq_partition and dlq_offset unknown).
--
-- Digest. payload_sha256 is the SHA-256 of the whole message as read from
-- Kafka (payload keeps its first 64 KiB, payload_bytes its length).
--
-- Conflicts. A usage record or summary whose identity is stored with other
-- counts is not a duplicate: it is kept here with reason
-- 'identity_conflict' and conflict = {"stored": {...}, "received": {...}};
-- payload is then the received record as the settlement read it (JSON).

ALTER TABLE public.rejected_records
    ADD COLUMN payload_sha256 bytea CHECK (length(payload_sha256) = 32),
    ADD COLUMN conflict       jsonb CHECK (jsonb_typeof(conflict) = 'object'
                                           AND conflict ? 'stored'
                                           AND conflict ? 'received'),
    ADD COLUMN dlq_sent_at    timestamptz,
    ADD COLUMN dlq_partition  integer CHECK (dlq_partition >= 0),
    ADD COLUMN dlq_scan_from  bigint CHECK (dlq_scan_from >= 0),
    ADD COLUMN dlq_offset     bigint CHECK (dlq_offset >= 0),
    ADD CONSTRAINT rejected_records_conflict_reason
        CHECK ((reason = 'identity_conflict') = (conflict IS NOT NULL)),
    ADD CONSTRAINT rejected_records_dlq_steps
        CHECK ((dlq_partition IS NULL) = (dlq_scan_from IS NULL)
               AND (dlq_partition IS NULL OR dlq_sent_at IS NOT NULL)
               AND (dlq_offset IS NULL OR dlq_partition IS NOT NULL)
               AND (dlq_offset IS NULL OR dlq_offset >= dlq_scan_from));

UPDATE public.rejected_records SET dlq_sent_at = rejected_at;

-- What is left to publish or to confirm, per source partition in offset
-- order.
CREATE INDEX rejected_records_dlq_pending
    ON public.rejected_records (topic, kafka_partition, kafka_offset)
    WHERE dlq_sent_at IS NULL OR (dlq_partition IS NOT NULL AND dlq_offset IS NULL);

-- bandsplit gaps lists conflicts by the time they were found.
CREATE INDEX rejected_records_conflicts
    ON public.rejected_records (rejected_at)
    WHERE reason = 'identity_conflict';
