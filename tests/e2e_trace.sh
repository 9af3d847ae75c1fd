#!/bin/bash
# Tracing: on a generated chain with laundering scenarios, trace every scenario's stolen outputs
# forward under each policy and check the accounting (totals balance exactly; every tx's taint
# in + added = taint out + fee; edges agree with the txs), the accuracy against the truth's
# endpoints (floors per policy), a backward trace, the limits (hops, min-value, until, output
# cap -> partial), the DOT and text output, and bad input (exit codes 2 and 3, file:line);
# the entity graph against the clustering's dump, the pattern annotations against the truth
# (precision/recall floors; fresh exactly against the raw blocks), entity: lines in seed files;
# the default's depth (no hop limit) against --hops 50 and --hops 10 on the same scenarios.
# With TRACE_EVAL_TABLE=1 it prints the accuracy, depth and annotation tables of docs/tracing.md.
source "$(dirname "$0")/common.sh"

"$BIN" generate --out "$T/g" --seed 3 --blocks 400 --txs-per-block 200 --maturity 5 \
    --halving-interval 50 --era 2019-2024.3 --privacy-rate 0.25 --users 800 --scenarios 10 \
    --quiet >/dev/null || bad "generate"
"$BIN" import --db "$T/db" "$T/g" >/dev/null || bad "import"
"$BIN" labels import --db "$T/db" "$T/g/labels.csv" >/dev/null || bad "labels import"
"$BIN" cluster --db "$T/db" >/dev/null || bad "cluster"

# One seeds file per scenario that happened.
$PY tests/trace_seed_files.py "$T" || bad "seed files"
ls "$T"/seeds*.txt >/dev/null 2>&1 && ok || bad "no scenario happened"

for p in poison haircut fifo; do
    for f in "$T"/seeds*.txt; do
        id=$(basename "$f" .txt)
        "$BIN" trace --db "$T/db" --from "@$f" --policy $p --hops 50 --format json >"$T/$p.$id.json" ||
            bad "trace $p $id"
    done
done

# Accounting of every trace, and accuracy per policy against the truth.
$PY tests/trace_accuracy.py "$T" "${TRACE_EVAL_TABLE:-0}" && ok || bad "accounting or accuracy"

# Depth: the default (no hop limit) gives --hops 50's documents, so the same share of the
# truth's cash-out value, and more than --hops 10, whose cut is reported (tests/trace_depth.py
# recall; TRACE_EVAL_TABLE=1 prints the depth table of docs/tracing.md).
for p in haircut fifo; do
    for f in "$T"/seeds*.txt; do
        id=$(basename "$f" .txt)
        "$BIN" trace --db "$T/db" --from "@$f" --policy $p --format json >"$T/$p.def${id#seeds}.json" \
            2>"$T/def.err" && [ ! -s "$T/def.err" ] || bad "trace $p $id (default): $(cat "$T/def.err")"
        "$BIN" trace --db "$T/db" --from "@$f" --policy $p --hops 10 --format json \
            >"$T/$p.h10${id#seeds}.json" 2>/dev/null || bad "trace $p $id --hops 10"
    done
done
$PY tests/trace_depth.py recall "$T" "${TRACE_EVAL_TABLE:-0}" && ok || bad "depth: recall"

# The entity graph of every document, recomputed from its tx-level edges and the clustering's
# own dump (`cluster --dump`): nodes are entities (addresses without one: "a:ADDR"), a split
# tx's produced taint goes from the holder that brought it the most taint (ties: the node seen
# first) to each produced output's holder (backward: the other way round); node totals add up.
"$BIN" cluster --db "$T/db" --dump >"$T/dump" || bad "cluster dump"
"$BIN" trace --db "$T/db" --from "@$(ls "$T"/seeds*.txt | head -1)" --direction backward \
    --policy haircut --hops 20 --format json >"$T/gback.json" || bad "backward for the graph"
$PY tests/trace_entity_graph.py "$T" && ok || bad "entity graph"

