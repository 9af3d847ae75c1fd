#!/bin/bash
# e2e_evm_entity: EVM entities of unlabelled exchanges (issue 15 part 5): `generate
# --evm-services` makes exchanges no label names and lookalikes of their deposit addresses (DEX
# traders, airdrop claimers, payroll payees, savers, a user's own wallets); `evm-cluster` is
# scored against the truth (tests/evm_cluster_eval.py services), with its guards and without;
# `cointrail entity 0x...` and GET /v1/entity/0x... show the entity (members paged, hot wallet,
# rule, forwarding txs, parameters, labels) and agree; a label added later names it; an
# evm-cluster killed with kill -9 at any point leaves the old set or none, and a rerun writes
# the same bytes as an uninterrupted run.
. "$(dirname "$0")/common.sh"
E="$PY tests/evm_cluster_eval.py"
"$BIN" generate --quiet --out "$T/g" --blocks 120 --txs-per-block 30 --users 600 --maturity 5 \
    --halving-interval 60 --era 2019.5-2024.3 --privacy-rate 0.25 --evm --seed 41 \
    --evm-scenarios 2 --evm-txs-per-block 1.5 --evm-services 3 >"$T/gen.out" 2>"$T/err" || {
    bad "generate: $(cat "$T/err")"
    finish
    exit
}
"$BIN" import --db "$T/db" --quiet "$T/g" >/dev/null 2>"$T/err" || bad "import: $(cat "$T/err")"
"$BIN" evm-import --db "$T/db" "$T/g/evm" >/dev/null 2>"$T/err" || bad "evm-import: $(cat "$T/err")"
"$BIN" labels import --db "$T/db" --format csv "$T/g/labels.csv" >/dev/null 2>"$T/err" ||
    bad "labels import: $(cat "$T/err")"

# accuracy against the truth, and the guards are what keeps the lookalikes out
"$BIN" evm-cluster --db "$T/db" --json >"$T/ent.json" 2>"$T/err" && ok || bad "evm-cluster: $(cat "$T/err")"
$E services "$T/ent.json" "$T/g/truth.jsonl" 99 95 >"$T/score" && ok || bad "services: $(tail -3 "$T/score")"
tail -2 "$T/score" | head -1
$E provenance "$T/ent.json" "$T/g/truth.jsonl" "$T/g/evm" >"$T/prov" && ok || bad "provenance: $(tail -3 "$T/prov")"
"$BIN" evm-cluster --db "$T/db" --json --max-funder-share 100 --max-return-share 100 >"$T/off.json" ||
    bad "evm-cluster, guards off"
$E services "$T/off.json" "$T/g/truth.jsonl" 99 0 >"$T/offscore" && bad "guards off, still precise" || ok
for role in dex_trader airdrop_claimer payee own_wallet; do
    grep -q "\"$role\"" <(tail -1 "$T/offscore") && ok || bad "guards off: no $role among the false positives"
done
"$BIN" evm-cluster --db "$T/db" --json --window 2000 >"$T/late.json" || bad "evm-cluster --window 2000"
$E services "$T/late.json" "$T/g/truth.jsonl" 0 0 | tail -1 | grep -q '"saver"' && ok ||
    bad "a 2000-block window lets no saver in"
"$BIN" evm-cluster --db "$T/db" --json >"$T/ent.json" || bad "evm-cluster again"

