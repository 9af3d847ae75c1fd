#!/bin/bash
# Labels reach the answers: an address shows its own labels; a label on one address of an
# entity shows on every address of that entity (with the carrying address and its confidence);
# tx inputs and outputs carry their addresses' labels; `entity` lists them; without clustering
# or labels the answers still work and say nothing about them.
source "$(dirname "$0")/common.sh"
field() { $PY -c "import json,sys; d=json.load(sys.stdin); print(repr(($1)))"; }

"$BIN" generate --out "$T/g" --seed 5 --blocks 160 --txs-per-block 60 --maturity 5 --users 200 \
    --quiet >/dev/null || bad "generate"
"$BIN" import --db "$T/db" "$T/g" >/dev/null || bad "import"
# Before clustering and labels: no entity, no labels, no error.
"$BIN" address --db "$T/db" --json "$(grep -o '"1[1-9A-HJ-NP-Za-km-z]\{25,34\}"' "$T/g/truth.jsonl" | head -1 | tr -d '"')" \
    >"$T/a0.json" 2>"$T/a0.err" && [ "$($PY tests/jget.py '["entity"]' <"$T/a0.json")" = None ] &&
    [ "$(field 'len(d["labels"])' <"$T/a0.json")" = 0 ] && [ ! -s "$T/a0.err" ] && ok ||
    bad "address before clustering: $(cat "$T/a0.err")"

"$BIN" cluster --db "$T/db" >/dev/null || bad "cluster"
# The generator's labels file is in the importer's format: every row imports.
rows=$(($(wc -l <"$T/g/labels.csv") - 1))
"$BIN" labels import --db "$T/gl" "$T/g/labels.csv" | grep -q ": $rows labels ($rows new)" && ok ||
    bad "generator labels.csv does not import whole ($rows rows)"
# Two addresses of one entity (A labelled, B not).
"$BIN" cluster --db "$T/db" --dump | awk '$1 == "a" { n[$3]++; if (n[$3] <= 2) m[$3] = m[$3] " " $2 }
    END { for (e in n) if (n[e] >= 2) { print e m[e]; exit } }' >"$T/pair"
read -r ENT A B <"$T/pair"
[ -n "${B:-}" ] && ok || bad "no entity with two addresses"
printf 'chain,address,category,actor,source,confidence\nbtc,%s,theft,Test Actor,e2e,80\n' "$A" >"$T/l.csv"
"$BIN" labels import --db "$T/db" "$T/l.csv" >/dev/null || bad "labels import"

"$BIN" address --db "$T/db" --json "$A" >"$T/a.json"
[ "$(field 'd["labels"][0]["category"], d["labels"][0]["confidence"]' <"$T/a.json")" = "('theft', 80)" ] &&
    ok || bad "own label on A"
"$BIN" address --db "$T/db" --json "$B" >"$T/b.json"
[ "$(field 'len(d["labels"]), d["entity"]["id"], d["entity"]["labels"][0]["address"], d["entity"]["labels"][0]["confidence"]' <"$T/b.json")" = "(0, $ENT, '$A', 80)" ] &&
    ok || bad "entity label on B: $(cat "$T/b.json" | head -c 600)"
"$BIN" entity --db "$T/db" --json "$B" >"$T/e.json"
[ "$(field 'd["entity"], [l["address"] for l in d["labels"]]' <"$T/e.json")" = "($ENT, ['$A'])" ] &&
    ok || bad "entity labels"
# A tx that spends from or pays A shows the label on that input or output.
tx=$($PY tests/jget.py '["outputs"][0]["txid"]' <"$T/a.json")
"$BIN" tx --db "$T/db" --json "$tx" >"$T/t.json"
[ "$(field 'sum(1 for o in d["inputs"] + d["outputs"] for l in o.get("labels", []) if o.get("address") == "'"$A"'" and l["category"] == "theft")' <"$T/t.json")" -ge 1 ] &&
    ok || bad "tx carries A's label"
"$BIN" address --db "$T/db" "$B" | grep -q "theft .* on $A" && ok || bad "human output shows the entity label"
finish