# Pattern annotations against the generator's truth. The unit is a distinct tx split by a
# haircut trace (all scenarios); a tx the truth lists as a scenario step has its step kind
# (split, consolidate, peel, coinjoin, hop, swap_deposit, bridge_deposit); for bridge and swap
# the tx is the one whose output an edge marked bridge/swap leaves. Precision and recall are
# over the thief's txs (the truth's steps); annotations on other txs (users' coins the taint
# reached after a CoinJoin) are counted apart: the truth says nothing of their shape.
# "fresh" on an edge is checked exactly against the raw blocks (python3-bitcoinlib): the output
# is the first in the chain that pays its address.
$PY tests/trace_patterns.py "$T" "${TRACE_EVAL_TABLE:-0}" && ok || bad "pattern annotations"

# entity: lines inside a seeds file: the same seeds as --from entity:...; a bad one is named
# FILE:LINE.
eaddr=$($PY tests/trace_doc.py first-seed-address "$T/haircut.$(basename "$(ls "$T"/seeds*.txt | head -1)" .txt).json")
"$BIN" trace --db "$T/db" --from "entity:$eaddr" --format json >"$T/ent1.json" || bad "entity seed"
printf '# one entity\n\nentity:%s\n' "$eaddr" >"$T/entseeds.txt"
"$BIN" trace --db "$T/db" --from "@$T/entseeds.txt" --format json >"$T/ent2.json" || bad "entity: in a file"
$PY tests/trace_doc.py same-seeds "$T/ent1.json" "$T/ent2.json" && ok || bad "entity: in a file gives other seeds"
printf '%s\nentity:1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa\n' "$eaddr" >"$T/entbad.txt"
"$BIN" trace --db "$T/db" --from "@$T/entbad.txt" >/dev/null 2>"$T/err"
[ $? -eq 3 ] && grep -q "entbad.txt:2" "$T/err" && ok || bad "entity: bad line: $(cat "$T/err")"
printf 'entity:nonsense\n' >"$T/entbad2.txt"
"$BIN" trace --db "$T/db" --from "@$T/entbad2.txt" >/dev/null 2>"$T/err"
[ $? -eq 2 ] && grep -q "entbad2.txt:1" "$T/err" && ok || bad "entity: malformed line: $(cat "$T/err")"

# Backward from an endpoint deposit of the first scenario: balanced, reaches the stolen funds'
# sources (theft tx outputs), and seeded = the deposit value.
first=$(ls "$T"/seeds*.txt | head -1)
dep=$($PY tests/trace_doc.py first-endpoint-output "$T/haircut.$(basename "$first" .txt).json")
for p in poison haircut fifo; do
    "$BIN" trace --db "$T/db" --from "$dep" --direction backward --policy $p --hops 20 \
        --format json >"$T/back.$p.json" || bad "backward $p"
    $PY tests/trace_doc.py backward-balanced "$T/back.$p.json" && ok || bad "backward $p accounting"
done
theft=$(head -2 "$first" | tail -1 | cut -d: -f1)
$PY tests/trace_doc.py has-tx "$T/back.haircut.json" "$theft" && ok ||
    bad "backward trace from a deposit does not reach the theft tx"

# Limits: hops 1 leaves most taint beyond_hops; min-value; until; output cap gives partial.
chk() { # FILE PYTHON-EXPR (d = the document, t = its totals)
    $PY tests/trace_doc.py check "$1" "$2"
}
"$BIN" trace --db "$T/db" --from "@$first" --hops 1 --format json >"$T/h1.json" &&
    chk "$T/h1.json" "max(x['depth'] for x in d['txs'] if x['status'] == 'followed') == 1 and t['beyond_hops'] > 0" &&
    ok || bad "--hops 1"
"$BIN" trace --db "$T/db" --from "@$first" --min-value 50000000 --format json >"$T/mv.json" &&
    chk "$T/mv.json" "t['below_min_value'] > 0" && ok || bad "--min-value"
h=$($PY tests/trace_doc.py min-height "$T/haircut.$(basename "$first" .txt).json" 2)
"$BIN" trace --db "$T/db" --from "@$first" --until "$h" --format json >"$T/un.json" &&
    chk "$T/un.json" "t['beyond_until'] > 0 and all(x['height'] <= $h for x in d['txs'] if x['status'] == 'followed')" &&
    ok || bad "--until"