# entity views: an unlabelled exchange's deposit address, paged; the hot wallet; the API
set -- $($E pick "$T/g/truth.jsonl" "$T/ent.json")
[ $# -eq 2 ] && ok || bad "no unlabelled deposit address assigned"
DEP=$1 HOT=$2
"$BIN" entity --db "$T/db" --json "$DEP" >"$T/all.json" 2>"$T/err" && ok || bad "entity: $(cat "$T/err")"
TOTAL=$($PY tests/jget.py "[\"total\"]" "$T/all.json")
pages=()
for off in 0 4 8 12 16 20 24 28 32 36 40 44 48; do
    "$BIN" entity --db "$T/db" --json --offset $off --limit 4 "$DEP" >"$T/p$off.json" || bad "entity page $off"
    pages+=("$T/p$off.json")
done
$E entity "$T/g/truth.jsonl" "$DEP" "$TOTAL" "${pages[@]}" >"$T/eo" && ok || bad "entity pages: $(cat "$T/eo")"
$E entity "$T/g/truth.jsonl" "$DEP" "$TOTAL" "$T/all.json" >"$T/eo" && ok || bad "entity: $(cat "$T/eo")"
"$BIN" entity --db "$T/db" --json "$HOT" >"$T/hot.json" && ok || bad "entity of the hot wallet"
$PY - "$T/all.json" "$T/hot.json" "$DEP" "$HOT" <<'PY' && ok || bad "hot wallet's entity differs"
import json, sys
a, h = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert a["entity"] == h["entity"] == sys.argv[4] and a["members"] == h["members"]
assert a["name"] is None and a["formed"]["rule"] == "deposit-forward-unlabelled"
assert a["formed"]["params"]["window"] == 100 and a["size"] == a["total"] + 1
m = [x for x in a["members"] if x["address"] == sys.argv[3]][0]
assert m["forward_txs"] and m["funder"] and m["delay"] >= 0
PY
"$BIN" entity --db "$T/db" "$DEP" >"$T/text" && grep -q "^entity $HOT (eth): unnamed service" "$T/text" &&
    grep -q "formed by deposit-forward-unlabelled" "$T/text" && grep -q "^  $DEP  forwards" "$T/text" && ok ||
    bad "entity text: $(head -3 "$T/text")"
# a sink the guards refused, an address in no entity, one that is no address
COLL=$($PY -c "
import json,sys
for l in open(sys.argv[1]):
    t=json.loads(l)
    if t['kind']=='evm_account' and t['role']=='collector': print(t['address'])" "$T/g/truth.jsonl")
"$BIN" entity --db "$T/db" "$COLL" >/dev/null 2>"$T/err"
[ $? -ne 0 ] && grep -q "refused" "$T/err" && ok || bad "the airdrop collector: $(cat "$T/err")"
"$BIN" entity --db "$T/db" 0x00000000000000000000000000000000000000ff >/dev/null 2>"$T/err"
[ $? -ne 0 ] && grep -q "in no EVM entity" "$T/err" && ok || bad "no entity: $(cat "$T/err")"
"$BIN" entity --db "$T/db" 0x12 >/dev/null 2>"$T/err"
rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "not an EVM address" "$T/err" && ok || bad "bad address: $(cat "$T/err")"

# the API: the same document
KEY=$("$BIN" serve-key --owner test --scopes read --key-file "$T/keys") || bad "serve-key"
"$BIN" serve --db "$T/db" --listen 127.0.0.1:0 --api-keys "$T/keys" --port-file "$T/port" \
    --poll-ms 50 2>"$T/serve.log" &
SERVE_PID=$!
trap 'kill $SERVE_PID 2>/dev/null; [ -n "${KEEP_T:-}" ] || rm -rf "$T"' EXIT
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
U="127.0.0.1:$(cat "$T/port")"
api() { curl -s --max-time 60 -H "X-API-Key: $KEY" "$@"; }
api "$U/v1/entity/$DEP?offset=4&limit=4" >"$T/api.json"
cmp -s <($PY -m json.tool --sort-keys "$T/api.json") <($PY -m json.tool --sort-keys "$T/p4.json") && ok ||
    bad "API page differs: $(head -c 300 "$T/api.json")"
[ "$(api -o /dev/null -w '%{http_code}' "$U/v1/entity/0x00000000000000000000000000000000000000ff")" = 404 ] && ok ||
    bad "API: no entity is not 404"
[ "$(api -o /dev/null -w '%{http_code}' "$U/v1/entity/0x12")" = 400 ] && ok || bad "API: a bad address is not 400"
kill $SERVE_PID 2>/dev/null
wait $SERVE_PID 2>/dev/null

# a label added after the run names the entity (the run is not repeated)
echo "chain,address,category,actor,source,confidence" >"$T/late.csv"
echo "eth,$DEP,exchange,Laterex,test deposit,0.8" >>"$T/late.csv"
"$BIN" labels import --db "$T/db" --format csv "$T/late.csv" >/dev/null 2>"$T/err" || bad "late label: $(cat "$T/err")"
"$BIN" entity --db "$T/db" --json "$HOT" >"$T/named.json" || bad "entity after the label"
$PY -c "
import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d['name']=='Laterex' and d['named_by']=='labels' else 1)" "$T/named.json" && ok ||
    bad "not named by the later label: $(head -c 300 "$T/named.json")"
"$BIN" evm-cluster --db "$T/db" --json >"$T/ent2.json" || bad "evm-cluster after the label"
$PY -c "
import json,sys; d=json.load(open(sys.argv[1]))
s=[x for x in d['deposits'] if x['hot_wallet']==sys.argv[2]]
sys.exit(0 if s and all(x['exchange']=='Laterex' for x in s) else 1)" "$T/ent2.json" "$HOT" && ok ||
    bad "the run does not name the entity from its member's label"

# kill -9: at any moment the saved set is the old one (or none) and whole; a rerun is identical
"$BIN" evm-cluster --db "$T/db" >/dev/null || bad "reference run"
cp "$T/db/evm/eth.entities.json" "$T/ref.json"
killed=0
for d in 0.01 0.03 0.05 0.08 0.1 0.15 0.2 0.3; do
    rm -f "$T/db/evm/eth.entities.json"
    [ "$d" = 0.2 ] && cp "$T/ref.json" "$T/db/evm/eth.entities.json"
    "$BIN" evm-cluster --db "$T/db" >/dev/null 2>&1 &
    P=$!
    sleep "$d"
    kill -9 $P 2>/dev/null && killed=$((killed + 1))
    wait $P 2>/dev/null
    if [ -e "$T/db/evm/eth.entities.json" ]; then
        cmp -s "$T/db/evm/eth.entities.json" "$T/ref.json" && ok || bad "killed after $d s: a partial set"
    else ok; fi
    "$BIN" evm-cluster --db "$T/db" >/dev/null || bad "rerun after kill at $d s"
    cmp -s "$T/db/evm/eth.entities.json" "$T/ref.json" && ok || bad "rerun after kill at $d s: other bytes"
done
[ $killed -ge 2 ] && ok || bad "only $killed runs were still running when killed"
ls "$T/db/evm" | grep -v '^eth$\|^eth.entities.json$\|^exposure' >"$T/left"
[ ! -s "$T/left" ] && ok || bad "temp files left: $(cat "$T/left")"
finish
