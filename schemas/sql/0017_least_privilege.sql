-- 0017_least_privilege.sql — functions that cannot be hijacked and that
-- do the privileged part of a change themselves, so that the consumer and
-- the CLI can run as roles without ownership (grants.sql).
--
-- 1. Every function of the schema runs with
--        search_path = pg_catalog, public, pg_temp
--    (pg_temp explicitly last: left out, it is searched FIRST, and a
--    session's temporary table named allocation or audit_log would stand in
--    for ours inside the capacity guard and the audit trigger). The
--    trigger functions (audit, capacity, pool, prefix and tenant guards)
--    and the partition functions are re-created below with every name
--    schema-qualified as well; the others (pure helpers, and the
--    consumer's functions of 0003) get the setting by ALTER FUNCTION (the
--    loop at the end), which covers the functions of 0001–0016.
-- 2. The audit triggers and the raw-usage partition functions are SECURITY
--    DEFINER (owned by bandsplit_owner): audit_log and audit_head are
--    written by the trigger only (no role but the owner has INSERT or
--    UPDATE on them), partitions are created and dropped by the consumer
--    without it owning usage_raw. EXECUTE on the partition functions is
--    revoked from PUBLIC (grants.sql gives it to bandsplit_settle).
-- Migrations written after this one set the search_path in each CREATE
-- FUNCTION themselves; the operator_sql test lists any function without it.

CREATE OR REPLACE FUNCTION public.bs_audit_row()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
AS $$
DECLARE
    v_at      timestamptz := pg_catalog.clock_timestamp();
    v_actor   text := coalesce(nullif(pg_catalog.current_setting('bandsplit.actor', true), ''),
                               session_user::text);
    v_app     text := coalesce(pg_catalog.current_setting('application_name', true), '');
    v_txid    bigint := pg_catalog.txid_current();
    v_before  jsonb;
    v_after   jsonb;
    v_key     jsonb;
    v_id      bigint;
    v_prev    bytea;
    v_hash    bytea;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        v_before := pg_catalog.to_jsonb(OLD);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        v_after := pg_catalog.to_jsonb(NEW);
    END IF;
    IF TG_OP = 'UPDATE' AND v_before = v_after THEN
        RETURN NULL;   -- nothing changed, nothing to record
    END IF;
    SELECT pg_catalog.jsonb_object_agg(k, coalesce(v_after, v_before) -> k)
      INTO v_key FROM pg_catalog.unnest(TG_ARGV) AS k;

    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('bandsplit.audit'));
    SELECT l.audit_id, l.hash INTO v_id, v_prev FROM public.audit_log l
     ORDER BY l.audit_id DESC LIMIT 1;
    IF NOT FOUND THEN
        v_id := 0;
        v_prev := pg_catalog.sha256(pg_catalog.convert_to('bandsplit audit log', 'UTF8'));
    END IF;
    v_id := v_id + 1;
    v_hash := pg_catalog.sha256(v_prev || public.bs_audit_content(v_id, v_at,
        v_actor, session_user::text, v_app, v_txid, TG_TABLE_NAME, TG_OP,
        v_key, v_before, v_after));
    IF pg_catalog.current_setting('transaction_isolation') = 'read committed' THEN
        INSERT INTO public.audit_log (audit_id, at, actor, db_user, application,
                                      txid, table_name, op, row_key, before,
                                      after, prev_hash, hash)
        VALUES (v_id, v_at, v_actor, session_user::text, v_app, v_txid,
                TG_TABLE_NAME, TG_OP, v_key, v_before, v_after, v_prev, v_hash);
    ELSE
        BEGIN
            INSERT INTO public.audit_log (audit_id, at, actor, db_user,
                                          application, txid, table_name, op,
                                          row_key, before, after, prev_hash,
                                          hash)
            VALUES (v_id, v_at, v_actor, session_user::text, v_app, v_txid,
                    TG_TABLE_NAME, TG_OP, v_key, v_before, v_after, v_prev,
                    v_hash);
        EXCEPTION WHEN unique_violation THEN
            RAISE EXCEPTION 'could not serialize access to the audit log: a '
                            'concurrent change committed first; retry'
                USING ERRCODE = '40001';
        END;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION public.bs_audit_head()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    UPDATE public.audit_head h SET last_id = l.audit_id, last_hash = l.hash
      FROM (SELECT a.audit_id, a.hash FROM public.audit_log a
             ORDER BY a.audit_id DESC LIMIT 1) AS l
     WHERE h.last_id <> l.audit_id;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION public.bs_audit_attach(p_table regclass, p_key text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    EXECUTE pg_catalog.format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION public.bs_audit_row(%s)',
                   'audit_' || p_table::text, p_table,
                   (SELECT pg_catalog.string_agg(pg_catalog.quote_literal(k), ', ')
                      FROM pg_catalog.unnest(p_key) AS k));
    EXECUTE pg_catalog.format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION public.bs_audit_head()',
                   'audit_head_' || p_table::text, p_table);
