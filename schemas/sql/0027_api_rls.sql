-- 0027_api_rls.sql — the tenants' API reads through row-level security
-- bound to the request's token.
--
-- bandsplit_api (LOGIN, NOBYPASSRLS, owns nothing; created by `bandsplit
-- migrate`, settlement/roles.c) may SELECT only what the API serves
-- (grants.sql) and EXECUTE only bs_api_tenant() and bs_api_touch(). On
-- every table it can read that belongs to a tenant, row-level security is
-- ENABLEd and FORCEd (so the owner, and the SECURITY DEFINER functions
-- running as the owner, are subject to it too), with
--   * for bandsplit_api: a SELECT policy on
--         tenant_id = (SELECT public.bs_api_tenant())
--     (invoice_line, invoice_vat, invoice_digest: their invoice's tenant; plan,
--     plan_version and pool: those of the tenant's own allocations);
--   * for bandsplit_owner, bandsplit_settle and bandsplit_cli: a permissive
--     policy USING (true) WITH CHECK (true) — nothing changes for them.
-- Any other role that is neither a superuser nor granted one of these sees
-- no rows of these tables.
--
-- bs_api_tenant() is SECURITY DEFINER (owner bandsplit_owner): it reads the
-- transaction's setting bandsplit.token_hash (set by bs_api_auth_begin with
-- set_config(..., true), i.e. SET LOCAL: gone at COMMIT or ROLLBACK) and
-- returns the tenant of the valid (unrevoked, unexpired) token with that
-- SHA-256, else NULL (and tenant_id = NULL is never true). The policy binds
-- to the token, not to a tenant id the connection could set: a handler bug
-- or an injected SET bandsplit.tenant_id = 2 changes nothing, and the only
-- way to read tenant B is to know the hash of one of B's live tokens, which
-- only bandsplit_owner can read (api_token_hash, 0026). README: "Tenant
-- API: tokens and row-level security".
--
-- Views read by the API are security_invoker (the invoker's rights and the
-- base tables' policies apply, PostgreSQL 15) and security_barrier.

CREATE FUNCTION public.bs_api_tenant()
RETURNS bigint
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_hex    text := pg_catalog.current_setting('bandsplit.token_hash', true);
    v_tenant bigint;
BEGIN
    IF v_hex IS NULL OR v_hex !~ '^[0-9a-f]{64}$' THEN
        RETURN NULL;
    END IF;
    SELECT a.tenant_id INTO v_tenant
      FROM public.api_token_hash h
      JOIN public.api_token a ON a.token_id = h.token_id
     WHERE h.token_hash = pg_catalog.decode(v_hex, 'hex')
       AND a.revoked_at IS NULL
       AND a.expires_at > pg_catalog.now();
    RETURN v_tenant;
END
$$;

-- Records the use of the transaction's token: last_used_at = now(), at
-- most once a minute per token; never waits (a token row locked by a
-- concurrent request or revocation is skipped), never fails the request
-- (a concurrent update is ignored), and writes nothing in a read-only
-- transaction. Returns whether it wrote.
CREATE FUNCTION public.bs_api_touch()
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_hex text := pg_catalog.current_setting('bandsplit.token_hash', true);
    v_id  bigint;
BEGIN
    IF v_hex IS NULL OR v_hex !~ '^[0-9a-f]{64}$'
       OR pg_catalog.current_setting('transaction_read_only') = 'on' THEN
        RETURN false;
    END IF;
    BEGIN
        SELECT a.token_id INTO v_id
          FROM public.api_token_hash h
          JOIN public.api_token a ON a.token_id = h.token_id
         WHERE h.token_hash = pg_catalog.decode(v_hex, 'hex')
           AND a.revoked_at IS NULL
           AND a.expires_at > pg_catalog.now()
           AND (a.last_used_at IS NULL
                OR a.last_used_at < pg_catalog.now() - interval '1 minute')
           FOR UPDATE OF a SKIP LOCKED;
        IF v_id IS NULL THEN
            RETURN false;
        END IF;
        UPDATE public.api_token SET last_used_at = pg_catalog.now()
         WHERE token_id = v_id;
        RETURN true;
    EXCEPTION WHEN serialization_failure OR lock_not_available THEN
        RETURN false;
    END;
END
$$;

REVOKE EXECUTE ON FUNCTION public.bs_api_tenant() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION public.bs_api_touch() FROM PUBLIC;

-- The two policies of a table: the API's (using) and the other roles'.
CREATE FUNCTION public.bs_api_rls(p_table regclass, p_using text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', p_table);
    EXECUTE pg_catalog.format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', p_table);
    EXECUTE pg_catalog.format('CREATE POLICY api_tenant ON %s AS PERMISSIVE FOR SELECT '
                              'TO bandsplit_api USING (%s)', p_table, p_using);
    EXECUTE pg_catalog.format('CREATE POLICY bandsplit_roles ON %s AS PERMISSIVE FOR ALL '
                              'TO bandsplit_owner, bandsplit_settle, bandsplit_cli '
                              'USING (true) WITH CHECK (true)', p_table);
END
$$;
REVOKE EXECUTE ON FUNCTION public.bs_api_rls(regclass, text) FROM PUBLIC;

SELECT public.bs_api_rls('public.tenant',
    'tenant_id = (SELECT public.bs_api_tenant())');
SELECT public.bs_api_rls('public.allocation',
    'tenant_id = (SELECT public.bs_api_tenant())');
SELECT public.bs_api_rls('public.usage_5m',
    'tenant_id = (SELECT public.bs_api_tenant())');
SELECT public.bs_api_rls('public.invoice',
    'tenant_id = (SELECT public.bs_api_tenant())');
SELECT public.bs_api_rls('public.invoice_line',
    'EXISTS (SELECT 1 FROM public.invoice i WHERE i.invoice_id = invoice_line.invoice_id'
    ' AND i.tenant_id = (SELECT public.bs_api_tenant()))');
SELECT public.bs_api_rls('public.invoice_vat',
    'EXISTS (SELECT 1 FROM public.invoice i WHERE i.invoice_id = invoice_vat.invoice_id'
    ' AND i.tenant_id = (SELECT public.bs_api_tenant()))');
-- Plans and pools are shared: a tenant sees those of its own allocations
-- (another tenant's plan and its prices are not its business; of a pool
-- it may read the id and name only, grants.sql).
SELECT public.bs_api_rls('public.plan',
    'EXISTS (SELECT 1 FROM public.allocation a WHERE a.plan_id = plan.plan_id'
    ' AND a.tenant_id = (SELECT public.bs_api_tenant()))');
SELECT public.bs_api_rls('public.plan_version',
    'EXISTS (SELECT 1 FROM public.allocation a WHERE a.plan_id = plan_version.plan_id'
    ' AND a.tenant_id = (SELECT public.bs_api_tenant()))');
SELECT public.bs_api_rls('public.pool',
    'EXISTS (SELECT 1 FROM public.allocation a WHERE a.pool_id = pool.pool_id'
    ' AND a.tenant_id = (SELECT public.bs_api_tenant()))');

-- The caller's allocations as /v1/allocations shows them: rates, plan,
-- pool name. security_invoker: read with the API role's rights and
-- policies, not the owner's.
CREATE VIEW public.api_allocation
WITH (security_invoker = true, security_barrier = true) AS
SELECT a.alloc_id, a.tenant_id, a.pool_id, p.name AS pool_name,
       a.plan_id, pl.name AS plan_name, pl.kind AS plan_kind,
       pl.currency AS plan_currency, a.committed_bps, a.burst_bps,
       pg_catalog.lower(a.valid) AS valid_from,
       pg_catalog.upper(a.valid) AS valid_to
  FROM public.allocation a
  JOIN public.pool p ON p.pool_id = a.pool_id
  JOIN public.plan pl ON pl.plan_id = a.plan_id;
COMMENT ON VIEW public.api_allocation IS
    'A tenant''s allocations for the API (security_invoker: row-level security of the base tables applies; 0027_api_rls.sql).';

-- The statement digest of each document (0025): its invoice's tenant.
SELECT public.bs_api_rls('public.invoice_digest',
    'EXISTS (SELECT 1 FROM public.invoice i WHERE i.invoice_id = invoice_digest.invoice_id'
    ' AND i.tenant_id = (SELECT public.bs_api_tenant()))');
