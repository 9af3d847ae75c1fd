#!/bin/bash
# Peel chains: the detector finds the laundering scenarios' peel steps on a generated chain
# (recall and a floor on precision, measured against the truth file), and a thief's entity
# shows the peel steps it spent into.
source "$(dirname "$0")/common.sh"

"$BIN" generate --out "$T/g" --seed 21 --blocks 300 --txs-per-block 150 --maturity 5 \
    --era 2019-2024.3 --users 600 --scenarios 8 --quiet >/dev/null || bad "generate"
"$BIN" import --db "$T/db" "$T/g" >/dev/null && "$BIN" cluster --db "$T/db" >/dev/null || bad "import, cluster"
"$BIN" cluster --db "$T/db" --evaluate "$T/g/truth.jsonl" --json >"$T/ev.json" || bad "evaluate"
read -r truth recall precision < <($PY tests/peel_check.py detector "$T/ev.json")
[ "$truth" -gt 20 ] && ok || bad "too few true peel steps to measure ($truth)"
$PY tests/peel_check.py at-least "$recall" 0.95 && ok || bad "peel recall $recall"
$PY tests/peel_check.py at-least "$precision" 0.5 && ok || bad "peel precision $precision"
# The address that paid into a true peel step: its entity shows peel steps spent into.
peeltx=$($PY tests/peel_check.py middle-step "$T/g/truth.jsonl")
payer=$("$BIN" tx --db "$T/db" --json "$peeltx" | $PY tests/jget.py '["inputs"][0]["address"]')
steps=$("$BIN" entity --db "$T/db" --json "$payer" | $PY tests/jget.py '["peel_chain_activity"]["steps_spent_into"]')
[ "${steps:-0}" -gt 0 ] && ok || bad "the peel payer's entity shows no peel steps (${steps:-none})"
"$BIN" entity --db "$T/db" "$payer" | grep -q "peel chain" && ok || bad "human output names peel chains"
finish
