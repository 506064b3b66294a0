#!/usr/bin/env python3
"""finance_property.py — one round of the close's property test.

  finance_property.py gen SEED CASE.json SETUP.sql   a random month: park
      time zone, pools, tenants, plans with versions changing at random
      seconds, allocations starting and ending at random seconds, sparse
      multi-node rollups (gaps, unattributed traffic); the case as the
      reference's input and as SQL for PostgreSQL
  finance_property.py compare REF.json EXPORT.json CARRIER.json
      the close's lines (invoice export --format json) and carrier bills
      against the reference's output; prints every difference, exit 1 if any

The reference (tests/reference/rating_ref.py) is written from the rules,
independently of settlement/rating.c.
"""
import json
import random
import sys
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

ZONES = ["Asia/Shanghai", "Europe/Berlin", "America/New_York", "UTC"]
MONTHS = ["2026-02", "2026-03", "2026-04", "2026-10", "2026-11", "2027-01"]


def month_bounds(zone, month):
    y, m = map(int, month.split("-"))
    z = ZoneInfo(zone)
    a = datetime(y, m, 1, tzinfo=z)
    b = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=z)
    return int(a.timestamp()), int(b.timestamp())


def ts(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S+00")


def gen(seed, case_path, sql_path):
    r = random.Random(seed)
    zone, month = r.choice(ZONES), r.choice(MONTHS)
    p0, p1 = month_bounds(zone, month)
    long_ago = p0 - 40 * 86400
    case = {"time_zone": zone, "month": month, "byte_measure": "frame",
            "pools": [], "tenants": [], "plans": [], "allocations": [],
            "rollups": []}
    sql = [f"UPDATE park_settings SET time_zone = '{zone}';"]
    for pid in (1, 2):
        model = r.choice(["flat", "p95"])
        pool = {"pool_id": pid, "valid": [long_ago, None], "cost_model": model}
        if model == "flat":
            pool["monthly_fee_fen"] = r.randrange(0, 10**9)
        else:
            pool["price_fen_per_mbps"] = r.randrange(0, 10**5)
            pool["commit_floor_bps"] = r.randrange(0, 5 * 10**9)
        case["pools"].append(pool)
        sql.append("INSERT INTO pool (pool_id, carrier, name, capacity_bps, valid,"
                   " cost_model, monthly_fee_fen, price_fen_per_mbps, commit_floor_bps,"
                   " oversub_limit) VALUES (%d, 'c%d', 'p%d', 100000000000,"
                   " tstzrange('%s', NULL), '%s', %s, %s, %s, 100);" % (
                       pid, pid, pid, ts(long_ago), model,
                       pool.get("monthly_fee_fen", "NULL"),
                       pool.get("price_fen_per_mbps", "NULL"),
                       pool.get("commit_floor_bps", "NULL")))
    n_tenants = r.randint(1, 4)
    for t in range(1, n_tenants + 1):
        case["tenants"].append({"tenant_id": t})
        sql.append(f"INSERT INTO tenant (tenant_id, name, tax_id) VALUES ({t}, 't{t}', 'TAX{t}');")
    for pl in (1, 2, 3):
        kind = r.choice(["flat", "burstable95", "volume"])
        plan = {"plan_id": pl, "kind": kind, "currency": "CNY", "versions": []}
        sql.append(f"INSERT INTO plan (plan_id, name, kind) VALUES ({pl}, 'plan{pl}', '{kind}');")
        cuts = sorted(r.sample(range(p0 + 1, p1), r.randint(0, 2)))
        bounds = [long_ago] + cuts + [None]
        for v in range(len(bounds) - 1):
            ver = {"version": v + 1, "valid": [bounds[v], bounds[v + 1]],
                   "direction": r.choice(["max", "in", "out", "sum"]),
                   "vat_bp": r.choice([0, 600, 900, 1300])}
            if kind in ("flat", "burstable95"):
                ver["price_fen_per_mbps"] = r.randrange(0, 10**5)
            if kind == "burstable95":
                ver["overage_fen_per_mbps"] = r.randrange(0, 10**5)
            tiers = None
            if kind == "volume":
                n = r.randint(1, 4)
                tiers = [0] + sorted(r.sample(range(1, 5000), n - 1))
                ver["tier_from_gb"] = tiers
                ver["tier_fen_per_gb"] = [r.randrange(0, 200) for _ in tiers]
            plan["versions"].append(ver)
            sql.append(
                "INSERT INTO plan_version (plan_id, version, kind, valid, direction,"
                " vat_bp, price_fen_per_mbps, overage_fen_per_mbps, tier_from_gb,"
                " tier_fen_per_gb) VALUES (%d, %d, '%s', tstzrange('%s', %s), '%s', %d,"
                " %s, %s, %s, %s);" % (
                    pl, v + 1, kind, ts(bounds[v]),
                    "NULL" if bounds[v + 1] is None else "'%s'" % ts(bounds[v + 1]),
                    ver["direction"], ver["vat_bp"],
                    ver.get("price_fen_per_mbps", "NULL"),
                    ver.get("overage_fen_per_mbps", "NULL"),
                    "NULL" if tiers is None else "'{%s}'" % ",".join(map(str, tiers)),
                    "NULL" if tiers is None else "'{%s}'" % ",".join(
                        map(str, ver["tier_fen_per_gb"]))))
        case["plans"].append(plan)
    alloc_id = 0
    pairs = []
    for t in range(1, n_tenants + 1):
        for pid in (1, 2):
            if r.random() < 0.3:
                continue
            start = r.choice([long_ago, r.randrange(p0, p1 - 600)])
            end = r.choice([None, None, r.randrange(max(start, p0) + 1, p1 + 86400)])
            spans = [(start, end)]
            lo, hi = max(start, p0) + 1, p1 if end is None else min(end, p1)
            if r.random() < 0.4 and hi > lo:
                # an `alloc change` at a random second: two rows, end to start
                cut = r.randrange(lo, hi)
                spans = [(start, cut), (cut, end)]
            pairs.append((t, pid))
            for (start, end) in spans:
              alloc_id += 1
              a = {"alloc_id": alloc_id, "tenant_id": t, "pool_id": pid,
                   "plan_id": r.randint(1, 3), "committed_bps": r.randrange(1, 10**9),
                   "valid": [start, end]}
              case["allocations"].append(a)
              sql.append(
                "INSERT INTO allocation (alloc_id, tenant_id, pool_id, plan_id,"
                " committed_bps, burst_bps, valid) OVERRIDING SYSTEM VALUE VALUES"
                " (%d, %d, %d, %d, %d, %d, tstzrange('%s', %s));" % (
                    alloc_id, t, pid, a["plan_id"], a["committed_bps"],
                    a["committed_bps"], ts(start),
                    "NULL" if end is None else "'%s'" % ts(end)))
    pairs += [(0, 1), (0, 2)]
    rows = {}
    first = p0 - p0 % 300
    for (t, pid) in pairs:
        scale = r.choice([10**6, 10**8, 10**10])
        density = r.choice([0.3, 0.9, 1.0])
        for b in range(first, p1, 300):
            if r.random() > density:
                continue
            for d in ("in", "out"):
                if r.random() < 0.1:
                    continue
                for node in ("n1", "n2")[: r.randint(1, 2)]:
                    v = r.randrange(0, scale)
                    case["rollups"].append({"tenant_id": t, "pool_id": pid,
                                            "direction": d, "bucket": b,
                                            "bytes": v, "node_id": node})
                    k = (t, pid, d, b)
                    rows[k] = rows.get(k, 0) + v
    with open(case_path, "w") as f:
        json.dump(case, f)
    with open(sql_path, "w") as f:
        f.write("\n".join(sql) + "\n")
        # usage_5m has row-level security (the tenant API's), and COPY FROM
        # into such a table is refused: COPY into a temporary copy of its
        # columns, then INSERT ... SELECT.
        cols = "tenant_id, pool_id, direction, bucket_start, frame_bytes, records"
        f.write(f"CREATE TEMP TABLE fp_rollups AS SELECT {cols} FROM usage_5m"
                " WITH NO DATA;\n")
        f.write(f"COPY fp_rollups ({cols}) FROM STDIN;\n")
        for (t, pid, d, b), v in sorted(rows.items()):
            f.write(f"{t}\t{pid}\t{d}\t{ts(b)}\t{v}\t1\n")
        f.write("\\.\n")
        f.write(f"INSERT INTO usage_5m ({cols}) SELECT {cols} FROM fp_rollups;\n")
    print(month)


def epoch(s):
    if s is None:
        return None
    return int(datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=timezone.utc).timestamp())


