#!/usr/bin/env bash
# test_statement.sh — `bandsplit statement` and `statement verify` against a
# real PostgreSQL, on the finance tests' park (finance_lib.sh: a plan change
# mid-month giving two segments, a tenant starting mid-month, a volume
# plan) plus an `alloc change` mid-bucket (two allocation rows):
#   - open month: every format says NOT FINAL; its figures are those the
#     close then writes;
#   - closed month: the statement's lines equal invoice_line exactly, and
#     the buckets of the CSV give each segment's evidence again (Σ in/out,
#     gaps, dropped, billed bucket and bytes);
#   - the digest recomputed from the CSV by a few independent lines of
#     Python (hashlib) equals the one stored at close; `statement verify`
#     passes, and fails (naming the line) on a CSV with one byte changed;
#   - HTML in headless chromium (screenshot, DOM, no console errors), the
#     SVG's points and markers, the PDF's pages and text in zh and en;
#   - bad arguments: exit 2 naming the option.
# Artifacts (PNG, PDF, HTML, CSV) under BUILD/test-artifacts/statement/.
#   usage: test_statement.sh BUILD_DIR
set -euo pipefail

BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/pg.sh"
BS=$BUILD/settlement/bandsplit
WORK=$(mktemp -d /tmp/bandsplit-stmt.XXXXXX)
bs_at_exit "rm -rf '$WORK'"
ART=$BUILD/test-artifacts/statement
rm -rf "$ART"; mkdir -p "$ART"
. "$HERE/finance_lib.sh"

pg_start
export BANDSPLIT_ACTOR=statement-test
ok_cmd --db "$BS_DB_ADMIN" migrate
fin_model
# tenant 3's allocation changes at 10:02:30 on the 20th (mid-bucket): two
# rows, the straddling bucket counted once, for the first
ok_cmd alloc change 3 --at 2026-11-20T10:02:30 --committed 80M --force
fin_usage '2026-11-01 00:00+08' '2026-12-01 00:00+08'

# --- bad arguments: exit 2, the option named --------------------------------
bad_arg() {
	local msg=$1; shift
	bs statement "$@"
	[ "$RC" = 2 ] || fail "statement $*: exit $RC, expected 2: $ERR"
	grep -qF -- "$msg" <<<"$ERR" || fail "statement $*: message lacks '$msg': $ERR"
}
bad_arg "--period '2026-13'" --tenant 1 --period 2026-13
bad_arg "--period '26-11'" --tenant 1 --period 26-11
bad_arg "--period is required" --tenant 1
bad_arg "--tenant '0'" --tenant 0 --period 2026-11
bad_arg "--tenant 999: no such tenant" --tenant 999 --period 2026-11
bad_arg "--format 'xml'" --tenant 1 --period 2026-11 --format xml
bad_arg "--format 'zh'" --tenant 1 --period 2026-11 --format zh --lang pdf
bad_arg "--lang 'fr'" --tenant 1 --period 2026-11 --lang fr
bad_arg "--period given more than once" --tenant 1 --period 2026-11 --period 2026-10
bs statement verify "$WORK/missing.csv"
[ "$RC" = 2 ] || fail "verify of a missing file: exit $RC"
ok "bad arguments: exit 2, the option named"

# --- open month --------------------------------------------------------------
ok_cmd statement --tenant 1 --period 2026-11 --format json --out "$WORK/open1.json"
ok_cmd statement --tenant 1 --period 2026-11 --format csv --out "$WORK/open1.csv"
ok_cmd statement --tenant 1 --period 2026-11 --format html --out "$ART/open-en.html"
python3 - "$WORK/open1.json" "$WORK/open1.csv" "$ART/open-en.html" <<'EOF' || fail "open month: not marked not final"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["final"] is False and j["documents"][0]["invoice"] is None, j["documents"]
assert ",not final," in open(sys.argv[2]).read().splitlines()[1]
h = open(sys.argv[3]).read()
assert h.count("NOT FINAL") >= 2 and "class=notfinal" in h   # banner + every page
EOF
ok_cmd statement verify "$WORK/open1.csv"
grep -q "open period" <<<"$OUT" || fail "verify of an open statement: $OUT"
ok "open month: NOT FINAL in every format (and on every printed page), verify passes"

