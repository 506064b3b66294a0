-- 0021_invoices.sql — month closes, invoices, credit and debit notes: the
-- documents `bandsplit close` issues, immutable once issued.
--
--   close_run          one row per run of `bandsplit close` that issued
--                      something: kind 'close' (the period's first close,
--                      at most one per period) or 'adjust' (--adjust, later)
--   document_counter   the last number issued per series and year: numbers
--                      come from this locked row, never from a sequence, so
--                      a rolled back close leaves no hole
--   invoice            an invoice (kind 'invoice': one per tenant, currency
--                      and period) or a note (kind 'credit_note' /
--                      'debit_note') referencing the original invoice, with
--                      both parties' legal details copied at issue
--   invoice_line       per segment (month ∩ allocation ∩ plan version) and
--                      charge kind, with the rating's evidence; in a note,
--                      amount_fen and the delta_* columns are the change
--                      against what was billed before (the original and
--                      earlier notes), the evidence columns the re-rated state
--   invoice_vat        per VAT rate: base and VAT (in a note, their deltas)
--
-- Numbers: invoices 2026-000001, credit notes CN-2026-000001, debit notes
-- DN-2026-000001; gapless per series and (issue) year. The database checks
-- it: an invoice row must carry a number the counter has reached, and at
-- commit a counter's last number must equal the count of documents of its
-- series and year (with unique numbers, no hole).
--
-- Immutability: UPDATE, DELETE and TRUNCATE of close_run, invoice,
-- invoice_line and invoice_vat are refused (SQLSTATE BSI01), and so is
-- adding a line or a VAT row to a document after the transaction that
-- issued it. At commit every document's subtotal must equal Σ its lines,
-- its VAT Σ its VAT rows, each VAT row's base Σ the lines at that rate (a
-- rate without a row: 0) and, on an invoice, each VAT =
-- round-half-up(base × rate). A note may carry lines whose amount did not
-- change (only their evidence did: usage that settled late without moving
-- the billed figures); its total is then 0 (a debit note of 0).

CREATE TABLE public.close_run (
    run_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    period          date NOT NULL CHECK (extract(day FROM period) = 1),
    kind            text NOT NULL CHECK (kind IN ('close', 'adjust')),
    time_zone       text NOT NULL,
    billing_measure text NOT NULL CHECK (billing_measure IN ('frame', 'ip')),
    period_start    timestamptz NOT NULL,
    period_end      timestamptz NOT NULL CHECK (period_end > period_start),
    ran_at          timestamptz NOT NULL DEFAULT now(),
    actor           text NOT NULL,
    run_txid        bigint NOT NULL DEFAULT txid_current()
);
CREATE UNIQUE INDEX close_run_one_close ON public.close_run (period)
    WHERE kind = 'close';

CREATE TABLE public.document_counter (
    series      text NOT NULL
                CHECK (series IN ('invoice', 'credit_note', 'debit_note')),
    year        integer NOT NULL CHECK (year BETWEEN 2000 AND 9999),
    last_number bigint NOT NULL CHECK (last_number BETWEEN 1 AND 999999),
    PRIMARY KEY (series, year)
);

