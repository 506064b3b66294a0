-- 0026_api_token.sql — the tenants' API tokens (settlement/api_auth.h).
--
-- A token is "bst_" + 8-character public prefix + "_" + 43-character
-- secret (256 random bits); `bandsplit token create` makes it, prints it
-- once and hands the database only its prefix and the SHA-256 of the whole
-- token. Two tables:
--   api_token       what the operators see and the audit log records:
--                   tenant, prefix, label, created, expires, revoked, last
--                   used. Readable by bandsplit_cli (`token list`).
--   api_token_hash  the SHA-256, by token: readable and writable by
--                   bandsplit_owner only, never audited (the audit log
--                   records whole rows and is readable by bandsplit_cli; a
--                   hash in it would let anyone holding an API-role
--                   connection read that tenant, see 0027).
-- Every change goes through SECURITY DEFINER functions (owner
-- bandsplit_owner, search_path pinned): bs_api_token_create and
-- bs_api_token_revoke for the CLI, bs_api_tenant and bs_api_touch (0027)
-- for the API role. Tokens are never deleted and never come back: revoking
-- sets revoked_at once (BSK01 otherwise); nothing but last_used_at (later
-- only) and that one revoked_at ever changes (BSK01); a DELETE is refused
-- (BSH01). Creating, revoking (and anything refused) is in the audit log
-- like the other operator changes; the touches of last_used_at are not
-- (one a minute per token in use would drown it).

CREATE TABLE public.api_token (
    token_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    bigint NOT NULL REFERENCES public.tenant,
    prefix       text COLLATE "C" NOT NULL UNIQUE CHECK (prefix ~ '^[a-z2-7]{8}$'),
    label        text CHECK (length(label) BETWEEN 1 AND 100
                             AND label !~ '[[:cntrl:]]'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text NOT NULL CHECK (length(created_by) BETWEEN 1 AND 200),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    last_used_at timestamptz,
    CHECK (expires_at > created_at),
    CHECK (expires_at <= created_at + interval '5 years'),
    CHECK (revoked_at >= created_at),
    CHECK (last_used_at >= created_at)
);
CREATE INDEX api_token_tenant ON public.api_token (tenant_id, created_at);

CREATE TABLE public.api_token_hash (
    token_id   bigint PRIMARY KEY REFERENCES public.api_token,
    token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32)
);

COMMENT ON TABLE public.api_token IS
    'The tenants'' API tokens (prefix, label, expiry, revocation, last use); their hashes are in api_token_hash (0026_api_token.sql).';
COMMENT ON TABLE public.api_token_hash IS
    'SHA-256 of each API token: readable by bandsplit_owner only (0026_api_token.sql).';

-- What may change: revoked_at once (NULL → a time), last_used_at forward.
CREATE FUNCTION public.bs_api_token_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'API token %: tokens are revoked, never deleted', OLD.prefix
            USING ERRCODE = 'BSH01';
    END IF;
    IF NEW.token_id <> OLD.token_id OR NEW.tenant_id <> OLD.tenant_id
       OR NEW.prefix <> OLD.prefix OR NEW.label IS DISTINCT FROM OLD.label
       OR NEW.created_at <> OLD.created_at OR NEW.created_by <> OLD.created_by
       OR NEW.expires_at <> OLD.expires_at THEN
        RAISE EXCEPTION 'API token %: only its revocation and last use change', OLD.prefix
            USING ERRCODE = 'BSK01';
    END IF;
    IF OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at THEN
        RAISE EXCEPTION 'API token % was revoked at %: revocation is final',
            OLD.prefix, public.bs_iso(OLD.revoked_at) USING ERRCODE = 'BSK01';
    END IF;
    IF NEW.last_used_at IS DISTINCT FROM OLD.last_used_at
       AND (NEW.last_used_at IS NULL OR NEW.last_used_at < OLD.last_used_at) THEN
        RAISE EXCEPTION 'API token %: last use only moves forward', OLD.prefix
            USING ERRCODE = 'BSK01';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER api_token_guard BEFORE UPDATE OR DELETE ON public.api_token
    FOR EACH ROW EXECUTE FUNCTION public.bs_api_token_guard();

