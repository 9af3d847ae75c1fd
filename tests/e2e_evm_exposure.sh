#!/bin/bash
# EVM and cross-chain exposure (issue 13, part 3; docs/exposure.md "EVM chains", "Across
# chains"): on a generated chain with an EVM side, the EVM exposure index that evm-import keeps
# equals tests/evmexpo_oracle.py's recomputation from the CSVs (rows, records, drops; with the
# default floors and with floors that drop shares); imported in two halves it is the same as
# imported at once; a kill -9 during its update (incremental and rebuild) then a rerun gives the
# same bytes as a clean run; a change of labels makes it stale until rebuilt; EVM addresses and
# txs are screened from it; Bitcoin screenings carry the exposure that crossed the xchain links,
# with the link's method and confidence, equal to the oracle's; bad input gives clear errors.
source "$(dirname "$0")/common.sh"

"$BIN" generate --quiet --out "$T/g" --blocks 240 --txs-per-block 60 --users 400 --maturity 5 \
    --halving-interval 60 --era 2019.5-2024.3 --privacy-rate 0.25 --evm --seed 11 \
    --evm-scenarios 2 >/dev/null 2>"$T/err" || bad "generate --evm: $(cat "$T/err")"
# the EVM export in two halves by block (every file with a block_number; tokens in the first)
$PY - "$T/g/evm" "$T/h1" "$T/h2" 5600 <<'EOF'
import csv, os, sys
src, d1, d2, cut = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
for d in (d1, d2):
    os.makedirs(d)
for name in os.listdir(src):
    rows = list(csv.reader(open(f"{src}/{name}", newline="")))
    head, body = rows[0], rows[1:]
    col = "number" if name == "blocks.csv" else "block_number"
    if col not in head:
        csv.writer(open(f"{d1}/{name}", "w", newline="")).writerows(rows)
        continue
    k = head.index(col)
    for d, part in ((d1, [r for r in body if int(r[k]) < cut]), (d2, [r for r in body if int(r[k]) >= cut])):
        csv.writer(open(f"{d}/{name}", "w", newline="")).writerows([head] + part)
EOF
"$BIN" import --db "$T/db" --quiet "$T/g" >/dev/null || bad "import"
"$BIN" labels import --db "$T/db" "$T/g/labels.csv" >/dev/null || bad "labels"
cp -a "$T/db" "$T/db1"
# db: both halves at once; db1: in two imports (the index updated after each)
"$BIN" evm-import --db "$T/db" "$T/g/evm" >/dev/null 2>"$T/err" || bad "evm-import: $(cat "$T/err")"
grep -q "evm exposure index: built (new)" "$T/err" && ok || bad "evm-import did not build the index: $(cat "$T/err")"
"$BIN" evm-import --db "$T/db1" "$T/h1" >/dev/null 2>&1 || bad "evm-import half 1"
cp -a "$T/db1" "$T/dbk"
cp -a "$T/db1" "$T/dbs" # served below while the second half and the links arrive
cp -a "$T/db1" "$T/dbh" # gets a label change and the second half in one update
"$BIN" evm-import --db "$T/db1" "$T/h2" >/dev/null 2>"$T/err" || bad "evm-import half 2"
grep -q "evm exposure index: updated" "$T/err" && ok || bad "not incremental: $(cat "$T/err")"
X=evm/eth/exposure
"$BIN" evm-exposure dump --db "$T/db" >"$T/d0" && "$BIN" evm-exposure dump --db "$T/db1" >"$T/d1" \
    && cmp -s "$T/d0" "$T/d1" && ok || bad "two imports differ from one"
cmp -s "$T/db/$X/rows.1.col" "$T/db1/$X/rows.1.col" && cmp -s "$T/db/$X/state.1" "$T/db1/$X/state.2" \
    && ok || bad "two imports: the files differ from one import's"

# against the oracle, default floors and floors that drop shares
$PY tests/evmexpo_oracle.py evm "$BIN" "$T/db" "$T/g/evm" "$T/g/labels.csv" >"$T/o" \
    && ok || bad "oracle (default floors): $(cat "$T/o")"
cp -a "$T/db" "$T/dbf"
"$BIN" evm-exposure build --db "$T/dbf" --rebuild --floor-native 100000000000000000 \
    --floor-token 1000000000 >/dev/null || bad "rebuild with floors"
$PY tests/evmexpo_oracle.py evm "$BIN" "$T/dbf" "$T/g/evm" "$T/g/labels.csv" \
    --floor-native 100000000000000000 --floor-token 1000000000 >"$T/o" \
    && ok || bad "oracle (floors): $(cat "$T/o")"