# --- close ---------------------------------------------------------------------
ok_cmd close --period 2026-11
[ "$(q "SELECT count(*) FROM invoice_digest d JOIN invoice i USING (invoice_id) WHERE i.kind = 'invoice'")" = 3 ] \
	|| fail "not one digest per invoice"
err=$(pg_psql -c "UPDATE invoice_digest SET sha256 = repeat('0', 64)" 2>&1) && fail "a digest was changed"
grep -q "immutable" <<<"$err" || fail "digest update: $err"
ok "the close stores one digest per invoice, immutable"

# the open statement's figures are exactly what the close wrote
q "SELECT l.segment_no || '|' || l.alloc_id || '|' || l.charge || '|' || l.buckets || '|' ||
          l.gaps || '|' || coalesce(l.billed_rank, 0) || '|' || l.dropped || '|' ||
          coalesce(l.billed_bytes, 0) || '|' || l.bytes_in || '|' || l.bytes_out || '|' ||
          l.quantity || '|' || l.amount_fen
     FROM invoice_line l JOIN invoice i USING (invoice_id)
    WHERE i.tenant_id = 1 AND i.kind = 'invoice' ORDER BY l.line_no" >"$WORK/closed1.txt"
q "SELECT subtotal_fen FROM invoice WHERE tenant_id = 1" >"$WORK/closed1.sub"
python3 - "$WORK/open1.json" "$WORK/closed1.txt" "$WORK/closed1.sub" <<'EOF' || fail "open-month rating differs from the close's lines"
import json, sys
j = json.load(open(sys.argv[1]))
rows = open(sys.argv[2]).read().split()
mine = ["|".join(str(x) for x in (l["segment_no"], l["alloc_id"], l["charge"], l["buckets"],
        l["gaps"], l["billed_rank"] or 0, l["dropped"], l["billed_bytes"] or 0,
        l["bytes_in"], l["bytes_out"], l["quantity"], l["amount_fen"])) for l in j["lines"]]
assert mine == rows, (mine, rows)
assert j["documents"][0]["subtotal_fen"] == int(open(sys.argv[3]).read())
EOF
ok "open month: the rated figures equal the close's lines, to the fen and byte"

# --- closed month: figures, digest, verify --------------------------------------
for t in 1 2 3; do
	ok_cmd statement --tenant $t --period 2026-11 --out "$ART/t$t.csv"
	ok_cmd statement --tenant $t --period 2026-11 --format json --out "$WORK/t$t.json"
	pg_psql -At -F, -c "SELECT l.line_no, l.segment_no, l.alloc_id, l.charge, l.buckets, l.gaps,
	    coalesce(l.billed_rank, 0), l.dropped, coalesce(bs_iso(l.billed_bucket), ''),
	    coalesce(l.billed_bytes, 0), l.commit_bps, l.bytes_in, l.bytes_out, l.quantity,
	    coalesce(l.unit_price_fen, -1), l.amount_fen, l.vat_bp, l.direction,
	    extract(epoch FROM l.window_start)::bigint, extract(epoch FROM l.window_end)::bigint,
	    i.number, d.sha256, i.subtotal_fen, i.total_fen
	    FROM invoice_line l JOIN invoice i USING (invoice_id)
	    JOIN invoice_digest d USING (invoice_id)
	    WHERE i.tenant_id = $t AND i.kind = 'invoice' ORDER BY l.line_no" >"$WORK/db$t.csv"
	python3 - "$ART/t$t.csv" "$WORK/db$t.csv" "$WORK/t$t.json" <<'EOF' || fail "tenant $t: statement figures differ from the invoice's evidence"
import csv, json, sys, datetime, math
rows = list(csv.reader(open(sys.argv[1], newline="")))
def recs(kind):
    r = [x for x in rows if x[0] == kind]
    hdr = r[0]
    return [dict(zip(hdr, x)) for x in r[1:]]
