#!/usr/bin/env python3
"""observability_check.py — the checks of test_observability.sh, on files it
collected: the programs' /metrics scrapes, the capture's ground truth, the
Grafana dashboard, the alerting rules and the programs' stderr under
--log-format json. Exits 1 naming the first problem of each check.

  observability_check.py metrics  SCRAPE...            text format valid
  observability_check.py meter    SCRAPE TRUTH         figures = ground truth
  observability_check.py settle   SCRAPE METER_SCRAPE CAPACITY_BPS
  observability_check.py names    DASHBOARD RULES SCRAPE...
  observability_check.py rules    RULES                YAML structure
  observability_check.py jsonlog  PROGRAM FILE [--nonempty]
"""
import json
import math
import re
import sys

import yaml

# The tenant API's metrics (bandsplit-api, built by the API lane): the
# dashboard's API panels use exactly these; they are not scraped here.
API_METRICS = {
    "bandsplit_api_requests_total",              # counter {route,status}
    "bandsplit_api_request_duration_seconds",    # histogram
    "bandsplit_api_db_pool_connections",         # gauge {state}
    "bandsplit_api_queue_depth",                 # gauge (test_api.sh reads it)
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

NAME_RE = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_RE = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE_RE = re.compile(
    r"^(" + NAME_RE + r")(\{(?:" + LABEL_RE + r")(?:," + LABEL_RE + r")*,?\}|\{\})?"
    r" ([^ ]+)(?: (-?[0-9]+))?$")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def die(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def parse_value(s, where):
    if s in ("+Inf", "-Inf", "NaN"):
        return float(s.replace("Inf", "inf").replace("NaN", "nan"))
    try:
        return float(s)
    except ValueError:
        die(f"{where}: value '{s}' is not a number")


def parse_labels(s):
    if not s:
        return ()
    return tuple(sorted(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', s)))


def parse_exposition(path):
    """{(name, labels): value}, {family: type}; dies on a format error."""
    types, helps, samples = {}, set(), {}
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if not text.endswith("\n"):
        die(f"{path}: does not end with a newline")
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = f"{path}:{n}"
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] == "TYPE":
                if len(parts) != 4 or parts[3] not in TYPES:
                    die(f"{where}: bad TYPE line: {line}")
                if parts[2] in types:
                    die(f"{where}: a second TYPE for {parts[2]}")
                types[parts[2]] = parts[3]
            elif len(parts) >= 3 and parts[1] == "HELP":
                if parts[2] in helps:
                    die(f"{where}: a second HELP for {parts[2]}")
                helps.add(parts[2])
            continue
        if not line.strip():
            die(f"{where}: empty line")
        m = SAMPLE_RE.match(line)
        if not m:
            die(f"{where}: not a sample line: {line!r}")
        name, labels, value = m.group(1), parse_labels(m.group(2)), m.group(3)
        family = name
        if name not in types:
            for suf in HISTOGRAM_SUFFIXES:
                base = name[: -len(suf)]
                if name.endswith(suf) and types.get(base) in ("histogram", "summary"):
                    family = base
        if family not in types:
            die(f"{where}: sample {name} has no # TYPE line before it")
        if types[family] == "histogram" and name == family:
            die(f"{where}: histogram {family} sample without a suffix")
        key = (name, labels)
        if key in samples:
            die(f"{where}: duplicate series {name}{dict(labels)}")
        samples[key] = parse_value(value, where)
    for fam, typ in types.items():
        if typ == "counter" and not fam.endswith("_total"):
            die(f"{path}: counter {fam} does not end in _total")
    return samples, types


def value(samples, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    if key not in samples:
        die(f"no series {name}{labels}")
    return samples[key]


def cmd_metrics(paths):
    for p in paths:
        samples, types = parse_exposition(p)
        if not samples:
            die(f"{p}: no samples")
        print(f"ok: {p}: valid text format, {len(types)} families, {len(samples)} series")


def read_truth(path):
    meta, rows = {}, []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# "):
                parts = line[2:].split(" ", 1)
                if len(parts) == 2 and "\t" not in line:
                    meta.setdefault(parts[0], parts[1])
                continue
            if line.startswith("#") or not line:
                continue
            f_ = line.split("\t")
            if f_[0] in ("frame", "ip"):
                rows.append((f_[0], int(f_[1]), int(f_[2]), int(f_[3]), f_[4],
                             int(f_[5]), int(f_[6])))
    return meta, rows


def cmd_meter(scrape, truth):
    s, _ = parse_exposition(scrape)
    meta, rows = read_truth(truth)
    got = value(s, "bandsplit_meter_received_bytes_total")
    if got != int(meta["bytes"]):
        die(f"received bytes {got:.0f}, the capture holds {meta['bytes']}")
    got = value(s, "bandsplit_meter_received_packets_total")
    if got != int(meta["packets"]):
        die(f"received packets {got:.0f}, the capture holds {meta['packets']}")
    print(f"ok: received packets and bytes = the capture's ({meta['packets']}, {meta['bytes']})")
    last = int(value(s, "bandsplit_meter_last_interval_start_timestamp_seconds"))
    iv = int(value(s, "bandsplit_meter_interval_seconds"))
    measure = "frame"
    pools = sorted({r[3] for r in rows})
    for pool in pools:
        for d in ("in", "out"):
            closed = sum(r[6] for r in rows if r[0] == measure and r[3] == pool
                         and r[4] == d and r[1] <= last)
            in_last = sum(r[6] for r in rows if r[0] == measure and r[3] == pool
                          and r[4] == d and r[1] == last)
            tot = value(s, "bandsplit_meter_pool_bytes_total", pool=str(pool), direction=d)
            bps = value(s, "bandsplit_meter_pool_bytes_per_second", pool=str(pool), direction=d)
            if tot != closed:
                die(f"pool {pool} {d}: bytes_total {tot:.0f}, truth of the closed "
                    f"intervals {closed}")
            if not math.isclose(bps * iv, in_last, abs_tol=0.01 * iv):
                die(f"pool {pool} {d}: {bps} B/s x {iv} s != {in_last} bytes of "
                    f"interval {last}")
    unattr = sum(r[6] for r in rows if r[0] == measure and r[2] == 0 and r[1] <= last)
    if value(s, "bandsplit_meter_unattributed_bytes_total") != unattr:
        die(f"unattributed bytes {value(s, 'bandsplit_meter_unattributed_bytes_total')}"
            f" != truth {unattr}")
    malformed = sum(v for (n, _l), v in s.items() if n == "bandsplit_meter_malformed_packets_total")
    if malformed > int(meta["malformed_packets"]) or malformed == 0:
        die(f"malformed by reason sums to {malformed}, capture has {meta['malformed_packets']}")
    print(f"ok: per pool and direction bytes and bytes/s of the closed intervals "
          f"(up to {last}) = the ground truth; unattributed {unattr} bytes")


def cmd_settle(scrape, meter_scrape, capacity_bps):
    s, _ = parse_exposition(scrape)
    m, _ = parse_exposition(meter_scrape)
    cap = value(s, "bandsplit_settle_pool_capacity_bytes_per_second", pool="1")
    if cap != int(capacity_bps) / 8:
        die(f"pool 1 capacity {cap} B/s, the pool table says {capacity_bps} bit/s")
    settled = sum(v for (n, l), v in s.items() if n == "bandsplit_settle_records_total"
                  and ("outcome", "inserted") in l)
    acked = value(m, "bandsplit_meter_records_acked_total")
    if settled < acked:
        die(f"settle inserted {settled} records, the meter had {acked} acknowledged")
    print(f"ok: settle: pool capacity {cap:.0f} B/s; {settled:.0f} records settled "
          f"(meter acked {acked:.0f})")


def expressions(dashboard, rules):
    out = []
    with open(dashboard) as f:
        d = json.load(f)
    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                out.append((f"dashboard panel '{p.get('title')}'", t["expr"]))
            walk(p.get("panels", []))
    walk(d["panels"])
    with open(rules) as f:
        r = yaml.safe_load(f)
    for g in r["groups"]:
        for rule in g["rules"]:
            out.append((f"rule {rule.get('alert') or rule.get('record')}", rule["expr"]))
    return out


def cmd_names(dashboard, rules, scrapes):
    exported = set(API_METRICS)
    for p in scrapes:
        samples, types = parse_exposition(p)
        exported |= set(types)
        exported |= {n for n, _ in samples}
    exprs = expressions(dashboard, rules)
    if len(exprs) < 10:
        die(f"only {len(exprs)} expressions found")
    for where, expr in exprs:
        names = set(re.findall(r"\bbandsplit_[a-zA-Z0-9_]+", expr))
        if not names:
            die(f"{where}: names no bandsplit metric: {expr}")
        for name in names:
            base = name
            for suf in HISTOGRAM_SUFFIXES:
                if name.endswith(suf) and name[: -len(suf)] in exported:
                    base = name[: -len(suf)]
            if name not in exported and base not in exported:
                die(f"{where}: {name} is not a metric the programs export")
    print(f"ok: every metric in {len(exprs)} dashboard and rule expressions is "
          f"exported (the bandsplit_api_* ones taken from the API lane's list)")


DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


def cmd_rules(path):
    with open(path) as f:
        r = yaml.safe_load(f)
    if not isinstance(r, dict) or set(r) != {"groups"} or not isinstance(r["groups"], list):
        die(f"{path}: top level must be a mapping with only 'groups'")
    names, alerts = set(), set()
    for g in r["groups"]:
        if not isinstance(g.get("name"), str) or g["name"] in names:
            die(f"{path}: a group without a unique name")
        names.add(g["name"])
        if set(g) - {"name", "interval", "rules", "limit"}:
            die(f"{path}: group {g['name']}: unknown keys {set(g) - {'name', 'rules'}}")
        for rule in g["rules"]:
            if set(rule) - {"alert", "record", "expr", "for", "labels", "annotations",
                            "keep_firing_for"}:
                die(f"{path}: rule with unknown keys: {rule}")
            if ("alert" in rule) == ("record" in rule):
                die(f"{path}: a rule needs exactly one of alert, record: {rule}")
            if not isinstance(rule.get("expr"), str) or not rule["expr"].strip():
                die(f"{path}: {rule.get('alert')}: no expr")
            if rule["expr"].count("(") != rule["expr"].count(")"):
                die(f"{path}: {rule.get('alert')}: unbalanced parentheses")
            if "for" in rule and not DURATION.match(str(rule["for"])):
                die(f"{path}: {rule.get('alert')}: bad 'for' {rule['for']}")
            for k in ("labels", "annotations"):
                if k in rule and not all(isinstance(v, str) for v in rule[k].values()):
                    die(f"{path}: {rule.get('alert')}: {k} values must be strings")
            if "alert" in rule:
                alerts.add(rule["alert"])
                if "severity" not in rule.get("labels", {}):
                    die(f"{path}: {rule['alert']}: no severity label")
    want = {"spool": "Spool", "settlement lag": "SettlementLag",
            "partition stopped": "PartitionStopped", "gaps": "Gaps",
            "map stale": "MapStale", "pool over 90 %": "Over90"}
    for what, frag in want.items():
        if not any(frag in a for a in alerts):
            die(f"{path}: no alert for {what}")
    stopped = [rule for g in r["groups"] for rule in g["rules"]
               if "PartitionStopped" in rule.get("alert", "")]
    if stopped[0].get("labels", {}).get("alarm") != "ALARM":
        die(f"{path}: the partition-stopped alert is not marked ALARM")
    print(f"ok: {path}: {len(alerts)} alerts, structure valid (python3-yaml)")


TS_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$")


def cmd_jsonlog(program, path, nonempty):
    n = 0
    with open(path, "rb") as f:
        data = f.read()
    if data and not data.endswith(b"\n"):
        die(f"{path}: the last line is not terminated")
    for i, raw in enumerate(data.split(b"\n")[:-1] if data else [], 1):
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            die(f"{path}:{i}: not a JSON object ({e}): {raw[:200]!r}")
        if not isinstance(obj, dict) or list(obj) != ["ts", "level", "program", "pid", "msg"]:
            die(f"{path}:{i}: keys {list(obj) if isinstance(obj, dict) else obj} "
                "are not ts, level, program, pid, msg")
        if obj["program"] != program or not TS_RE.match(obj["ts"]) or \
           obj["level"] not in ("DEBUG", "INFO", "WARN", "ERROR") or \
           not isinstance(obj["pid"], int):
            die(f"{path}:{i}: bad values: {obj}")
        n += 1
    if nonempty and n == 0:
        die(f"{path}: {program} logged nothing")
    print(f"ok: {program}: {n} stderr lines, each one JSON object")


def main(argv):
    if len(argv) < 2:
        die(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "metrics":
        cmd_metrics(args)
    elif cmd == "meter":
        cmd_meter(*args)
    elif cmd == "settle":
        cmd_settle(*args)
    elif cmd == "names":
        cmd_names(args[0], args[1], args[2:])
    elif cmd == "rules":
        cmd_rules(args[0])
    elif cmd == "jsonlog":
        cmd_jsonlog(args[0], args[1], "--nonempty" in args[2:])
    else:
        die(f"unknown check {cmd}")


if __name__ == "__main__":
    main(sys.argv)
