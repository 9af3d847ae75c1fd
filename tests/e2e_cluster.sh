#!/bin/bash
# Clustering end to end: `cointrail cluster` and `cointrail entity` against an independent
# union-find (tests/cluster_oracle.py, python3-bitcoinlib) on the real demo blocks and on a
# generated chain with every CoinJoin kind; incremental extension equals a rebuild; a
# reorganisation below the clustering forces a rebuild; other heuristics force a rebuild; a
# damaged state file is refused and rebuilt; leftovers of a crashed run are cleaned up;
# errors and exit codes.
source "$(dirname "$0")/common.sh"
field() { $PY tests/cluster_json.py field "$1"; }

# 1. The real demo blocks.
"$BIN" import --db "$T/demo" demo >/dev/null || bad "import demo"
$PY tests/cluster_oracle.py "$BIN" "$T/demo" demo >"$T/o1.txt" && ok || { cat "$T/o1.txt"; bad "oracle on demo"; }

# 2. A generated chain with every CoinJoin kind, generic rounds, payroll and payout batches and
#    discounted Tx0s, and its labels, clustered in steps as it is imported, with guards low
#    enough to refuse merges (a labelled service and established unlabelled entities).
"$BIN" generate --out "$T/g" --seed 11 --blocks 220 --txs-per-block 60 --maturity 5 \
    --halving-interval 50 --era 2019-2024.3 --privacy-rate 0.25 --users 300 --generic-rounds 1 \
    --lookalikes 1 --tx0-discount 0.2 --quiet >/dev/null || bad "generate"
G="--guard 40 --established 3"
"$BIN" import --db "$T/g.db" --stop-after 150 "$T/g" >/dev/null
"$BIN" labels import --db "$T/g.db" "$T/g/labels.csv" >/dev/null || bad "labels import"
"$BIN" cluster --db "$T/g.db" $G --json >"$T/c1.json" && [ "$(field "['mode']" <"$T/c1.json")" = built ] &&
    ok || bad "first cluster builds"
[ "$(field "['params']['guard']" <"$T/c1.json")" = 40 ] && [ "$(field "['params']['labels']['addresses']" <"$T/c1.json")" -gt 100 ] &&
    ok || bad "parameters recorded: $(cat "$T/c1.json")"
"$BIN" import --db "$T/g.db" --stop-after 60 "$T/g" >/dev/null
"$BIN" cluster --db "$T/g.db" $G --json >"$T/c2.json"
[ "$(field "['mode']" <"$T/c2.json")" = extended ] && ok || bad "second cluster extends"
for i in 1 2 3; do # one block at a time: only its txs are processed
    before=$("$BIN" stats --db "$T/g.db" --json | field "['txs']")
    "$BIN" import --db "$T/g.db" --stop-after 1 "$T/g" >/dev/null
    after=$("$BIN" stats --db "$T/g.db" --json | field "['txs']")
    n=$("$BIN" cluster --db "$T/g.db" $G --json | field "['txs_processed']")
    [ "$n" -eq $((after - before)) ] && ok || bad "one block: processed $n, want $((after - before))"
done
"$BIN" import --db "$T/g.db" "$T/g" >/dev/null
"$BIN" cluster --db "$T/g.db" $G >/dev/null
[ "$("$BIN" cluster --db "$T/g.db" $G --json | field "['mode']")" = "up to date" ] && ok || bad "up to date"
[ "$("$BIN" cluster --db "$T/g.db" $G --json | field "['refused_merges']")" -gt 0 ] && ok || bad "the guards refuse merges"
"$BIN" cluster --db "$T/g.db" --dump >"$T/inc.txt"
cat "$T/g.db"/cluster-links.*.col >"$T/inc.links"; cat "$T/g.db"/cluster-refused.*.col >"$T/inc.refused"
$PY tests/cluster_oracle.py "$BIN" "$T/g.db" "$T/g" --labels "$T/g/labels.csv" --guard 40 --established 3 \
    >"$T/o2.txt" && ok || { cat "$T/o2.txt"; bad "oracle on generated chain"; }
"$BIN" cluster --db "$T/g.db" $G --rebuild --json | field "['why']" | grep -q rebuild && ok || bad "--rebuild"
"$BIN" cluster --db "$T/g.db" --dump >"$T/full.txt"
cmp -s "$T/inc.txt" "$T/full.txt" && ok || bad "incremental clustering differs from a rebuild"
cmp -s "$T/inc.links" <(cat "$T/g.db"/cluster-links.*.col) && cmp -s "$T/inc.refused" <(cat "$T/g.db"/cluster-refused.*.col) &&
    ok || bad "incremental links or refused merges differ from a rebuild's"
