-- 0011_park_model.sql — what the park bought and how it is divided: pools
-- (carriers' bulk contracts), tenants, their prefixes, price plans and
-- allocations, with the rules enforced by the database whatever the client.
--
-- Conventions: money in integer fen (bigint), rates in bit/s (bigint), VAT
-- in basis points (600 = 6%). Validity is a tstzrange [from, to): closed at
-- the start, open (NULL upper) while in force; "ending" an object sets its
-- upper bound. Times are shown in the park's time zone (park_settings).
--
-- Rules and the SQLSTATE each raises (the CLI maps class 23 and BS*** to
-- exit status 1, "refused by a rule"):
--   23P01  two prefixes overlapping in address space at the same time
--          (any tenants, IPv4 and IPv6, nested or equal); two allocations of
--          one tenant on one pool overlapping in time; two versions of one
--          plan overlapping in time
--   23514  non-positive rates, burst below committed, bad money, bad ranges
--   BSC01  capacity guard: an allocation that would push Σ committed of its
--          pool above capacity × oversubscription limit at any instant of
--          its validity (the error gives the instant and the figures).
--          Allowed when the transaction sets bandsplit.force = 'on': the
--          allocation's `forced` column then records the figures, and the
--          audit log the row. Also raised by a pool change that would put
--          existing allocations over the new limit.
--   BSC02  an allocation outside its pool's validity (or a pool change that
--          would leave one outside)
--   BSC03  allocation changes under REPEATABLE READ (the guard needs to see
--          concurrent commits: use READ COMMITTED or SERIALIZABLE)
--   BST01  a prefix or allocation of a closed tenant past its closing, or
--          closing a tenant whose prefixes or allocations run past it
--   BSP01  an allocation starting when its plan has no version in force
--
-- Concurrency: every allocation change that can raise a pool's load takes
-- a transaction advisory lock on the pool, then sums with a fresh snapshot
-- (READ COMMITTED), so two operators allocating at once are checked one
-- after the other and cannot together exceed the limit.

CREATE EXTENSION IF NOT EXISTS btree_gist;

-- The park itself: one row.
CREATE TABLE park_settings (
    only_row    boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    time_zone   text NOT NULL DEFAULT 'Asia/Shanghai'
                CHECK (length(time_zone) BETWEEN 1 AND 64),
    currency    text NOT NULL DEFAULT 'CNY' CHECK (currency ~ '^[A-Z]{3}$')
);
INSERT INTO park_settings DEFAULT VALUES;

-- A validity range as the model wants it: [from, to), from finite.
CREATE FUNCTION bs_valid_range(r tstzrange)
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT NOT isempty(r) AND NOT lower_inf(r) AND lower_inc(r)
           AND NOT upper_inc(r) AND lower(r) > '-infinity'
           AND (upper_inf(r) OR upper(r) < 'infinity')
$$;

-- ISO 8601 in the session's time zone ("2026-11-01T00:00:00+08:00").
CREATE FUNCTION bs_iso(t timestamptz)
RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT to_char(t, 'YYYY-MM-DD"T"HH24:MI:SSTZH:TZM')
$$;

-- bit/s as exact Mbps text (no float): 2500000 → '2.5'.
CREATE FUNCTION bs_mbps(bps numeric)
RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN bps IS NULL THEN NULL
                ELSE trim_scale(bps / 1000000.0)::text END
$$;

-- fen as yuan text: 1234 → '12.34'.
CREATE FUNCTION bs_yuan(fen bigint)
RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN fen IS NULL THEN NULL
                ELSE to_char(fen / 100.0, 'FM999999999999999990.00') END
$$;

CREATE FUNCTION bs_strictly_ascending(a bigint[])
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(bool_and(x < y), true)
      FROM (SELECT a[i] AS x, a[i + 1] AS y
              FROM generate_subscripts(a, 1) AS i
             WHERE i < cardinality(a)) AS pairs
$$;

