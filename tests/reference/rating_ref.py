#!/usr/bin/env python3
"""rating_ref.py — an independent reference implementation of the billing
rules (the architecture's "Billing semantics" and the README's "Rating"
section), for the property test and for checking `bandsplit close`.

The rules are the architecture's; where it is silent, the choices the
README's "Rating" section documents (ties at the billed rank by bucket
start, an overage line even when 0, the carrier's sample by max(in, out),
a bucket straddling an allocation change kept by the allocation in force at
its start).

It is written from the rules, not from settlement/rating.c: exact rationals
(fractions.Fraction) throughout, every bucket of the month examined one by
one, the percentile taken from a fully sorted list. Python 3 standard
library only.

Usage:  rating_ref.py CASE.json   (or - for stdin)  → JSON on stdout.
Exit status: 0 ok; 1 the rules refuse the case ({"error": {"kind", "message"}}
on stdout; kind is "range" (an amount or byte figure over 2^63 − 1),
"no_version" (no plan version in force at an instant of an allocation) or
"invalid"); 2 unreadable input.

Input (times are UTC epoch seconds; a validity is [from, to), to = null
while in force):
{
  "time_zone": "Asia/Shanghai",          # the park's zone
  "month": "2026-11",                    # the period: local midnight to
                                         # local midnight
  "byte_measure": "frame",               # evidence only ("frame" | "ip")
  "pools": [{"pool_id": 1, "valid": [from, to],
             "cost_model": "flat" | "p95",
             "monthly_fee_fen": n,                       # flat
             "price_fen_per_mbps": n, "commit_floor_bps": n}],   # p95
  "tenants": [{"tenant_id": 3}],
  "plans": [{"plan_id": 7, "kind": "flat" | "burstable95" | "volume",
             "currency": "CNY",
             "versions": [{"version": 1, "valid": [from, to],
                           "direction": "max" | "in" | "out" | "sum",
                           "vat_bp": 600,
                           "price_fen_per_mbps": n,      # flat, burstable95
                           "overage_fen_per_mbps": n,    # burstable95
                           "tier_from_gb": [0, ...],     # volume
                           "tier_fen_per_gb": [...]}]}],
  "allocations": [{"alloc_id": 42, "tenant_id": 3, "pool_id": 1,
                   "plan_id": 7, "committed_bps": n, "valid": [from, to]}],
  "rollups": [{"tenant_id": 3, "pool_id": 1, "direction": "in" | "out",
               "bucket": epoch, "bytes": n, "node_id": "..."}]
                                         # tenant_id 0 = unattributed;
                                         # rows with the same (tenant, pool,
                                         # direction, bucket) are summed
                                         # (one per node); node_id optional
}

Output:
{
  "period": {"from": s, "to": s, "seconds": s},
  "invoices": [{"tenant_id", "currency", "lines": [LINE...],
                "vat": [{"vat_bp", "base_fen", "vat_fen"}]  (ascending rate),
                "subtotal_fen", "vat_fen", "total_fen"}]
               one per (tenant, currency) with at least one line, in that
               order; lines in (alloc_id, window_from, commit < overage <
               volume) order,
  "carrier_costs": [{"pool_id", "cost_model", "window_from", "window_to",
                     "n_buckets", "gaps", "billed_rank", "billed_bucket",
                     "billed_bytes", "floor_applied", "amount_fen"}]
                   one per pool valid during the period, by pool_id
}
LINE = {"alloc_id", "tenant_id", "pool_id", "plan_id", "plan_version",
        "charge": "commit" | "overage" | "volume", "direction",
        "byte_measure", "window_from", "window_to", "n_buckets", "gaps",
        "billed_rank", "dropped", "billed_bucket" (null when N = 0),
        "billed_is_gap", "billed_bytes", "billed_in_bytes",
        "billed_out_bytes", "bytes_in", "bytes_out", "commit_bps",
        "unit_price_fen", "quantity", "vat_bp", "amount_fen"}
"""
import json
import math
import re
import sys
from datetime import datetime
from fractions import Fraction
from zoneinfo import ZoneInfo

BUCKET = 300
INT64_MAX = 2**63 - 1
MBPS = 10**6
GB = 10**9
CHARGE_ORDER = {"commit": 0, "overage": 1, "volume": 2}


class Refused(Exception):
    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind
        self.message = message


