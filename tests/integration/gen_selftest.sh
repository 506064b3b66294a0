#!/bin/sh
# gen_selftest.sh — checks bandsplit-gen itself: the same seed gives
# byte-identical capture, map and truth; another seed gives another capture;
# the capture's size and the truth's totals agree; and (when python3 is
# present) an independent re-parse of the capture with the map and the
# metering rules reproduces the truth rows exactly, for every role.
# Usage: gen_selftest.sh PATH/TO/bandsplit-gen
set -eu

GEN=${1:?usage: gen_selftest.sh PATH/TO/bandsplit-gen}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/gen_selftest.XXXXXX")
trap 'rm -rf "$DIR"' EXIT INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }

meta() { # meta FILE KEY → value of "# KEY value"
	awk -v k="$2" '$1 == "#" && $2 == k { print $3; exit }' "$1"
}

COMMON="--packets 20000 --duration 30 --interval 5 --vlan-share 30
	--vlan-pool 100:2 --vlan-pool 200:3 --malformed-share 2
	--non-ip-share 2 --boundary-packets --move-prefix"

# 1. Determinism: two runs, same seed, identical files.
for run in a b; do
	# shellcheck disable=SC2086
	"$GEN" --out "$DIR/$run.pcap" --map "$DIR/$run.map" \
		--truth "$DIR/$run.truth" --seed 42 $COMMON
done
for ext in pcap map map.v2 truth truth.v2; do
	cmp -s "$DIR/a.$ext" "$DIR/b.$ext" ||
		fail "seed 42 twice gave different .$ext files"
done
echo "ok: same seed, identical pcap/map/truth"

# 2. Another seed, another capture.
# shellcheck disable=SC2086
"$GEN" --out "$DIR/c.pcap" --map "$DIR/c.map" --truth "$DIR/c.truth" \
	--seed 43 $COMMON
cmp -s "$DIR/a.pcap" "$DIR/c.pcap" && fail "seeds 42 and 43 gave the same capture"
echo "ok: another seed, another capture"

# 3. The pcap holds exactly the frames the truth header announces:
#    24-byte file header + 16 bytes per record + the frame bytes.
T=$DIR/a.truth
packets=$(meta "$T" packets)
bytes=$(meta "$T" bytes)
size=$(wc -c < "$DIR/a.pcap")
[ "$size" -eq $((24 + 16 * packets + bytes)) ] ||
	fail "pcap size $size, expected 24 + 16 x $packets + $bytes"
magic=$(od -An -tx1 -N4 "$DIR/a.pcap" | tr -d ' \n')
[ "$magic" = "4d3cb2a1" ] || fail "not a nanosecond pcap (magic $magic)"
echo "ok: pcap size and nanosecond magic"

# 4. Upstream truth adds up: each IP frame counts once, and IP + malformed
#    + non-IP = every frame, per interval as in total.
awk -F '\t' '
	/^# summary\t[0-9]/ { rxp[$2] = $3; rxb[$2] = $4
			      oth_p[$2] = $5 + $7; oth_b[$2] = $6 + $8; next }
	/^#/ { if ($0 ~ /^# ip_packets /) { split($0, w, " "); ipp = w[3] } next }
	$1 == "frame" { p[$2] += $6; b[$2] += $7; tp += $6 }
	END {
		if (tp != ipp) { print "frame rows sum to " tp " packets, header ip_packets " ipp; exit 1 }
		for (iv in rxp) {
			if (p[iv] + oth_p[iv] != rxp[iv] || b[iv] + oth_b[iv] != rxb[iv]) {
				print "interval " iv ": rows + node buckets != rx"; exit 1
			}
		}
	}' "$T" || fail "truth totals do not add up"
echo "ok: truth totals add up"

# 5. Independent re-parse of the capture (python3, standard library only).
if ! command -v python3 >/dev/null 2>&1; then
	echo "skip: python3 not found, no independent re-parse"
	exit 0
fi
cat > "$DIR/reparse.py" <<'PY'
# Parses a capture as dataplane/parse.h describes, classifies addresses with
# the map by longest prefix, applies the port-role rules and prints the truth
# rows; exits 1 if they or the node counters differ from the truth file.
import collections, ipaddress, struct, sys

pcap, mapf, truthf = sys.argv[1:4]
meta, rows, vlan_pool = {}, [], {}
by_interval = False
for line in open(truthf):
    line = line.rstrip("\n")
    if line.startswith("# measure\tinterval_start"):
        by_interval = True
    if line.startswith("#"):
        w = line[2:].split(" ")
        if w[0] == "vlan_pool":
            vid, pool = w[1].split(":")
            vlan_pool[int(vid)] = int(pool)
        elif len(w) == 2:
            meta[w[0]] = w[1]
        continue
    rows.append(line)
role, pool_default = meta["role"], int(meta["pool"])
interval = int(meta["interval"])

nets = {4: {}, 6: {}}
for line in open(mapf):
    line = line.split("#")[0].strip()
    if not line or line.startswith("version"):
        continue
    prefix, tenant = line.split()
    n = ipaddress.ip_network(prefix)
    nets[n.version][(int(n.network_address), n.prefixlen)] = int(tenant)
