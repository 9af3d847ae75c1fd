#!/bin/bash
# Import throughput against the hashing bound, on a generated chain.
#
#   bench/import.sh [TXS_PER_BLOCK BLOCKS [WORKDIR]]      (default: 2000 x 620 = 1M txs)
#   GEN_ARGS="--users 100000" bench/import.sh ...          (more generator options)
#
# Generates a chain with `cointrail generate` (cached in WORKDIR by its parameters), then in
# the same run: `openssl dgst -sha256` over the blk files (the hashing bound: one SHA-256 pass
# over every byte, single core), and `cointrail import` with 1 parser thread and with one per
# core. Prints MB/s and tx/s, and each import's ratio to the hashing bound; peak memory and the
# store's size per tx. Page cache is warm for every measurement (each reads the files once
# first), so the figures compare CPU work, not the disk.
set -euo pipefail
cd "$(dirname "$0")/.."
TPB=${1:-2000}
BLOCKS=${2:-620}
WORK=${3:-/tmp/cointrail-bench}
BIN=build/cointrail
[ -x "$BIN" ] || scripts/build.sh build
chain="$WORK/chain-$TPB-$BLOCKS"
if [ ! -f "$chain/truth.jsonl" ]; then
    mkdir -p "$chain"
    # shellcheck disable=SC2086
    "$BIN" generate --out "$chain" --seed 1 --blocks "$BLOCKS" --txs-per-block "$TPB" \
        ${GEN_ARGS:-} --force --quiet >/dev/null
fi
files=("$chain"/blk*.dat)
bytes=$(cat "${files[@]}" | wc -c)
cat "${files[@]}" >/dev/null # warm the page cache
now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }

t0=$(now)
openssl dgst -sha256 "${files[@]}" >/dev/null
t1=$(now)
sha=$(calc "$t1 - $t0")

run_import() { # THREADS -> sets secs, txs, rss_kb, store_bytes
    local db="$WORK/db-$1"
    rm -rf "$db"
    /usr/bin/time -f '%M' -o "$WORK/rss" "$BIN" import --db "$db" --quiet --threads "$1" --json \
        "$chain" >"$WORK/import.json"
    secs=$(python3 -c "import json; print(json.load(open('$WORK/import.json'))['seconds'])")
    txs=$(python3 -c "import json; print(json.load(open('$WORK/import.json'))['txs_added'])")
    rss_kb=$(cat "$WORK/rss")
    store_bytes=$(du -sb --exclude=undo.log "$db" | cut -f1)
    phases=$(python3 -c "import json; p=json.load(open('$WORK/import.json'))['phase_seconds']; print(' '.join(f'{k} {v:.2f}s' for k, v in p.items()))")
    rm -rf "$db"
}

mb=$(calc "$bytes / 1000000")
printf 'data: %s blk files, %.1f MB, generated with --txs-per-block %s --blocks %s %s\n' \
    "${#files[@]}" "$mb" "$TPB" "$BLOCKS" "${GEN_ARGS:-}"
printf 'machine: %s, %s cores\n' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" "$(nproc)"
printf '%-34s %8.2f s %9.1f MB/s\n' "openssl dgst -sha256 (bound)" "$sha" "$(calc "$mb / $sha")"
for threads in 1 "$(nproc)"; do
    run_import "$threads"
    printf '%-34s %8.2f s %9.1f MB/s %10.0f tx/s  ratio to bound %.2f  peak %d MB  store %.0f B/tx\n' \
        "cointrail import --threads $threads" "$secs" "$(calc "$mb / $secs")" \
        "$(calc "$txs / $secs")" "$(calc "$sha / $secs")" "$((rss_kb / 1024))" \
        "$(calc "$store_bytes / $txs")"
    echo "    phases: $phases"
done
