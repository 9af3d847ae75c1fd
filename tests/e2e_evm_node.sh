#!/bin/bash
# e2e_evm_node: evm-import --rpc against a real EVM node (anvil from npm, tests/evm-node) playing
# a laundering scenario. The node's own CSV export (run.js) imported through the CSV path must
# give the very same store (byte for byte); balances must equal the node's eth_getBalance and
# balanceOf; then a proxy in front of the node drops connections, stalls, answers errors; the
# import is killed; the node reorganises (A -> B -> A) and grows under --follow.
# Needs `npm ci` in tests/evm-node: without node_modules it exits 77, which ctest reports as a
# skip (not a pass), unless CT_REQUIRE_NODE is set (then it fails: scripts/test.sh sets it).
. "$(dirname "$0")/common.sh"
N=tests/evm-node
if [ ! -d "$N/node_modules" ] || ! command -v node >/dev/null; then
    echo "SKIPPED: $N/node_modules missing (run: cd $N && npm ci)"
    [ -z "${CT_REQUIRE_NODE:-}" ] && exit 77
    echo "FAIL: CT_REQUIRE_NODE is set"
    exit 1
fi
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    [ -f "$T/x/anvil.pid" ] && kill "$(cat "$T/x/anvil.pid")" 2>/dev/null
    [ -n "${KEEP_T:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

port=$($PY tests/evm_node_check.py free-port)
if ! (cd $N && node run.js --out "$T/x" --port "$port" --keep-running >"$T/run.log" 2>&1); then
    echo "FAIL: run.js: $(tail -5 "$T/run.log")"
    exit 1
fi
URL=http://127.0.0.1:$port
X=$T/x
rpc() { # METHOD PARAMS_JSON -> the result, compact JSON
    curl -s -X POST -H 'content-type: application/json' \
        --data "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":$2}" "$URL" |
        $PY tests/evm_node_check.py rpc-result
}
# every store file; the EVM exposure index is derived data with its own generations (a store
# made in pieces numbers them differently), so it is compared by its dump
snap() { (cd "$1/evm/eth" && find . -type f ! -name LOCK -not -path './exposure/*' | sort |
    xargs sha256sum); }
same_store() { # NAME DB1 DB2: every store file byte-identical, the same exposure index
    if [ "$(snap "$2")" = "$(snap "$3")" ]; then ok; else
        bad "$1: stores differ"
        diff <(snap "$2") <(snap "$3") | head -6
    fi
    if [ "$("$BIN" evm-exposure dump --db "$2")" = "$("$BIN" evm-exposure dump --db "$3")" ]; then
        ok
    else
        bad "$1: exposure indexes differ"
    fi
}
imp() { "$BIN" evm-import "$@" >"$T/out" 2>"$T/err"; }

# --- 1. the node through --rpc, its CSV export through the CSV path: the same store.
# trace_block has no genesis allocation (anvil_setBalance before block 1), and the RPC path
# reads no token metadata: the CSV side leaves out traces.csv's genesis rows and tokens.csv.
mkdir -p "$T/csv" "$T/g0"
cp "$X"/{blocks,transactions,receipts,logs,token_transfers}.csv "$T/csv/"
$PY tests/evm_node_check.py split-genesis "$X" "$T"
imp --db "$T/r" --rpc "$URL" --json && grep -q '"traces": "trace_block"' "$T/out" &&
    grep -q '"blocks": 13' "$T/out" && ok || bad "rpc import: $(cat "$T/err" "$T/out")"
imp --db "$T/c" "$T/csv" || bad "csv import: $(cat "$T/err")"
# the rows themselves, field by field: the C converter's (--csv-out, batches of 5) against the
# ones run.js's exporter (JavaScript, mapping ethereum-etl's jobs) wrote from the same node
mkdir "$T/dump"
imp --db "$T/r5" --rpc "$URL" --batch-blocks 5 --csv-out "$T/dump" || bad "--csv-out: $(cat "$T/err")"
if out=$($PY tests/evm_node_check.py same-rows "$T/csv" "$T/dump"); then ok; else bad "rows differ from run.js's: $out"; fi
same_store "rpc = csv" "$T/r" "$T/c"
for db in r c; do "$BIN" evm-stats --db "$T/$db" --json >"$T/stats.$db"; done
cmp -s "$T/stats.r" "$T/stats.c" && grep -q '"txs": 53' "$T/stats.r" &&
    grep -q '"internal": 14' "$T/stats.r" && grep -q '"failed_txs": 2' "$T/stats.r" &&
    ok || bad "evm-stats differ or wrong: $(diff "$T/stats.r" "$T/stats.c" | head -5)"
