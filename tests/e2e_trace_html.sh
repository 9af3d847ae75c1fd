#!/bin/bash
# The HTML trace report is one self-contained page (nothing fetched), draws the flow as SVG,
# lists the endpoints, and escapes text that comes from label sources.
source "$(dirname "$0")/common.sh"

"$BIN" generate --out "$T/g" --seed 3 --blocks 250 --txs-per-block 80 --maturity 5 \
    --era 2019-2024.3 --users 300 --scenarios 2 --quiet >/dev/null || bad "generate"
"$BIN" import --db "$T/db" "$T/g" >/dev/null && "$BIN" labels import --db "$T/db" "$T/g/labels.csv" >/dev/null ||
    bad "import"
$PY tests/trace_html_check.py seeds "$T/g/truth.jsonl" >"$T/seeds"
"$BIN" trace --db "$T/db" --from @"$T/seeds" --hops 40 --format json >"$T/t.json" || bad "trace json"
ep=$($PY tests/jget.py '["endpoints"][0]["address"]' "$T/t.json")
printf 'chain,address,category,actor,source,confidence,label\nbtc,%s,exchange,"<b>x</b>",e2e,90,"<script>alert(1)</script>"\n' \
    "$ep" >"$T/evil.csv"
"$BIN" labels import --db "$T/db" "$T/evil.csv" >/dev/null || bad "evil label import"
"$BIN" trace --db "$T/db" --from @"$T/seeds" --hops 40 --format html >"$T/t.html" || bad "trace html"
grep -q '<svg' "$T/t.html" && grep -q '</html>' "$T/t.html" && ok || bad "not a complete page with SVG"
! grep -Eq '(src|href)=' "$T/t.html" && ok || bad "the page refers to something outside itself"
! grep -q '<script>alert' "$T/t.html" && grep -q '&lt;script&gt;alert' "$T/t.html" && ok ||
    bad "label text not escaped"
grep -q "$ep" "$T/t.html" && ok || bad "largest endpoint missing"
n=$($PY tests/trace_html_check.py endpoint-rows "$T/t.json")
[ "$(grep -c '<details><summary>txids' "$T/t.html")" -eq "$n" ] && ok || bad "endpoint rows: want $n"
# An entity as the seed: every output paid to any of its addresses (needs the clustering).
src_addr=$("$BIN" tx --db "$T/db" --json "$(head -1 "$T/seeds" | cut -d: -f1)" |
    $PY tests/jget.py '["outputs"][0]["address"]')
"$BIN" trace --db "$T/db" --from "entity:$src_addr" --format json >/dev/null 2>"$T/err"
[ $? -eq 3 ] && grep -q "no clustering" "$T/err" && ok || bad "entity seed without clustering: $(cat "$T/err")"
"$BIN" cluster --db "$T/db" >/dev/null || bad "cluster"
want=$("$BIN" entity --db "$T/db" --json --limit 100000 "$src_addr" | $PY tests/trace_html_check.py entity-outputs "$BIN" "$T/db")
got=$("$BIN" trace --db "$T/db" --from "entity:$src_addr" --format json | $PY tests/trace_html_check.py seed-count)
[ "$got" -eq "$want" ] && ok || bad "entity seeds: $got, want every output of its addresses ($want)"
finish