-- Pools: a carrier's bulk contract.
CREATE TABLE pool (
    pool_id         bigint PRIMARY KEY CHECK (pool_id BETWEEN 1 AND 4294967295),
    carrier         text NOT NULL CHECK (length(carrier) BETWEEN 1 AND 100),
    name            text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    capacity_bps    bigint NOT NULL CHECK (capacity_bps > 0),
    valid           tstzrange NOT NULL CHECK (bs_valid_range(valid)),
    -- flat: monthly_fee_fen; p95: price_fen_per_mbps × max(p95, commit floor)
    cost_model      text NOT NULL CHECK (cost_model IN ('flat', 'p95')),
    monthly_fee_fen bigint CHECK (monthly_fee_fen >= 0),
    price_fen_per_mbps bigint CHECK (price_fen_per_mbps >= 0),
    commit_floor_bps bigint CHECK (commit_floor_bps >= 0),
    currency        text NOT NULL DEFAULT 'CNY' CHECK (currency ~ '^[A-Z]{3}$'),
    -- Σ committed rates ≤ capacity × oversub_limit at every instant
    oversub_limit   numeric(8,4) NOT NULL DEFAULT 1
                    CHECK (oversub_limit > 0 AND oversub_limit <= 100),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (CASE cost_model
           WHEN 'flat' THEN monthly_fee_fen IS NOT NULL
                AND price_fen_per_mbps IS NULL AND commit_floor_bps IS NULL
           ELSE monthly_fee_fen IS NULL AND price_fen_per_mbps IS NOT NULL
                AND commit_floor_bps IS NOT NULL END)
);

-- Tenants. Closing keeps the row and its history.
CREATE TABLE tenant (
    tenant_id   bigint PRIMARY KEY CHECK (tenant_id BETWEEN 1 AND 4294967295),
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    tax_id      text CHECK (tax_id ~ '^[0-9A-Za-z-]{1,40}$'),
    contact     text CHECK (length(contact) BETWEEN 1 AND 200),
    status      text NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'suspended', 'closed')),
    closed_at   timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);

-- Prefixes: no two may overlap in address space at the same time.
CREATE TABLE prefix (
    prefix_id   bigint PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
    tenant_id   bigint NOT NULL REFERENCES tenant,
    prefix      cidr NOT NULL,
    valid       tstzrange NOT NULL CHECK (bs_valid_range(valid)),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT prefix_no_overlap
        EXCLUDE USING gist (prefix inet_ops WITH &&, valid WITH &&)
);
CREATE INDEX prefix_tenant ON prefix (tenant_id);

