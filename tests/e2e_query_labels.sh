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

# The indexes (docs/formats.md): written by the import; answers are the same without them (a
# store from before them: labels.db read whole, the label set walked) and after
# `labels reindex`; a stale entity index (other labels) is not used.
[ -s "$T/db/labels.idx" ] && [ -s "$T/db/entity-labels.idx" ] && ok || bad "indexes written by the import"
rm "$T/db/labels.idx" "$T/db/entity-labels.idx"
"$BIN" address --db "$T/db" --json "$B" | cmp -s - "$T/b.json" && ok || bad "address B without the indexes"
"$BIN" labels reindex --db "$T/db" | grep -q "labels.idx: 1 labels indexed" && ok || bad "labels reindex"
[ -s "$T/db/labels.idx" ] && [ -s "$T/db/entity-labels.idx" ] && ok || bad "indexes written by reindex"
"$BIN" address --db "$T/db" --json "$B" | cmp -s - "$T/b.json" && ok || bad "address B after reindex"
cp "$T/db/entity-labels.idx" "$T/old-entity.idx"
printf 'chain,address,category,actor,source,confidence\nbtc,%s,exchange,Other,e2e2,60\n' "$B" >"$T/l2.csv"
"$BIN" labels import --db "$T/db" "$T/l2.csv" >/dev/null || bad "second labels import"
want=$(printf '%s\n%s\n' "$A" "$B" | sort | tr '\n' ' ')
"$BIN" address --db "$T/db" --json "$B" >"$T/b2.json"
[ "$(field '" ".join(l["address"] for l in d["entity"]["labels"]) + " "' <"$T/b2.json")" = "'$want'" ] &&
    ok || bad "entity labels of A and B, in address order: $(head -c 600 "$T/b2.json")"
cp "$T/old-entity.idx" "$T/db/entity-labels.idx"
"$BIN" address --db "$T/db" --json "$B" | cmp -s - "$T/b2.json" && ok || bad "a stale entity index is not used"
"$BIN" cluster --db "$T/db" >/dev/null || bad "cluster again"
cmp -s "$T/old-entity.idx" "$T/db/entity-labels.idx" && bad "cluster did not rewrite the entity index" || ok
# (B's new label may change the clustering: the guards weigh labels) the same answer as without
# the entity index
"$BIN" address --db "$T/db" --json "$B" >"$T/b3.json"
rm "$T/db/entity-labels.idx"
"$BIN" address --db "$T/db" --json "$B" | cmp -s - "$T/b3.json" && ok ||
    bad "address B after cluster differs without the entity index"
finish