CREATE TABLE public.invoice (
    invoice_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL
                    CHECK (kind IN ('invoice', 'credit_note', 'debit_note')),
    number          text NOT NULL UNIQUE,
    number_year     integer NOT NULL CHECK (number_year BETWEEN 2000 AND 9999),
    number_seq      bigint NOT NULL CHECK (number_seq BETWEEN 1 AND 999999),
    original_id     bigint REFERENCES public.invoice,
    run_id          bigint NOT NULL REFERENCES public.close_run,
    period          date NOT NULL CHECK (extract(day FROM period) = 1),
    period_start    timestamptz NOT NULL,
    period_end      timestamptz NOT NULL CHECK (period_end > period_start),
    tenant_id       bigint NOT NULL REFERENCES public.tenant,
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    issued_at       timestamptz NOT NULL DEFAULT now(),
    issue_date      date NOT NULL,
    due_date        date NOT NULL CHECK (due_date >= issue_date),
    seller_name     text NOT NULL,
    seller_tax_id   text NOT NULL,
    seller_address  text NOT NULL,
    seller_bank     text,
    buyer_name      text NOT NULL,
    buyer_tax_id    text NOT NULL,
    buyer_address   text,
    buyer_bank      text,
    subtotal_fen    bigint NOT NULL,
    vat_fen         bigint NOT NULL,
    total_fen       bigint NOT NULL,
    issuing_txid    bigint NOT NULL DEFAULT txid_current(),
    UNIQUE (kind, number_year, number_seq),
    CHECK ((kind = 'invoice') = (original_id IS NULL)),
    CHECK (total_fen = subtotal_fen + vat_fen),
    CHECK (kind <> 'invoice' OR (subtotal_fen >= 0 AND vat_fen >= 0)),
    CHECK (kind <> 'credit_note' OR total_fen < 0),
    CHECK (kind <> 'debit_note' OR total_fen >= 0),
    CHECK (number = CASE kind WHEN 'invoice' THEN ''
                              WHEN 'credit_note' THEN 'CN-'
                              ELSE 'DN-' END
                    || number_year || '-' || lpad(number_seq::text, 6, '0'))
);
CREATE UNIQUE INDEX invoice_one_per_period
    ON public.invoice (period, tenant_id, currency) WHERE kind = 'invoice';
CREATE INDEX invoice_original ON public.invoice (original_id);
CREATE INDEX invoice_tenant ON public.invoice (tenant_id, period);

CREATE TABLE public.invoice_line (
    invoice_id      bigint NOT NULL REFERENCES public.invoice,
    line_no         integer NOT NULL CHECK (line_no >= 1),
    -- the segment: its number in the document, and what it is made of
    segment_no      integer NOT NULL CHECK (segment_no >= 1),
    alloc_id        bigint NOT NULL REFERENCES public.allocation,
    pool_id         bigint NOT NULL REFERENCES public.pool,
    plan_id         bigint NOT NULL,
    plan_version    integer NOT NULL,
    plan_kind       text NOT NULL CHECK (plan_kind IN ('flat', 'burstable95', 'volume')),
    charge          text NOT NULL CHECK (charge IN ('flat', 'commit', 'overage', 'volume')),
    window_start    timestamptz NOT NULL,
    window_end      timestamptz NOT NULL CHECK (window_end > window_start),
    window_seconds  bigint NOT NULL CHECK (window_seconds > 0),
    period_seconds  bigint NOT NULL CHECK (period_seconds >= window_seconds),
    -- the evidence
    direction       text NOT NULL CHECK (direction IN ('max', 'in', 'out', 'sum')),
    byte_measure    text NOT NULL CHECK (byte_measure IN ('frame', 'ip')),
    buckets         integer NOT NULL CHECK (buckets >= 0),
    gaps            integer NOT NULL CHECK (gaps BETWEEN 0 AND buckets),
    billed_rank     integer CHECK (billed_rank BETWEEN 1 AND buckets),
    dropped         integer NOT NULL CHECK (dropped BETWEEN 0 AND buckets),
    billed_bucket   timestamptz,
    billed_bytes    bigint CHECK (billed_bytes >= 0),
    commit_bps      bigint NOT NULL CHECK (commit_bps > 0),
    bytes_in        bigint NOT NULL CHECK (bytes_in >= 0),
    bytes_out       bigint NOT NULL CHECK (bytes_out >= 0),
    -- the charge: quantity (Mbps, Mbps above the commit, or GB; exact) ×
    -- unit price (fen per Mbps-month or per GB; NULL for volume's tiers)
    quantity        numeric NOT NULL,
    unit_price_fen  bigint CHECK (unit_price_fen >= 0),
    amount_fen      bigint NOT NULL,
    vat_bp          integer NOT NULL CHECK (vat_bp BETWEEN 0 AND 10000),
    description     text NOT NULL,
    -- notes only: what had been billed for this line before, and the
    -- change of each figure
    prev_amount_fen   bigint,
    delta_bytes_in    bigint,
    delta_bytes_out   bigint,
    delta_billed_bytes bigint,
    PRIMARY KEY (invoice_id, line_no)
);
CREATE INDEX invoice_line_alloc ON public.invoice_line (alloc_id);

CREATE TABLE public.invoice_vat (
    invoice_id  bigint NOT NULL REFERENCES public.invoice,
    vat_bp      integer NOT NULL CHECK (vat_bp BETWEEN 0 AND 10000),
    base_fen    bigint NOT NULL,
    vat_fen     bigint NOT NULL,
    PRIMARY KEY (invoice_id, vat_bp)
);

-- round-half-up(a × bp / 10000) for a >= 0, and symmetric (half away from
-- zero) below: the VAT of a base, exact.
CREATE FUNCTION public.bs_vat_of(p_base bigint, p_bp integer)
RETURNS bigint
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT (sign(p_base) * floor((abs(p_base::numeric) * p_bp + 5000) / 10000))::bigint
$$;

-- The next n numbers of a series in a year: locks the counter row (the
-- first caller creates it) and returns the first of them.
CREATE FUNCTION public.bs_take_numbers(p_series text, p_year integer, p_n bigint)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_last bigint;
BEGIN
    IF p_n < 1 THEN
        RAISE EXCEPTION 'bs_take_numbers: % numbers requested', p_n
            USING ERRCODE = '22023';
    END IF;
    INSERT INTO public.document_counter AS c (series, year, last_number)
    VALUES (p_series, p_year, p_n)
    ON CONFLICT (series, year) DO UPDATE SET last_number = c.last_number + p_n
    RETURNING c.last_number INTO v_last;
    RETURN v_last - p_n + 1;
END
$$;

-- Immutable: every UPDATE, DELETE or TRUNCATE of an issued document table.
CREATE FUNCTION public.bs_finance_refuse()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION '% is issued and immutable: % refused (issue a credit '
                    'or debit note instead: bandsplit close --adjust)',
        TG_TABLE_NAME, TG_OP USING ERRCODE = 'BSI01';
END
$$;

-- Attaches the refusals to a table.
CREATE FUNCTION public.bs_finance_make_immutable(p_table regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION public.bs_finance_refuse()',
                   'immutable_' || p_table::text, p_table);
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION public.bs_finance_refuse()',
                   'immutable_truncate_' || p_table::text, p_table);