lines, docs, buckets = recs("line"), recs("document"), recs("bucket")
db = list(csv.reader(open(sys.argv[2])))
assert len(lines) == len(db) > 0, (len(lines), len(db))
iso = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
for l, d in zip(lines, db):
    (no, seg, alloc, charge, nb, gaps, rank, dropped, bb_at, bb, commit, bin_, bout, qty,
     price, amount, vat, direction, w0, w1, number, sha, sub, tot) = d
    got = [l["segment_no"], l["alloc_id"], l["charge"], l["buckets"], l["gaps"],
           l["billed_rank"] or "0", l["dropped"], l["billed_bytes"] or "0", l["commit_bps"],
           l["bytes_in"], l["bytes_out"], l["quantity"], l["unit_price_fen"] or "-1",
           l["amount_fen"], l["vat_bp"], l["direction"]]
    want = [seg, alloc, charge, nb, gaps, rank, dropped, bb, commit, bin_, bout, qty,
            price, amount, vat, direction]
    assert got == want, (got, want)
    if bb_at:
        assert iso(l["billed_bucket_utc"]) == iso(bb_at), (l["billed_bucket_utc"], bb_at)
    assert docs[0]["invoice"] == number and docs[0]["sha256_at_close"] == sha
    assert docs[0]["subtotal_fen"] == sub and docs[0]["total_fen"] == tot
    # the evidence again from the statement's own buckets
    mine = [b for b in buckets if b["segment_no"] == seg and b["alloc_id"] == alloc]
    assert len(mine) == int(nb), (seg, len(mine), nb)
    assert sum(int(b["in_bytes"] or 0) for b in mine) == int(bin_)
    assert sum(int(b["out_bytes"] or 0) for b in mine) == int(bout)
    assert sum(1 for b in mine if "gap" in b["mark"]) == int(gaps)
    assert sum(1 for b in mine if "dropped" in b["mark"]) == int(dropped)
    billed = [b for b in mine if "billed" in b["mark"]]
    if int(nb):
        assert len(billed) == 1 and int(billed[0]["billable_bytes"]) == int(bb), billed
        assert iso(billed[0]["bucket_utc"]) == iso(bb_at)
        k = math.ceil(95 * int(nb) / 100)
        ranked = sorted(mine, key=lambda b: (int(b["billable_bytes"]), b["bucket_utc"]))
        assert ranked[k - 1] is billed[0]
# the month's volume = Σ days = Σ buckets
month = recs("month")[0]
assert int(month["in_bytes"]) == sum(int(d["in_bytes"]) for d in recs("day")) == sum(int(b["in_bytes"] or 0) for b in buckets)
assert int(month["billable_bytes"]) == sum(int(b["billable_bytes"]) for b in buckets)
# the same figures in JSON
j = json.load(open(sys.argv[3]))
assert j["final"] is True and [str(x["amount_fen"]) for x in j["lines"]] == [l["amount_fen"] for l in lines]
assert sum(len(a["buckets"]) for a in j["allocations"]) == len(buckets)
assert j["month"]["out_bytes"] == int(month["out_bytes"])
EOF
	# the digest, recomputed independently (README's five lines)
	got=$(python3 - "$ART/t$t.csv" <<'EOF'
import csv, hashlib, collections, sys
h = collections.defaultdict(hashlib.sha256)
for r in csv.reader(open(sys.argv[1], newline="")):
    if r[0] == "bucket" and r[1] != "alloc_id": h[r[6]].update((",".join(r[1:6]) + "\n").encode())
print(" ".join(c + ":" + x.hexdigest() for c, x in sorted(h.items())))
EOF
)
	want=$(q "SELECT string_agg(i.currency || ':' || d.sha256, ' ' ORDER BY i.currency) FROM invoice i JOIN invoice_digest d USING (invoice_id) WHERE i.tenant_id = $t AND i.kind = 'invoice'")
	[ "$got" = "$want" ] || fail "tenant $t: digest from the CSV $got, stored at close $want"
	ok_cmd statement verify "$ART/t$t.csv"
	grep -q "at close" <<<"$OUT" || fail "verify: $OUT"
done
ok "closed month: statement figures = invoice_line evidence (every segment, 3 tenants); digest from the CSV (Python hashlib) = stored at close; verify passes"

