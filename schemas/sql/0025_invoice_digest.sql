-- 0025_invoice_digest.sql — the statement digest of every document a close
-- issues: SHA-256 over the tenant's 5-minute samples the document was rated
-- on, in the canonical text form 'bandsplit-samples-v1' (README, "Tenant
-- statements"; settlement/statement/sampledigest.h). A tenant recomputes it
-- from their statement's CSV and knows the invoice was rated on exactly
-- these samples.
--
--   invoice_digest   one row per document (invoice, credit or debit note),
--                    written by `bandsplit close` in the transaction that
--                    issues the document (bs_close_record_digests), then
--                    immutable like the documents themselves (0021).
--
-- At commit every document issued from now on must have its digest.

CREATE TABLE public.invoice_digest (
    invoice_id  bigint PRIMARY KEY REFERENCES public.invoice,
    form        text NOT NULL CHECK (form = 'bandsplit-samples-v1'),
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    samples     bigint NOT NULL CHECK (samples >= 0),   -- lines hashed
    created_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE public.invoice_digest IS
    'SHA-256 of the samples (form bandsplit-samples-v1) a document was rated on.';

SELECT public.bs_finance_make_immutable('public.invoice_digest');

-- Only in the transaction that issued the document (0021's guard).
CREATE TRIGGER invoice_digest_guard BEFORE INSERT ON public.invoice_digest
    FOR EACH ROW EXECUTE FUNCTION public.bs_invoice_part_guard();

-- At commit: a document issued has its digest.
CREATE FUNCTION public.bs_invoice_digest_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM public.invoice_digest d
                    WHERE d.invoice_id = NEW.invoice_id) THEN
        RAISE EXCEPTION '% %: no statement digest (invoice_digest)',
            NEW.kind, NEW.number USING ERRCODE = 'BSI03';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER invoice_has_digest AFTER INSERT ON public.invoice
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION public.bs_invoice_digest_check();

-- The close's digests, staged by close.c in pg_temp.bs_close_digest
-- (tenant_id, currency, sha256, samples), recorded for every document of
-- run p_run. Returns the rows written.
CREATE FUNCTION public.bs_close_record_digests(p_run bigint)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_n bigint;
BEGIN
    INSERT INTO public.invoice_digest (invoice_id, form, sha256, samples)
    SELECT i.invoice_id, 'bandsplit-samples-v1', d.sha256, d.samples
      FROM public.invoice i
      JOIN pg_temp.bs_close_digest d
        ON d.tenant_id = i.tenant_id AND d.currency = i.currency
     WHERE i.run_id = p_run;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$$;
