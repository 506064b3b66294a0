# bulk_month.sh — a park with many tenants and a full month (2026-11,
# Asia/Shanghai) of 5-minute rollups for each, in both directions: the
# close and statement benchmarks' data and the close test's multi-page
# case. Needs pg.sh's pg_psql and a migrated, empty database.
#
#   bulk_month TENANTS ALLOCATED POOLS PLANS FLOOR_BPS
#     tenants 1..TENANTS, each with usage on pool t % POOLS + 1; tenants
#     1..ALLOCATED with one allocation there, of plan t % PLANS + 1 (plans:
#     1 burstable95, 2 flat, 3 volume); pools priced on the 95th with a
#     commit floor of FLOOR_BPS. The usage is written bucket after bucket,
#     as bandsplit-settle writes it, without usage_5m's indexes, which are
#     then made again as the migrations define them.
bulk_month() {
	local tenants=$1 allocated=$2 pools=$3 plans=$4 floor=$5
	local pkey bucket_index
	pkey=$(pg_psql -Atc "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'usage_5m_pkey'")
	bucket_index=$(pg_psql -Atc "SELECT pg_get_indexdef('usage_5m_bucket'::regclass)")
	pg_psql >/dev/null <<-SQL
	UPDATE park_settings SET seller_name = 'Bench Park', seller_tax_id = 'B1',
	    seller_address = 'Bench Road 1';
	INSERT INTO pool (pool_id, carrier, name, capacity_bps, valid, cost_model,
	    price_fen_per_mbps, commit_floor_bps, oversub_limit)
	SELECT p, 'carrier ' || p, 'pool-' || p, 400000000000,
	       tstzrange('2026-01-01', NULL), 'p95', 1850, $floor, 100
	  FROM generate_series(1, $pools) p;
	INSERT INTO tenant (tenant_id, name, tax_id)
	SELECT t, 'tenant ' || t, 'TAX' || t FROM generate_series(1, $tenants) t;
	INSERT INTO plan (plan_id, name, kind) VALUES (1, 'b95', 'burstable95'),
	    (2, 'flat', 'flat'), (3, 'vol', 'volume');
	INSERT INTO plan_version (plan_id, version, kind, valid, price_fen_per_mbps,
	    overage_fen_per_mbps, tier_from_gb, tier_fen_per_gb) VALUES
	    (1, 1, 'burstable95', tstzrange('2026-01-01', NULL), 3200, 4800, NULL, NULL),
	    (2, 1, 'flat', tstzrange('2026-01-01', NULL), 3000, NULL, NULL, NULL),
	    (3, 1, 'volume', tstzrange('2026-01-01', NULL), NULL, NULL, '{0,1000}', '{50,40}');
	INSERT INTO allocation (tenant_id, pool_id, plan_id, committed_bps, burst_bps, valid)
	SELECT t, t % $pools + 1, t % $plans + 1, 100000000, 100000000,
	       tstzrange('2026-01-01', NULL)
	  FROM generate_series(1, $allocated) t;
	ALTER TABLE usage_5m DROP CONSTRAINT usage_5m_pkey;
	DROP INDEX usage_5m_bucket;
	INSERT INTO usage_5m (tenant_id, pool_id, direction, bucket_start, frame_packets,
	    frame_bytes, records)
	SELECT t, t % $pools + 1, d, b, 1000,
	       (t % 97 + 1) * 20000000 + (extract(epoch FROM b)::bigint / 300 * 7919 + t) % 1000003 * 100,
	       1
	  FROM generate_series(timestamptz '2026-11-01 00:00+08',
	                       timestamptz '2026-11-30 23:55+08', interval '5 min') b,
	       generate_series(1, $tenants) t, (VALUES ('in'), ('out')) dd(d)
	 ORDER BY b, t, d;
	ALTER TABLE usage_5m ADD CONSTRAINT usage_5m_pkey $pkey;
	$bucket_index;
	VACUUM ANALYZE usage_5m;
	SQL
}