END
$$;

SELECT public.bs_finance_make_immutable('public.close_run');
SELECT public.bs_finance_make_immutable('public.invoice');
SELECT public.bs_finance_make_immutable('public.invoice_line');
SELECT public.bs_finance_make_immutable('public.invoice_vat');

-- The counter only moves forward and is never removed.
CREATE FUNCTION public.bs_counter_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.series <> OLD.series OR NEW.year <> OLD.year
       OR NEW.last_number <= OLD.last_number THEN
        RAISE EXCEPTION 'document_counter only counts up: % refused', TG_OP
            USING ERRCODE = 'BSI01';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER document_counter_guard BEFORE UPDATE OR DELETE
    ON public.document_counter
    FOR EACH ROW EXECUTE FUNCTION public.bs_counter_guard();
CREATE TRIGGER document_counter_no_truncate BEFORE TRUNCATE
    ON public.document_counter
    FOR EACH STATEMENT EXECUTE FUNCTION public.bs_finance_refuse();

-- At commit: the counter's last number = the number of documents of its
-- series and year = their highest number (so 1..last, no hole).
CREATE FUNCTION public.bs_counter_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_n   bigint;
    v_max bigint;
BEGIN
    SELECT count(*), max(i.number_seq) INTO v_n, v_max
      FROM public.invoice i
     WHERE i.kind = NEW.series AND i.number_year = NEW.year;
    IF v_n <> NEW.last_number OR v_max IS DISTINCT FROM NEW.last_number THEN
        RAISE EXCEPTION 'numbers of % in % are not gapless: counter at %, % '
                        'document(s), highest %', NEW.series, NEW.year,
            NEW.last_number, v_n, v_max USING ERRCODE = 'BSI02';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER document_counter_gapless
    AFTER INSERT OR UPDATE ON public.document_counter
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION public.bs_counter_check();

