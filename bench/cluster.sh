#!/bin/bash
# Clustering time and memory on generated chains, and the time to extend the clustering by
# one new block.
#
#   bench/cluster.sh [BIN] [TXS_PER_BLOCK:BLOCKS ...]    (default: build/cointrail 1000:200)
#   WORK=/tmp/cointrail-bench bench/cluster.sh build/cointrail 2000:620    (about 1M txs)
#
# For each size: generate a chain (cached in WORK by its parameters), import all blocks but
# the last, then time `cointrail cluster --rebuild` (multi-input only, and with
# --heuristics round) with peak RSS, then import the last block and time the incremental
# `cointrail cluster` (best of 3: the last block is cut by re-importing into a copy each time).
# Prints txs, addresses, entities, seconds, txs/s and peak MB per line.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-build/cointrail}")
shift || true
SIZES=("${@:-1000:200}")
WORK=${WORK:-/tmp/cointrail-bench}
mkdir -p "$WORK"
calc() { awk "BEGIN { print $1 }"; }
js() { python3 -c "import json,sys; d=json.load(open('$1')); print(d$2)"; }

for size in "${SIZES[@]}"; do
    tpb=${size%%:*} blocks=${size##*:}
    chain="$WORK/cchain-$tpb-$blocks"
    if [ ! -f "$chain/truth.jsonl" ]; then
        mkdir -p "$chain"
        "$BIN" generate --out "$chain" --seed 1 --blocks "$blocks" --txs-per-block "$tpb" \
            --users $((tpb * 10)) --era 2015-2024.3 --force --quiet >/dev/null
    fi
    db="$WORK/cdb-$tpb-$blocks"
    rm -rf "$db"
    "$BIN" import --db "$db" --quiet --stop-after $((blocks - 1)) "$chain" >/dev/null
    for h in none round; do
        /usr/bin/time -f '%M' -o "$WORK/rss" "$BIN" cluster --db "$db" --rebuild --heuristics "$h" \
            --json >"$WORK/c.json"
        secs=$(js "$WORK/c.json" "['seconds']")
        txs=$(js "$WORK/c.json" "['txs']")
        printf '%-8s full   heuristics %-6s %9d txs %9d addresses %8d entities %7.3f s %9.0f tx/s  pass %.3f s  write %.3f s  peak %d MB\n' \
            "$size" "$h" "$txs" "$(js "$WORK/c.json" "['addresses']")" \
            "$(js "$WORK/c.json" "['entities']")" "$secs" "$(calc "$txs / $secs")" \
            "$(js "$WORK/c.json" "['phases']['pass']")" "$(js "$WORK/c.json" "['phases']['write']")" \
            "$(($(cat "$WORK/rss") / 1024))"
    done
    "$BIN" cluster --db "$db" --rebuild >/dev/null
    best=""
    for i in 1 2 3; do
        rm -rf "$db.inc"
        cp -r "$db" "$db.inc"
        "$BIN" import --db "$db.inc" --quiet "$chain" >/dev/null
        "$BIN" cluster --db "$db.inc" --json >"$WORK/c.json"
        ms=$(calc "$(js "$WORK/c.json" "['seconds']") * 1000")
        if [ -z "$best" ] || awk "BEGIN { exit !($ms < $best) }"; then best=$ms; fi
        n=$(js "$WORK/c.json" "['txs_processed']")
    done
    printf '%-8s one new block (%d txs): incremental cluster best of 3: %.1f ms (load + pass + write of the map)\n' \
        "$size" "$n" "$best"
    rm -rf "$db" "$db.inc"
done