"$BIN" evm-exposure status --db "$T/dbf" --json >"$T/st" && $PY - "$T/st" <<'EOF' && ok || bad "status: no share below the floor counted"
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d["state"] == "ok" and any(int(x["below_floor"]) > 0 and x["below_floor_shares"] > 0 for x in d["drops"]) else 1)
EOF

# kill -9 during the incremental update (after the blocks are committed), then rerun
COINTRAIL_TEST_EVM_EXPOSURE_CRASH_AFTER=3000 "$BIN" evm-import --db "$T/dbk" "$T/h2" >/dev/null 2>&1
[ $? -eq 137 ] && ok || bad "the crash hook did not kill the update"
ls "$T/dbk/$X" | grep -q "state.2" && bad "a killed update left a committed state" || ok
"$BIN" evm-import --db "$T/dbk" "$T/h2" >/dev/null 2>&1 || bad "rerun after the kill"
diff -r "$T/dbk/$X" "$T/db1/$X" >/dev/null && ok || bad "killed + rerun differs from a clean run: $(diff -r "$T/dbk/$X" "$T/db1/$X" | head -3)"
# kill -9 during a rebuild, then rerun the rebuild: the same as a clean rebuild
cp -a "$T/db" "$T/dbr"
"$BIN" evm-exposure build --db "$T/db" --rebuild >/dev/null || bad "rebuild"
COINTRAIL_TEST_EVM_EXPOSURE_CRASH_AFTER=15000 "$BIN" evm-exposure build --db "$T/dbr" --rebuild >/dev/null 2>&1
[ $? -eq 137 ] && ok || bad "the crash hook did not kill the rebuild"
"$BIN" evm-exposure status --db "$T/dbr" >/dev/null && ok || bad "the last commit is not readable after a kill"
"$BIN" evm-exposure build --db "$T/dbr" --rebuild >/dev/null || bad "rebuild after the kill"
diff -r "$T/dbr/$X" "$T/db/$X" >/dev/null && ok || bad "killed rebuild + rerun differs: $(diff -r "$T/dbr/$X" "$T/db/$X" | head -3)"

# EVM screening: the thief's first address (labelled theft), one it paid (100 % theft, path back
# to the thief), a transfer of the router deposit; a label change makes the index stale
read -r THIEF HOP DEP <<<"$($PY - "$T/g/truth.jsonl" <<'EOF'
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("kind") == "evm_scenario":
        st = d["steps"]
        hops = {s["to"]: s for s in st if s["kind"] == "split" and s["asset"] == "ETH"}
        dep = next(s for s in st if s["kind"] == "router_swap" and s["from"] in hops)
        hop = hops[dep["from"]]
        print(hop["from"], hop["to"], dep["tx"]); break
EOF
)"
"$BIN" screen --db "$T/db" --json "$HOP" >"$T/s1" || bad "screen EVM address"
$PY - "$T/s1" "$THIEF" <<'EOF' && ok || bad "EVM address screening: $(head -c 600 "$T/s1")"
import json, sys
d = json.load(open(sys.argv[1]))
c = d["indirect"]["incoming"]["by_asset"][0]["by_category"][0]
assert d["exposure_index"] == "ok" and d["risk"]["level"] == "severe", d["risk"]
assert c["category"] == "theft" and c["share"] == 1.0 and c["source_address"].lower() == sys.argv[2], c
assert len(c["path"]) == 1
EOF
"$BIN" screen --db "$T/db" --json "$DEP" >"$T/s2" && $PY - "$T/s2" <<'EOF' && ok || bad "EVM tx screening: $(head -c 600 "$T/s2")"
import json, sys
d = json.load(open(sys.argv[1]))
x = [t for t in d["transfers"] if t["by_category"]]
assert x and x[0]["by_category"][0]["category"] == "theft" and x[0]["by_category"][0]["share"] > 0.99
assert d["risk"]["level"] == "severe"
EOF
"$BIN" screen --db "$T/db" "$HOP" | grep -q "risk severe" && ok || bad "EVM text screening"
printf 'chain,address,category,actor,source,confidence\neth,%s,scam,x,test,0.9\n' "$HOP" >"$T/more.csv"
cp -a "$T/db" "$T/dbl"
"$BIN" labels import --db "$T/dbl" "$T/more.csv" >/dev/null || bad "labels import"
"$BIN" screen --db "$T/dbl" --json "$HOP" | grep -q '"exposure_index": "stale"' && ok || bad "not stale after a label"
# (a new category changes the category table: the whole history again)
"$BIN" evm-exposure build --db "$T/dbl" 2>/dev/null | grep -q "built (stops)" && ok || bad "no rebuild for a new category"

