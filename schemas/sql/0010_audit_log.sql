-- 0010_audit_log.sql — the operators' audit log: append-only, hash-chained.
--
-- Every INSERT, UPDATE and DELETE on the park model (0011) and on the prefix
-- map exports (0012) is written here by the database itself, through the
-- row trigger bs_audit_row(), whatever client made the change:
--   who    actor: the session setting bandsplit.actor (the bandsplit CLI sets
--          it to $BANDSPLIT_ACTOR or the OS user), else the database user;
--          db_user and application (application_name) as well
--   when   at: clock_timestamp() of the change; txid: its transaction
--   what   table_name, op, row_key (the primary key), before and after (the
--          whole row as jsonb, rendered with TimeZone UTC)
--
-- Append-only: UPDATE, DELETE and TRUNCATE on audit_log are refused
-- (SQLSTATE BSA01).
--
-- Hash chain: hash(n) = sha256(hash(n-1) || content(n)), where content(n) is
-- bs_audit_content() of row n (a jsonb array of its fields, as UTF-8 text)
-- and hash(0) is sha256('bandsplit audit log'). Appends are serialised by
-- a transaction advisory lock; each takes the last row (its id + 1 and its
-- hash), so audit_id is gapless (a rolled back change leaves no hole) and
-- the primary key makes a writer whose snapshot missed the last append
-- (REPEATABLE READ, SERIALIZABLE) fail with a serialization failure (40001,
-- retry) rather than fork the chain.
-- After each statement audit_head is set to the last row, so a deleted
-- tail shows as a head that matches nothing. `bandsplit audit verify` recomputes
-- every link with the built-in sha256(), checks ids run 1..n without a
-- hole and that audit_head matches the last row: an edited row breaks its
-- own link, a deleted one leaves a hole, a rewritten tail no longer matches
-- a head hash recorded earlier (verify prints it).

CREATE TABLE audit_head (
    only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    last_id    bigint NOT NULL CHECK (last_id >= 0),
    last_hash  bytea NOT NULL CHECK (length(last_hash) = 32)
);
INSERT INTO audit_head (only_row, last_id, last_hash)
VALUES (true, 0, sha256(convert_to('bandsplit audit log', 'UTF8')));

CREATE TABLE audit_log (
    audit_id    bigint PRIMARY KEY CHECK (audit_id >= 1),
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    db_user     text NOT NULL,
    application text NOT NULL,
    txid        bigint NOT NULL,
    table_name  text NOT NULL,
    op          text NOT NULL CHECK (op IN ('INSERT', 'UPDATE', 'DELETE')),
    row_key     jsonb NOT NULL,
    before      jsonb,
    after       jsonb,
    prev_hash   bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash        bytea NOT NULL CHECK (length(hash) = 32),
    CHECK ((op = 'INSERT') = (before IS NULL)),
    CHECK ((op = 'DELETE') = (after IS NULL))
);

COMMENT ON TABLE audit_log IS
    'Who changed what in the park model, when; append-only, hash-chained (see 0010_audit_log.sql).';

CREATE INDEX audit_log_table_at ON audit_log (table_name, at);

-- The bytes hashed for one audit row. `bandsplit audit verify` spells out
-- the same expression itself, so that a replaced function cannot vouch for
-- an edited log.
CREATE FUNCTION bs_audit_content(p_id bigint, p_at timestamptz, p_actor text,
                                 p_db_user text, p_application text,
                                 p_txid bigint, p_table text, p_op text,
                                 p_key jsonb, p_before jsonb, p_after jsonb)
RETURNS bytea
LANGUAGE sql STABLE AS $$
    SELECT convert_to(jsonb_build_array(p_id,
        to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        p_actor, p_db_user, p_application, p_txid, p_table, p_op, p_key,
        p_before, p_after)::text, 'UTF8')
$$;

-- The row trigger. TG_ARGV names the table's primary-key columns.
CREATE FUNCTION bs_audit_row()
RETURNS trigger
LANGUAGE plpgsql
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
AS $$
DECLARE
    v_at      timestamptz := clock_timestamp();
    v_actor   text := coalesce(nullif(current_setting('bandsplit.actor', true), ''),
                               session_user::text);
    v_app     text := coalesce(current_setting('application_name', true), '');
    v_txid    bigint := txid_current();
    v_before  jsonb;
    v_after   jsonb;
    v_key     jsonb;
    v_id      bigint;
    v_prev    bytea;
    v_hash    bytea;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        v_before := to_jsonb(OLD);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        v_after := to_jsonb(NEW);
    END IF;
    IF TG_OP = 'UPDATE' AND v_before = v_after THEN
        RETURN NULL;   -- nothing changed, nothing to record
    END IF;
    SELECT jsonb_object_agg(k, coalesce(v_after, v_before) -> k)
      INTO v_key FROM unnest(TG_ARGV) AS k;

    PERFORM pg_advisory_xact_lock(hashtext('bandsplit.audit'));
    SELECT audit_id, hash INTO v_id, v_prev FROM audit_log
     ORDER BY audit_id DESC LIMIT 1;
    IF NOT FOUND THEN
        v_id := 0;
        v_prev := sha256(convert_to('bandsplit audit log', 'UTF8'));
    END IF;
    v_id := v_id + 1;
    v_hash := sha256(v_prev || bs_audit_content(v_id, v_at, v_actor,
        session_user::text, v_app, v_txid, TG_TABLE_NAME, TG_OP, v_key,
        v_before, v_after));
    IF current_setting('transaction_isolation') = 'read committed' THEN
        -- after the lock, this statement's snapshot holds the last append
        INSERT INTO audit_log (audit_id, at, actor, db_user, application, txid,
                               table_name, op, row_key, before, after,
                               prev_hash, hash)
        VALUES (v_id, v_at, v_actor, session_user::text, v_app, v_txid,
                TG_TABLE_NAME, TG_OP, v_key, v_before, v_after, v_prev, v_hash);
    ELSE
        -- a snapshot older than the lock may miss the last append
        BEGIN
            INSERT INTO audit_log (audit_id, at, actor, db_user, application,
                                   txid, table_name, op, row_key, before,
                                   after, prev_hash, hash)
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

-- The statement trigger: audit_head follows the last row (once per
-- statement, not per row: a row updated again and again in one
-- transaction gets slower with every version).
CREATE FUNCTION bs_audit_head()
RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE audit_head h SET last_id = l.audit_id, last_hash = l.hash
      FROM (SELECT audit_id, hash FROM audit_log
             ORDER BY audit_id DESC LIMIT 1) AS l
     WHERE h.last_id <> l.audit_id;
    RETURN NULL;
END
$$;

CREATE FUNCTION bs_audit_refuse()
RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'BSA01';
END
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION bs_audit_refuse();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION bs_audit_refuse();
CREATE TRIGGER audit_head_keep BEFORE DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION bs_audit_refuse();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION bs_audit_refuse();

-- Attaches the audit triggers to a table (its primary-key columns as
-- arguments). Used by the migrations that create audited tables.
CREATE FUNCTION bs_audit_attach(p_table regclass, p_key text[])
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION bs_audit_row(%s)',
                   'audit_' || p_table::text, p_table,
                   (SELECT string_agg(quote_literal(k), ', ') FROM unnest(p_key) AS k));
    EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION bs_audit_head()',
                   'audit_head_' || p_table::text, p_table);
END
$$;
