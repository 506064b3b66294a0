-- grants.sql — who may do what: the one place the roles' rights are
-- written. `bandsplit migrate` runs it, as bandsplit_owner, after the
-- numbered migrations on every run (it is idempotent: GRANT and REVOKE of
-- what is already so change nothing), so a migration that adds a table
-- adds its lines here and every database gets them on its next migrate.
--
-- Roles (created by `bandsplit migrate` when it may, else checked):
--   bandsplit_owner   owns every object, runs the migrations; nobody logs
--                     in as it for daily work
--   bandsplit_settle  bandsplit-settle, the Kafka consumer
--   bandsplit_cli     the operators' and finance's `bandsplit` CLI
--   bandsplit_api     the tenants' API: reads through row-level security
--                     (0027), see the apidb block at the end
-- No role but the owner has ownership, TRUNCATE, REFERENCES, TRIGGER or
-- CREATE: it cannot alter a table, disable a trigger or empty a table.
-- audit_log and audit_head are written only by the SECURITY DEFINER audit
-- triggers (0017); the partition functions are SECURITY DEFINER too.
-- DELETE is granted only where 0018's history guard decides what may go.

REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC;
-- (Schema public: USAGE for everyone, CREATE for its owner and
-- bandsplit_owner only — PostgreSQL 15's default plus what migrate grants.)

-- Both programs check the schema version before they start.
GRANT SELECT ON schema_migrations TO bandsplit_settle, bandsplit_cli;

-- bandsplit-settle: usage in, offsets, rejects, completeness.
GRANT SELECT, INSERT ON usage_raw TO bandsplit_settle;
GRANT SELECT, INSERT, UPDATE ON usage_5m, node_interval, kafka_offsets,
    completeness_gaps TO bandsplit_settle;
-- rejected_records: UPDATE for the DLQ outbox's hand-over and confirmation
-- (0015)
GRANT SELECT, INSERT, UPDATE ON rejected_records TO bandsplit_settle;
GRANT SELECT ON usage_raw_horizon, park_settings TO bandsplit_settle;
GRANT USAGE ON SEQUENCE rejected_records_id_seq, completeness_gaps_id_seq
    TO bandsplit_settle;
GRANT EXECUTE ON FUNCTION bs_usage_raw_ensure_partitions(timestamptz, timestamptz),
    bs_usage_raw_drop_before(date) TO bandsplit_settle;

-- bandsplit (CLI): the park model read and written, exports recorded,
-- everything else read.
GRANT SELECT, INSERT, UPDATE, DELETE ON pool, tenant, prefix, plan,
    plan_version, allocation TO bandsplit_cli;
GRANT SELECT ON park_settings, audit_log, audit_head TO bandsplit_cli;
GRANT SELECT, INSERT ON prefix_map_export TO bandsplit_cli;
GRANT USAGE, SELECT ON SEQUENCE prefix_map_version_seq, prefix_prefix_id_seq,
    allocation_alloc_id_seq TO bandsplit_cli;
GRANT SELECT ON usage_raw, usage_5m, node_interval, kafka_offsets,
    rejected_records, completeness_gaps, usage_raw_horizon, usage_stale_map
    TO bandsplit_cli;

-- Finance (0020–0024): `bandsplit close` (bs_close_issue) writes the close
-- run, numbers, invoices and notes, carrier bills and the ledger; `park
-- set` the seller's details. Issued documents are immutable by their own
-- triggers; nothing is deleted.
GRANT UPDATE ON park_settings TO bandsplit_cli;
GRANT SELECT, INSERT, UPDATE ON close_run, document_counter, invoice,
    invoice_line, invoice_vat, carrier_bill, account, journal_entry, posting
    TO bandsplit_cli;
GRANT USAGE, SELECT ON SEQUENCE close_run_run_id_seq, invoice_invoice_id_seq,
    carrier_bill_carrier_bill_id_seq, account_account_id_seq,
    journal_entry_entry_id_seq TO bandsplit_cli;

-- usage_day (0029): the close reads the compacted days; `bandsplit rollup
-- compact` compacts them (bs_usage_day_compact, SECURITY DEFINER: it locks
-- usage_5m against writers and writes usage_day, which no role may).
GRANT SELECT ON usage_day, usage_day_state TO bandsplit_cli;
GRANT EXECUTE ON FUNCTION bs_usage_day_compact(date), bs_usage_day_pending(date)
    TO bandsplit_cli;

-- stmt (0025): the close records each document's statement digest; the
-- statements read it.
GRANT SELECT, INSERT ON invoice_digest TO bandsplit_cli;

-- obs: bandsplit-settle's metrics show each pool's purchased capacity and
-- the newest exported prefix-map version (for the "map stale" alert):
-- these columns only, nothing else of the park model.
GRANT SELECT (pool_id, capacity_bps, valid) ON pool TO bandsplit_settle;
GRANT SELECT (version) ON prefix_map_export TO bandsplit_settle;

-- apidb: the tenants' API (0026, 0027). bandsplit_api reads only what the
-- API serves, each tenant-owned table through row-level security bound to
-- the request's token; it writes nothing, reads no token or hash, and
-- calls only bs_api_tenant() and bs_api_touch() (SECURITY DEFINER).
-- The CLI creates, lists and revokes tokens (`bandsplit token`): the
-- hashes go in through bs_api_token_create and are never read back.
GRANT SELECT ON schema_migrations, park_settings TO bandsplit_api;
GRANT SELECT ON tenant, allocation, plan, plan_version, usage_5m, invoice,
    invoice_line, invoice_vat, invoice_digest, api_allocation TO bandsplit_api;
GRANT SELECT (pool_id, name) ON pool TO bandsplit_api;
-- /v1/usage reads clean compacted days from usage_day (0030: row security
-- as usage_5m); of usage_day_state only which days are clean
GRANT SELECT ON usage_day TO bandsplit_api;
GRANT SELECT (day, dirty) ON usage_day_state TO bandsplit_api;
GRANT SELECT (run_id, period, kind, time_zone, billing_measure, period_start,
    period_end, ran_at) ON close_run TO bandsplit_api;
GRANT EXECUTE ON FUNCTION bs_api_tenant(), bs_api_touch() TO bandsplit_api;
GRANT SELECT ON api_token TO bandsplit_cli;
GRANT EXECUTE ON FUNCTION bs_api_token_create(bigint, text, bytea, text, timestamptz),
    bs_api_token_revoke(text) TO bandsplit_cli;
