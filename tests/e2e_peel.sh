#!/bin/bash
# Peel chains: the detector finds the laundering scenarios' peel steps on a generated chain
# (recall and a floor on precision, measured against the truth file), and a thief's entity
# shows the peel steps it spent into.
source "$(dirname "$0")/common.sh"

"$BIN" generate --out "$T/g" --seed 21 --blocks 300 --txs-per-block 150 --maturity 5 \
    --era 2019-2024.3 --users 600 --scenarios 8 --quiet >/dev/null || bad "generate"
"$BIN" import --db "$T/db" "$T/g" >/dev/null && "$BIN" cluster --db "$T/db" >/dev/null || bad "import, cluster"
"$BIN" cluster --db "$T/db" --evaluate "$T/g/truth.jsonl" --json >"$T/ev.json" || bad "evaluate"
read -r truth recall precision < <($PY -c "
import json; d = json.load(open('$T/ev.json'))['detectors']['peel_chain']
print(d['truth'], d['recall'] or 0, d['precision'] or 0)")
[ "$truth" -gt 20 ] && ok || bad "too few true peel steps to measure ($truth)"
$PY -c "import sys; sys.exit(0 if $recall >= 0.95 else 1)" && ok || bad "peel recall $recall"
$PY -c "import sys; sys.exit(0 if $precision >= 0.5 else 1)" && ok || bad "peel precision $precision"
# The address that paid into a true peel step: its entity shows peel steps spent into.
peeltx=$($PY -c "
import json
for l in open('$T/g/truth.jsonl'):
    d = json.loads(l)
    if d.get('kind') == 'scenario':
        p = [s['txid'] for s in d['steps'] if s['kind'] == 'peel']
        if p: print(p[len(p) // 2]); break")
payer=$("$BIN" tx --db "$T/db" --json "$peeltx" | $PY -c "
import json, sys; print(json.load(sys.stdin)['inputs'][0]['address'])")
steps=$("$BIN" entity --db "$T/db" --json "$payer" | $PY -c "
import json, sys; print(json.load(sys.stdin)['peel_chain_activity']['steps_spent_into'])")
[ "${steps:-0}" -gt 0 ] && ok || bad "the peel payer's entity shows no peel steps (${steps:-none})"
"$BIN" entity --db "$T/db" "$payer" | grep -q "peel chain" && ok || bad "human output names peel chains"
finish
