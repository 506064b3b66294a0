#!/usr/bin/env bash
# test_invoice_docs.sh — finance's documents against a real PostgreSQL 15:
# `bandsplit invoice render` (HTML and PDF, zh and en) and `bandsplit
# invoice export --format fapiao-xlsx|fapiao-csv`. A month is closed (and
# adjusted: a debit note) with finance_lib.sh; every document is rendered
# in both languages to HTML and PDF; headless chromium loads the HTML
# without console errors (screenshots kept); pdfinfo counts the pages;
# pdftotext finds the totals, the capital-numeral total (zh, computed here
# by an independent few lines of Python), both tax ids, the notes and the
# statement digest; the fapiao batch read back by openpyxl and Python's
# csv equals the invoices line by line and per rate (psql over
# invoice_line and invoice_vat); bad arguments exit 2, an open period 1.
# Artifacts (HTML, PDF, PNG, XLSX, CSV) stay in
# $BUILD/test-artifacts/invoice_docs/.
#   usage: test_invoice_docs.sh BUILD_DIR
set -euo pipefail

BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/pg.sh"
BS=$BUILD/settlement/bandsplit
WORK=$(mktemp -d /tmp/bandsplit-invdoc.XXXXXX)
bs_at_exit "rm -rf '$WORK'"
ART=$BUILD/test-artifacts/invoice_docs
rm -rf "$ART"; mkdir -p "$ART"
PY=/usr/bin/python3          # Debian's, with python3-openpyxl
CHROMIUM=${BS_CHROMIUM:-chromium}
. "$HERE/finance_lib.sh"

pg_start
export BANDSPLIT_ACTOR=invoice-docs-test
ok_cmd --db "$BS_DB_ADMIN" migrate
fin_model
fin_usage '2026-11-01 00:00+08' '2026-12-01 00:00+08'

# --- bad arguments; an open period ------------------------------------------------
bad 2 "--number and --format are required" invoice render
bad 2 "--number and --format are required" invoice render --number 2026-000001
bad 2 "--format 'csv': expected one of html pdf" invoice render --number 2026-000001 --format csv
bad 2 "--format 'docx'" invoice render --number 2026-000001 --format docx
bad 2 "--lang 'fr'" invoice render --number 2026-000001 --format html --lang fr
bad 2 "--number 'x'" invoice render --number x --format html
bad 2 "--format 'html': expected one of csv json fapiao-xlsx fapiao-csv" invoice export --period 2026-11 --format html
bad 2 "--format 'fapiao-pdf'" invoice export --period 2026-11 --format fapiao-pdf
bad 2 "--format fapiao-xlsx needs --out FILE" invoice export --period 2026-11 --format fapiao-xlsx
bad 2 "--period '2026-13'" invoice export --period 2026-13 --format fapiao-csv
bad 1 "period 2026-11 is not closed" invoice export --period 2026-11 --format fapiao-csv
bad 1 "period 2026-11 is not closed" invoice export --period 2026-11 --format fapiao-xlsx --out "$WORK/open.xlsx"
[ ! -e "$WORK/open.xlsx" ] && [ ! -e "$WORK/open.xlsx.part" ] || fail "a refused export left a file"
bad 1 "2026-000001: invoice not found" invoice render --number 2026-000001 --format html
ok "bad arguments exit 2, an open period or unknown number 1, nothing written"

# --- the month: closed, then a debit note for late volume usage ----------------------
ok_cmd close --period 2026-11
fin_late '2026-11-21 10:00+08' 3 2 2000000000000
ok_cmd close --period 2026-11 --adjust
grep -q "debit note *DN-2026-000001" <<<"$OUT" || fail "--adjust: $OUT"
bs invoice export --period 2026-10 --format fapiao-csv
[ "$RC" = 1 ] || fail "export of a month never closed: exit $RC"
ok "closed 2026-11 and adjusted it (DN-2026-000001)"