n=0
for a in $($PY tests/jget.py --each '["addresses"]' "$X/truth.json"); do
    "$BIN" evm-address --db "$T/r" --json --limit 0 "$a" >"$T/a.r" 2>&1
    "$BIN" evm-address --db "$T/c" --json --limit 0 "$a" >"$T/a.c" 2>&1
    cmp -s "$T/a.r" "$T/a.c" || bad "evm-address $a differs"
    n=$((n + 1))
done
[ "$n" -eq 27 ] && ok || bad "truth.json has $n addresses, want 27"

# --- 2. block 0 with its genesis rows from CSV, then the node from block 1 on (the store
# continues at its tip + 1, in batches of 4): the same bytes as the whole CSV export; every
# balance equals the node's eth_getBalance (the coinbase's less its priority fees, which the
# store does not credit, computed from the node's recorded blocks and receipts) and balanceOf.
mkdir -p "$T/full"
cp "$X"/{blocks,transactions,receipts,logs,token_transfers,traces}.csv "$T/full/"
imp --db "$T/f" "$T/full" || bad "full csv import: $(cat "$T/err")"
imp --db "$T/g" "$T/g0" || bad "block 0 import: $(cat "$T/err")"
imp --db "$T/g" --rpc "$URL" --batch-blocks 4 --json && grep -q '"batches": 3' "$T/out" &&
    grep -q '"commits": 3' "$T/out" || bad "rpc after csv: $(cat "$T/err" "$T/out")"
same_store "csv block 0 + rpc 1-12 = csv 0-12" "$T/g" "$T/f"
for a in $($PY tests/jget.py --each '["final_balances"]' "$X/truth.json"); do
    "$BIN" evm-address --db "$T/g" --json --limit 0 "$a" >"$T/bal.$a" 2>/dev/null || echo '{}' >"$T/bal.$a"
done
if out=$($PY tests/evm_node_check.py balances "$X" "$T"); then ok; else bad "balances: $out"; fi

# --- 3. the callTracer path (debug_traceBlockByNumber) gives the same store as trace_block
imp --db "$T/k" --rpc "$URL" --traces callTracer --json &&
    grep -q '"traces": "debug_traceBlockByNumber"' "$T/out" || bad "callTracer import: $(cat "$T/err")"
same_store "callTracer = trace_block" "$T/k" "$T/r"

# --- 4. incremental: a rerun adds nothing and changes no byte; confirmations; --from
before=$(snap "$T/r")
imp --db "$T/r" --rpc "$URL" --json && grep -q '"blocks_added": 0' "$T/out" &&
    [ "$(snap "$T/r")" = "$before" ] && ok || bad "rerun is not a no-op: $(cat "$T/out" "$T/err")"
imp --db "$T/q" --rpc "$URL" --confirmations 3 --json && grep -q '"blocks": 10' "$T/out" &&
    ok || bad "--confirmations 3: $(cat "$T/out" "$T/err")"
imp --db "$T/q" --rpc "$URL" --batch-blocks 1 --json && grep -q '"blocks_added": 3' "$T/out" &&
    ok || bad "continue after confirmations: $(cat "$T/out" "$T/err")"
same_store "confirmations then the rest" "$T/q" "$T/r"
imp --db "$T/q" --rpc "$URL" --from 3
[ $? -eq 2 ] && grep -q "from 3: the store already holds blocks 0 to 12" "$T/err" && ok ||
    bad "--from on a non-empty store: $(cat "$T/err")"
imp --db "$T/q" --rpc "$URL" --to 5 --follow
[ $? -eq 2 ] && ok || bad "--to with --follow must be a usage error"
imp --db "$T/q" --rpc "$URL" "$T/csv"
[ $? -eq 2 ] && ok || bad "--rpc with files must be a usage error"
imp --db "$T/p5" --rpc "$URL" --from 5 --to 7 --json && grep -q '"first_block": 5' "$T/out" &&
    grep -q '"blocks": 3' "$T/out" && ok || bad "--from 5 --to 7: $(cat "$T/out" "$T/err")"

