-- 0024_close_issue.sql — how a month close turns rated lines into
-- documents and ledger entries, in the close's one transaction.
--
-- `bandsplit close` (settlement/finance/close.c) rates every segment with
-- the rating library and copies the lines into the session's temporary
-- table bs_close_line, and the carrier bills into bs_close_carrier (both
-- created by bs_close_stage()); then one call of bs_close_issue(run) makes:
--   * for a tenant and currency without an invoice for the period: the
--     invoice (numbered from the locked counter, in tenant order), its
--     lines, its VAT per rate, its journal entry;
--   * for one with an invoice (only under --adjust, run kind 'adjust'): the
--     lines whose amount or evidence changed against what was billed so far
--     (the invoice plus its earlier notes), as one credit note (total
--     below zero) or debit note referencing the invoice, with the delta of
--     every figure; VAT per rate is round-half-up(new base × rate) minus the
--     VAT billed so far, so invoice + notes = the re-rated invoice exactly;
--   * the carrier bills (or, under --adjust, adjustments by their amount's
--     delta, when the amount or the evidence changed) and their entries.
-- Returns what it issued, one row per document.

CREATE FUNCTION public.bs_close_stage()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF to_regclass('pg_temp.bs_close_line') IS NOT NULL THEN
        DROP TABLE pg_temp.bs_close_line;
    END IF;
    IF to_regclass('pg_temp.bs_close_carrier') IS NOT NULL THEN
        DROP TABLE pg_temp.bs_close_carrier;
    END IF;
    CREATE TEMP TABLE bs_close_line (
        tenant_id bigint NOT NULL, currency text NOT NULL,
        segment_no integer NOT NULL, alloc_id bigint NOT NULL,
        pool_id bigint NOT NULL, plan_id bigint NOT NULL,
        plan_version integer NOT NULL, plan_kind text NOT NULL,
        charge text NOT NULL, window_start timestamptz NOT NULL,
        window_end timestamptz NOT NULL, window_seconds bigint NOT NULL,
        period_seconds bigint NOT NULL, direction text NOT NULL,
        byte_measure text NOT NULL, buckets integer NOT NULL,
        gaps integer NOT NULL, billed_rank integer, dropped integer NOT NULL,
        billed_bucket timestamptz, billed_bytes bigint,
        commit_bps bigint NOT NULL, bytes_in bigint NOT NULL,
        bytes_out bigint NOT NULL, quantity numeric NOT NULL,
        unit_price_fen bigint, amount_fen bigint NOT NULL,
        vat_bp integer NOT NULL, description text NOT NULL
    ) ON COMMIT DROP;
    CREATE TEMP TABLE bs_close_carrier (
        pool_id bigint NOT NULL, carrier text NOT NULL, currency text NOT NULL,
        cost_model text NOT NULL, window_start timestamptz NOT NULL,
        window_end timestamptz NOT NULL, window_seconds bigint NOT NULL,
        period_seconds bigint NOT NULL, monthly_fee_fen bigint,
        price_fen_per_mbps bigint, commit_floor_bps bigint,
        byte_measure text NOT NULL, buckets integer NOT NULL,
        gaps integer NOT NULL, billed_rank integer, billed_bucket timestamptz,
        billed_bytes bigint, billed_mbps numeric, bytes_in bigint NOT NULL,
        bytes_out bigint NOT NULL, unattributed_bytes bigint NOT NULL,
        amount_fen bigint NOT NULL
    ) ON COMMIT DROP;
END
$$;

