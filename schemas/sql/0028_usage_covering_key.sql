-- 0028_usage_covering_key.sql — usage_5m's primary key also carries the
-- bytes and packets of both byte measures (INCLUDE), so that reading one
-- tenant's samples is an index-only scan.
--
-- bandsplit-settle writes usage_5m bucket after bucket, so one tenant's
-- month of rows (2 directions × 8,640 buckets) lies on thousands of heap
-- pages (about 8,800 in a park of 1,000 tenants), one or two rows on each,
-- while its entries in the primary key (tenant_id, pool_id, direction,
-- bucket_start) lie together on about a hundred index pages. A statement
-- (settlement/statement) and the tenants' API (/v1/usage) read exactly
-- those columns of one tenant: with them in the index, they read the index
-- pages and the visibility map instead of one heap page per row (a page
-- that is not all-visible yet, such as the current day's, is still read
-- from the heap, so the answer is the same; autovacuum marks the pages of
-- settled buckets all-visible). README, "Performance (statements)" and
-- "Performance (tenant API)".
--
-- The key columns, hence what is unique and what the consumers' ON
-- CONFLICT (tenant_id, pool_id, direction, bucket_start) infers, do not
-- change. The index is rebuilt under the table's ACCESS EXCLUSIVE lock:
-- settlement waits for it, nothing is lost (a month of 1,000 tenants,
-- 17,280,000 rows: 16.9 s on these 2-core machines). The key grows from
-- about 48 to about 86 bytes a row (820 MB → 1,417 MB for that month,
-- beside 2,213 MB of heap).

ALTER TABLE public.usage_5m
    DROP CONSTRAINT usage_5m_pkey,
    ADD CONSTRAINT usage_5m_pkey
        PRIMARY KEY (tenant_id, pool_id, direction, bucket_start)
        INCLUDE (frame_bytes, ip_bytes, frame_packets, ip_packets);
