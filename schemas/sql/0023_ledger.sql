-- 0023_ledger.sql — the double-entry ledger the month close posts to.
--
--   account        receivable:tenant:<id> (asset), revenue:pool:<id>
--                  (revenue), vat:payable (liability), cost:pool:<id>
--                  (expense), payable:carrier:<carrier> (liability); created
--                  when first posted to (bs_account)
--   journal_entry  one per document: an invoice or note (debit receivable
--                  by its total, credit revenue per pool by its lines, credit
--                  VAT payable by its VAT; a credit note the other way) or a
--                  carrier bill (debit cost per pool, credit payable)
--   posting        amount_fen > 0 debit, < 0 credit; never 0
--
-- A deferred constraint trigger refuses, at commit, any entry whose postings
-- do not sum to zero (SQLSTATE BSL01). Entries and postings are immutable
-- (BSI01); a posting joins its entry only in the transaction that made it.

CREATE TABLE public.account (
    account_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (length(code) BETWEEN 1 AND 200),
    name        text NOT NULL,
    kind        text NOT NULL
                CHECK (kind IN ('asset', 'liability', 'revenue', 'expense')),
    tenant_id   bigint REFERENCES public.tenant,
    pool_id     bigint REFERENCES public.pool,
    carrier     text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.journal_entry (
    entry_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    period          date NOT NULL CHECK (extract(day FROM period) = 1),
    run_id          bigint NOT NULL REFERENCES public.close_run,
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    invoice_id      bigint UNIQUE REFERENCES public.invoice,
    carrier_bill_id bigint UNIQUE REFERENCES public.carrier_bill,
    memo            text NOT NULL,
    posted_at       timestamptz NOT NULL DEFAULT now(),
    entry_txid      bigint NOT NULL DEFAULT txid_current(),
    CHECK ((invoice_id IS NULL) <> (carrier_bill_id IS NULL))
);
CREATE INDEX journal_entry_period ON public.journal_entry (period);

CREATE TABLE public.posting (
    entry_id    bigint NOT NULL REFERENCES public.journal_entry,
    line_no     integer NOT NULL CHECK (line_no >= 1),
    account_id  bigint NOT NULL REFERENCES public.account,
    amount_fen  bigint NOT NULL CHECK (amount_fen <> 0),
    PRIMARY KEY (entry_id, line_no)
);
CREATE INDEX posting_account ON public.posting (account_id);

SELECT public.bs_finance_make_immutable('public.journal_entry');
SELECT public.bs_finance_make_immutable('public.posting');

-- Accounts are named, never deleted or renamed.
CREATE TRIGGER account_keep BEFORE DELETE ON public.account
    FOR EACH ROW EXECUTE FUNCTION public.bs_finance_refuse();
CREATE TRIGGER account_no_truncate BEFORE TRUNCATE ON public.account
    FOR EACH STATEMENT EXECUTE FUNCTION public.bs_finance_refuse();
CREATE FUNCTION public.bs_account_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF NEW.account_id <> OLD.account_id OR NEW.code <> OLD.code
       OR NEW.kind <> OLD.kind
       OR NEW.tenant_id IS DISTINCT FROM OLD.tenant_id
       OR NEW.pool_id IS DISTINCT FROM OLD.pool_id
       OR NEW.carrier IS DISTINCT FROM OLD.carrier THEN
        RAISE EXCEPTION 'account %: only its name may change', OLD.code
            USING ERRCODE = 'BSI01';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER account_guard BEFORE UPDATE ON public.account
    FOR EACH ROW EXECUTE FUNCTION public.bs_account_guard();

-- The account of a code, created on first use.
CREATE FUNCTION public.bs_account(p_code text, p_name text, p_kind text,
                                  p_tenant bigint, p_pool bigint, p_carrier text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_id bigint;
BEGIN
    SELECT a.account_id INTO v_id FROM public.account a WHERE a.code = p_code;
    IF NOT FOUND THEN
        INSERT INTO public.account (code, name, kind, tenant_id, pool_id, carrier)
        VALUES (p_code, p_name, p_kind, p_tenant, p_pool, p_carrier)
        ON CONFLICT (code) DO NOTHING
        RETURNING account_id INTO v_id;
        IF v_id IS NULL THEN
            SELECT a.account_id INTO v_id FROM public.account a
             WHERE a.code = p_code;
        END IF;
    END IF;
    RETURN v_id;
END
$$;

-- A posting joins its entry only in the entry's own transaction.
CREATE FUNCTION public.bs_posting_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM public.journal_entry e
                    WHERE e.entry_id = NEW.entry_id
                      AND e.entry_txid = txid_current()) THEN
        RAISE EXCEPTION 'journal entry % is posted and immutable: INSERT into '
                        'posting refused', NEW.entry_id USING ERRCODE = 'BSI01';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER posting_guard BEFORE INSERT ON public.posting
    FOR EACH ROW EXECUTE FUNCTION public.bs_posting_guard();

CREATE FUNCTION public.bs_entry_txid_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF NEW.entry_txid <> txid_current() THEN
        RAISE EXCEPTION 'entry_txid is set by the database'
            USING ERRCODE = 'BSI01';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER journal_entry_txid BEFORE INSERT ON public.journal_entry
    FOR EACH ROW EXECUTE FUNCTION public.bs_entry_txid_guard();

-- At commit: each entry's postings sum to zero.
CREATE FUNCTION public.bs_entry_balanced()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_sum numeric;
BEGIN
    SELECT coalesce(sum(p.amount_fen), 0) INTO v_sum
      FROM public.posting p WHERE p.entry_id = NEW.entry_id;
    IF v_sum <> 0 THEN
        RAISE EXCEPTION 'journal entry % does not balance: its postings sum '
                        'to % fen', NEW.entry_id, v_sum USING ERRCODE = 'BSL01';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER posting_balanced AFTER INSERT ON public.posting
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION public.bs_entry_balanced();
CREATE CONSTRAINT TRIGGER journal_entry_balanced AFTER INSERT ON public.journal_entry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION public.bs_entry_balanced();