# a change of stops within the category table re-propagates only what it touches, and gives the
# bytes a rebuild gives: a new theft source that sends much, a mixer and a sanctioned one, an
# exchange that becomes theft, a source that becomes an exchange; each against the oracle too
$PY - "$T/g/evm" "$T/g/labels.csv" >"$T/cands" <<'EOF2'
import collections, sys
sys.path.insert(0, "tests")
import evmexpo_oracle as o
lab = o.eth_stops([sys.argv[2]])
sends = collections.Counter(x[3] for x in o.transfers(sys.argv[1]) if x[3] and x[3] not in lab)
busy = [a for a, _ in sends.most_common()]
print(busy[0], busy[10], busy[60], busy[200],
      next(a for a, c in sorted(lab.items()) if c == "exchange"),
      next(a for a, c in sorted(lab.items()) if c == "theft"))
EOF2
read -r B0 B10 B60 B200 EX0 TH0 <"$T/cands"
i=0
for spec in "$B0,theft" "$B10,mixer;$B60,sanctioned" "$EX0,theft" "$B200,exchange;$TH0,exchange"; do
    i=$((i + 1))
    { echo 'chain,address,category,actor,source,confidence'
      tr ';' '\n' <<<"$spec" | sed 's/^\(.*\),\(.*\)$/eth,\1,\2,x,test,90/'; } >"$T/l$i.csv"
    rm -rf "$T/dbi" "$T/dbr"
    cp -a "$T/db" "$T/dbi"
    "$BIN" labels import --db "$T/dbi" "$T/l$i.csv" >/dev/null || bad "labels import $i"
    cp -a "$T/dbi" "$T/dbr"
    "$BIN" evm-exposure build --db "$T/dbi" >"$T/out" 2>&1
    grep -Eq "updated \(stops: [1-9][0-9]* \(address, asset\) pairs re-propagated\)" "$T/out" && ok \
        || bad "stops $i: not re-propagated in place: $(cat "$T/out")"
    "$BIN" evm-exposure build --db "$T/dbr" --rebuild >/dev/null || bad "rebuild $i"
    diff -r "$T/dbi/$X" "$T/dbr/$X" >/dev/null && ok || bad "stops $i: differs from a rebuild: $(diff -r "$T/dbi/$X" "$T/dbr/$X" | head -3)"
    { cat "$T/g/labels.csv"; tail -n +2 "$T/l$i.csv"; } >"$T/lall.csv"
    $PY tests/evmexpo_oracle.py evm "$BIN" "$T/dbi" "$T/g/evm" "$T/lall.csv" >"$T/o" && ok \
        || bad "stops $i: oracle: $(tail -3 "$T/o")"
    [ $i -eq 2 ] || continue
    # kill -9 in the middle of the re-propagation, then rerun: the rebuild's bytes
    rm -rf "$T/dbi" && cp -a "$T/dbr" "$T/dbi" # the new labels, the index made before them
    rm -rf "$T/dbi/$X" && cp -a "$T/db/$X" "$T/dbi/$X"
    COINTRAIL_TEST_EVM_EXPOSURE_CRASH_AFTER=200 "$BIN" evm-exposure build --db "$T/dbi" >/dev/null 2>&1
    [ $? -eq 137 ] && ok || bad "the crash hook did not kill the re-propagation"
    "$BIN" evm-exposure build --db "$T/dbi" 2>&1 | grep -q "updated (stops:" && ok || bad "rerun after the kill"
    diff -r "$T/dbi/$X" "$T/dbr/$X" >/dev/null && ok || bad "killed re-propagation + rerun differs: $(diff -r "$T/dbi/$X" "$T/dbr/$X" | head -3)"
done
# a label change and new blocks in one update: the same index as both at once
"$BIN" labels import --db "$T/dbh" "$T/l2.csv" >/dev/null || bad "labels import (half)"
"$BIN" evm-import --db "$T/dbh" "$T/h2" >/dev/null 2>"$T/out" || bad "evm-import h2 after labels"
grep -q "updated (stops:" "$T/out" && ok || bad "half + labels: not in place: $(cat "$T/out")"
rm -rf "$T/dbr" && cp -a "$T/db" "$T/dbr"
"$BIN" labels import --db "$T/dbr" "$T/l2.csv" >/dev/null && "$BIN" evm-exposure build --db "$T/dbr" --rebuild >/dev/null
"$BIN" evm-exposure dump --db "$T/dbh" >"$T/d1" && "$BIN" evm-exposure dump --db "$T/dbr" >"$T/d2" \
    && cmp -s "$T/d1" "$T/d2" && ok || bad "labels then new blocks differ from a rebuild"