CREATE FUNCTION public.bs_api_token_hash_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'API token hashes never change and are never deleted (revoke the token)'
        USING ERRCODE = 'BSK01';
END
$$;
CREATE TRIGGER api_token_hash_guard BEFORE UPDATE OR DELETE ON public.api_token_hash
    FOR EACH ROW EXECUTE FUNCTION public.bs_api_token_hash_guard();

-- Audited like the park model (0010), but not the touches of last_used_at:
-- the row triggers fire on INSERT, DELETE and UPDATE OF revoked_at (the
-- guard refuses every other change).
CREATE TRIGGER audit_api_token AFTER INSERT OR UPDATE OF revoked_at OR DELETE
    ON public.api_token FOR EACH ROW EXECUTE FUNCTION public.bs_audit_row('token_id');
CREATE TRIGGER audit_head_api_token AFTER INSERT OR UPDATE OF revoked_at OR DELETE
    ON public.api_token FOR EACH STATEMENT EXECUTE FUNCTION public.bs_audit_head();

-- At most this many live (unrevoked, unexpired) tokens per tenant.
CREATE FUNCTION public.bs_api_token_create(p_tenant bigint, p_prefix text,
                                           p_hash bytea, p_label text,
                                           p_expires timestamptz)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_status text;
    v_live   bigint;
    v_id     bigint;
BEGIN
    SELECT t.status INTO v_status FROM public.tenant t WHERE t.tenant_id = p_tenant;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tenant % does not exist', p_tenant USING ERRCODE = 'BSK02';
    END IF;
    IF v_status = 'closed' THEN
        RAISE EXCEPTION 'tenant % is closed: no new API token', p_tenant
            USING ERRCODE = 'BST01';
    END IF;
    IF p_expires IS NULL OR p_expires <= pg_catalog.now() THEN
        RAISE EXCEPTION 'an API token must expire in the future' USING ERRCODE = '22023';
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtext('bandsplit.api_token.' || p_tenant));
    SELECT pg_catalog.count(*) INTO v_live FROM public.api_token a
     WHERE a.tenant_id = p_tenant AND a.revoked_at IS NULL
       AND a.expires_at > pg_catalog.now();
    IF v_live >= 20 THEN
        RAISE EXCEPTION 'tenant % has % live API tokens, the limit: revoke one first',
            p_tenant, v_live USING ERRCODE = 'BSK03';
    END IF;
    INSERT INTO public.api_token (tenant_id, prefix, label, created_by, expires_at)
    VALUES (p_tenant, p_prefix, p_label,
            coalesce(nullif(pg_catalog.current_setting('bandsplit.actor', true), ''),
                     session_user::text),
            p_expires)
    RETURNING token_id INTO v_id;
    INSERT INTO public.api_token_hash (token_id, token_hash) VALUES (v_id, p_hash);
    RETURN v_id;
END
$$;

-- Revokes the token of that prefix now. Returns its revocation time (the
-- earlier one if it was revoked already), NULL if there is no such token.
CREATE FUNCTION public.bs_api_token_revoke(p_prefix text, OUT revoked_at timestamptz,
                                           OUT already boolean)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    SELECT a.revoked_at, a.revoked_at IS NOT NULL INTO revoked_at, already
      FROM public.api_token a WHERE a.prefix = p_prefix FOR UPDATE;
    IF NOT FOUND OR already THEN
        RETURN;
    END IF;
    UPDATE public.api_token a SET revoked_at = pg_catalog.now()
     WHERE a.prefix = p_prefix RETURNING a.revoked_at INTO revoked_at;
END
$$;

REVOKE EXECUTE ON FUNCTION public.bs_api_token_create(bigint, text, bytea, text, timestamptz) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION public.bs_api_token_revoke(text) FROM PUBLIC;
REVOKE ALL ON public.api_token, public.api_token_hash FROM PUBLIC;