# Provenance in text: how an entity was formed, why two addresses are (not) joined.
big=$("$BIN" cluster --db "$T/g.db" $G --json | field "['largest'][0]['first_address']")
"$BIN" entity --db "$T/g.db" "$big" | grep -q "formed by .* multi-input" && ok || bad "entity shows its formation"
two=$("$BIN" entity --db "$T/g.db" --json --offset 5 --limit 1 "$big" | field "['addresses'][0]['address']")
other=$("$BIN" cluster --db "$T/g.db" $G --json | field "['largest'][1]['first_address']")
"$BIN" entity why --db "$T/g.db" "$big" "$two" | grep -q "joined by [0-9]* link" && ok || bad "entity why joined"
"$BIN" entity why --db "$T/g.db" "$big" "$other" | grep -q "not joined" && ok || bad "entity why not joined"
"$BIN" entity why --db "$T/g.db" "$big" >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "entity why with one address: 2"
"$BIN" entity why --db "$T/g.db" "$big" 1BoatSLRHtKNngkdXEeobR76b53LETtpyT >/dev/null 2>&1; [ $? -eq 3 ] && ok || bad "entity why unknown: 3"
# Other labels rebuild (the guards depend on them); --no-labels too.
printf 'chain,address,category,actor\nbtc,%s,exchange,Another Exchange\n' "$two" >"$T/more.csv"
"$BIN" labels import --db "$T/g.db" "$T/more.csv" >/dev/null
[ "$("$BIN" cluster --db "$T/g.db" $G --json | field "['why']")" = "other labels" ] && ok || bad "new labels rebuild"
[ "$("$BIN" cluster --db "$T/g.db" $G --no-labels --json | field "['why']")" = "other labels" ] && ok || bad "--no-labels rebuilds"
[ "$("$BIN" cluster --db "$T/g.db" --guard 40 --json | field "['why']")" = "other guard settings" ] && ok || bad "other guard settings rebuild"

# The API answers the same: /v1/tx and /v1/entity carry the detection and the formation.
"$BIN" cluster --db "$T/g.db" $G >/dev/null
K=$T/keys
KEY=$("$BIN" serve-key --owner t --scopes read --key-file "$K") || bad "serve-key"
"$BIN" serve --db "$T/g.db" --listen 127.0.0.1:0 --api-keys "$K" --port-file "$T/port" 2>"$T/serve.log" &
SERVE_PID=$!
trap 'kill $SERVE_PID 2>/dev/null; [ -n "${KEEP_T:-}" ] || rm -rf "$T"' EXIT
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
U=127.0.0.1:$(cat "$T/port")
cjtx=$(grep -m1 ' generic$' "$T/full.txt" | cut -d' ' -f2)
curl -s -H "X-API-Key: $KEY" "$U/v1/tx/$cjtx" >"$T/api.tx"
"$BIN" tx --db "$T/g.db" --json "$cjtx" >"$T/cli.tx"
"$BIN" entity --db "$T/g.db" --json "$big" >"$T/cli.entity"
curl -s -H "X-API-Key: $KEY" "$U/v1/entity/$big" >"$T/api.entity"
kill $SERVE_PID 2>/dev/null
$PY - "$T" <<'PYEOF' && ok || bad "API tx/entity answers differ from the CLI's"
import json, sys
t = sys.argv[1]
a, c = json.load(open(t + "/api.tx")), json.load(open(t + "/cli.tx"))
assert a["coinjoin"] == c["coinjoin"] and a["coinjoin"]["kind"] == "generic", (a, c)
assert a["coinjoin"]["rule"] == "equal-output-participants" and a["clustering"]["excluded"]
a, c = json.load(open(t + "/api.entity")), json.load(open(t + "/cli.entity"))
for k in ("formation", "flagged_txs", "flagged_total", "params"):
    assert a[k] == c[k], k
assert c["formation"]["multi_input"] + c["formation"]["change"] == c["size"] - 1
PYEOF

# --evaluate: its pairwise precision and recall, largest wrong cluster and per-detector figures
# are what tests/cluster_accuracy.py computes from the dump and the truth.
"$BIN" cluster --db "$T/g.db" $G --dump >"$T/g.dump"
"$BIN" cluster --db "$T/g.db" $G --evaluate "$T/g/truth.jsonl" --json >"$T/eval.json" &&
    $PY tests/cluster_accuracy.py "$T/g/truth.jsonl" "$T/g.dump" --compare "$T/eval.json" >/dev/null &&
    ok || bad "--evaluate differs from cluster_accuracy.py"

# 3. Other heuristics rebuild; change links are counted; the guard refuses big merges.
out=$("$BIN" cluster --db "$T/g.db" --heuristics round,optimal --json)
[ "$(echo "$out" | field "['mode']")" = built ] && [ "$(echo "$out" | field "['why']")" = "other heuristics" ] &&
    ok || bad "new heuristics rebuild: $out"