END
$$;

CREATE OR REPLACE FUNCTION public.bs_pool_peak(p_pool bigint, p_range tstzrange,
                                               p_except bigint, p_extra bigint,
                                               OUT at timestamptz,
                                               OUT committed_bps numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
    WITH instants AS (
        SELECT pg_catalog.lower(p_range) AS t
        UNION
        SELECT pg_catalog.lower(a.valid) FROM public.allocation a
         WHERE a.pool_id = p_pool AND a.valid OPERATOR(pg_catalog.&&) p_range
           AND pg_catalog.lower(a.valid) > pg_catalog.lower(p_range)
           AND a.alloc_id IS DISTINCT FROM p_except
    )
    SELECT i.t, p_extra + coalesce(pg_catalog.sum(a.committed_bps), 0)
      FROM instants i
      LEFT JOIN public.allocation a
        ON a.pool_id = p_pool AND a.valid OPERATOR(pg_catalog.@>) i.t
       AND a.alloc_id IS DISTINCT FROM p_except
     GROUP BY i.t
     ORDER BY 2 DESC, 1
     LIMIT 1
$$;

CREATE OR REPLACE FUNCTION public.bs_allocation_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    p        public.pool%ROWTYPE;
    t        public.tenant%ROWTYPE;
    v_at     timestamptz;
    v_sum    numeric;
    v_limit  numeric;
    v_msg    text;
BEGIN
    SELECT * INTO t FROM public.tenant WHERE tenant_id = NEW.tenant_id;
    IF FOUND AND t.status = 'closed' AND
       (pg_catalog.upper_inf(NEW.valid) OR pg_catalog.upper(NEW.valid) > t.closed_at) AND
       (TG_OP = 'INSERT' OR NOT (NEW.valid OPERATOR(pg_catalog.<@) OLD.valid)) THEN
        RAISE EXCEPTION 'tenant % is closed since %: no allocation past it',
            NEW.tenant_id, public.bs_iso(t.closed_at) USING ERRCODE = 'BST01';
    END IF;
    IF TG_OP = 'INSERT' OR NEW.plan_id <> OLD.plan_id
       OR pg_catalog.lower(NEW.valid) <> pg_catalog.lower(OLD.valid) THEN
        IF public.bs_plan_version_at(NEW.plan_id, pg_catalog.lower(NEW.valid)) IS NULL THEN
            RAISE EXCEPTION 'plan % has no version in force at %',
                NEW.plan_id, public.bs_iso(pg_catalog.lower(NEW.valid))
                USING ERRCODE = 'BSP01';
        END IF;
    END IF;
    -- Shrinking never raises the load: no check (an allocation forced over
    -- the limit can still be ended).
    IF TG_OP = 'UPDATE' AND NEW.pool_id = OLD.pool_id
       AND NEW.committed_bps <= OLD.committed_bps
       AND NEW.valid OPERATOR(pg_catalog.<@) OLD.valid THEN
        RETURN NEW;
    END IF;
    IF pg_catalog.current_setting('transaction_isolation') = 'repeatable read' THEN
        RAISE EXCEPTION 'allocation changes need READ COMMITTED or SERIALIZABLE'
            USING ERRCODE = 'BSC03';
    END IF;

    PERFORM public.bs_pool_lock(NEW.pool_id);
    SELECT * INTO p FROM public.pool WHERE pool_id = NEW.pool_id;
    IF NOT FOUND THEN
        RETURN NEW;   -- the foreign key refuses it
    END IF;
    IF NOT (NEW.valid OPERATOR(pg_catalog.<@) p.valid) THEN
        RAISE EXCEPTION 'allocation % (%) outside pool % validity %',
            NEW.alloc_id, NEW.valid, p.pool_id, p.valid
            USING ERRCODE = 'BSC02';
    END IF;
    SELECT pk.at, pk.committed_bps INTO v_at, v_sum
      FROM public.bs_pool_peak(NEW.pool_id, NEW.valid, NEW.alloc_id,
                               NEW.committed_bps) AS pk;
    v_limit := p.capacity_bps * p.oversub_limit;
    IF v_sum > v_limit THEN
        v_msg := pg_catalog.format('pool %s (%s): Σ committed would be %s Mbps at %s, '
                        'over capacity %s Mbps × limit %s = %s Mbps',
                        p.pool_id, p.name, public.bs_mbps(v_sum),
                        public.bs_iso(v_at), public.bs_mbps(p.capacity_bps),
                        pg_catalog.trim_scale(p.oversub_limit),
                        public.bs_mbps(v_limit));
        IF NOT public.bs_force_requested() THEN
            RAISE EXCEPTION '%', v_msg USING ERRCODE = 'BSC01',
                HINT = 'allocate less, end another allocation, or force it (audited)';
        END IF;
        NEW.forced := 'forced: ' || v_msg;
    END IF;
    RETURN NEW;
END
$$;

-- The other guards of the park model (0011), schema-qualified too.
CREATE OR REPLACE FUNCTION public.bs_pool_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_bad    bigint;
    v_at     timestamptz;
    v_sum    numeric;
    v_limit  numeric := NEW.capacity_bps * NEW.oversub_limit;
BEGIN
    IF NEW.pool_id <> OLD.pool_id THEN
        RAISE EXCEPTION 'pool ids do not change' USING ERRCODE = '23514';
    END IF;
    PERFORM public.bs_pool_lock(NEW.pool_id);
    SELECT alloc_id INTO v_bad FROM public.allocation
     WHERE pool_id = NEW.pool_id AND NOT (valid <@ NEW.valid)
     ORDER BY alloc_id LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'pool % validity % would leave allocation % outside it',
            NEW.pool_id, NEW.valid, v_bad USING ERRCODE = 'BSC02';
    END IF;
    IF v_limit >= OLD.capacity_bps * OLD.oversub_limit THEN
        RETURN NEW;
    END IF;
    SELECT pk.at, pk.committed_bps INTO v_at, v_sum
      FROM public.bs_pool_peak(NEW.pool_id, NEW.valid, NULL, 0) AS pk;
    IF v_sum > v_limit AND NOT public.bs_force_requested() THEN
        RAISE EXCEPTION 'pool % (%): Σ committed is % Mbps at %, over the new '
                        'capacity % Mbps × limit % = % Mbps',
            NEW.pool_id, NEW.name, public.bs_mbps(v_sum), public.bs_iso(v_at),
            public.bs_mbps(NEW.capacity_bps), trim_scale(NEW.oversub_limit),
            public.bs_mbps(v_limit)
            USING ERRCODE = 'BSC01',
                  HINT = 'end or reduce allocations first, or force it (audited)';
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION public.bs_prefix_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    t public.tenant%ROWTYPE;
BEGIN
    SELECT * INTO t FROM public.tenant WHERE tenant_id = NEW.tenant_id;
    IF FOUND AND t.status = 'closed' AND
       (upper_inf(NEW.valid) OR upper(NEW.valid) > t.closed_at) AND
       (TG_OP = 'INSERT' OR NOT (NEW.valid <@ OLD.valid)) THEN
        RAISE EXCEPTION 'tenant % is closed since %: no prefix past it',
            NEW.tenant_id, public.bs_iso(t.closed_at) USING ERRCODE = 'BST01';
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION public.bs_tenant_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_what text;
BEGIN
    IF NEW.tenant_id <> OLD.tenant_id THEN
        RAISE EXCEPTION 'tenant ids do not change' USING ERRCODE = '23514';
    END IF;
    IF OLD.status = 'closed' AND NEW.status <> 'closed' THEN
        RAISE EXCEPTION 'tenant % is closed; closing is final', NEW.tenant_id
            USING ERRCODE = 'BST01';
    END IF;
    IF NEW.status = 'closed' THEN
        SELECT 'prefix ' || prefix_id INTO v_what FROM public.prefix
         WHERE tenant_id = NEW.tenant_id
           AND (upper_inf(valid) OR upper(valid) > NEW.closed_at) LIMIT 1;
        IF v_what IS NULL THEN
            SELECT 'allocation ' || alloc_id INTO v_what FROM public.allocation
             WHERE tenant_id = NEW.tenant_id
               AND (upper_inf(valid) OR upper(valid) > NEW.closed_at) LIMIT 1;
        END IF;
        IF v_what IS NOT NULL THEN
            RAISE EXCEPTION 'tenant % cannot close at %: % runs past it',
                NEW.tenant_id, public.bs_iso(NEW.closed_at), v_what
                USING ERRCODE = 'BST01';
        END IF;
    END IF;
    RETURN NEW;
END
$$;

-- The partition functions create and drop tables: they run as the owner,
-- and name the schema of what they create (with pg_catalog first in the
-- search_path an unqualified CREATE TABLE would aim at pg_catalog).
CREATE OR REPLACE FUNCTION public.bs_usage_raw_ensure_partitions(p_from timestamptz,
                                                                p_to timestamptz)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    first_day date := (p_from AT TIME ZONE 'UTC')::date;
    last_day  date := (p_to AT TIME ZONE 'UTC')::date;
    horizon   timestamptz;
    d         date;
    part      text;
    created   integer := 0;
BEGIN
    IF p_from IS NULL OR p_to IS NULL OR last_day < first_day THEN
        RAISE EXCEPTION 'bs_usage_raw_ensure_partitions: empty range % .. %',
            p_from, p_to USING ERRCODE = '22023';
    END IF;
    IF last_day - first_day > 400 THEN
        RAISE EXCEPTION 'bs_usage_raw_ensure_partitions: % days requested, limit 400',
            last_day - first_day + 1 USING ERRCODE = '22023';
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('bandsplit.usage_raw.partitions'));
    SELECT h.dropped_before INTO horizon FROM public.usage_raw_horizon h;
    d := first_day;
    WHILE d <= last_day LOOP
        part := 'usage_raw_' || pg_catalog.to_char(d, 'YYYYMMDD');
        IF (horizon IS NULL OR (d::timestamp AT TIME ZONE 'UTC') >= horizon)
           AND pg_catalog.to_regclass('public.' || pg_catalog.quote_ident(part)) IS NULL THEN
            EXECUTE pg_catalog.format('CREATE TABLE public.%I PARTITION OF public.usage_raw '
                           'FOR VALUES FROM (%L) TO (%L)', part,
                           d::timestamp AT TIME ZONE 'UTC',
                           (d + 1)::timestamp AT TIME ZONE 'UTC');
            created := created + 1;
        END IF;
        d := d + 1;
    END LOOP;
    RETURN created;
