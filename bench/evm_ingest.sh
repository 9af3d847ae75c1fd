#!/bin/bash
# EVM ingest throughput: the same blocks from ethereum-etl CSV files and from a node's JSON-RPC.
#
#   bench/evm_ingest.sh [REPS]        (default 20)
#
# Starts the tests/evm-node scenario on anvil (needs `npm ci` there) and keeps the node running,
# then imports its 13 blocks (53 txs, 106 transfers) REPS times into a fresh store from the CSVs
# run.js exported and REPS times from the node (--rpc, trace_block, one batch), and prints
# txs/s and transfers/s of each and their ratio, measured in the same run.
# The data is small: the figures are dominated by per-import costs (process start, store
# creation, fsyncs of the commit) and, for the node, by one HTTP round trip per call (3 per
# block here). They compare the two paths; they are not a capacity figure.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-20}
BIN=build/cointrail
[ -x "$BIN" ] || scripts/build.sh build
[ -d tests/evm-node/node_modules ] || {
    echo "bench/evm_ingest.sh: run npm ci in tests/evm-node first" >&2
    exit 2
}
W=$(mktemp -d)
trap '[ -f "$W/x/anvil.pid" ] && kill "$(cat "$W/x/anvil.pid")"; rm -rf "$W"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd tests/evm-node && node run.js --out "$W/x" --port "$port" --keep-running >/dev/null)
URL=http://127.0.0.1:$port
# the CSV side gets exactly what the node gives: no genesis rows, no token metadata
mkdir "$W/csv"
cp "$W"/x/{blocks,transactions,receipts,logs,token_transfers}.csv "$W/csv/"
grep -v ',genesis,' "$W/x/traces.csv" >"$W/csv/traces.csv"
now() { date +%s.%N; }
run() { # NAME ARGS... -> seconds for REPS imports into fresh stores
    local t0 t1
    t0=$(now)
    for i in $(seq "$REPS"); do
        rm -rf "$W/db"
        "$BIN" evm-import --db "$W/db" "$@" >/dev/null
    done
    t1=$(now)
    awk "BEGIN { print $t1 - $t0 }"
}
csv=$(run "$W/csv")
rpc=$(run --rpc "$URL")
txs=$("$BIN" evm-stats --db "$W/db" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["txs"], d["transfers"], d["blocks"])')
read -r ntx nxf nbl <<<"$txs"
calls=$("$BIN" evm-import --db "$W/db2" --rpc "$URL" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["rpc_calls"])')
awk -v r="$REPS" -v c="$csv" -v p="$rpc" -v t="$ntx" -v x="$nxf" -v b="$nbl" -v k="$calls" 'BEGIN {
    printf "data: %d blocks, %d txs, %d transfers per import, %d imports each (small data)\n", b, t, x, r
    printf "csv: %.3f s  %8.0f txs/s  %8.0f transfers/s\n", c, r * t / c, r * x / c
    printf "rpc: %.3f s  %8.0f txs/s  %8.0f transfers/s  (%d JSON-RPC calls per import)\n", p, r * t / p, r * x / p, k
    printf "rpc / csv throughput: %.2f\n", c / p
}'