"$BIN" trace --db "$T/db" --from "@$first" --policy poison --max-outputs 200 --format json \
    >"$T/cap.json" && chk "$T/cap.json" "d['partial'] and t['not_followed'] > 0 and d['outputs_visited'] <= 200" &&
    ok || bad "output cap: partial result"

# Formats. The store is clustered: DOT draws the entity graph unless --graph tx.
"$BIN" trace --db "$T/db" --from "@$first" --format dot --graph tx >"$T/t.dot" && head -1 "$T/t.dot" |
    grep -q '^digraph trace {' && grep -q -- '->.*label=' "$T/t.dot" && ok || bad "dot output"
"$BIN" trace --db "$T/db" --from "@$first" --format json >"$T/g.json" &&
    "$BIN" trace --db "$T/db" --from "@$first" --format dot >"$T/e.dot" &&
    head -1 "$T/e.dot" | grep -q '^digraph trace_entity' &&
    $PY tests/trace_doc.py dot-graph "$T/g.json" "$T/e.dot" && ok || bad "dot entity graph"
"$BIN" trace --db "$T/db" --from "@$first" --format html >"$T/e.html" &&
    grep -q "Largest flows" "$T/e.html" && grep -q '<svg' "$T/e.html" && ok || bad "html entity graph"
expect_graph() { "$BIN" trace --db "$T/db" --from "@$first" --graph "$1" >/dev/null 2>&1; }
! expect_graph sideways && ok || bad "--graph sideways accepted"
"$BIN" trace --db "$T/db" --from "@$first" >"$T/t.txt" && grep -q "^endpoints:" "$T/t.txt" &&
    grep -q "by category" "$T/t.txt" && grep -q "^patterns: txs:" "$T/t.txt" &&
    grep -q "^entity graph:" "$T/t.txt" && ok || bad "text output"
# A txid seed (all outputs) and an address seed.
theftout=$(head -2 "$first" | tail -1)
"$BIN" trace --db "$T/db" --from "$theft" --format json >/dev/null && ok || bad "txid seed"
addr=$("$BIN" tx --db "$T/db" --json "$theft" | $PY tests/trace_doc.py first-output-address)
"$BIN" trace --db "$T/db" --from "$addr" --format json >/dev/null && ok || bad "address seed"

# Bad input.
expect() { # CODE PATTERN ARGS...
    local code=$1 pat=$2
    shift 2
    "$BIN" trace "$@" >/dev/null 2>"$T/err"
    local rc=$?
    [ "$rc" -eq "$code" ] && grep -q -- "$pat" "$T/err" && ok ||
        bad "trace $*: exit $rc (want $code), stderr: $(cat "$T/err")"
}
zero=0000000000000000000000000000000000000000000000000000000000000001
expect 3 "not in the store" --db "$T/db" --from "$zero"
expect 3 "not in the store" --db "$T/db" --from "$zero:0"
expect 2 "bad output index" --db "$T/db" --from "$theft:x"
expect 3 "no output 999" --db "$T/db" --from "$theft:999"
expect 2 "not a txid" --db "$T/db" --from "nonsense"
expect 3 "not in the store" --db "$T/db" --from 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa
expect 2 "hops must be" --db "$T/db" --from "$theftout" --hops 0
expect 2 "hops must be" --db "$T/db" --from "$theftout" --hops 100000
expect 2 "hops must be" --db "$T/db" --from "$theftout" --hops -3
expect 2 "policy must be" --db "$T/db" --from "$theftout" --policy maybe
expect 2 "direction must be" --db "$T/db" --from "$theftout" --direction sideways
expect 2 "min-value must be" --db "$T/db" --from "$theftout" --min-value lots
expect 2 "format must be" --db "$T/db" --from "$theftout" --format svg
expect 2 "usage" --db "$T/db"
printf '%s\n\n%s:0\nnot-a-seed\n' "$theftout" "$theft" >"$T/badseeds.txt"
expect 2 "badseeds.txt:4" --db "$T/db" --from "@$T/badseeds.txt"
printf '%s\n%s\n' "$theftout" "$zero:1" >"$T/badseeds2.txt"
expect 3 "badseeds2.txt:2" --db "$T/db" --from "@$T/badseeds2.txt"
expect 1 "cannot open" --db "$T/db" --from "@$T/missing.txt"
finish