depths = {f: sorted({d for _, d in nets[f]}, reverse=True) for f in (4, 6)}

def lpm(fam, a):
    bits = 32 if fam == 4 else 128
    for d in depths[fam]:
        t = nets[fam].get(((a >> (bits - d)) << (bits - d) if d else 0, d))
        if t:
            return t
    return 0

data = open(pcap, "rb").read()
assert struct.unpack("<I", data[:4])[0] == 0xA1B23C4D, "not nanosecond pcap"
acc = collections.Counter()
node = collections.Counter()
off, last = 24, 0
while off < len(data):
    sec, ns, caplen, wirelen = struct.unpack("<IIII", data[off:off + 16])
    f = data[off + 16:off + 16 + caplen]
    off += 16 + caplen
    ts = sec * 10**9 + ns
    assert caplen == wirelen and ns < 10**9 and ts >= last, "bad record"
    last = ts
    node["packets"] += 1
    iv = sec // interval * interval
    n = len(f)

    def malformed():
        node["malformed_packets"] += 1
        node["malformed_bytes"] += n

    if n < 14:
        malformed(); continue
    p, tags, bad = 12, [], False
    et = struct.unpack(">H", f[12:14])[0]
    while et in (0x8100, 0x88A8, 0x9100):
        if len(tags) == 2 or n < p + 6:
            bad = True; break
        tags.append(struct.unpack(">H", f[p + 2:p + 4])[0] & 0xFFF)
        p += 4
        et = struct.unpack(">H", f[p:p + 2])[0]
    if bad:
        malformed(); continue
    ip = f[p + 2:]
    if et == 0x0800:
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[0] & 15 < 5:
            malformed(); continue
        iplen = struct.unpack(">H", ip[2:4])[0]
        if iplen < (ip[0] & 15) * 4 or iplen > len(ip):
            malformed(); continue
        fam, src, dst = 4, ip[12:16], ip[16:20]
    elif et == 0x86DD:
        if len(ip) < 40 or ip[0] >> 4 != 6:
            malformed(); continue
        iplen = 40 + struct.unpack(">H", ip[4:6])[0]
        if iplen > len(ip):
            malformed(); continue
        fam, src, dst = 6, ip[8:24], ip[24:40]
    else:
        node["non_ip_packets"] += 1
        node["non_ip_bytes"] += n
        continue
    assert n >= 60, "IP frame shorter than 60 bytes"
    pool = vlan_pool.get(tags[0], pool_default) if tags else pool_default
    ts_, td = lpm(fam, int.from_bytes(src, "big")), lpm(fam, int.from_bytes(dst, "big"))
    if role == "upstream":
        hits = [(td, "in")]
    elif role == "downstream":
        hits = [(ts_, "out")]
    else:
        hits = ([(td, "in")] if td else []) + ([(ts_, "out")] if ts_ else [])
        hits = hits or [(0, "in")]
    for tenant, d in hits:
        k = (iv if by_interval else 0, tenant, pool, d)
        acc[("frame",) + k] += 1
        acc[("frame_b",) + k] += n
        acc[("ip",) + k] += 1
        acc[("ip_b",) + k] += iplen

out = []
for k in sorted(k for k in acc if k[0] in ("frame", "ip")):
    cols = [k[0]] + ([str(k[1])] if by_interval else []) + \
        [str(k[2]), str(k[3]), k[4], str(acc[k]), str(acc[(k[0] + "_b",) + k[1:]])]
    out.append("\t".join(cols))
ok = out == rows
if not ok:
    import difflib
    for l in list(difflib.unified_diff(rows, out, "truth", "reparse", lineterm=""))[:20]:
        print(l)
for key in ("packets", "malformed_packets", "malformed_bytes",
            "non_ip_packets", "non_ip_bytes"):
    if int(meta[key]) != node[key]:
        ok = False
        print("%s: truth %s, capture %d" % (key, meta[key], node[key]))
print("%s: %d rows, %d frames" % ("match" if ok else "MISMATCH", len(rows), node["packets"]))
sys.exit(0 if ok else 1)
PY
reparse() {
	python3 "$DIR/reparse.py" "$@" || fail "re-parse of $1 disagrees with $3"
}
reparse "$DIR/a.pcap" "$DIR/a.map" "$DIR/a.truth"
reparse "$DIR/a.pcap" "$DIR/a.map.v2" "$DIR/a.truth.v2"
"$GEN" --out "$DIR/m.pcap" --reuse-map "$DIR/a.map" --truth "$DIR/m.truth" \
	--role mirror --seed 5 --packets 20000 --intra-share 20 \
	--size-mix random --vlan-share 50 --vlan-pool 7:70
reparse "$DIR/m.pcap" "$DIR/a.map" "$DIR/m.truth"
"$GEN" --out "$DIR/d.pcap" --map "$DIR/d.map" --truth "$DIR/d.truth" \
	--role downstream --seed 6 --packets 20000 --sparse-ids --size-mix 64 \
	--truth-by tenant --pool 9
reparse "$DIR/d.pcap" "$DIR/d.map" "$DIR/d.truth"
echo "ok: independent re-parse matches the truth (upstream, mirror, downstream)"
