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

# 2. A generated chain with every CoinJoin kind, clustered in steps as it is imported.
"$BIN" generate --out "$T/g" --seed 11 --blocks 220 --txs-per-block 60 --maturity 5 \
    --halving-interval 50 --era 2019-2024.3 --privacy-rate 0.25 --users 300 --quiet >/dev/null || bad "generate"
"$BIN" import --db "$T/g.db" --stop-after 150 "$T/g" >/dev/null
"$BIN" cluster --db "$T/g.db" --json >"$T/c1.json" && [ "$(field "['mode']" <"$T/c1.json")" = built ] &&
    ok || bad "first cluster builds"
"$BIN" import --db "$T/g.db" --stop-after 60 "$T/g" >/dev/null
"$BIN" cluster --db "$T/g.db" --json >"$T/c2.json"
[ "$(field "['mode']" <"$T/c2.json")" = extended ] && ok || bad "second cluster extends"
for i in 1 2 3; do # one block at a time: only its txs are processed
    before=$("$BIN" stats --db "$T/g.db" --json | field "['txs']")
    "$BIN" import --db "$T/g.db" --stop-after 1 "$T/g" >/dev/null
    after=$("$BIN" stats --db "$T/g.db" --json | field "['txs']")
    n=$("$BIN" cluster --db "$T/g.db" --json | field "['txs_processed']")
    [ "$n" -eq $((after - before)) ] && ok || bad "one block: processed $n, want $((after - before))"
done
"$BIN" import --db "$T/g.db" "$T/g" >/dev/null
"$BIN" cluster --db "$T/g.db" >/dev/null
[ "$("$BIN" cluster --db "$T/g.db" --json | field "['mode']")" = "up to date" ] && ok || bad "up to date"
"$BIN" cluster --db "$T/g.db" --dump >"$T/inc.txt"
$PY tests/cluster_oracle.py "$BIN" "$T/g.db" "$T/g" >"$T/o2.txt" && ok || { cat "$T/o2.txt"; bad "oracle on generated chain"; }
"$BIN" cluster --db "$T/g.db" --rebuild --json | field "['why']" | grep -q rebuild && ok || bad "--rebuild"
"$BIN" cluster --db "$T/g.db" --dump >"$T/full.txt"
cmp -s "$T/inc.txt" "$T/full.txt" && ok || bad "incremental clustering differs from a rebuild"

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
"$BIN" import --db "$T/g.db" "$T/g" >/dev/null
"$BIN" cluster --db "$T/g.db" --rebuild >/dev/null
[ ! -e "$T/g.db/cluster-map.999.col" ] && ok || bad "stale map file removed"
[ "$(ls "$T/g.db" | grep -c '^cluster-')" -eq 3 ] && ok || bad "one map, one sizes and one cj file remain"

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
