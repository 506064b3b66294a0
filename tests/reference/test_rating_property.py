#!/usr/bin/env python3
"""test_rating_property.py — the property test of the rating code: random
months (zones with and without DST, odd offsets), pools, plans with versions
changing at any second, allocations starting, ending and changing mid-month,
5-minute rollups with gaps, ties, per-node rows and unattributed traffic,
run through both the independent reference (rating_ref.py) and the C rating
library (rating_driver); their outputs must be identical, refusals included.

Usage: test_rating_property.py --driver BUILD/tests/reference/rating_driver
           [--ref rating_ref.py] [--cases N] [--seed S] [--keep DIR]
Environment: RATING_PROPERTY_CASES, RATING_PROPERTY_SEED override the
defaults (40 cases, seed 20261101). A failing case is written to --keep (or
a temporary directory) and named in the output, with the first difference.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from datetime import datetime
from zoneinfo import ZoneInfo

ZONES = ["Asia/Shanghai", "Europe/Berlin", "America/New_York",
         "Asia/Kathmandu", "Australia/Lord_Howe", "UTC", "America/St_Johns"]
DAY = 86400


def period_of(zone, y, m):
    z = ZoneInfo(zone)
    a = datetime(y, m, 1, tzinfo=z)
    b = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=z)
    return int(a.timestamp()), int(b.timestamp())


def instant(rng, p0, p1, slack=0):
    """A random instant near the period: aligned to a bucket, to the
    period's start, or at any second."""
    mode = rng.random()
    t = rng.randint(p0 - slack, p1 + slack)
    if mode < 0.3:
        return t - t % 300
    if mode < 0.4:
        return p0
    return t