def half_up(x):
    """Rounds a non-negative rational half-up to an integer."""
    assert x >= 0
    return math.floor(x + Fraction(1, 2))


def fen(x, what):
    v = half_up(x)
    if v > INT64_MAX:
        raise Refused("range", f"{what} exceeds the 64-bit limit")
    return v


def int64(v, what):
    if v > INT64_MAX:
        raise Refused("range", f"{what} exceeds the 64-bit limit")
    return v


def month_period(tz, month):
    m = re.fullmatch(r"(\d{4})-(\d{2})", month or "")
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise Refused("invalid", f"month {month!r}: expected YYYY-MM")
    y, mo = int(m.group(1)), int(m.group(2))
    zone = ZoneInfo(tz)
    start = datetime(y, mo, 1, tzinfo=zone)
    end = datetime(y + (mo == 12), mo % 12 + 1, 1, tzinfo=zone)
    return int(start.timestamp()), int(end.timestamp())


def contains(valid, t):
    lo, hi = valid
    return lo <= t and (hi is None or t < hi)


def clip(period, valid):
    """period ∩ valid as (from, to), or None when empty."""
    lo = max(period[0], valid[0])
    hi = period[1] if valid[1] is None else min(period[1], valid[1])
    return (lo, hi) if lo < hi else None


def billable(rule, i, o):
    return {"max": max(i, o), "in": i, "out": o, "sum": i + o}[rule]


def buckets_overlapping(w):
    """Every bucket start b with [b, b + 300) ∩ [w0, w1) non-empty."""
    b = w[0] - w[0] % BUCKET
    out = []
    while b < w[1]:
        out.append(b)
        b += BUCKET
    return out


def percentile(buckets, samples, rule):
    """The 95th-percentile evidence over a list of bucket starts."""
    values = []
    bytes_in = bytes_out = gaps = 0
    for b in buckets:
        if b in samples:
            i, o = samples[b]
        else:
            i, o = 0, 0
            gaps += 1
        v = billable(rule, i, o)
        int64(v, f"the billable sample of bucket {b}")
        values.append((v, b))
        bytes_in += i
        bytes_out += o
    int64(bytes_in, "bytes in")
    int64(bytes_out, "bytes out")
    n = len(buckets)
    rank = math.ceil(Fraction(95 * n, 100))
    ev = {"n_buckets": n, "gaps": gaps, "billed_rank": rank,
          "dropped": n - rank, "billed_bucket": None, "billed_is_gap": False,
          "billed_bytes": 0, "billed_in_bytes": 0, "billed_out_bytes": 0,
          "bytes_in": bytes_in, "bytes_out": bytes_out}
    if n:
        values.sort()        # ascending; ties: the earlier bucket first
        v, b = values[rank - 1]
        ev["billed_bucket"] = b
        ev["billed_bytes"] = v
        ev["billed_is_gap"] = b not in samples
        ev["billed_in_bytes"], ev["billed_out_bytes"] = samples.get(b, (0, 0))
    return ev


def segments(period, alloc, versions):
    """[(from, to, version)] covering period ∩ allocation validity."""
    w = clip(period, alloc["valid"])
    if w is None:
        return [], None
    cuts = {w[0], w[1]}
    for v in versions:
        for t in v["valid"]:
            if t is not None and w[0] < t < w[1]:
                cuts.add(t)
    cuts = sorted(cuts)
    segs = []
    for a, b in zip(cuts, cuts[1:]):
        in_force = [v for v in versions if contains(v["valid"], a)]
        if not in_force:
            raise Refused("no_version",
                          f"plan {alloc['plan_id']} has no version in force "
                          f"at {a}")
        v = in_force[0]
        if segs and segs[-1][2] is v:
            segs[-1] = (segs[-1][0], b, v)
        else:
            segs.append((a, b, v))
    return segs, w


def volume_fen(v, tiers_from, tiers_price):
    amount = Fraction(0)
    for i, (lo_gb, price) in enumerate(zip(tiers_from, tiers_price)):
        hi_gb = tiers_from[i + 1] if i + 1 < len(tiers_from) else None
        lo = lo_gb * GB
        hi = v if hi_gb is None else min(v, hi_gb * GB)
        if hi > lo:
            amount += Fraction(hi - lo, GB) * price
    return amount


