-- 0018_history_kept.sql — no operator command erases history.
--
-- On the tables with a validity range (pool, prefix, plan_version,
-- allocation), whatever the client:
--   BSH01  DELETE of a row that took effect (its start is at or before
--          now()): it can be ended, never deleted;
--   BSH02  DELETE of a row that never took effect without the transaction
--          setting bandsplit.purge = 'on' (`--purge`); the deletion is in
--          the audit log like any change;
--   BSH03  an UPDATE that moves a row's end earlier, to an instant before
--          now() (history already counted), without bandsplit.force = 'on'
--          (`--force`); the forced change is in the audit log (before and
--          after) like any change;
--   BSH04  an UPDATE that moves the start of a row that took effect.
-- Ending a row before its start stays impossible (bs_valid_range: an empty
-- or reversed range). Changes inside a closed financial period are the
-- finance migrations' concern.

CREATE FUNCTION public.bs_purge_requested()
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT coalesce(pg_catalog.current_setting('bandsplit.purge', true), '') = 'on'
$$;

CREATE FUNCTION public.bs_history_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_key text := TG_TABLE_NAME || ' ' || coalesce(
        (SELECT pg_catalog.string_agg(pg_catalog.to_jsonb(OLD) ->> k, '/')
           FROM pg_catalog.unnest(TG_ARGV) AS k), '?');
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF pg_catalog.lower(OLD.valid) <= pg_catalog.now() THEN
            RAISE EXCEPTION '% took effect at %: history is kept (end it, do not delete it)',
                v_key, public.bs_iso(pg_catalog.lower(OLD.valid))
                USING ERRCODE = 'BSH01';
        END IF;
        IF NOT public.bs_purge_requested() THEN
            RAISE EXCEPTION '% never took effect (starts %): removing it needs --purge (audited)',
                v_key, public.bs_iso(pg_catalog.lower(OLD.valid))
                USING ERRCODE = 'BSH02';
        END IF;
        RETURN OLD;
    END IF;
    IF pg_catalog.lower(OLD.valid) <= pg_catalog.now()
       AND pg_catalog.lower(NEW.valid) <> pg_catalog.lower(OLD.valid) THEN
        RAISE EXCEPTION '% took effect at %: its start cannot move',
            v_key, public.bs_iso(pg_catalog.lower(OLD.valid))
            USING ERRCODE = 'BSH04';
    END IF;
    IF NOT pg_catalog.upper_inf(NEW.valid)
       AND pg_catalog.upper(NEW.valid) < pg_catalog.now()
       AND (pg_catalog.upper_inf(OLD.valid)
            OR pg_catalog.upper(NEW.valid) < pg_catalog.upper(OLD.valid))
       AND NOT public.bs_force_requested() THEN
        RAISE EXCEPTION 'ending % at % (in the past) rewrites history: it needs --force (audited)',
            v_key, public.bs_iso(pg_catalog.upper(NEW.valid))
            USING ERRCODE = 'BSH03';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER pool_history BEFORE UPDATE OR DELETE ON public.pool
    FOR EACH ROW EXECUTE FUNCTION public.bs_history_guard('pool_id');
CREATE TRIGGER prefix_history BEFORE UPDATE OR DELETE ON public.prefix
    FOR EACH ROW EXECUTE FUNCTION public.bs_history_guard('prefix_id');
CREATE TRIGGER plan_version_history BEFORE UPDATE OR DELETE ON public.plan_version
    FOR EACH ROW EXECUTE FUNCTION public.bs_history_guard('plan_id', 'version');
CREATE TRIGGER allocation_history BEFORE UPDATE OR DELETE ON public.allocation
    FOR EACH ROW EXECUTE FUNCTION public.bs_history_guard('alloc_id');

-- Tenants: closed, never deleted (a tenant that never had anything may be
-- removed with --purge); closing in the past needs --force (BSH03).
CREATE FUNCTION public.bs_tenant_keep()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF NOT public.bs_purge_requested() THEN
            RAISE EXCEPTION 'tenant %: history is kept (close it with tenant end)',
                OLD.tenant_id USING ERRCODE = 'BSH01';
        END IF;
        RETURN OLD;
    END IF;
    IF NEW.closed_at IS NOT NULL AND NEW.closed_at < pg_catalog.now()
       AND OLD.closed_at IS DISTINCT FROM NEW.closed_at
       AND NOT public.bs_force_requested() THEN
        RAISE EXCEPTION 'closing tenant % at % (in the past) rewrites history: it needs --force (audited)',
            NEW.tenant_id, public.bs_iso(NEW.closed_at) USING ERRCODE = 'BSH03';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER tenant_keep BEFORE UPDATE OR DELETE ON public.tenant
    FOR EACH ROW EXECUTE FUNCTION public.bs_tenant_keep();
