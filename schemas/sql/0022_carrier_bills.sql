-- 0022_carrier_bills.sql — what the park owes its carriers per pool and
-- period, computed by the month close from the pool's contract (0011):
--   flat  monthly_fee_fen × the fraction of the period the pool is valid
--   p95   price_fen_per_mbps × max(the pool's 95th, commit floor) in Mbps ×
--         that fraction, where the pool's sample per 5-minute bucket is
--         max(in, out) of the sum of every tenant's bytes and the
--         unattributed bytes (tenant 0) on the pool: what the carrier sees
-- One half-up rounding to the fen. A bill (kind 'bill', one per pool and
-- period) and, when usage settled after the close changes it, adjustments
-- (kind 'adjustment', the delta) referencing it. Immutable like invoices.

CREATE TABLE public.carrier_bill (
    carrier_bill_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('bill', 'adjustment')),
    original_id      bigint REFERENCES public.carrier_bill,
    run_id           bigint NOT NULL REFERENCES public.close_run,
    period           date NOT NULL CHECK (extract(day FROM period) = 1),
    pool_id          bigint NOT NULL REFERENCES public.pool,
    carrier          text NOT NULL,
    currency         text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    cost_model       text NOT NULL CHECK (cost_model IN ('flat', 'p95')),
    window_start     timestamptz NOT NULL,
    window_end       timestamptz NOT NULL CHECK (window_end > window_start),
    window_seconds   bigint NOT NULL CHECK (window_seconds > 0),
    period_seconds   bigint NOT NULL CHECK (period_seconds >= window_seconds),
    monthly_fee_fen  bigint,
    price_fen_per_mbps bigint,
    commit_floor_bps bigint,
    byte_measure     text NOT NULL CHECK (byte_measure IN ('frame', 'ip')),
    buckets          integer NOT NULL CHECK (buckets >= 0),
    gaps             integer NOT NULL CHECK (gaps BETWEEN 0 AND buckets),
    billed_rank      integer,
    billed_bucket    timestamptz,
    billed_bytes     bigint CHECK (billed_bytes >= 0),
    -- what is charged: Mbps (p95: max(95th, floor); flat: NULL), exact
    billed_mbps      numeric,
    bytes_in         bigint NOT NULL CHECK (bytes_in >= 0),
    bytes_out        bigint NOT NULL CHECK (bytes_out >= 0),
    unattributed_bytes bigint NOT NULL CHECK (unattributed_bytes >= 0),
    amount_fen       bigint NOT NULL,
    issued_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'bill') = (original_id IS NULL)),
    CHECK (kind <> 'bill' OR amount_fen >= 0)
);
CREATE UNIQUE INDEX carrier_bill_one_per_period
    ON public.carrier_bill (period, pool_id) WHERE kind = 'bill';

SELECT public.bs_finance_make_immutable('public.carrier_bill');