def compare(ref_path, export_path, carrier_path):
    ref = json.load(open(ref_path))
    got = json.load(open(export_path))
    carriers = json.load(open(carrier_path))
    diffs = []
    want = {}
    for inv in ref.get("invoices", []):
        for l in inv["lines"]:
            want[(l["alloc_id"], l["window_from"], l["charge"])] = (inv, l)
    have = {}
    docs = {}
    for l in got:
        have[(l["alloc_id"], epoch(l["window_start"]), l["charge"])] = l
        docs[l["tenant_id"]] = l
    for k in sorted(set(want) | set(have)):
        if k not in have:
            diffs.append(f"line {k}: in the reference only")
            continue
        if k not in want:
            diffs.append(f"line {k}: in the close only")
            continue
        inv, w = want[k]
        h = have[k]
        pairs = [("amount_fen", w["amount_fen"], h["amount_fen"]),
                 ("window_end", w["window_to"], epoch(h["window_end"])),
                 ("buckets", w["n_buckets"], h["buckets"]),
                 ("gaps", w["gaps"], h["gaps"]),
                 ("billed_bytes", w["billed_bytes"] if w["n_buckets"] else None,
                  h["billed_bytes"]),
                 ("billed_bucket", w["billed_bucket"], epoch(h["billed_bucket"])),
                 ("bytes_in", w["bytes_in"], h["bytes_in"]),
                 ("bytes_out", w["bytes_out"], h["bytes_out"]),
                 ("vat_bp", w["vat_bp"], h["vat_bp"]),
                 ("plan_version", w["plan_version"], h["plan_version"]),
                 ("direction", w["direction"], h["direction"]),
                 ("document_subtotal_fen", inv["subtotal_fen"], h["document_subtotal_fen"]),
                 ("document_vat_fen", inv["vat_fen"], h["document_vat_fen"]),
                 ("document_total_fen", inv["total_fen"], h["document_total_fen"])]
        for name, a, b in pairs:
            if a != b:
                diffs.append(f"line {k}: {name}: reference {a}, close {b}")
    cw = {c["pool_id"]: c for c in ref.get("carrier_costs", []) if c.get("window_from") is not None
          and c["window_from"] != c["window_to"]}
    ch = {c["pool_id"]: c for c in carriers}
    for pid in sorted(set(cw) | set(ch)):
        a = cw.get(pid, {}).get("amount_fen")
        b = ch.get(pid, {}).get("amount_fen")
        if a != b:
            diffs.append(f"carrier bill of pool {pid}: reference {a}, close {b}")
    for d in diffs[:50]:
        print(d)
    print(f"{len(want)} reference lines, {len(have)} close lines, "
          f"{len(diffs)} difference(s)")
    return 1 if diffs else 0


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        sys.exit(compare(sys.argv[2], sys.argv[3], sys.argv[4]))
