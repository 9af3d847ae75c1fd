#!/bin/bash
# Tracing across chains (issue 7): on a generated chain with an EVM side (`generate --evm`), a
# forward trace from each EVM theft (`etrace --cross-chain`) follows the tainted router and
# bridge deposits over the links of `xchain links` into the Bitcoin chain. Checked against the
# generator's truth: every swap or bridge leg the trace reaches is linked to the truth's
# outbound Bitcoin tx and output; the Bitcoin leg is seeded with exactly that output's value;
# amounts reaching Bitcoin endpoints are the Bitcoin trace's scaled by the deposit's tainted share
# (recomputed here with Python integers); a theft traced through the mixers reaches most of its
# scenario's legs; and the Bitcoin side reaches the cash-out services of the truth.
source "$(dirname "$0")/common.sh"

"$BIN" generate --quiet --out "$T/g" --blocks 240 --txs-per-block 60 --users 400 --maturity 5 \
    --halving-interval 60 --era 2019.5-2024.3 --privacy-rate 0.25 --evm --seed 11 \
    --evm-scenarios 2 >/dev/null 2>"$T/err" || bad "generate --evm: $(cat "$T/err")"
"$BIN" import --db "$T/db" --quiet "$T/g" >/dev/null || bad "import"
"$BIN" evm-import --db "$T/db" "$T/g/evm" >/dev/null || bad "evm-import"
"$BIN" labels import --db "$T/db" "$T/g/labels.csv" >/dev/null || bad "labels"
"$BIN" cluster --db "$T/db" >/dev/null || bad "cluster"

# Before the links exist the cross-chain trace says how to make them.
THEFTS=$($PY tests/xtrace_thefts.py "$T/g/truth.jsonl")
first=$(echo "$THEFTS" | head -1 | awk '{print $2}')
"$BIN" etrace --db "$T/db" --from "$first" --cross-chain 2>"$T/err" >/dev/null
[ $? -eq 3 ] && grep -q "xchain links" "$T/err" && ok || bad "no links: $(cat "$T/err")"
"$BIN" xchain links --db "$T/db" >/dev/null || bad "xchain links"

echo "$THEFTS" | while read -r sid tx; do
    "$BIN" etrace --db "$T/db" --from "$tx" --hops 60 --through-mixers --cross-chain \
        --btc-hops 30 --json >"$T/x$sid.json" || echo "etrace $sid failed" >>"$T/fails"
    "$BIN" etrace --db "$T/db" --from "$tx" --hops 60 --through-mixers --cross-chain \
        >"$T/x$sid.txt" || echo "etrace text $sid failed" >>"$T/fails"
done
[ -s "$T/fails" ] && bad "$(cat "$T/fails")" || ok
grep -q "cross-chain:" "$T/x1.txt" && ok || bad "text output"

$PY tests/xtrace_truth.py "$T" && ok || bad "cross-chain trace against the truth"
# Bad use: a backward cross-chain trace, hops out of range.
"$BIN" etrace --db "$T/db" --from "$first" --cross-chain --direction backward 2>"$T/err" >/dev/null
[ $? -eq 2 ] && grep -q "forward" "$T/err" && ok || bad "backward cross-chain: $(cat "$T/err")"
"$BIN" etrace --db "$T/db" --from "$first" --cross-chain --btc-hops 0 2>/dev/null >/dev/null
[ $? -eq 2 ] && ok || bad "--btc-hops 0 accepted"
"$BIN" etrace --db "$T/db" --from "$first" --cross-chain --min-confidence 2 2>/dev/null >/dev/null
[ $? -eq 2 ] && ok || bad "--min-confidence 2 accepted"
finish