# --- 5. a misbehaving node: a proxy in front of it (tests/evm_rpc_proxy.py)
CTL=$T/ctl
echo '{"id":0,"mode":"pass"}' >"$CTL"
$PY tests/evm_rpc_proxy.py "$URL" "$CTL" "$T/pport" 2>"$T/proxy.err" &
PIDS+=($!)
for _ in $(seq 100); do [ -f "$T/pport" ] && break; sleep 0.05; done
P=http://127.0.0.1:$(cat "$T/pport")
mode() { echo "{\"id\":$RANDOM$RANDOM,\"mode\":\"$1\",\"at\":${2:-0},\"secs\":${3:-0}}" >"$CTL"; }
resumes() { # NAME DB: a rerun through a healthy node gives the uninterrupted store
    mode pass
    if imp --db "$2" --rpc "$P"; then same_store "$1: resumed" "$2" "$T/r"; else
        bad "$1: rerun failed: $(cat "$T/err")"
    fi
}
# the node goes away for good after 20 requests: committed batches stay, a clear error
mode drop_from 20
imp --db "$T/d1" --rpc "$P" --batch-blocks 2 --retries 2
rc=$?
nb=$("$BIN" evm-stats --db "$T/d1" --json 2>/dev/null | $PY tests/jget.py '["blocks"]')
[ $rc -eq 1 ] && grep -Eq "gave up after 3 attempts: (eth_|trace_).*(nothing|Empty|reset|Recv)" "$T/err" &&
    [ "$nb" -gt 0 ] && [ "$nb" -lt 13 ] &&
    [ $((nb % 2)) -eq 0 ] && ok || bad "connection dropped for good: rc $rc, $nb blocks: $(cat "$T/err")"
resumes "dropped" "$T/d1"
# one dropped connection and one HTTP 500: retried, the import completes
mode drop_at 10
imp --db "$T/d2" --rpc "$P" && ok || bad "a dropped connection is retried: $(cat "$T/err")"
[ "$(sed -n 10p "$CTL.log" | cut -d' ' -f2-)" = "$(sed -n 11p "$CTL.log" | cut -d' ' -f2-)" ] &&
    ok || bad "request 10 was not retried: $(sed -n 9,12p "$CTL.log")"
same_store "after a retried drop" "$T/d2" "$T/r"
mode http500_at 5
imp --db "$T/d3" --rpc "$P" && same_store "after a retried HTTP 500" "$T/d3" "$T/r" ||
    bad "HTTP 500 is retried: $(cat "$T/err")"
# the chain seems to move while a batch is read (block 2's parent, block 1's receipts, the
# parent of the first block after the stored tip): the batch is read again, the store is right
for at in 6 4; do
    mode moved_at $at
    imp --db "$T/m$at" --rpc "$P" && same_store "moved at request $at" "$T/m$at" "$T/r" ||
        bad "moved at $at: $(cat "$T/err")"
    [ "$(grep -c '' "$CTL.log")" -gt 41 ] && ok || bad "moved at $at: nothing was read again"
done
mode pass
imp --db "$T/m3" --rpc "$P" --to 4 || bad "import to 4"
mode moved_at 3
imp --db "$T/m3" --rpc "$P" && same_store "moved after the tip" "$T/m3" "$T/r" ||
    bad "moved after the tip: $(cat "$T/err")"
# a stalled answer with no retries: a timeout naming the call; the store keeps no partial batch
mode sleep_at 8 2
imp --db "$T/d4" --rpc "$P" --timeout-ms 300 --retries 0
rc=$?
[ $rc -eq 1 ] && grep -Eq "Timeout|timed out" "$T/err" && grep -q "gave up after 1 attempts" "$T/err" &&
    ok || bad "timeout: rc $rc $(cat "$T/err")"
[ ! -f "$T/d4/evm/eth/MANIFEST" ] || grep -q "^blocks 0" "$T/d4/evm/eth/MANIFEST" && ok ||
    bad "a failed first batch left blocks: $(cat "$T/d4/evm/eth/MANIFEST")"