-- Plans and their versions: a price change is a new version from a date.
CREATE TABLE plan (
    plan_id     bigint PRIMARY KEY CHECK (plan_id BETWEEN 1 AND 4294967295),
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    kind        text NOT NULL CHECK (kind IN ('flat', 'burstable95', 'volume')),
    currency    text NOT NULL DEFAULT 'CNY' CHECK (currency ~ '^[A-Z]{3}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (plan_id, kind)
);

CREATE TABLE plan_version (
    plan_id     bigint NOT NULL,
    version     integer NOT NULL CHECK (version >= 1),
    kind        text NOT NULL,
    valid       tstzrange NOT NULL CHECK (bs_valid_range(valid)),
    direction   text NOT NULL DEFAULT 'max'
                CHECK (direction IN ('max', 'in', 'out', 'sum')),
    vat_bp      integer NOT NULL DEFAULT 600 CHECK (vat_bp BETWEEN 0 AND 10000),
    -- flat: per committed Mbps-month; burstable95: per committed Mbps-month
    price_fen_per_mbps   bigint CHECK (price_fen_per_mbps >= 0),
    -- burstable95: per Mbps-month of p95 above the commit
    overage_fen_per_mbps bigint CHECK (overage_fen_per_mbps >= 0),
    -- volume: graduated tiers; tier i covers [tier_from_gb[i],
    -- tier_from_gb[i+1]) GB at tier_fen_per_gb[i] fen per GB (10^9 bytes)
    tier_from_gb    bigint[],
    tier_fen_per_gb bigint[],
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (plan_id, version),
    FOREIGN KEY (plan_id, kind) REFERENCES plan (plan_id, kind),
    CONSTRAINT plan_version_no_overlap
        EXCLUDE USING gist (plan_id WITH =, valid WITH &&),
    CHECK (CASE kind
           WHEN 'flat' THEN price_fen_per_mbps IS NOT NULL
                AND overage_fen_per_mbps IS NULL AND tier_from_gb IS NULL
                AND tier_fen_per_gb IS NULL
           WHEN 'burstable95' THEN price_fen_per_mbps IS NOT NULL
                AND overage_fen_per_mbps IS NOT NULL AND tier_from_gb IS NULL
                AND tier_fen_per_gb IS NULL
           ELSE price_fen_per_mbps IS NULL AND overage_fen_per_mbps IS NULL
                AND cardinality(tier_from_gb) BETWEEN 1 AND 32
                AND cardinality(tier_fen_per_gb) = cardinality(tier_from_gb)
                AND array_position(tier_from_gb, NULL) IS NULL
                AND array_position(tier_fen_per_gb, NULL) IS NULL
                AND tier_from_gb[1] = 0
                AND bs_strictly_ascending(tier_from_gb)
                AND 0 <= ALL (tier_fen_per_gb) END)
);

-- The version of a plan in force at an instant (NULL if none).
CREATE FUNCTION bs_plan_version_at(p_plan bigint, p_at timestamptz)
RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT version FROM plan_version WHERE plan_id = p_plan AND valid @> p_at
$$;

-- Allocations: a tenant's slice of a pool, on a plan, over a range.
CREATE TABLE allocation (
    alloc_id      bigint PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
    tenant_id     bigint NOT NULL REFERENCES tenant,
    pool_id       bigint NOT NULL REFERENCES pool,
    plan_id       bigint NOT NULL REFERENCES plan,
    committed_bps bigint NOT NULL CHECK (committed_bps > 0),
    burst_bps     bigint NOT NULL CHECK (burst_bps > 0 AND burst_bps >= committed_bps),
    valid         tstzrange NOT NULL CHECK (bs_valid_range(valid)),
    -- not NULL: allocated over the capacity guard on purpose; the figures
    forced        text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT allocation_no_overlap
        EXCLUDE USING gist (tenant_id WITH =, pool_id WITH =, valid WITH &&)
);
CREATE INDEX allocation_pool ON allocation USING gist (pool_id, valid);
CREATE INDEX allocation_plan ON allocation (plan_id);

-- The advisory lock that serialises capacity checks on one pool.
CREATE FUNCTION bs_pool_lock(p_pool bigint)
RETURNS void
LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(hashtext('bandsplit.pool.capacity'),
                                 (p_pool - 2147483648)::integer)
$$;

-- The highest Σ committed of pool p_pool at any instant of p_range,
-- counting every allocation except p_except, plus p_extra bit/s. Returns
-- the instant where it is reached and the sum. The sum only changes where
-- an allocation starts, so the start of p_range and the starts inside it
-- are the only instants to look at.
CREATE FUNCTION bs_pool_peak(p_pool bigint, p_range tstzrange,
                             p_except bigint, p_extra bigint,
                             OUT at timestamptz, OUT committed_bps numeric)
LANGUAGE sql STABLE AS $$
    WITH instants AS (
        SELECT lower(p_range) AS t
        UNION
        SELECT lower(a.valid) FROM allocation a
         WHERE a.pool_id = p_pool AND a.valid && p_range
           AND lower(a.valid) > lower(p_range)
           AND a.alloc_id IS DISTINCT FROM p_except
    )
    SELECT i.t, p_extra + coalesce(sum(a.committed_bps), 0)
      FROM instants i
      LEFT JOIN allocation a
        ON a.pool_id = p_pool AND a.valid @> i.t
       AND a.alloc_id IS DISTINCT FROM p_except
     GROUP BY i.t
     ORDER BY 2 DESC, 1
     LIMIT 1
$$;

CREATE FUNCTION bs_force_requested()
RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('bandsplit.force', true), '') = 'on'
$$;