# --- render: every document, zh and en, HTML and PDF ---------------------------------
# The expected texts come from the database and Python, not from bandsplit.
cat >"$WORK/capital.py" <<'PYEOF'
# Renminbi in capital numerals, written independently of the C code: read
# the yuan in groups of four (亿, 万, units); a zero at the head or inside a
# group, or a whole zero group, is one 零 before the next non-zero digit.
import sys
D = "零壹贰叁肆伍陆柒捌玖"
def capital(fen):
    sign, fen = ("负", -fen) if fen < 0 else ("", fen)
    yuan, jiao, cents = fen // 100, fen // 10 % 10, fen % 10
    s, pending, started = "", False, False
    groups = [(yuan // 10**8) % 10**4, (yuan // 10**4) % 10**4, yuan % 10**4]
    for g, unit in zip(groups, ["亿", "万", ""]):
        digits = f"{g:04d}"
        for k, ch in enumerate(digits):
            d = int(ch)
            if d == 0:
                if started and (int(digits[k + 1:] or "0") != 0 or g == 0):
                    pending = True
                continue
            if pending:
                s += "零"
            pending, started = False, True
            s += D[d] + ["仟", "佰", "拾", ""][k]
        if g:
            s += unit
    if yuan:
        s += "元"
    elif not jiao and not cents:
        s += "零元"
    if jiao:
        s += D[jiao] + "角"
    elif cents and yuan:
        s += "零"
    if cents:
        s += D[cents] + "分"
    if not jiao and not cents:
        s += "整"
    return sign + s
print(capital(int(sys.argv[1])))
PYEOF
money() {   # money LANG FEN: "CNY 1,234.56" / "¥1,234.56"
	$PY -c "import sys; f=int(sys.argv[2]); s=f'{abs(f)//100:,}.{abs(f)%100:02d}'; print(('-' if f<0 else '')+('¥' if sys.argv[1]=='zh' else 'CNY ')+s)" "$1" "$2"
}

docs=$(q "SELECT string_agg(number, ' ' ORDER BY invoice_id) FROM invoice WHERE period = '2026-11-01'")
[ "$(wc -w <<<"$docs")" = 4 ] || fail "documents of 2026-11: $docs"
for n in $docs; do
	read -r total stax btax kind orig <<<"$(q "SELECT i.total_fen, i.seller_tax_id, i.buyer_tax_id, i.kind, coalesce(o.number, '-') FROM invoice i LEFT JOIN invoice o ON o.invoice_id = i.original_id WHERE i.number = '$n'" | tr '|' ' ')"
	# the two PDFs side by side (chromium takes seconds; two cores)
	for lang in zh en; do
		"$BS" invoice render --number "$n" --format pdf --lang "$lang" \
			--out "$ART/$n.$lang.pdf" >"$WORK/pdf.$lang" 2>&1 &
		eval "pid_$lang=$!"
	done
	for lang in zh en; do
		eval "wait \$pid_$lang" || fail "invoice render --number $n --format pdf --lang $lang: $(cat "$WORK/pdf.$lang")"
	done
	for lang in zh en; do
		base=$ART/$n.$lang
		ok_cmd invoice render --number "$n" --format html --lang "$lang" --out "$base.html"
		# self-contained: no external resource, no script
		if grep -qiE '(src|href)=|<script|@import|url\(' "$base.html"; then
			fail "$n $lang: the HTML refers to something outside it"
		fi
		grep -q "<title>" "$base.html" || fail "$n $lang: no title"
		pages=$(pdfinfo "$base.pdf" | awk '/^Pages:/ {print $2}')
		[ "$pages" -ge 1 ] && [ "$pages" -le 2 ] || fail "$n $lang: $pages pages"
		pdftotext -enc UTF-8 "$base.pdf" "$base.txt"
		tr -d ' \n' <"$base.txt" >"$base.flat"
		want=$(money "$lang" "$total")
		grep -qF -- "$want" "$base.txt" || fail "$n $lang: the PDF lacks the total $want"
		grep -qF -- "$n" "$base.txt" || fail "$n $lang: the PDF lacks its number"
		grep -qF -- "$stax" "$base.txt" || fail "$n $lang: the PDF lacks the seller's tax id $stax"
		grep -qF -- "$btax" "$base.flat" || fail "$n $lang: the PDF lacks the buyer's tax id $btax"
		if [ "$lang" = zh ]; then
			cap=$($PY "$WORK/capital.py" "$total")
			grep -qF -- "$cap" "$base.flat" || fail "$n zh: the PDF lacks the total in capitals $cap: $(cat "$base.txt")"
			grep -qF -- "价税合计" "$base.flat" || fail "$n zh: no 价税合计"
		else
			grep -qF "Invoice" "$base.txt" || grep -qF "note" "$base.txt" || fail "$n en: not English"
		fi
		# the digest stored at close (stmt's invoice_digest, 0025)
		if [ -n "$(q "SELECT to_regclass('invoice_digest')")" ]; then
			dg=$(q "SELECT d.sha256 FROM invoice_digest d JOIN invoice i USING (invoice_id) WHERE i.number = '$n'")
			[ -n "$dg" ] || fail "$n: no digest stored at close"
			grep -qF -- "$dg" "$base.flat" || fail "$n $lang: the PDF lacks the digest $dg"
		fi
		# the notes referencing an invoice, and the invoice a note adjusts
		for note in $(q "SELECT n.number FROM invoice n JOIN invoice i ON i.invoice_id = n.original_id WHERE i.number = '$n'"); do
			grep -qF -- "$note" "$base.txt" || fail "$n $lang: the PDF lacks the note $note"
		done
		[ "$orig" = - ] || grep -qF -- "$orig" "$base.txt" || fail "$n $lang: the note does not name $orig"
	done
done
ok "render: 4 documents × zh, en × HTML, PDF: pages, totals, capitals, tax ids, notes"

# headless chromium loads the HTML (an invoice in zh with its note, the
# note in en; side by side): no console error, a screenshot kept
shots=("$ART/2026-000001.zh.html" "$ART/DN-2026-000001.en.html")
for i in 0 1; do
	f=${shots[$i]}
	timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
		--user-data-dir="$WORK/profile$i" --enable-logging=stderr --v=0 \
		--window-size=1240,1754 --screenshot="${f%.html}.png" "file://$f" \
		>"$WORK/chromium$i.out" 2>"$WORK/chromium$i.err" &
	eval "shot_$i=$!"
done
for i in 0 1; do
	f=${shots[$i]}
	eval "wait \$shot_$i" || fail "chromium on $f: $(tail -3 "$WORK/chromium$i.err")"
	[ -s "${f%.html}.png" ] || fail "chromium wrote no screenshot of $f"
	if grep -E "CONSOLE|Uncaught|Failed to load|ERR_FILE_NOT_FOUND" "$WORK/chromium$i.err"; then
		fail "chromium: console errors loading $f"
	fi
done
ok "chromium loads the HTML without console errors (screenshots in $ART)"

# --- the fapiao batch: read back independently, compared with the database -----------
ok_cmd invoice export --period 2026-11 --format fapiao-xlsx --out "$ART/fapiao-2026-11.xlsx"
ok_cmd invoice export --period 2026-11 --format fapiao-csv --out "$ART/fapiao-2026-11.csv"
ok_cmd invoice export --period 2026-11 --format fapiao-csv
[ "$(head -c 3 "$WORK/out" | od -An -tx1 | tr -d ' ')" = efbbbf ] || fail "fapiao-csv on stdout has no BOM"
cmp -s "$WORK/out" "$ART/fapiao-2026-11.csv" || fail "fapiao-csv: stdout and --out differ"
q "SELECT i.number, l.line_no, i.buyer_name, i.buyer_tax_id, l.amount_fen, l.vat_bp
     FROM invoice i JOIN invoice_line l USING (invoice_id)
    WHERE i.period = '2026-11-01' AND i.kind = 'invoice' ORDER BY i.invoice_id, l.line_no" >"$WORK/lines.db"
q "SELECT i.number, v.vat_bp, v.base_fen, v.vat_fen
     FROM invoice i JOIN invoice_vat v USING (invoice_id)
    WHERE i.period = '2026-11-01' AND i.kind = 'invoice' ORDER BY i.number, v.vat_bp" >"$WORK/vat.db"
cat >"$WORK/check.py" <<'PYEOF'
# Reads the fapiao batch (xlsx with openpyxl, csv with the csv module) and
# compares it with the database's lines and VAT rows (psql output).
import csv, sys
from decimal import Decimal
kind, path, lines_db, vat_db = sys.argv[1:5]
HEAD = ["单据编号", "行号", "购买方名称", "购买方纳税人识别号", "项目名称", "规格型号",
        "单位", "数量", "单价", "金额", "税率", "税额"]
if kind == "xlsx":
    import openpyxl
    ws = openpyxl.load_workbook(path, read_only=True).worksheets[0]
    rows = [["" if v is None else v for v in r] for r in ws.iter_rows(values_only=True)]
else:
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
def dec(v):
    return Decimal(str(v)) if v != "" else None
def fen(v):
    d = dec(v) * 100
    assert d == d.to_integral_value(), f"not whole fen: {v}"
    return int(d)
assert rows[0] == HEAD, f"header {rows[0]}"
db = [l.split("|") for l in open(lines_db).read().split("\n") if l]
got = rows[1:]
assert len(got) == len(db), f"{len(got)} rows, the invoices have {len(db)} lines"
per_rate = {}
for r, d in zip(got, db):
    number, line_no, buyer, tax_id, amount_fen, vat_bp = d
    assert str(r[0]) == number and int(r[1]) == int(line_no), f"row {r[:2]} vs line {d[:2]}"
    assert r[2] == buyer and str(r[3]) == tax_id, f"{number}/{line_no}: buyer {r[2:4]}"
    assert r[4] == "*信息技术服务*带宽服务", r[4]
    assert r[5] and r[6] in ("Mbps·月", "GB"), f"spec/unit {r[5:7]}"
    amount = fen(r[9])
    assert amount == int(amount_fen), f"{number}/{line_no}: amount {amount} != {amount_fen}"
    rate = dec(r[10])
    assert rate * 10000 == int(vat_bp), f"{number}/{line_no}: rate {r[10]} != {vat_bp} bp"
    tax = fen(r[11])
    # per line the tax is within a fen of amount × rate
    assert abs(Decimal(tax) - Decimal(amount) * rate) <= 1, f"{number}/{line_no}: tax {tax}"
    # quantity × unit price = the amount, to a fen
    q, p = dec(r[7]), dec(r[8])
    if q is not None and p is not None and amount:
        assert abs(q * p * 100 - amount) < 1, f"{number}/{line_no}: {q} × {p} != {amount}"
    s = per_rate.setdefault((number, int(vat_bp)), [0, 0])
    s[0] += amount
    s[1] += tax
vat = {}
for l in open(vat_db).read().split("\n"):
    if l:
        number, bp, base, v = l.split("|")
        vat[(number, int(bp))] = [int(base), int(v)]
for k in set(per_rate) | set(vat):
    want = vat.get(k, [0, 0])
    assert per_rate.get(k) == want, f"{k}: export Σ amount, Σ tax {per_rate.get(k)} != invoice_vat {want}"
print(f"{kind}: {len(got)} rows, {len(vat)} rates equal the invoices")
PYEOF
$PY "$WORK/check.py" xlsx "$ART/fapiao-2026-11.xlsx" "$WORK/lines.db" "$WORK/vat.db" || fail "fapiao-xlsx differs from the invoices"
$PY "$WORK/check.py" csv "$ART/fapiao-2026-11.csv" "$WORK/lines.db" "$WORK/vat.db" || fail "fapiao-csv differs from the invoices"
ok "fapiao-xlsx (openpyxl) and fapiao-csv (csv) equal the invoices line by line and per rate"

echo "test_invoice_docs: $PASSED passed"