resumes "timeout" "$T/d4"
# a permanent error answer: not retried, named with the node's message; store unchanged
imp --db "$T/d5" --rpc "$URL" --to 4 || bad "import to 4: $(cat "$T/err")"
before=$(snap "$T/d5")
mode error_at 6
imp --db "$T/d5" --rpc "$P"
rc=$?
[ $rc -eq 1 ] && grep -q "the node answered error -32603: injected internal error" "$T/err" &&
    grep -Eq "(eth_getBlockByNumber|eth_getBlockReceipts|trace_block) \[\"0x" "$T/err" &&
    grep -q "blocks 5 to 12 (nothing of them stored)" "$T/err" && [ "$(snap "$T/d5")" = "$before" ] &&
    ok || bad "error answer: rc $rc, $(cat "$T/err")"
[ "$(grep -c '^6 ' "$CTL.log")" -eq 1 ] && ! grep -q '^7 ' "$CTL.log" && ok ||
    bad "a permanent error must not be retried"
resumes "error answer" "$T/d5"
# a node without eth_getBlockReceipts and trace_block (geth-like): per-tx receipts and the
# callTracer, the same store; without any trace method: no internal transfers, and it says so
echo '{"id":1,"mode":"hide","methods":["eth_getBlockReceipts","trace_block"]}' >"$CTL"
imp --db "$T/h1" --rpc "$P" --json && grep -q '"traces": "debug_traceBlockByNumber"' "$T/out" &&
    grep -q "eth_getTransactionReceipt" "$CTL.log" && ok || bad "fallbacks: $(cat "$T/err")"
same_store "per-tx receipts + callTracer" "$T/h1" "$T/r"
echo '{"id":2,"mode":"hide","methods":["trace_block","debug_traceBlockByNumber"]}' >"$CTL"
imp --db "$T/h2" --rpc "$P" && grep -q "traces from none" "$T/out" &&
    "$BIN" evm-stats --db "$T/h2" --json | grep -q '"internal": 0' && ok ||
    bad "no trace method: $(cat "$T/out" "$T/err")"
# a trace method asked for by name and not offered: an error, not a silent "none"
imp --db "$T/h3" --rpc "$P" --traces callTracer
[ $? -eq 1 ] && grep -q "debug_traceBlockByNumber .*error -32601" "$T/err" && ok ||
    bad "--traces callTracer without it: $(cat "$T/err")"
# a store of another chain (mainnet blocks 47218-47219): refused at once, unchanged
imp --db "$T/mn" tests/data/evm/b47218 || bad "mainnet csv import"
before=$(snap "$T/mn")
mode pass
imp --db "$T/mn" --rpc "$P"
[ $? -eq 1 ] && grep -q "shares no block with the store" "$T/err" && [ "$(snap "$T/mn")" = "$before" ] &&
    [ "$(wc -l <"$CTL.log")" -le 3 ] && ok || bad "another chain: $(cat "$T/err")"
# kill -9 while batches are being fetched and committed, twice; and the commit crash hooks
for wait in 0.4 0.9; do
    rm -rf "$T/d6"
    mode delay 0 0.02
    "$BIN" evm-import --db "$T/d6" --rpc "$P" --batch-blocks 1 >/dev/null 2>&1 &
    pid=$!
    sleep $wait
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    resumes "kill -9 after ${wait}s" "$T/d6"
done
rm -rf "$T/d7"
COINTRAIL_TEST_EVM_CRASH_AFTER=2 "$BIN" evm-import --db "$T/d7" --rpc "$URL" --batch-blocks 3 >/dev/null 2>&1
[ $? -eq 9 ] && grep -q "^blocks 6" "$T/d7/evm/eth/MANIFEST" && ok || bad "crash after 2 commits"
resumes "crash after commit 2" "$T/d7"
rm -rf "$T/d8"
COINTRAIL_TEST_EVM_CRASH_IN_COMMIT=3 "$BIN" evm-import --db "$T/d8" --rpc "$URL" --batch-blocks 3 >/dev/null 2>&1
[ $? -eq 9 ] && grep -q "^blocks 6" "$T/d8/evm/eth/MANIFEST" && ok || bad "crash inside commit 3"
resumes "crash inside commit 3" "$T/d8"