[ "$(echo "$out" | field "['change_links']")" -gt 0 ] && ok || bad "change links made"
out=$("$BIN" cluster --db "$T/g.db" --heuristics script --guard 5 --json)
[ "$(echo "$out" | field "['refused_merges']")" -gt 0 ] && ok || bad "guard 5 refuses merges: $out"
"$BIN" cluster --db "$T/g.db" --heuristics bogus >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "bad heuristic is usage"
"$BIN" cluster --db "$T/g.db" --json >/dev/null   # back to the default

# 4. A damaged state file is refused by readers and rebuilt by `cluster`; a crashed run's
#    leftovers (a map of a generation never committed) are removed.
addr=$(grep -m1 '^a ' "$T/full.txt" | cut -d' ' -f2)
"$BIN" entity --db "$T/g.db" "$addr" >/dev/null && ok || bad "entity by address"
cp "$T/g.db/cluster.state" "$T/state.bak"
sed -i 's/^txs /txs 1/' "$T/g.db/cluster.state"
"$BIN" entity --db "$T/g.db" "$addr" >/dev/null 2>"$T/err.txt"; rc=$?
[ $rc -eq 1 ] && grep -q "checksum mismatch" "$T/err.txt" && ok || bad "damaged state refused (rc $rc)"
"$BIN" cluster --db "$T/g.db" --json | field "['why']" | grep -q damaged && ok || bad "damaged state rebuilt"
: >"$T/g.db/cluster-map.999.col"
: >"$T/g.db/cluster-links.999.col"
"$BIN" import --db "$T/g.db" "$T/g" >/dev/null
"$BIN" cluster --db "$T/g.db" --rebuild >/dev/null
[ ! -e "$T/g.db/cluster-map.999.col" ] && [ ! -e "$T/g.db/cluster-links.999.col" ] && ok || bad "stale map and links files removed"
[ "$(ls "$T/g.db" | grep -c "^cluster-")" -eq 5 ] && ok || bad "one map, sizes, cj, links and refused file remain"

# 5. Errors and exit codes.
"$BIN" entity --db "$T/g.db" 1BoatSLRHtKNngkdXEeobR76b53LETtpyT >/dev/null 2>&1; [ $? -eq 3 ] && ok || bad "unknown address: 3"
"$BIN" entity --db "$T/g.db" notanaddress >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "bad address: 2"
"$BIN" entity --db "$T/g.db" 999999999 >/dev/null 2>&1; [ $? -eq 3 ] && ok || bad "unknown id: 3"
"$BIN" entity --db "$T/demo" >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "missing argument: 2"
"$BIN" import --db "$T/fresh" demo >/dev/null
"$BIN" entity --db "$T/fresh" 0 2>"$T/err.txt" >/dev/null; [ $? -eq 3 ] && grep -q "cointrail cluster" "$T/err.txt" &&
    ok || bad "entity before cluster says to run cluster"
# Paging: offset/limit slice the address list.
big=$("$BIN" cluster --db "$T/g.db" --json | field "['largest'][0]['entity']")
addrs() { $PY tests/cluster_json.py addresses; }
all=$("$BIN" entity --db "$T/g.db" --json --limit 100000 "$big" | addrs)
page=$("$BIN" entity --db "$T/g.db" --json --offset 2 --limit 3 "$big" | addrs)
[ "$($PY tests/cluster_json.py slice "$all" 2 5)" = "$page" ] && ok || bad "paging"

# 6. A reorganisation below the clustering forces a rebuild (chain from tests/mkchain.py).
$PY tests/mkchain.py "$T/c.json" --blocks 60 --seed 7 --fork-at 45 --fork-len 16
mkdir -p "$T/r"
$PY tests/mkchain.py write "$T/r/blk00000.dat" "$T/c.json" main 0 60
"$BIN" import --db "$T/r.db" "$T/r" >/dev/null && "$BIN" cluster --db "$T/r.db" >/dev/null
$PY tests/mkchain.py write "$T/r/blk00001.dat" "$T/c.json" fork 0 16
"$BIN" import --db "$T/r.db" "$T/r" >/dev/null
"$BIN" entity --db "$T/r.db" 0 >/dev/null 2>"$T/err.txt"; [ $? -eq 1 ] && grep -q reorganised "$T/err.txt" &&
    ok || bad "entity refuses a clustering of a reorganised chain"
"$BIN" cluster --db "$T/r.db" --json | field "['why']" | grep -q reorganised && ok || bad "reorg forces a rebuild"
$PY tests/cluster_oracle.py "$BIN" "$T/r.db" "$T/r" >"$T/o3.txt" && ok || { cat "$T/o3.txt"; bad "oracle after reorg"; }

finish