# two allocation rows of tenant 3: the straddling bucket counted once
n3=$(grep -c '^bucket,[0-9]' "$ART/t3.csv")
[ "$(q "SELECT sum(buckets) FROM invoice_line l JOIN invoice i USING (invoice_id) WHERE i.tenant_id = 3")" = "$n3" ] \
	|| fail "tenant 3: $n3 bucket lines vs the lines' buckets"
ok "alloc change mid-bucket: $n3 bucket lines, the straddling bucket once"

# --- verify catches one changed byte ----------------------------------------------
# a bucket's billable bytes changed: that line is named
line=$(python3 - "$ART/t1.csv" "$WORK/bad1.csv" <<'EOF'
import sys
L = open(sys.argv[1], newline="").read().split("\n")
for i, l in enumerate(L):
    f = l.split(",")
    if f[0] == "bucket" and f[1] != "alloc_id" and f[4] and f[3] >= "2026-11-10":
        f[10] = f[10][:-1] + ("1" if f[10][-1] != "1" else "2")
        L[i] = ",".join(f)
        print(i + 1)
        break
open(sys.argv[2], "w", newline="").write("\n".join(L))
EOF
)
[ "$(cmp -l "$ART/t1.csv" "$WORK/bad1.csv" | wc -l)" = 1 ] || fail "more than one byte changed"
bs statement verify "$WORK/bad1.csv"
[ "$RC" = 1 ] || fail "verify of a changed CSV: exit $RC: $OUT $ERR"
grep -q "line $line: billable_bytes" <<<"$ERR" || fail "verify does not name line $line: $ERR"
# one byte changed in a gap-free line's out bytes keeping billable consistent:
# the digest alone catches it
python3 - "$ART/t1.csv" "$WORK/bad2.csv" <<'EOF'
import sys
L = open(sys.argv[1], newline="").read().split("\n")
for i, l in enumerate(L):
    f = l.split(",")
    if f[0] == "bucket" and f[1] != "alloc_id" and f[4] and f[5] and int(f[4]) > int(f[5]) + 10:
        f[5] = str(int(f[5]) + 1)[:len(f[5])] if len(str(int(f[5]) + 1)) == len(f[5]) else f[5]
        L[i] = ",".join(f)
        break
open(sys.argv[2], "w", newline="").write("\n".join(L))
EOF
cmp -s "$ART/t1.csv" "$WORK/bad2.csv" && fail "the second tampering did not change the file"
[ "$(cmp -l "$ART/t1.csv" "$WORK/bad2.csv" | wc -l)" = 1 ] || fail "more than one byte changed"
bs statement verify "$WORK/bad2.csv"
[ "$RC" = 1 ] || fail "verify of a CSV with one byte changed: exit $RC"
grep -q "digest stored at close" <<<"$ERR" || fail "verify message: $ERR"
head -c 100 "$ART/t1.csv" >"$WORK/bad3.csv"
bs statement verify "$WORK/bad3.csv"
[ "$RC" = 2 ] || fail "verify of a truncated CSV: exit $RC"
ok "verify: one byte changed → exit 1 naming the line; malformed → exit 2"

# --- HTML in chromium, SVG, PDF in zh and en ------------------------------------------
chrome() { timeout 90 chromium --headless --no-sandbox --disable-gpu --no-first-run \
	--user-data-dir="$WORK/chrome" "$@"; }
for lang in en zh; do
	ok_cmd statement --tenant 1 --period 2026-11 --format html --lang $lang --out "$ART/t1-$lang.html"
	chrome --enable-logging=stderr --v=0 --window-size=1200,3000 \
		--screenshot="$ART/t1-$lang.png" "file://$ART/t1-$lang.html" \
		>"$WORK/chrome.out" 2>"$WORK/chrome.err" || fail "chromium screenshot ($lang): $(tail -3 "$WORK/chrome.err")"
	[ -s "$ART/t1-$lang.png" ] || fail "no screenshot ($lang)"
	if grep -i "CONSOLE\|Uncaught\|Failed to load" "$WORK/chrome.err"; then
		fail "console errors while loading the $lang statement"
	fi
	if [ $lang = en ]; then
		chrome --dump-dom "file://$ART/t1-$lang.html" >"$WORK/dom-$lang.html" 2>/dev/null
	else   # the page as written (the DOM check of en stands for both)
		sed "s/'/\"/g" "$ART/t1-$lang.html" >"$WORK/dom-$lang.html"
	fi
	python3 - "$WORK/dom-$lang.html" "$ART/t1.csv" <<'EOF' || fail "SVG ($lang): points or markers"