def rate_allocation(period, alloc, plan, samples, measure, others):
    secs = period[1] - period[0]
    versions = plan["versions"]
    segs, w = segments(period, alloc, versions)
    if not segs:
        return []
    # Each bucket overlapping the window goes to the segment in force at its
    # start; a bucket starting before the window goes to the first.
    owned = [[] for _ in segs]
    for b in buckets_overlapping(w):
        # In force at the bucket's start: another allocation of the same
        # tenant and pool (the earlier row of an allocation change) keeps it.
        if b < alloc["valid"][0] and any(contains(o["valid"], b)
                                         for o in others):
            continue
        idx = 0
        for k, (a, z, _) in enumerate(segs):
            if a <= b < z:
                idx = k
        owned[idx].append(b)
    lines = []
    commit = alloc["committed_bps"]
    for (a, z, v), buckets in zip(segs, owned):
        rule = v.get("direction", "max")
        ev = percentile(buckets, samples, rule)
        frac = Fraction(z - a, secs)
        base = {"alloc_id": alloc["alloc_id"], "tenant_id": alloc["tenant_id"],
                "pool_id": alloc["pool_id"], "plan_id": plan["plan_id"],
                "plan_version": v["version"], "direction": rule,
                "byte_measure": measure, "window_from": a, "window_to": z,
                "commit_bps": commit, "vat_bp": v.get("vat_bp", 600)}
        base.update(ev)
        kind = plan["kind"]
        if kind == "volume":
            vol = int64(billable(rule, ev["bytes_in"], ev["bytes_out"]),
                        "the billed volume")
            amount = volume_fen(vol, v["tier_from_gb"], v["tier_fen_per_gb"])
            lines.append(dict(base, charge="volume", unit_price_fen=0,
                              quantity=vol,
                              amount_fen=fen(amount, "volume line")))
            continue
        price = v["price_fen_per_mbps"]
        amount = Fraction(commit, MBPS) * price * frac
        lines.append(dict(base, charge="commit", unit_price_fen=price,
                          quantity=0, amount_fen=fen(amount, "commit line")))
        if kind == "burstable95":
            p95_bps = Fraction(ev["billed_bytes"] * 8, BUCKET)
            over = max(Fraction(0), p95_bps - commit)
            amount = over / MBPS * v["overage_fen_per_mbps"] * frac
            lines.append(dict(base, charge="overage",
                              unit_price_fen=v["overage_fen_per_mbps"],
                              quantity=0,
                              amount_fen=fen(amount, "overage line")))
    return lines


def carrier_cost(period, pool, pool_samples):
    w = clip(period, pool["valid"])
    if w is None:
        return None
    secs = period[1] - period[0]
    ev = percentile(buckets_overlapping(w), pool_samples, "max")
    frac = Fraction(w[1] - w[0], secs)
    floor_applied = False
    if pool["cost_model"] == "flat":
        amount = pool["monthly_fee_fen"] * frac
    else:
        p95_bps = Fraction(ev["billed_bytes"] * 8, BUCKET)
        floor = pool["commit_floor_bps"]
        floor_applied = floor > p95_bps
        amount = (pool["price_fen_per_mbps"] * max(p95_bps, floor) / MBPS
                  * frac)
    return {"pool_id": pool["pool_id"], "cost_model": pool["cost_model"],
            "window_from": w[0], "window_to": w[1],
            "n_buckets": ev["n_buckets"], "gaps": ev["gaps"],
            "billed_rank": ev["billed_rank"],
            "billed_bucket": ev["billed_bucket"],
            "billed_bytes": ev["billed_bytes"],
            "floor_applied": floor_applied,
            "amount_fen": fen(amount, f"pool {pool['pool_id']} carrier cost")}


def invoice(tenant_id, currency, lines):
    base = {}
    for ln in lines:
        base[ln["vat_bp"]] = base.get(ln["vat_bp"], 0) + ln["amount_fen"]
    groups = []
    for bp in sorted(base):
        int64(base[bp], f"tenant {tenant_id}: the lines at {bp} bp")
        groups.append({"vat_bp": bp, "base_fen": base[bp],
                       "vat_fen": fen(Fraction(base[bp] * bp, 10000), "VAT")})
    sub = int64(sum(g["base_fen"] for g in groups), "the subtotal")
    vat = sum(g["vat_fen"] for g in groups)
    total = int64(sub + vat, "the total")
    return {"tenant_id": tenant_id, "currency": currency, "lines": lines,
            "vat": groups, "subtotal_fen": sub, "vat_fen": vat,
            "total_fen": total}