# --- 6. reorganisations on the node itself: A (13a, 14a), then B (13b, 14b, 15b) from the
# same parent, then A again (the same txs and timestamps; anvil keeps its base-fee state across
# evm_revert, so the blocks of A come back with other hashes). Each import follows the node:
# B replaces 2 blocks, A again 3, and the store equals a fresh import of the node's chain.
ts=$($PY tests/evm_node_check.py block-time <<<"$(rpc eth_getBlockByNumber '["0xc",false]')")
from=$($PY tests/jget.py --each '["addresses"]' "$X/truth.json" | head -1)
nonce=$(rpc eth_getTransactionCount "[\"$from\",\"latest\"]" | tr -d '"')
mine() { # TIMESTAMP [VALUE]: a block, with a 21000-gas transfer of VALUE wei when given
    rpc evm_setNextBlockTimestamp "[$1]" >/dev/null
    [ -n "${2:-}" ] && rpc eth_sendTransaction "[{\"from\":\"$from\",\"to\":\"0x70997970c51812dc3a010c7d01b50e0d17dc79c8\",\"value\":\"$2\",\"nonce\":\"$nonce\",\"gas\":\"0x5208\",\"maxFeePerGas\":\"0x174876e800\",\"maxPriorityFeePerGas\":\"0x3b9aca00\",\"type\":\"0x2\",\"chainId\":\"0x7a69\"}]" >/dev/null
    rpc evm_mine '[]' >/dev/null
}
branch_a() { mine $((ts + 12)) 0x1; mine $((ts + 24)); }
s0=$(rpc evm_snapshot '[]' | tr -d '"')
branch_a
cp -r "$T/r" "$T/o"
imp --db "$T/o" --rpc "$URL" --json && grep -q '"blocks": 15' "$T/out" || bad "branch A: $(cat "$T/err")"
rpc evm_revert "[\"$s0\"]" | grep -q true || bad "evm_revert"
s1=$(rpc evm_snapshot '[]' | tr -d '"')
mine $((ts + 13)) 0x2
mine $((ts + 26))
mine $((ts + 39))
imp --db "$T/o" --rpc "$URL" --json
grep -q '"blocks_removed": 2' "$T/out" && grep -q '"reorgs": 1' "$T/out" && grep -q '"blocks": 16' "$T/out" &&
    ok || bad "reorg to B: $(cat "$T/out" "$T/err")"
imp --db "$T/ob" --rpc "$URL" || bad "fresh import of B"
same_store "after the reorg = a fresh import of B" "$T/o" "$T/ob"
rpc evm_revert "[\"$s1\"]" | grep -q true || bad "evm_revert 2"
branch_a
imp --db "$T/o" --rpc "$URL" --json
grep -q '"blocks_removed": 3' "$T/out" && grep -q '"blocks": 15' "$T/out" && ok ||
    bad "reorg back to A: $(cat "$T/out" "$T/err")"
imp --db "$T/oa" --rpc "$URL" || bad "fresh import of A"
same_store "back to A = a fresh import of A" "$T/o" "$T/oa"

# --- 7. --follow: waits for new heads, imports them, stops on SIGTERM between polls
"$BIN" evm-import --db "$T/o" --rpc "$URL" --follow --poll-ms 100 >"$T/fol.out" 2>"$T/fol.err" &
fpid=$!
PIDS+=($fpid)
sleep 0.5
mine $((ts + 60)) 0x3
mine $((ts + 72))
got=0
for _ in $(seq 100); do
    got=$("$BIN" evm-stats --db "$T/o" --json | $PY tests/jget.py '["blocks"]')
    [ "$got" -eq 17 ] && break
    sleep 0.1
done
kill -TERM $fpid
wait $fpid
rc=$?
[ "$got" -eq 17 ] && [ $rc -eq 0 ] && grep -q "added 2 blocks" "$T/fol.out" &&
    grep -q "stopped by a signal" "$T/fol.out" && ok ||
    bad "--follow: $got blocks, rc $rc: $(cat "$T/fol.out" "$T/fol.err")"
imp --db "$T/of" --rpc "$URL" || bad "fresh import after follow"
same_store "--follow = a fresh import" "$T/o" "$T/of"
finish