import csv, sys, re
dom = open(sys.argv[1]).read()
assert "<script" not in dom and "http://" not in dom.replace("http://www.w3.org/2000/svg", "")
buckets = [r for r in csv.reader(open(sys.argv[2])) if r[0] == "bucket" and r[1] != "alloc_id"]
segs = {(r[1], r[7]) for r in buckets}
polys = re.findall(r"<polyline class=\"(in|out)\"[^>]*points=\"([^\"]*)\"", dom)
assert len(polys) == 2, len(polys)
for _, pts in polys:
    assert len(pts.split()) == len(buckets), (len(pts.split()), len(buckets))
assert dom.count("<circle class=\"billed\"") == len(segs), (dom.count("<circle class=\"billed\""), segs)
assert dom.count("<line class=\"p95\"") == len(segs)
assert dom.count("<line class=\"commit\"") == 1
assert dom.count("<rect class=\"day\"") == 2 * 30
EOF
	ok_cmd statement --tenant 1 --period 2026-11 --format pdf --lang $lang --out "$ART/t1-$lang.pdf"
	pages=$(pdfinfo "$ART/t1-$lang.pdf" | awk '/^Pages:/ {print $2}')
	[ "$pages" -ge 3 ] && [ "$pages" -le 8 ] || fail "PDF ($lang): $pages pages, expected 3..8"
	pdftotext -layout "$ART/t1-$lang.pdf" "$WORK/t1-$lang.txt"
	sha=$(q "SELECT d.sha256 FROM invoice_digest d JOIN invoice i USING (invoice_id) WHERE i.tenant_id = 1 AND i.kind = 'invoice'")
	tr -d ' \n' <"$WORK/t1-$lang.txt" >"$WORK/flat.txt"
	grep -q "$sha" "$WORK/flat.txt" || fail "PDF ($lang): the digest is not in the text"
	total=$(q "SELECT total_fen FROM invoice WHERE tenant_id = 1 AND kind = 'invoice'")
	money=$(python3 -c "t=$total; print(('¥' if '$lang' == 'zh' else 'CNY ') + f'{t // 100:,}.{t % 100:02d}')")
	grep -qF "$money" "$WORK/t1-$lang.txt" || fail "PDF ($lang): the total $money is not in the text"
	grep -qF "$(q "SELECT number FROM invoice WHERE tenant_id = 1 AND kind = 'invoice'")" "$WORK/t1-$lang.txt" \
		|| fail "PDF ($lang): no invoice number"
	if [ $lang = zh ]; then
		grep -q "用量对账单" "$WORK/t1-zh.txt" || fail "PDF (zh): no Chinese title"
		grep -q "第95百分位" "$WORK/t1-zh.txt" || fail "PDF (zh): no 第95百分位"
		pdffonts "$ART/t1-zh.pdf" >"$WORK/fonts.txt"
		grep -q "WenQuanYi" "$WORK/fonts.txt" || fail "PDF (zh): no CJK font embedded"
	fi
	echo "   PDF $lang: $pages pages"
done
ok "HTML in chromium without console errors; SVG points = buckets, markers = segments; PDF pages, totals, digest in en and zh"

# the open-period PDF says NOT FINAL on every page
ok_cmd statement --tenant 1 --period 2026-12 --format pdf --out "$ART/open-dec.pdf"
pages=$(pdfinfo "$ART/open-dec.pdf" | awk '/^Pages:/ {print $2}')
for p in $(seq 1 "$pages"); do
	pdftotext -f "$p" -l "$p" "$ART/open-dec.pdf" "$WORK/page.txt"
	grep -q "NOT FINAL" "$WORK/page.txt" || fail "open PDF: page $p lacks NOT FINAL"