-- The capacity guard and the other cross-table rules of an allocation.
CREATE FUNCTION bs_allocation_guard()
RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    p        pool%ROWTYPE;
    t        tenant%ROWTYPE;
    v_at     timestamptz;
    v_sum    numeric;
    v_limit  numeric;
    v_msg    text;
BEGIN
    SELECT * INTO t FROM tenant WHERE tenant_id = NEW.tenant_id;
    IF FOUND AND t.status = 'closed' AND
       (upper_inf(NEW.valid) OR upper(NEW.valid) > t.closed_at) AND
       (TG_OP = 'INSERT' OR NOT (NEW.valid <@ OLD.valid)) THEN
        RAISE EXCEPTION 'tenant % is closed since %: no allocation past it',
            NEW.tenant_id, bs_iso(t.closed_at) USING ERRCODE = 'BST01';
    END IF;
    IF TG_OP = 'INSERT' OR NEW.plan_id <> OLD.plan_id
       OR lower(NEW.valid) <> lower(OLD.valid) THEN
        IF bs_plan_version_at(NEW.plan_id, lower(NEW.valid)) IS NULL THEN
            RAISE EXCEPTION 'plan % has no version in force at %',
                NEW.plan_id, bs_iso(lower(NEW.valid)) USING ERRCODE = 'BSP01';
        END IF;
    END IF;
    -- Shrinking never raises the load: no check (an allocation forced over
    -- the limit can still be ended).
    IF TG_OP = 'UPDATE' AND NEW.pool_id = OLD.pool_id
       AND NEW.committed_bps <= OLD.committed_bps AND NEW.valid <@ OLD.valid THEN
        RETURN NEW;
    END IF;
    IF current_setting('transaction_isolation') = 'repeatable read' THEN
        RAISE EXCEPTION 'allocation changes need READ COMMITTED or SERIALIZABLE'
            USING ERRCODE = 'BSC03';
    END IF;

    PERFORM bs_pool_lock(NEW.pool_id);
    SELECT * INTO p FROM pool WHERE pool_id = NEW.pool_id;
    IF NOT FOUND THEN
        RETURN NEW;   -- the foreign key refuses it
    END IF;
    IF NOT (NEW.valid <@ p.valid) THEN
        RAISE EXCEPTION 'allocation % (%) outside pool % validity %',
            NEW.alloc_id, NEW.valid, p.pool_id, p.valid
            USING ERRCODE = 'BSC02';
    END IF;
    SELECT pk.at, pk.committed_bps INTO v_at, v_sum
      FROM bs_pool_peak(NEW.pool_id, NEW.valid, NEW.alloc_id,
                        NEW.committed_bps) AS pk;
    v_limit := p.capacity_bps * p.oversub_limit;
    IF v_sum > v_limit THEN
        v_msg := format('pool %s (%s): Σ committed would be %s Mbps at %s, '
                        'over capacity %s Mbps × limit %s = %s Mbps',
                        p.pool_id, p.name, bs_mbps(v_sum), bs_iso(v_at),
                        bs_mbps(p.capacity_bps), trim_scale(p.oversub_limit),
                        bs_mbps(v_limit));
        IF NOT bs_force_requested() THEN
            RAISE EXCEPTION '%', v_msg USING ERRCODE = 'BSC01',
                HINT = 'allocate less, end another allocation, or force it (audited)';
        END IF;
        NEW.forced := 'forced: ' || v_msg;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER allocation_guard BEFORE INSERT OR UPDATE ON allocation
    FOR EACH ROW EXECUTE FUNCTION bs_allocation_guard();