-- A document takes a number the counter has reached (in this transaction
-- or before: the commit check above then proves it was free).
CREATE FUNCTION public.bs_invoice_number_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM public.document_counter c
                    WHERE c.series = NEW.kind AND c.year = NEW.number_year
                      AND c.last_number >= NEW.number_seq) THEN
        RAISE EXCEPTION 'document number % was not taken from the counter',
            NEW.number USING ERRCODE = 'BSI02';
    END IF;
    IF NEW.issuing_txid <> txid_current() THEN
        RAISE EXCEPTION 'issuing_txid is set by the database'
            USING ERRCODE = 'BSI01';
    END IF;
    IF NEW.original_id IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM public.invoice o
            WHERE o.invoice_id = NEW.original_id AND o.kind = 'invoice'
              AND o.tenant_id = NEW.tenant_id AND o.currency = NEW.currency
              AND o.period = NEW.period) THEN
        RAISE EXCEPTION 'a note references an invoice of its tenant, currency '
                        'and period (invoice %)', NEW.original_id
            USING ERRCODE = 'BSI02';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER invoice_number_guard BEFORE INSERT ON public.invoice
    FOR EACH ROW EXECUTE FUNCTION public.bs_invoice_number_guard();

-- Lines and VAT rows only in the transaction that issues their document.
CREATE FUNCTION public.bs_invoice_part_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM public.invoice i
                    WHERE i.invoice_id = NEW.invoice_id
                      AND i.issuing_txid = txid_current()) THEN
        RAISE EXCEPTION 'document % is issued and immutable: % into % refused',
            NEW.invoice_id, TG_OP, TG_TABLE_NAME USING ERRCODE = 'BSI01';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER invoice_line_guard BEFORE INSERT ON public.invoice_line
    FOR EACH ROW EXECUTE FUNCTION public.bs_invoice_part_guard();
CREATE TRIGGER invoice_vat_guard BEFORE INSERT ON public.invoice_vat
    FOR EACH ROW EXECUTE FUNCTION public.bs_invoice_part_guard();

-- At commit: a document's totals are its lines' and VAT rows'.
CREATE FUNCTION public.bs_invoice_totals_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_sub  bigint;
    v_vat  bigint;
    v_bad  text;
BEGIN
    SELECT coalesce(sum(l.amount_fen), 0) INTO v_sub
      FROM public.invoice_line l WHERE l.invoice_id = NEW.invoice_id;
    SELECT coalesce(sum(v.vat_fen), 0) INTO v_vat
      FROM public.invoice_vat v WHERE v.invoice_id = NEW.invoice_id;
    IF v_sub <> NEW.subtotal_fen OR v_vat <> NEW.vat_fen THEN
        RAISE EXCEPTION '% %: subtotal % and VAT % are not its lines'' % and '
                        'VAT rows'' %', NEW.kind, NEW.number, NEW.subtotal_fen,
            NEW.vat_fen, v_sub, v_vat USING ERRCODE = 'BSI03';
    END IF;
    SELECT string_agg(format('rate %s bp: base %s, lines %s, VAT %s',
                             coalesce(v.vat_bp, l.vat_bp), v.base_fen,
                             l.base, v.vat_fen), '; ')
      INTO v_bad
      FROM (SELECT y.* FROM public.invoice_vat y
             WHERE y.invoice_id = NEW.invoice_id) v
      FULL JOIN (SELECT x.vat_bp, sum(x.amount_fen)::bigint AS base
                   FROM public.invoice_line x
                  WHERE x.invoice_id = NEW.invoice_id
                  GROUP BY x.vat_bp) l ON l.vat_bp = v.vat_bp
     WHERE (coalesce(v.base_fen, 0) <> coalesce(l.base, 0)
            OR (NEW.kind = 'invoice'
                AND coalesce(v.vat_fen, 0) <> public.bs_vat_of(coalesce(l.base, 0),
                                                   coalesce(l.vat_bp, v.vat_bp))));
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION '% %: VAT rows do not match its lines: %', NEW.kind,
            NEW.number, v_bad USING ERRCODE = 'BSI03';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER invoice_totals AFTER INSERT ON public.invoice
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION public.bs_invoice_totals_check();