done
ok "open month PDF: NOT FINAL on each of its $pages page(s)"

# --out into something that is not a regular file (a FIFO here; /dev/null
# and terminals alike) is written directly: renaming a finished file over
# it would have replaced it with a plain file. A regular --out target keeps
# its old content when the command fails (the document is written beside
# it and renamed only when complete).
mkfifo "$WORK/fifo.csv"
timeout 60 cat "$WORK/fifo.csv" >"$WORK/fifo.got" &
reader=$!
ok_cmd statement --tenant 1 --period 2026-11 --out "$WORK/fifo.csv"
wait $reader || fail "--out FIFO: the reader got no end of file"
[ -p "$WORK/fifo.csv" ] || fail "--out FIFO: the FIFO was replaced by a $(stat -c %F "$WORK/fifo.csv")"
ok_cmd statement --tenant 1 --period 2026-11
# the two runs may fall in different seconds: mask the generated_utc field
# (the last one of the CSV's second line) before comparing the bytes
mask_generated() { sed '2s/,[0-9T:Z-]*$/,GENERATED/' "$1"; }
[ "$(sed -n '2s/.*,//p' "$WORK/out")" != "" ] || fail "--out FIFO: no generated_utc field to mask"
cmp -s <(mask_generated "$WORK/fifo.got") <(mask_generated "$WORK/out") ||
	fail "--out FIFO: not the statement's bytes"
num=$(q "SELECT number FROM invoice WHERE tenant_id = 1 AND kind = 'invoice' LIMIT 1")
mkfifo "$WORK/fifo.html"
timeout 60 cat "$WORK/fifo.html" >"$WORK/fifo-inv.got" &
reader=$!
ok_cmd invoice render --number "$num" --format html --out "$WORK/fifo.html"
wait $reader || fail "invoice render --out FIFO: the reader got no end of file"
[ -p "$WORK/fifo.html" ] || fail "invoice render --out FIFO: the FIFO was replaced"
grep -q "$num" "$WORK/fifo-inv.got" || fail "invoice render --out FIFO: not the invoice"
echo "old" >"$WORK/keep.csv"
bad_arg "--tenant 999999: no such tenant" --tenant 999999 --period 2026-11 --out "$WORK/keep.csv"
[ "$(cat "$WORK/keep.csv")" = old ] || fail "--out: a failed statement changed the old file"
ls "$WORK"/keep.csv.* 2>/dev/null && fail "--out: a partial file was left behind"
ok "--out: a FIFO is written in place (statement, invoice render); a failed run leaves the old file and no partial one"

# A tenant's samples are read from usage_5m's primary key alone (it covers
# the bytes, 0028): once the month's pages are all-visible, a statement
# reads index pages and no heap page of usage_5m (settle writes the table
# bucket after bucket: from the heap, one page for every bucket or two).
# The backend's block counts reach pg_statio when the command's session ends.
pg_psql -c "VACUUM (ANALYZE) usage_5m" >/dev/null
heap_idx() { q "SELECT heap_blks_read + heap_blks_hit, idx_blks_read + idx_blks_hit
                  FROM pg_statio_user_tables WHERE relname = 'usage_5m'"; }
before=$(heap_idx)
ok_cmd statement --tenant 2 --period 2026-11 --format csv --out "$WORK/io.csv"
for _ in $(seq 1 50); do
	after=$(heap_idx)
	[ "$after" != "$before" ] && break
	sleep 0.1
done
heap=$(( ${after%|*} - ${before%|*} )) idx=$(( ${after#*|} - ${before#*|} ))
[ "$idx" -gt 0 ] || fail "statement I/O: no index block of usage_5m counted (before $before, after $after)"
# (pg_statio counts the visibility map's pages as heap blocks: a few)
[ "$heap" -le 10 ] || fail "statement I/O: $heap heap blocks of usage_5m read (index $idx): not an index-only read"
ok "a statement reads usage_5m's index ($idx index blocks) and its visibility map ($heap blocks), no heap page"

echo "passed $PASSED checks; artifacts in $ART"