def valid_of(obj, what):
    v = obj.get("valid")
    if (not isinstance(v, list) or len(v) != 2 or not isinstance(v[0], int)
            or not (v[1] is None or isinstance(v[1], int))
            or (v[1] is not None and v[1] <= v[0])):
        raise Refused("invalid", f"{what}: valid must be [from, to|null], "
                                 f"from < to")
    return (v[0], v[1])


def rate_case(case):
    period = month_period(case.get("time_zone", "Asia/Shanghai"),
                          case.get("month"))
    measure = case.get("byte_measure", "frame")
    plans = {}
    for p in case.get("plans", []):
        vs = []
        for v in p["versions"]:
            v = dict(v)
            v["valid"] = valid_of(v, f"plan {p['plan_id']} version "
                                     f"{v['version']}")
            vs.append(v)
        vs.sort(key=lambda v: v["valid"][0])
        plans[p["plan_id"]] = dict(p, versions=vs)

    # Per (tenant, pool): bucket → (in, out), summed over nodes; per pool
    # the same over every tenant and the unattributed traffic.
    per_pair, per_pool = {}, {}
    for r in case.get("rollups", []):
        b = r["bucket"]
        if b % BUCKET:
            raise Refused("invalid", f"rollup bucket {b} not a multiple of 300")
        if r["bytes"] < 0:
            raise Refused("invalid", f"rollup bucket {b}: negative bytes")
        d = 0 if r["direction"] == "in" else 1
        for table, key in ((per_pair, (r["tenant_id"], r["pool_id"])),
                           (per_pool, r["pool_id"])):
            s = table.setdefault(key, {})
            cur = list(s.get(b, (0, 0)))
            cur[d] += r["bytes"]
            s[b] = tuple(cur)
    for table in (per_pair, per_pool):
        for s in table.values():
            for b, (i, o) in s.items():
                int64(i, f"bucket {b} bytes in")
                int64(o, f"bucket {b} bytes out")

    allocs = []
    for a in sorted(case.get("allocations", []), key=lambda a: a["alloc_id"]):
        a = dict(a)
        a["valid"] = valid_of(a, f"allocation {a['alloc_id']}")
        allocs.append(a)
    by_invoice = {}
    for a in allocs:
        plan = plans[a["plan_id"]]
        others = [o for o in allocs if o is not a
                  and (o["tenant_id"], o["pool_id"]) == (a["tenant_id"],
                                                         a["pool_id"])]
        lines = rate_allocation(period, a, plan,
                                per_pair.get((a["tenant_id"], a["pool_id"]),
                                             {}), measure, others)
        if lines:
            key = (a["tenant_id"], plan.get("currency", "CNY"))
            by_invoice.setdefault(key, []).extend(lines)
    invoices = []
    for (t, cur) in sorted(by_invoice):
        lines = sorted(by_invoice[(t, cur)],
                       key=lambda ln: (ln["alloc_id"], ln["window_from"],
                                       CHARGE_ORDER[ln["charge"]]))
        invoices.append(invoice(t, cur, lines))

    costs = []
    for pool in sorted(case.get("pools", []), key=lambda p: p["pool_id"]):
        pool = dict(pool, valid=valid_of(pool, f"pool {pool['pool_id']}"))
        c = carrier_cost(period, pool, per_pool.get(pool["pool_id"], {}))
        if c is not None:
            costs.append(c)
    return {"period": {"from": period[0], "to": period[1],
                       "seconds": period[1] - period[0]},
            "invoices": invoices, "carrier_costs": costs}


def main(argv):
    if len(argv) != 2:
        print("usage: rating_ref.py CASE.json|-", file=sys.stderr)
        return 2
    try:
        src = sys.stdin if argv[1] == "-" else open(argv[1], encoding="utf-8")
        with src:
            case = json.load(src)
    except (OSError, ValueError) as e:
        print(f"rating_ref.py: {argv[1]}: {e}", file=sys.stderr)
        return 2
    try:
        out = rate_case(case)
    except Refused as e:
        print(json.dumps({"error": {"kind": e.kind, "message": e.message}}))
        return 1
    print(json.dumps(out, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