rm -rf "$T/dbi" "$T/dbr" "$T/dbh"

# across chains: every Bitcoin address the overlay reaches (sampled) against the oracle
"$BIN" cluster --db "$T/db" >/dev/null || bad "cluster"
"$BIN" xchain links --db "$T/db" >/dev/null || bad "xchain links"
$PY tests/evmexpo_oracle.py xchain "$BIN" "$T/db" "$T/g/evm" "$T/g" "$T/g/labels.csv" --clusters \
    --min 100 --sample 150 >"$T/o" && ok || bad "cross-chain oracle: $(tail -5 "$T/o")"
grep -Eq "; [1-9][0-9]* exchange addresses with cross-chain theft" "$T/o" && ok \
    || bad "no exchange deposit carries cross-chain theft: $(tail -2 "$T/o")"

# the service (/v1/screen): the same documents as the CLI, following evm-import and xchain
# links without a restart; its answers against the oracle
"$BIN" cluster --db "$T/dbs" >/dev/null || bad "cluster dbs"
KEY=$("$BIN" serve-key --owner test --scopes read,screen --key-file "$T/keys") || bad "serve-key"
"$BIN" serve --db "$T/dbs" --listen 127.0.0.1:0 --api-keys "$T/keys" --port-file "$T/port" \
    --poll-ms 50 --max-batch 100 2>"$T/serve.log" &
SERVE_PID=$!
trap 'kill $SERVE_PID 2>/dev/null; [ -n "${KEEP_T:-}" ] || rm -rf "$T"' EXIT
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
U="127.0.0.1:$(cat "$T/port")"
api() { curl -s --max-time 60 -H "X-API-Key: $KEY" "$@"; }
# the same document from both, the overlay's build time aside
same() { # $1 CLI json file, $2 HTTP json file
    $PY - "$1" "$2" <<'EOF2'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
for d in (a, b):
    d.get("cross_chain", {}).get("overlay", {}).pop("seconds", None)
sys.exit(0 if a == b else 1)
EOF2
}
# until the service has the state the CLI sees (it polls every 50 ms): $1 HTTP path, $2 CLI args
follows() {
    "$BIN" screen --db "$T/dbs" --json $2 >"$T/cli.json" 2>/dev/null
    for _ in $(seq 100); do
        api "$U$1" >"$T/http.json" && same "$T/cli.json" "$T/http.json" && return 0
        sleep 0.1
    done
    return 1
}
follows "/v1/screen/address/$HOP" "$HOP" && ok || bad "HTTP EVM screening (half 1) differs from the CLI's"
grep -q '"exposure_index": *"ok"' "$T/cli.json" && ok || bad "half 1: no index"
cp "$T/http.json" "$T/half1.json"
EXCH=$($PY - "$T/g/labels.csv" <<'EOF2'
import sys
print(next(l.split(",")[1] for l in open(sys.argv[1]) if l.startswith("btc,") and ",exchange," in l))
EOF2
)
follows "/v1/screen/address/$EXCH" "$EXCH" && ok || bad "HTTP Bitcoin screening differs from the CLI's"
grep -q cross_chain "$T/http.json" && bad "cross-chain part before there are links" || ok
"$BIN" evm-import --db "$T/dbs" "$T/h2" >/dev/null 2>&1 || bad "evm-import half 2 (served)"
follows "/v1/screen/address/$HOP" "$HOP" && ok || bad "the service did not follow evm-import"
"$BIN" xchain links --db "$T/dbs" >/dev/null || bad "xchain links (served)"
follows "/v1/screen/address/$EXCH" "$EXCH" && ok || bad "the service did not follow xchain links"
grep -q cross_chain "$T/http.json" && ok || bad "no cross-chain part after the links"
cp "$T/http.json" "$T/btcx.json"
follows "/v1/screen/tx/$DEP" "$DEP" && ok || bad "HTTP EVM tx screening differs from the CLI's"
# the answers are what docs/openapi.yaml says (its schemas; nullable as JSON Schema's null)
$PY - docs/openapi.yaml "$T/half1.json" EvmScreening "$T/http.json" EvmScreening \
    "$T/btcx.json" Screening <<'EOF2' && ok || bad "answers do not fit docs/openapi.yaml"
