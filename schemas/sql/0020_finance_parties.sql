-- 0020_finance_parties.sql — what an invoice needs to know about the two
-- parties: the park as seller (park_settings) and each tenant as buyer.
--
-- park_settings gains the seller's legal details, the payment terms (days
-- from the issue date to the due date), the default VAT rate of new plan
-- versions (basis points, 600 = 6%) and the billing byte measure: `frame`
-- (Ethernet frame as received, the default) or `ip` (IP total length), the
-- same for every tenant and for the carrier cost (ARCHITECTURE "Billing
-- semantics"). A month close refuses to run while the seller's name, tax id
-- or address is missing (it names the setting).
--
-- tenant gains its address and bank account; its tax id exists (0011). An
-- invoice copies all of them as they are when it is issued, so a later
-- change of a tenant's details never changes an issued invoice.

ALTER TABLE public.park_settings
    ADD COLUMN billing_measure text NOT NULL DEFAULT 'frame'
        CHECK (billing_measure IN ('frame', 'ip')),
    ADD COLUMN default_vat_bp integer NOT NULL DEFAULT 600
        CHECK (default_vat_bp BETWEEN 0 AND 10000),
    ADD COLUMN payment_terms_days integer NOT NULL DEFAULT 30
        CHECK (payment_terms_days BETWEEN 0 AND 365),
    ADD COLUMN seller_name text CHECK (length(seller_name) BETWEEN 1 AND 200),
    ADD COLUMN seller_tax_id text CHECK (seller_tax_id ~ '^[0-9A-Za-z-]{1,40}$'),
    ADD COLUMN seller_address text CHECK (length(seller_address) BETWEEN 1 AND 400),
    ADD COLUMN seller_bank text CHECK (length(seller_bank) BETWEEN 1 AND 200);

ALTER TABLE public.tenant
    ADD COLUMN address text CHECK (length(address) BETWEEN 1 AND 400),
    ADD COLUMN bank_account text CHECK (length(bank_account) BETWEEN 1 AND 200);

-- New plan versions take the park's default VAT rate unless one is given.
ALTER TABLE public.plan_version ALTER COLUMN vat_bp DROP DEFAULT;

CREATE FUNCTION public.bs_plan_version_default_vat()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF NEW.vat_bp IS NULL THEN
        SELECT s.default_vat_bp INTO NEW.vat_bp FROM public.park_settings s;
        NEW.vat_bp := coalesce(NEW.vat_bp, 600);
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER plan_version_default_vat BEFORE INSERT ON public.plan_version
    FOR EACH ROW EXECUTE FUNCTION public.bs_plan_version_default_vat();