END
$$;

CREATE OR REPLACE FUNCTION public.bs_usage_raw_drop_before(p_before date)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    part    record;
    dropped integer := 0;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('bandsplit.usage_raw.partitions'));
    FOR part IN
        SELECT c.relname
          FROM pg_catalog.pg_inherits i
          JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'public.usage_raw'::regclass
           AND c.relname ~ '^usage_raw_[0-9]{8}$'
           AND pg_catalog.to_date(pg_catalog.substr(c.relname, 11), 'YYYYMMDD') < p_before
         ORDER BY c.relname
    LOOP
        EXECUTE pg_catalog.format('DROP TABLE public.%I', part.relname);
        dropped := dropped + 1;
    END LOOP;
    UPDATE public.usage_raw_horizon
       SET dropped_before = GREATEST(coalesce(dropped_before, '-infinity'),
                                     p_before::timestamp AT TIME ZONE 'UTC');
    RETURN dropped;
END
$$;
REVOKE EXECUTE ON FUNCTION public.bs_usage_raw_ensure_partitions(timestamptz, timestamptz) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION public.bs_usage_raw_drop_before(date) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION public.bs_audit_row() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION public.bs_audit_head() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION public.bs_audit_attach(regclass, text[]) FROM PUBLIC;

-- Every other function of the schema (not an extension's): the same
-- search_path.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure
          FROM pg_catalog.pg_proc p
         WHERE p.pronamespace = 'public'::regnamespace
           AND p.proname LIKE 'bs\_%'
           AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                            WHERE d.classid = 'pg_catalog.pg_proc'::regclass
                              AND d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, public, pg_temp', f);
    END LOOP;
END
$$;
