#!/bin/bash
# e2e_evm_cluster: `cointrail evm-cluster` (issue 15 part 5): exchange deposit addresses found by
# the deposit-address heuristic, scored against the EVM generator's truth (roles
# exchange_deposit / exchange_hot_wallet) with tests/evm_cluster_eval.py; every assignment's
# forwarding tx checked in the raw CSVs; etrace's answers by actor name an unlabelled deposit
# address's exchange only with the entities; the chain data is unchanged; bad input is refused.
. "$(dirname "$0")/common.sh"
E="$PY tests/evm_cluster_eval.py"
"$BIN" generate --quiet --out "$T/g" --blocks 120 --txs-per-block 30 --users 300 --maturity 5 \
    --halving-interval 60 --era 2019.5-2024.3 --privacy-rate 0.25 --evm --seed 23 \
    --evm-scenarios 2 --evm-txs-per-block 1.5 >"$T/gen.out" 2>"$T/err" || {
    bad "generate: $(cat "$T/err")"
    finish
    exit
}
"$BIN" evm-import --db "$T/db" "$T/g/evm" >/dev/null 2>"$T/err" || bad "evm-import: $(cat "$T/err")"
"$BIN" labels import --db "$T/db" --format csv "$T/g/labels.csv" >/dev/null 2>"$T/err" ||
    bad "labels import: $(cat "$T/err")"
snap() { (cd "$T/db/evm/eth" && find . -type f ! -name LOCK | sort | xargs sha256sum); }
snap >"$T/before"

# default settings: precision and recall of deposit address -> exchange against the truth
if "$BIN" evm-cluster --db "$T/db" --json >"$T/ent.json" 2>"$T/err"; then ok; else bad "evm-cluster: $(cat "$T/err")"; fi
if [ -s "$T/db/evm/eth.entities.json" ]; then ok; else bad "no eth.entities.json beside the store"; fi
if $E score "$T/ent.json" "$T/g/truth.jsonl" 99 95 >"$T/score"; then ok; else bad "score: $(tail -3 "$T/score")"; fi
tail -1 "$T/score"
if $E score "$T/db/evm/eth.entities.json" "$T/g/truth.jsonl" 99 95 >/dev/null; then ok; else bad "saved set scores differently"; fi
if $E provenance "$T/ent.json" "$T/g/truth.jsonl" "$T/g/evm" >"$T/prov"; then ok; else bad "provenance: $(tail -3 "$T/prov")"; fi
tail -1 "$T/prov"
if snap | cmp -s - "$T/before"; then ok; else bad "evm-cluster changed the chain data"; fi
cp "$T/db/evm/eth.entities.json" "$T/first.json"
"$BIN" evm-cluster --db "$T/db" >"$T/text" 2>"$T/err" || bad "second run: $(cat "$T/err")"
if cmp -s "$T/first.json" "$T/db/evm/eth.entities.json"; then ok; else bad "second run, other bytes"; fi
if grep -q "^deposit addresses: " "$T/text"; then ok; else bad "text output: $(head -2 "$T/text")"; fi

# the oracles can fail: a wrong exchange, a wrong forwarding tx, a hot-wallet rule nobody meets
$PY -c "
import json,sys; d=json.load(open(sys.argv[1])); d['deposits'][0]['exchange']='Elsewhere'
d['deposits'][1]['tx']=d['deposits'][2]['tx']; json.dump(d,open(sys.argv[2],'w'))" "$T/ent.json" "$T/mut.json"
if $E score "$T/mut.json" "$T/g/truth.jsonl" 100 95 >/dev/null; then bad "score missed a wrong exchange"; else ok; fi
if $E provenance "$T/mut.json" "$T/g/truth.jsonl" "$T/g/evm" >/dev/null; then bad "provenance missed a wrong tx"; else ok; fi
"$BIN" evm-cluster --db "$T/db" --min-feeders 100000 --json >"$T/none.json" 2>"$T/err" || bad "min-feeders: $(cat "$T/err")"
if $E score "$T/none.json" "$T/g/truth.jsonl" 99 95 >/dev/null; then bad "score passed with nothing found"; else ok; fi

# etrace: a payment into an unlabelled deposit address, cut at its block, is held by the exchange
set -- $($E deposit "$T/g/truth.jsonl")
if [ $# -eq 3 ]; then ok; else bad "no unlabelled deposit paid by a user in the truth"; fi
"$BIN" evm-cluster --db "$T/db" >/dev/null 2>&1
"$BIN" etrace --db "$T/db" --from "$2" --until "$3" --json >"$T/tr.json" 2>/dev/null || bad "etrace failed"
EX=$($PY -c "
import json,sys
for l in open(sys.argv[1]):
    t=json.loads(l)
    if t['kind']=='evm_account' and t['address']==sys.argv[2]: print(t['name'].split(' (')[0])" "$T/g/truth.jsonl" "$1")
if $E actor "$T/tr.json" "$1" "$EX" >/dev/null; then ok; else
    bad "etrace: deposit $1 not held by its exchange"
fi
mv "$T/db/evm/eth.entities.json" "$T/keep.json"
"$BIN" etrace --db "$T/db" --from "$2" --until "$3" --json >"$T/tr0.json" 2>/dev/null || bad "etrace (no entities) failed"
if $E actor "$T/tr0.json" "$1" "$EX" >/dev/null; then bad "an exchange named without entities"; else ok; fi

# bad input: a damaged entities file names itself and the field; bad options; no store
expect_fail() { # WHAT PATTERN CMD...
    local what=$1 pat=$2
    shift 2
    "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q -- "$pat" "$T/err"; then ok; else
        bad "$what: rc $rc, stderr: $(head -2 "$T/err")"
    fi
}
head -c 200 "$T/keep.json" >"$T/db/evm/eth.entities.json"
expect_fail "truncated entities" "eth.entities.json: line" "$BIN" etrace --db "$T/db" --from "$2"
$PY -c "
import json,sys; d=json.load(open(sys.argv[1])); d['format']=9; json.dump(d,open(sys.argv[2],'w'))" "$T/keep.json" "$T/db/evm/eth.entities.json"
expect_fail "entities format" "field format" "$BIN" etrace --db "$T/db" --from "$2"
$PY -c "
import json,sys; d=json.load(open(sys.argv[1])); d['deposits'][0]['address']='0x12'; json.dump(d,open(sys.argv[2],'w'))" "$T/keep.json" "$T/db/evm/eth.entities.json"
expect_fail "entities address" "deposits\[0\]" "$BIN" etrace --db "$T/db" --from "$2"
$PY -c "
import json,sys; d=json.load(open(sys.argv[1])); del d['deposits'][0]['tx']; json.dump(d,open(sys.argv[2],'w'))" "$T/keep.json" "$T/db/evm/eth.entities.json"
expect_fail "entities tx missing" "field tx" "$BIN" etrace --db "$T/db" --from "$2"
expect_fail "min-share 0" "min-share" "$BIN" evm-cluster --db "$T/db" --min-share 0
expect_fail "min-share 101" "min-share" "$BIN" evm-cluster --db "$T/db" --min-share 101
expect_fail "min-feeders x" "min-feeders" "$BIN" evm-cluster --db "$T/db" --min-feeders x
expect_fail "no store" "." "$BIN" evm-cluster --db "$T/nothing"
expect_fail "chain name" "chain" "$BIN" evm-cluster --db "$T/db" --chain ../eth
if snap | cmp -s - "$T/before"; then ok; else bad "the chain data changed"; fi
finish
