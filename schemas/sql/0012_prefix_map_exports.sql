-- 0012_prefix_map_exports.sql — the prefix-map files `bandsplit prefixes
-- export` wrote for the dataplane, and which map version was in force when.
--
-- Every export takes the next value of prefix_map_version_seq as the map's
-- `version` (so versions only grow, whoever exports) and records it here,
-- with the instant the map describes (map_at) and when it was exported.
-- The dataplane stamps every usage record with the version of the map that
-- attributed it; a record whose map_version is below the version in force
-- at its interval_start was attributed with an old map (the meter did not
-- reload: no SIGHUP, a refused file, another node's copy) and is listed by
-- usage_stale_map.
--
-- "In force" = the latest export at or before the instant, after a grace
-- period for the SIGHUP reload (bs_map_version_in_force's p_grace; the
-- view uses 10 seconds).

CREATE SEQUENCE prefix_map_version_seq AS bigint MINVALUE 1 START 1 NO CYCLE;

CREATE TABLE prefix_map_export (
    version      bigint PRIMARY KEY CHECK (version >= 1),
    map_at       timestamptz NOT NULL,
    exported_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    path         text NOT NULL CHECK (length(path) BETWEEN 1 AND 4096),
    v4_prefixes  integer NOT NULL CHECK (v4_prefixes >= 0),
    v6_prefixes  integer NOT NULL CHECK (v6_prefixes >= 0),
    tenants      integer NOT NULL CHECK (tenants >= 0)
);
CREATE INDEX prefix_map_export_at ON prefix_map_export (exported_at);

COMMENT ON TABLE prefix_map_export IS
    'Prefix-map files exported for the dataplane: version, the instant mapped, when.';

-- The map version in force at p_at: the highest version exported at least
-- p_grace before it; 0 if none.
CREATE FUNCTION bs_map_version_in_force(p_at timestamptz,
                                        p_grace interval DEFAULT '0 seconds')
RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce(max(version), 0) FROM prefix_map_export
     WHERE exported_at + p_grace <= p_at
$$;

-- Usage records attributed with a map older than the one in force for
-- their interval (10 s grace for the reload).
CREATE VIEW usage_stale_map AS
SELECT r.node_id, r.boot_id, r.interval_start, r.tenant_id, r.pool_id,
       r.direction, r.map_version,
       bs_map_version_in_force(r.interval_start, '10 seconds') AS version_in_force
  FROM usage_raw r
 WHERE r.map_version < bs_map_version_in_force(r.interval_start, '10 seconds');

SELECT bs_audit_attach('prefix_map_export', ARRAY['version']);