-- A pool change must keep its allocations inside its validity and, unless
-- forced, under its (possibly lowered) limit.
CREATE FUNCTION bs_pool_guard()
RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_bad    bigint;
    v_at     timestamptz;
    v_sum    numeric;
    v_limit  numeric := NEW.capacity_bps * NEW.oversub_limit;
BEGIN
    IF NEW.pool_id <> OLD.pool_id THEN
        RAISE EXCEPTION 'pool ids do not change' USING ERRCODE = '23514';
    END IF;
    PERFORM bs_pool_lock(NEW.pool_id);
    SELECT alloc_id INTO v_bad FROM allocation
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
      FROM bs_pool_peak(NEW.pool_id, NEW.valid, NULL, 0) AS pk;
    IF v_sum > v_limit AND NOT bs_force_requested() THEN
        RAISE EXCEPTION 'pool % (%): Σ committed is % Mbps at %, over the new '
                        'capacity % Mbps × limit % = % Mbps',
            NEW.pool_id, NEW.name, bs_mbps(v_sum), bs_iso(v_at),
            bs_mbps(NEW.capacity_bps), trim_scale(NEW.oversub_limit),
            bs_mbps(v_limit)
            USING ERRCODE = 'BSC01',
                  HINT = 'end or reduce allocations first, or force it (audited)';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER pool_guard BEFORE UPDATE ON pool
    FOR EACH ROW EXECUTE FUNCTION bs_pool_guard();

-- Closed tenants: nothing of theirs runs past the closing.
CREATE FUNCTION bs_prefix_guard()
RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    t tenant%ROWTYPE;
BEGIN
    SELECT * INTO t FROM tenant WHERE tenant_id = NEW.tenant_id;
    IF FOUND AND t.status = 'closed' AND
       (upper_inf(NEW.valid) OR upper(NEW.valid) > t.closed_at) AND
       (TG_OP = 'INSERT' OR NOT (NEW.valid <@ OLD.valid)) THEN
        RAISE EXCEPTION 'tenant % is closed since %: no prefix past it',
            NEW.tenant_id, bs_iso(t.closed_at) USING ERRCODE = 'BST01';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER prefix_guard BEFORE INSERT OR UPDATE ON prefix
    FOR EACH ROW EXECUTE FUNCTION bs_prefix_guard();

CREATE FUNCTION bs_tenant_guard()
RETURNS trigger
LANGUAGE plpgsql AS $$
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
        SELECT 'prefix ' || prefix_id INTO v_what FROM prefix
         WHERE tenant_id = NEW.tenant_id
           AND (upper_inf(valid) OR upper(valid) > NEW.closed_at) LIMIT 1;
        IF v_what IS NULL THEN
            SELECT 'allocation ' || alloc_id INTO v_what FROM allocation
             WHERE tenant_id = NEW.tenant_id
               AND (upper_inf(valid) OR upper(valid) > NEW.closed_at) LIMIT 1;
        END IF;
        IF v_what IS NOT NULL THEN
            RAISE EXCEPTION 'tenant % cannot close at %: % runs past it',
                NEW.tenant_id, bs_iso(NEW.closed_at), v_what
                USING ERRCODE = 'BST01';
        END IF;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER tenant_guard BEFORE UPDATE ON tenant
    FOR EACH ROW EXECUTE FUNCTION bs_tenant_guard();

-- Every change to the model goes to the audit log (0010).
SELECT bs_audit_attach('park_settings', ARRAY['only_row']);
SELECT bs_audit_attach('pool', ARRAY['pool_id']);
SELECT bs_audit_attach('tenant', ARRAY['tenant_id']);
SELECT bs_audit_attach('prefix', ARRAY['prefix_id']);
SELECT bs_audit_attach('plan', ARRAY['plan_id']);
SELECT bs_audit_attach('plan_version', ARRAY['plan_id', 'version']);
SELECT bs_audit_attach('allocation', ARRAY['alloc_id']);