import json, sys, yaml, jsonschema
spec = yaml.safe_load(open(sys.argv[1]))
def fix(x):
    if isinstance(x, dict):
        if x.get("nullable") and "type" in x:
            x["type"] = [x["type"], "null"]
        for v in x.values():
            fix(v)
    elif isinstance(x, list):
        for v in x:
            fix(v)
fix(spec)
for f, name in zip(sys.argv[2::2], sys.argv[3::2]):
    schema = dict(spec["components"]["schemas"][name], components=spec["components"])
    jsonschema.validate(json.load(open(f)), schema)
    if name == "Screening":
        x = json.load(open(f))["cross_chain"]
        jsonschema.validate(x, dict(spec["components"]["schemas"]["CrossChain"], components=spec["components"]))
EOF2
api "$U/v1/screen/address/$DEP" | grep -q '"code":400' && ok || bad "a tx hash on the address route"
api "$U/v1/screen/address/$HOP?chain=nochain" | grep -q '"code":404' && ok || bad "an unknown chain"
api "$U/v1/screen/address/$HOP?chain=../x" | grep -q '"field":"chain"' && ok || bad "a bad chain name"
api "$U/v1/screen/address/0x12" | grep -q '"code":400' && ok || bad "a short 0x address"
api -X POST -d "{\"addresses\": [\"$HOP\", \"$EXCH\"], \"txs\": [\"$DEP\"]}" \
    "$U/v1/screen/batch" >"$T/batch.json"
$PY - "$T/batch.json" <<'EOF2' && ok || bad "batch with EVM items: $(head -c 400 "$T/batch.json")"
import json, sys
r = json.load(open(sys.argv[1]))["results"]
assert [x["kind"] for x in r] == ["address", "address", "tx"]
assert r[0]["result"]["chain"] == "eth" and r[0]["result"]["risk"]["level"] == "severe"
assert "cross_chain" in r[1]["result"] and r[2]["result"]["transfers"]
EOF2
$PY tests/evmexpo_oracle.py evm-screen "$U" "$KEY" "$T/g/evm" "$T/g/labels.csv" --sample 120 \
    --min 50 >"$T/o" && ok || bad "HTTP EVM screenings against the oracle: $(tail -5 "$T/o")"
$PY tests/evmexpo_oracle.py xchain "$BIN" "$T/dbs" "$T/g/evm" "$T/g" "$T/g/labels.csv" --clusters \
    --min 100 --sample 150 --url "$U" --key "$KEY" >"$T/o" && ok \
    || bad "HTTP cross-chain screenings against the oracle: $(tail -5 "$T/o")"
kill $SERVE_PID
wait $SERVE_PID 2>/dev/null

# bad input
"$BIN" screen --db "$T/db" 0x1234 2>"$T/err" >/dev/null
[ $? -eq 2 ] && grep -q "not an EVM address" "$T/err" && ok || bad "malformed 0x: $(cat "$T/err")"
"$BIN" screen --db "$T/db" 0x$(printf '%064d' 7) 2>"$T/err" >/dev/null
[ $? -eq 3 ] && ok || bad "unknown EVM tx: $(cat "$T/err")"
cp -a "$T/db" "$T/dbb"
st=$(ls "$T/dbb/$X" | grep '^state\.')
head -c 100 "$T/dbb/$X/$st" >"$T/cut" && cat "$T/cut" >"$T/dbb/$X/$st"
# screening goes on without the index, saying so, with a warning naming the file
"$BIN" screen --db "$T/dbb" --json "$HOP" 2>"$T/err" >"$T/s3"
grep -q "$st: 100 bytes" "$T/err" && grep -q '"exposure_index": "none"' "$T/s3" && ok \
    || bad "cut state file: $(cat "$T/err")"
printf '{"format": "cointrail-evm-exposure", "version": 1' >"$T/dbb/$X/MANIFEST"
"$BIN" evm-exposure status --db "$T/dbb" 2>"$T/err" >/dev/null
[ $? -eq 1 ] && grep -q "MANIFEST" "$T/err" && ok || bad "cut MANIFEST: $(cat "$T/err")"
"$BIN" evm-exposure build --db "$T/dbb" --rebuild >/dev/null 2>&1 && "$BIN" evm-exposure dump --db "$T/dbb" >"$T/d2" \
    && cmp -s "$T/d2" "$T/d0" && ok || bad "--rebuild does not repair a damaged index"
"$BIN" evm-exposure build --db "$T/nothing" 2>/dev/null
[ $? -eq 3 ] && ok || bad "no EVM store: not exit 3"
"$BIN" evm-exposure build --db "$T/db" --floor-native 5 2>/dev/null
[ $? -eq 2 ] && ok || bad "a floor without --rebuild accepted"
finish
