-- 0019_operator_input.sql — what the model refuses from any client, beside
-- the CLI's own checks of its options:
--   * prefixes that are no tenant's to own (SQLSTATE 23514, with the
--     reason): IPv4-mapped IPv6 (::ffff:0:0/96 — it would alias IPv4 space
--     owned by another tenant, out of reach of the overlap constraint),
--     multicast (224.0.0.0/4, ff00::/8), loopback (127.0.0.0/8, ::1) and
--     link-local (169.254.0.0/16, fe80::/10); a prefix overlapping one of
--     them is refused too. Checked by a trigger on rows written from now
--     on (rows stored before are left as they are);
--   * two tenants whose names differ only by case, Unicode compatibility
--     forms (NFKC) or invisible characters (zero-width, joiners, bidi and
--     other format characters, soft hyphen): a unique index on
--     bs_name_key(name).

-- Why a prefix cannot be a tenant's, or NULL.
CREATE FUNCTION public.bs_prefix_refusal(p cidr)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT CASE
        WHEN pg_catalog.family(p) = 4 THEN CASE
            WHEN p OPERATOR(pg_catalog.&&) '127.0.0.0/8'::inet THEN 'loopback (127.0.0.0/8)'
            WHEN p OPERATOR(pg_catalog.&&) '224.0.0.0/4'::inet THEN 'multicast (224.0.0.0/4)'
            WHEN p OPERATOR(pg_catalog.&&) '169.254.0.0/16'::inet THEN 'link-local (169.254.0.0/16)'
            END
        ELSE CASE
            WHEN p OPERATOR(pg_catalog.&&) '::ffff:0:0/96'::inet
                THEN 'IPv4-mapped IPv6 (::ffff:0:0/96): give the IPv4 prefix itself'
            WHEN p OPERATOR(pg_catalog.&&) 'ff00::/8'::inet THEN 'multicast (ff00::/8)'
            WHEN p OPERATOR(pg_catalog.&&) '::1/128'::inet THEN 'loopback (::1)'
            WHEN p OPERATOR(pg_catalog.&&) 'fe80::/10'::inet THEN 'link-local (fe80::/10)'
            END
        END
$$;

CREATE FUNCTION public.bs_prefix_usable()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_why text := public.bs_prefix_refusal(NEW.prefix);
BEGIN
    IF v_why IS NOT NULL AND (TG_OP = 'INSERT' OR NEW.prefix <> OLD.prefix) THEN
        RAISE EXCEPTION 'prefix %: % is no tenant''s address space', NEW.prefix, v_why
            USING ERRCODE = '23514';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER prefix_usable BEFORE INSERT OR UPDATE ON public.prefix
    FOR EACH ROW EXECUTE FUNCTION public.bs_prefix_usable();

-- A name as people read it: NFKC, without invisible characters, lower case.
CREATE FUNCTION public.bs_name_key(p_name text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT pg_catalog.lower(pg_catalog.regexp_replace(
        normalize(p_name, NFKC),
        '[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]',
        '', 'g'))
$$;

CREATE UNIQUE INDEX tenant_name_fold_unique ON public.tenant (public.bs_name_key(name));