def gen_case(rng, big):
    zone = rng.choice(ZONES)
    y, m = rng.randint(2025, 2027), rng.choice([1, 2, 3, 4, 10, 11, 12,
                                                 rng.randint(1, 12)])
    p0, p1 = period_of(zone, y, m)
    case = {"time_zone": zone, "month": f"{y:04d}-{m:02d}",
            "byte_measure": rng.choice(["frame", "ip"]),
            "pools": [], "tenants": [], "plans": [], "allocations": [],
            "rollups": []}
    huge = rng.random() < 0.05     # prices that overflow 64 bits

    n_pools = rng.randint(1, 2)
    for pid in range(1, n_pools + 1):
        start = p0 - rng.randint(1, 90) * DAY
        if rng.random() < 0.3:
            start = instant(rng, p0, p1)
        end = None if rng.random() < 0.7 else max(start + 1,
                                                  instant(rng, p0, p1, DAY))
        pool = {"pool_id": pid, "valid": [start, end]}
        if rng.random() < 0.5:
            pool.update(cost_model="flat",
                        monthly_fee_fen=rng.randint(0, 10**9))
        else:
            pool.update(cost_model="p95",
                        price_fen_per_mbps=rng.randint(0, 9000),
                        commit_floor_bps=rng.choice(
                            [0, rng.randint(1, 2 * 10**9)]))
        case["pools"].append(pool)

    for pid in range(1, rng.randint(1, 3) + 1):
        kind = rng.choice(["flat", "burstable95", "volume"])
        versions = []
        n_v = rng.choice([1, 1, 2, 3])
        cuts = sorted({instant(rng, p0, p1, 3 * DAY) for _ in range(n_v - 1)})
        bounds = [p0 - 60 * DAY] + cuts + [None]
        hole = rng.random() < 0.05 and len(bounds) > 2
        for v in range(len(bounds) - 1):
            lo, hi = bounds[v], bounds[v + 1]
            if hole and v == 1:
                lo += rng.randint(1, 900)     # no version in force before
                if hi is not None and hi <= lo:
                    hi = lo + 1
            ver = {"version": v + 1, "valid": [lo, hi],
                   "direction": rng.choice(["max", "in", "out", "sum"]),
                   "vat_bp": rng.choice([600, 600, 900, 1300, 0])}
            if kind != "volume":
                ver["price_fen_per_mbps"] = rng.randint(0, 12000)
                if huge:
                    ver["price_fen_per_mbps"] = rng.randint(2**50, 2**62)
            if kind == "burstable95":
                ver["overage_fen_per_mbps"] = rng.randint(0, 20000)
            if kind == "volume":
                n_t = rng.randint(1, 4)
                froms = sorted(rng.sample(range(1, 3000), n_t - 1))
                ver["tier_from_gb"] = [0] + froms
                ver["tier_fen_per_gb"] = [rng.randint(0, 200)
                                          for _ in range(n_t)]
                if huge:
                    ver["tier_fen_per_gb"][-1] = 2**62
            versions.append(ver)
        case["plans"].append({"plan_id": pid, "kind": kind,
                              "currency": rng.choice(["CNY", "CNY", "USD"]),
                              "versions": versions})

    n_tenants = rng.randint(1, 3)
    alloc_id = 100
    pairs = []
    for tid in range(1, n_tenants + 1):
        case["tenants"].append({"tenant_id": tid})
        for pool in rng.sample(case["pools"], rng.randint(1, n_pools)):
            pairs.append((tid, pool["pool_id"]))
            start = rng.choice([p0 - 20 * DAY, instant(rng, p0, p1)])
            n_a = rng.choice([1, 1, 2])
            for k in range(n_a):
                end = None
                if k + 1 < n_a or rng.random() < 0.3:
                    end = max(start + 1, instant(rng, start, p1 + DAY))
                alloc_id += rng.randint(1, 3)
                case["allocations"].append({
                    "alloc_id": alloc_id, "tenant_id": tid,
                    "pool_id": pool["pool_id"],
                    "plan_id": rng.randint(1, len(case["plans"])),
                    "committed_bps": rng.choice([rng.randint(1, 10**9),
                                                 rng.randint(1, 500) * 10**6]),
                    "valid": [start, end]})
                if end is None:
                    break
                start = end          # an allocation change at that instant
    pairs.append((0, case["pools"][0]["pool_id"]))     # unattributed
    if rng.random() < 0.3:
        pairs.append((n_tenants + 1, case["pools"][-1]["pool_id"]))

    # Rollups: two nodes, gaps, ties (values from a small set), heavy buckets.
    b0 = p0 - p0 % 300 - 600
    for tid, pid in pairs:
        density = rng.choice([0.02, 0.5, 0.9, 1.0]) if big else 0.03
        tie_set = [rng.randint(0, 10**9) for _ in range(3)]
        ties = rng.random() < 0.3
        rate_mbps = rng.randint(1, 800)
        for b in range(b0, p1 + 900, 300):
            if rng.random() >= density:
                continue
            for d in ("in", "out"):
                if rng.random() < 0.1:
                    continue
                if ties:
                    v = rng.choice(tie_set)
                else:
                    hour = ((b // 3600) % 24)
                    load = 0.3 + 0.7 * (1 if 9 <= hour <= 22 else 0)
                    v = int(rate_mbps * 10**6 * 300 // 8 * load
                            * rng.random())
                if rng.random() < 0.3:
                    a = rng.randint(0, v)
                    case["rollups"].append({"tenant_id": tid, "pool_id": pid,
                                            "direction": d, "bucket": b,
                                            "bytes": a, "node_id": "n1"})
                    v -= a
                case["rollups"].append({"tenant_id": tid, "pool_id": pid,
                                        "direction": d, "bucket": b,
                                        "bytes": v, "node_id": "n2"})
    return case


def first_difference(a, b, path="$"):
    if type(a) is not type(b):
        return f"{path}: {a!r} != {b!r}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{path}.{k}: present in only one"
            d = first_difference(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    return None if a == b else f"{path}: {a!r} != {b!r}"


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if p.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr}")
    return p.returncode, json.loads(p.stdout)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--ref", default=os.path.join(here, "rating_ref.py"))
    ap.add_argument("--cases", type=int,
                    default=int(os.environ.get("RATING_PROPERTY_CASES", 40)))
    ap.add_argument("--seed", type=int,
                    default=int(os.environ.get("RATING_PROPERTY_SEED",
                                               20261101)))
    ap.add_argument("--keep")
    a = ap.parse_args()
    keep = a.keep or tempfile.mkdtemp(prefix="rating_property.")
    os.makedirs(keep, exist_ok=True)
    rng = random.Random(a.seed)
    stats = {"ok": 0, "refused": 0, "lines": 0, "invoices": 0}
    print(f"seed {a.seed}, {a.cases} cases")
    for i in range(a.cases):
        case = gen_case(rng, big=(i % 4 == 0))
        path = os.path.join(keep, f"case{i}.json")
        with open(path, "w") as f:
            json.dump(case, f)
        rc_ref, ref = run([sys.executable, a.ref, path])
        rc_c, got = run([a.driver, path])
        if rc_ref != rc_c or (rc_ref == 1 and
                              ref["error"]["kind"] != got["error"]["kind"]):
            print(f"FAIL case {i} ({path}): reference exit {rc_ref} {ref.get('error')}, "
                  f"C exit {rc_c} {got.get('error')}")
            return 1
        if rc_ref == 0:
            d = first_difference(ref, got)
            if d:
                print(f"FAIL case {i} ({path}): reference vs C at {d}")
                return 1
            stats["ok"] += 1
            stats["invoices"] += len(ref["invoices"])
            stats["lines"] += sum(len(v["lines"]) for v in ref["invoices"])
        else:
            stats["refused"] += 1
        os.unlink(path)
    print(f"{a.cases} cases identical: {stats['ok']} rated "
          f"({stats['invoices']} invoices, {stats['lines']} lines), "
          f"{stats['refused']} refused alike")
    if stats["lines"] == 0:
        print("FAIL: no case produced a line (generator broken)")
        return 1
    if not a.keep:
        os.rmdir(keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