CREATE FUNCTION public.bs_close_issue(p_run bigint)
RETURNS TABLE (r_doc text, r_number text, r_tenant bigint, r_pool bigint,
               r_currency text, r_subtotal bigint, r_vat bigint,
               r_total bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    r         public.close_run%ROWTYPE;
    s         public.park_settings%ROWTYPE;
    v_year    integer;
    v_today   date;
    v_first   bigint;
    v_n       bigint;
    v_bad     text;
BEGIN
    SELECT * INTO r FROM public.close_run c WHERE c.run_id = p_run;
    IF NOT FOUND OR r.run_txid <> txid_current() THEN
        RAISE EXCEPTION 'bs_close_issue: run % is not this transaction''s', p_run
            USING ERRCODE = '22023';
    END IF;
    SELECT * INTO s FROM public.park_settings;
    v_today := (now() AT TIME ZONE r.time_zone)::date;
    v_year := extract(year FROM v_today)::integer;

    IF s.seller_name IS NULL OR s.seller_tax_id IS NULL
       OR s.seller_address IS NULL THEN
        RAISE EXCEPTION 'the park''s legal details are incomplete: % not set',
            concat_ws(', ',
                CASE WHEN s.seller_name IS NULL THEN 'seller name' END,
                CASE WHEN s.seller_tax_id IS NULL THEN 'seller tax id' END,
                CASE WHEN s.seller_address IS NULL THEN 'seller address' END)
            USING ERRCODE = 'BSB01',
                  HINT = 'bandsplit park set --seller-name ... --seller-tax-id ... --seller-address ...';
    END IF;
    SELECT string_agg(format('tenant %s (%s)', t.tenant_id, t.name), ', '
                      ORDER BY t.tenant_id)
      INTO v_bad
      FROM public.tenant t
     WHERE t.tax_id IS NULL
       AND t.tenant_id IN (SELECT l.tenant_id FROM pg_temp.bs_close_line l);
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION 'no tax id: %', v_bad USING ERRCODE = 'BSB02',
            HINT = 'bandsplit tenant change TENANT_ID --tax-id ...';
    END IF;

    -- What was billed so far per line key (invoice + notes), for --adjust.
    CREATE TEMP TABLE bs_close_billed ON COMMIT DROP AS
    SELECT i.tenant_id, i.currency, coalesce(i.original_id, i.invoice_id) AS orig,
           l.alloc_id, l.plan_id, l.plan_version, l.window_start, l.charge,
           sum(l.amount_fen) AS amount_fen,
           sum(CASE WHEN i.kind = 'invoice' THEN l.bytes_in ELSE l.delta_bytes_in END) AS bytes_in,
           sum(CASE WHEN i.kind = 'invoice' THEN l.bytes_out ELSE l.delta_bytes_out END) AS bytes_out,
           sum(CASE WHEN i.kind = 'invoice' THEN l.billed_bytes ELSE l.delta_billed_bytes END) AS billed_bytes
      FROM public.invoice i
      JOIN public.invoice_line l ON l.invoice_id = i.invoice_id
     WHERE i.period = r.period
     GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

    -- New invoices: tenants and currencies without one for the period.
    CREATE TEMP TABLE bs_close_new ON COMMIT DROP AS
    SELECT k.tenant_id, k.currency,
           row_number() OVER (ORDER BY k.tenant_id, k.currency) AS n
      FROM (SELECT DISTINCT l.tenant_id, l.currency FROM pg_temp.bs_close_line l) k
     WHERE NOT EXISTS (SELECT 1 FROM public.invoice i
                        WHERE i.kind = 'invoice' AND i.period = r.period
                          AND i.tenant_id = k.tenant_id
                          AND i.currency = k.currency);
    SELECT count(*) INTO v_n FROM pg_temp.bs_close_new;
    IF v_n > 0 THEN
        v_first := public.bs_take_numbers('invoice', v_year, v_n);
        INSERT INTO public.invoice (kind, number, number_year, number_seq,
            run_id, period, period_start, period_end, tenant_id, currency,
            issue_date, due_date, seller_name, seller_tax_id, seller_address,
            seller_bank, buyer_name, buyer_tax_id, buyer_address, buyer_bank,
            subtotal_fen, vat_fen, total_fen)
        SELECT 'invoice', v_year || '-' || lpad((v_first + k.n - 1)::text, 6, '0'),
               v_year, v_first + k.n - 1, p_run, r.period, r.period_start,
               r.period_end, k.tenant_id, k.currency, v_today,
               v_today + s.payment_terms_days, s.seller_name, s.seller_tax_id,
               s.seller_address, s.seller_bank, t.name, t.tax_id, t.address,
               t.bank_account, g.sub, g.vat, g.sub + g.vat
          FROM pg_temp.bs_close_new k
          JOIN public.tenant t ON t.tenant_id = k.tenant_id
          JOIN (SELECT v.tenant_id, v.currency, sum(v.base) AS sub,
                       sum(public.bs_vat_of(v.base, v.vat_bp)) AS vat
                  FROM (SELECT l.tenant_id, l.currency, l.vat_bp,
                               sum(l.amount_fen)::bigint AS base
                          FROM pg_temp.bs_close_line l
                         GROUP BY 1, 2, 3) v
                 GROUP BY 1, 2) g
            ON g.tenant_id = k.tenant_id AND g.currency = k.currency
         ORDER BY k.n;
        INSERT INTO public.invoice_line (invoice_id, line_no, segment_no,
            alloc_id, pool_id, plan_id, plan_version, plan_kind, charge,
            window_start, window_end, window_seconds, period_seconds, direction,
            byte_measure, buckets, gaps, billed_rank, dropped, billed_bucket,
            billed_bytes, commit_bps, bytes_in, bytes_out, quantity,
            unit_price_fen, amount_fen, vat_bp, description)
        SELECT i.invoice_id,
               row_number() OVER (PARTITION BY i.invoice_id
                                  ORDER BY l.segment_no, l.charge),
               l.segment_no, l.alloc_id, l.pool_id, l.plan_id, l.plan_version,
               l.plan_kind, l.charge, l.window_start, l.window_end,
               l.window_seconds, l.period_seconds, l.direction, l.byte_measure,
               l.buckets, l.gaps, l.billed_rank, l.dropped, l.billed_bucket,
               l.billed_bytes, l.commit_bps, l.bytes_in, l.bytes_out, l.quantity,
               l.unit_price_fen, l.amount_fen, l.vat_bp, l.description
          FROM pg_temp.bs_close_line l
          JOIN public.invoice i ON i.run_id = p_run AND i.kind = 'invoice'
                               AND i.tenant_id = l.tenant_id
                               AND i.currency = l.currency;
        INSERT INTO public.invoice_vat (invoice_id, vat_bp, base_fen, vat_fen)
        SELECT i.invoice_id, l.vat_bp, sum(l.amount_fen),
               public.bs_vat_of(sum(l.amount_fen)::bigint, l.vat_bp)
          FROM pg_temp.bs_close_line l
          JOIN public.invoice i ON i.run_id = p_run AND i.kind = 'invoice'
                               AND i.tenant_id = l.tenant_id
                               AND i.currency = l.currency
         GROUP BY i.invoice_id, l.vat_bp;
    END IF;

    -- Notes: lines that changed on an invoice issued before this run.
    CREATE TEMP TABLE bs_close_delta ON COMMIT DROP AS
    SELECT coalesce(l.tenant_id, b.tenant_id) AS tenant_id,
           coalesce(l.currency, b.currency) AS currency,
           coalesce(l.alloc_id, b.alloc_id) AS alloc_id,
           coalesce(l.plan_id, b.plan_id) AS plan_id,
           coalesce(l.plan_version, b.plan_version) AS plan_version,
           coalesce(l.window_start, b.window_start) AS window_start,
           coalesce(l.charge, b.charge) AS charge,
           l.segment_no,
           coalesce(l.amount_fen, 0) - coalesce(b.amount_fen, 0) AS d_amount,
           coalesce(b.amount_fen, 0) AS prev_amount,
           coalesce(l.bytes_in, 0) - coalesce(b.bytes_in, 0) AS d_in,
           coalesce(l.bytes_out, 0) - coalesce(b.bytes_out, 0) AS d_out,
           coalesce(l.billed_bytes, 0) - coalesce(b.billed_bytes, 0) AS d_billed
      FROM (SELECT x.* FROM pg_temp.bs_close_line x
             WHERE NOT EXISTS (SELECT 1 FROM pg_temp.bs_close_new k
                                WHERE k.tenant_id = x.tenant_id
                                  AND k.currency = x.currency)) l
      FULL JOIN pg_temp.bs_close_billed b
        ON b.tenant_id = l.tenant_id AND b.currency = l.currency
       AND b.alloc_id = l.alloc_id AND b.plan_id = l.plan_id
       AND b.plan_version = l.plan_version AND b.window_start = l.window_start
       AND b.charge = l.charge;
    DELETE FROM pg_temp.bs_close_delta d
     WHERE d.d_amount = 0 AND d.d_in = 0 AND d.d_out = 0 AND d.d_billed = 0;

    IF EXISTS (SELECT 1 FROM pg_temp.bs_close_delta) THEN
        IF r.kind <> 'adjust' THEN
            RAISE EXCEPTION 'bs_close_issue: changes to issued invoices outside --adjust'
                USING ERRCODE = '22023';
        END IF;
        -- per changed invoice: VAT per rate against what was billed
        CREATE TEMP TABLE bs_close_note ON COMMIT DROP AS
        WITH inv AS (
            SELECT DISTINCT i.invoice_id, i.tenant_id, i.currency
              FROM pg_temp.bs_close_delta d
              JOIN public.invoice i ON i.kind = 'invoice' AND i.period = r.period
                                   AND i.tenant_id = d.tenant_id
                                   AND i.currency = d.currency
        ), newbase AS (
            SELECT inv.invoice_id, l.vat_bp, sum(l.amount_fen)::bigint AS base
              FROM inv JOIN pg_temp.bs_close_line l
                ON l.tenant_id = inv.tenant_id AND l.currency = inv.currency
             GROUP BY 1, 2
        ), oldbase AS (
            SELECT inv.invoice_id, v.vat_bp, sum(v.base_fen)::bigint AS base,
                   sum(v.vat_fen)::bigint AS vat
              FROM inv JOIN public.invoice i
                ON coalesce(i.original_id, i.invoice_id) = inv.invoice_id
              JOIN public.invoice_vat v ON v.invoice_id = i.invoice_id
             GROUP BY 1, 2
        )
        SELECT coalesce(n.invoice_id, o.invoice_id) AS invoice_id,
               coalesce(n.vat_bp, o.vat_bp) AS vat_bp,
               coalesce(n.base, 0) - coalesce(o.base, 0) AS d_base,
               public.bs_vat_of(coalesce(n.base, 0), coalesce(n.vat_bp, o.vat_bp))
                   - coalesce(o.vat, 0) AS d_vat
          FROM newbase n FULL JOIN oldbase o
            ON o.invoice_id = n.invoice_id AND o.vat_bp = n.vat_bp;

        CREATE TEMP TABLE bs_close_notedoc ON COMMIT DROP AS
        SELECT x.invoice_id AS orig, sum(x.d_base)::bigint AS sub,
               sum(x.d_vat)::bigint AS vat,
               CASE WHEN sum(x.d_base) + sum(x.d_vat) < 0 THEN 'credit_note'
                    ELSE 'debit_note' END AS kind,
               0::bigint AS seq
          FROM pg_temp.bs_close_note x GROUP BY x.invoice_id;
        FOR v_bad IN SELECT DISTINCT d.kind FROM pg_temp.bs_close_notedoc d LOOP
            SELECT count(*) INTO v_n FROM pg_temp.bs_close_notedoc d
             WHERE d.kind = v_bad;
            v_first := public.bs_take_numbers(v_bad, v_year, v_n);
            UPDATE pg_temp.bs_close_notedoc d SET seq = v_first + o.k - 1
              FROM (SELECT e.orig, row_number() OVER (ORDER BY e.orig) AS k
                      FROM pg_temp.bs_close_notedoc e WHERE e.kind = v_bad) o
             WHERE d.orig = o.orig AND d.kind = v_bad;
        END LOOP;
        INSERT INTO public.invoice (kind, number, number_year, number_seq,
            original_id, run_id, period, period_start, period_end, tenant_id,
            currency, issue_date, due_date, seller_name, seller_tax_id,
            seller_address, seller_bank, buyer_name, buyer_tax_id,
            buyer_address, buyer_bank, subtotal_fen, vat_fen, total_fen)
        SELECT d.kind, CASE d.kind WHEN 'credit_note' THEN 'CN-' ELSE 'DN-' END
                       || v_year || '-' || lpad(d.seq::text, 6, '0'),
               v_year, d.seq, o.invoice_id, p_run, o.period, o.period_start,
               o.period_end, o.tenant_id, o.currency, v_today,
               v_today + s.payment_terms_days, s.seller_name, s.seller_tax_id,
               s.seller_address, s.seller_bank, t.name, t.tax_id, t.address,
               t.bank_account, d.sub, d.vat, d.sub + d.vat
          FROM pg_temp.bs_close_notedoc d
          JOIN public.invoice o ON o.invoice_id = d.orig
          JOIN public.tenant t ON t.tenant_id = o.tenant_id
         ORDER BY d.kind, d.seq;
        INSERT INTO public.invoice_line (invoice_id, line_no, segment_no,
            alloc_id, pool_id, plan_id, plan_version, plan_kind, charge,
            window_start, window_end, window_seconds, period_seconds, direction,
            byte_measure, buckets, gaps, billed_rank, dropped, billed_bucket,
            billed_bytes, commit_bps, bytes_in, bytes_out, quantity,
            unit_price_fen, amount_fen, vat_bp, description, prev_amount_fen,
            delta_bytes_in, delta_bytes_out, delta_billed_bytes)
        SELECT n.invoice_id,
               row_number() OVER (PARTITION BY n.invoice_id
                                  ORDER BY d.alloc_id, d.window_start, d.charge),
               coalesce(l.segment_no, ol.segment_no), d.alloc_id,
               coalesce(l.pool_id, ol.pool_id), d.plan_id, d.plan_version,
               coalesce(l.plan_kind, ol.plan_kind), d.charge, d.window_start,
               coalesce(l.window_end, ol.window_end),
               coalesce(l.window_seconds, ol.window_seconds),
               coalesce(l.period_seconds, ol.period_seconds),
               coalesce(l.direction, ol.direction),
               coalesce(l.byte_measure, ol.byte_measure),
               coalesce(l.buckets, 0), coalesce(l.gaps, 0), l.billed_rank,
               coalesce(l.dropped, 0), l.billed_bucket, l.billed_bytes,
               coalesce(l.commit_bps, ol.commit_bps), coalesce(l.bytes_in, 0),
               coalesce(l.bytes_out, 0), coalesce(l.quantity, 0),
               coalesce(l.unit_price_fen, ol.unit_price_fen), d.d_amount,
               coalesce(l.vat_bp, ol.vat_bp),
               coalesce(l.description, 'withdrawn: ' || ol.description),
               d.prev_amount, d.d_in, d.d_out, d.d_billed
          FROM pg_temp.bs_close_delta d
          JOIN public.invoice o ON o.kind = 'invoice' AND o.period = r.period
                               AND o.tenant_id = d.tenant_id
                               AND o.currency = d.currency
          JOIN public.invoice n ON n.original_id = o.invoice_id AND n.run_id = p_run
          LEFT JOIN pg_temp.bs_close_line l
            ON l.tenant_id = d.tenant_id AND l.currency = d.currency
           AND l.alloc_id = d.alloc_id AND l.plan_id = d.plan_id
           AND l.plan_version = d.plan_version
           AND l.window_start = d.window_start AND l.charge = d.charge
          LEFT JOIN LATERAL (
               SELECT y.* FROM public.invoice_line y
                WHERE y.invoice_id = o.invoice_id AND y.alloc_id = d.alloc_id
                  AND y.plan_id = d.plan_id AND y.plan_version = d.plan_version
                  AND y.window_start = d.window_start AND y.charge = d.charge
                LIMIT 1) ol ON true;
        INSERT INTO public.invoice_vat (invoice_id, vat_bp, base_fen, vat_fen)
        SELECT n.invoice_id, x.vat_bp, x.d_base, x.d_vat
          FROM pg_temp.bs_close_note x
          JOIN public.invoice n ON n.original_id = x.invoice_id AND n.run_id = p_run
         WHERE x.d_base <> 0 OR x.d_vat <> 0;
    END IF;

    -- Carrier bills, or adjustments by their delta.
    INSERT INTO public.carrier_bill (kind, original_id, run_id, period, pool_id,
        carrier, currency, cost_model, window_start, window_end, window_seconds,
        period_seconds, monthly_fee_fen, price_fen_per_mbps, commit_floor_bps,
        byte_measure, buckets, gaps, billed_rank, billed_bucket, billed_bytes,
        billed_mbps, bytes_in, bytes_out, unattributed_bytes, amount_fen)
    SELECT CASE WHEN b.orig IS NULL THEN 'bill' ELSE 'adjustment' END, b.orig,
           p_run, r.period, c.pool_id, c.carrier, c.currency, c.cost_model,
           c.window_start, c.window_end, c.window_seconds, c.period_seconds,
           c.monthly_fee_fen, c.price_fen_per_mbps, c.commit_floor_bps,
           c.byte_measure, c.buckets, c.gaps, c.billed_rank, c.billed_bucket,
           c.billed_bytes, c.billed_mbps, c.bytes_in, c.bytes_out,
           c.unattributed_bytes, c.amount_fen - coalesce(b.amount, 0)
      FROM pg_temp.bs_close_carrier c
      LEFT JOIN (SELECT coalesce(x.original_id, x.carrier_bill_id) AS orig,
                        x.pool_id, sum(x.amount_fen) AS amount,
                        (array_agg(x.bytes_in + x.bytes_out
                                   ORDER BY x.carrier_bill_id DESC))[1] AS bytes,
                        (array_agg(x.billed_bytes
                                   ORDER BY x.carrier_bill_id DESC))[1] AS billed
                   FROM public.carrier_bill x WHERE x.period = r.period
                  GROUP BY 1, 2) b ON b.pool_id = c.pool_id
     WHERE b.orig IS NULL OR c.amount_fen <> b.amount
        OR c.bytes_in + c.bytes_out <> b.bytes
        OR c.billed_bytes IS DISTINCT FROM b.billed
     ORDER BY c.pool_id;

    -- The ledger: accounts first, then one entry per document of this run.
    INSERT INTO public.account (code, name, kind, tenant_id, pool_id, carrier)
    SELECT a.code, a.name, a.kind, a.tenant_id, a.pool_id, a.carrier
      FROM (SELECT 'receivable:tenant:' || i.tenant_id AS code,
                   'Accounts receivable: ' || t.name AS name, 'asset' AS kind,
                   i.tenant_id, NULL::bigint AS pool_id, NULL::text AS carrier
              FROM public.invoice i JOIN public.tenant t USING (tenant_id)
             WHERE i.run_id = p_run
            UNION
            SELECT 'revenue:pool:' || l.pool_id, 'Revenue: ' || p.name, 'revenue',
                   NULL, l.pool_id, NULL
              FROM public.invoice i
              JOIN public.invoice_line l ON l.invoice_id = i.invoice_id
              JOIN public.pool p ON p.pool_id = l.pool_id
             WHERE i.run_id = p_run
            UNION
            SELECT 'vat:payable', 'VAT payable', 'liability', NULL, NULL, NULL
            UNION
            SELECT 'cost:pool:' || b.pool_id, 'Carrier cost: ' || p.name,
                   'expense', NULL, b.pool_id, NULL
              FROM public.carrier_bill b JOIN public.pool p USING (pool_id)
             WHERE b.run_id = p_run
            UNION
            SELECT 'payable:carrier:' || b.carrier,
                   'Accounts payable: ' || b.carrier, 'liability', NULL, NULL,
                   b.carrier
              FROM public.carrier_bill b WHERE b.run_id = p_run) a
    ON CONFLICT (code) DO NOTHING;

    INSERT INTO public.journal_entry (period, run_id, currency, invoice_id, memo)
    SELECT r.period, p_run, i.currency, i.invoice_id,
           replace(i.kind, '_', ' ') || ' ' || i.number || ', tenant '
           || i.tenant_id || ', period ' || to_char(r.period, 'YYYY-MM')
      FROM public.invoice i WHERE i.run_id = p_run ORDER BY i.invoice_id;
    INSERT INTO public.journal_entry (period, run_id, currency, carrier_bill_id, memo)
    SELECT r.period, p_run, b.currency, b.carrier_bill_id,
           'carrier ' || b.kind || ' ' || b.carrier_bill_id || ', pool '
           || b.pool_id || ' (' || b.carrier || '), period '
           || to_char(r.period, 'YYYY-MM')
      FROM public.carrier_bill b WHERE b.run_id = p_run
     ORDER BY b.carrier_bill_id;

    INSERT INTO public.posting (entry_id, line_no, account_id, amount_fen)
    SELECT p.entry_id, row_number() OVER (PARTITION BY p.entry_id ORDER BY p.ord),
           a.account_id, p.amount
      FROM (SELECT e.entry_id, 0 AS ord, 'receivable:tenant:' || i.tenant_id AS code,
                   i.total_fen AS amount
              FROM public.journal_entry e JOIN public.invoice i USING (invoice_id)
             WHERE e.run_id = p_run
            UNION ALL
            SELECT e.entry_id, l.pool_id, 'revenue:pool:' || l.pool_id,
                   -sum(l.amount_fen)::bigint
              FROM public.journal_entry e
              JOIN public.invoice_line l USING (invoice_id)
             WHERE e.run_id = p_run
             GROUP BY e.entry_id, l.pool_id
            UNION ALL
            SELECT e.entry_id, 4294967296, 'vat:payable', -i.vat_fen
              FROM public.journal_entry e JOIN public.invoice i USING (invoice_id)
             WHERE e.run_id = p_run
            UNION ALL
            SELECT e.entry_id, 0, 'cost:pool:' || b.pool_id, b.amount_fen
              FROM public.journal_entry e JOIN public.carrier_bill b USING (carrier_bill_id)
             WHERE e.run_id = p_run
            UNION ALL
            SELECT e.entry_id, 1, 'payable:carrier:' || b.carrier, -b.amount_fen
              FROM public.journal_entry e JOIN public.carrier_bill b USING (carrier_bill_id)
             WHERE e.run_id = p_run) p
      JOIN public.account a ON a.code = p.code
     WHERE p.amount <> 0;

    RETURN QUERY
    SELECT i.kind, i.number, i.tenant_id, NULL::bigint, i.currency,
           i.subtotal_fen, i.vat_fen, i.total_fen
      FROM public.invoice i WHERE i.run_id = p_run
    UNION ALL
    SELECT 'carrier_' || b.kind, NULL, NULL, b.pool_id, b.currency,
           b.amount_fen, 0::bigint, b.amount_fen
      FROM public.carrier_bill b WHERE b.run_id = p_run
     ORDER BY 1 DESC, 2, 4;
END
$$;
