#!/bin/bash
# Bulk import (import --bulk) against the incremental import and the hashing bound, same run.
#
#   [MEMORY="1G 4G"] [RUNS=3] [WORK=DIR] [INCREMENTAL=0] bench/bulk_import.sh CHAIN_DIR...
#
# For each chain directory of blk files (make one with `cointrail generate`, see
# bench/import.sh; a read-only one is fine: stores go to WORK and are deleted), RUNS rounds of:
# `openssl dgst -sha256` over the blk files (the hashing bound: every byte hashed once, one
# core), `cointrail import` (incremental, one commit at the end: --commit-seconds 100000, its
# best case; left out with INCREMENTAL=0), `cointrail import --bulk` (its default budget) and
# `cointrail import --bulk --memory M` for each M of MEMORY, all --no-exposure (the import
# alone), each under /usr/bin/time -v. Prints per round and the medians: wall seconds, CPU
# seconds (user + sys: on a shared machine the wall time includes waiting for a core), peak RSS
# (which counts the mapped column, blk and temp file pages), the bulk imports' heap (their
# --json bulk_memory: sort_heap_peak, the sorts' own count; rss_anon_peak, the process's
# anonymous resident memory at the end of the finish's phases) and bytes spilled, the ratio to
# the bound (bound time / import time, wall and CPU) and the cost per tx. The first round's
# stores are compared file by file (cmp) with the first one's. Page cache warm (the files are
# read once first). States the load (uptime) before and after.
# KEEP=DIR keeps the first round's `import --bulk` store (default budget) of the last chain in
# DIR (replaced). SUMMARY=FILE appends per chain and import the medians, one line each:
# "chain txs variant wall cpu peak_rss_kb bound_wall bound_cpu store_bytes" (variant: incremental,
# bulk, or the --memory size; store_bytes: the first round's store, all its files).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/cointrail}
RUNS=${RUNS:-3}
WORK=${WORK:-/tmp/cointrail-bulk-bench}
MEMORY=${MEMORY:-}
INCREMENTAL=${INCREMENTAL:-1}
KEEP=${KEEP:-}
SUMMARY=${SUMMARY:-}
[ -x "$BIN" ] || scripts/build.sh build
mkdir -p "$WORK"
trap 'rm -rf "$WORK"/db-*' EXIT

source bench/lib.sh # timed, median
heap() { # the --json summary in $1 -> "sort_heap_peak_MB rss_anon_peak_MB spilled_MB" (0 0 0 without)
    /usr/bin/python3 -c 'import json, sys
m = json.load(open(sys.argv[1])).get("bulk_memory") or {}
print(" ".join(str(m.get(k, 0) // 1000000) for k in ("sort_heap_peak", "rss_anon_peak", "spilled_bytes")))' "$1"
}

names=() args=() variants=()
if [ "$INCREMENTAL" = 1 ]; then names+=("import (incremental)") args+=("--commit-seconds 100000") variants+=(incremental); fi
bulk=${#names[@]}
names+=("import --bulk") args+=("--bulk") variants+=(bulk)
for m in $MEMORY; do names+=("import --bulk --memory $m") args+=("--bulk --memory $m") variants+=("$m"); done

echo "load before: $(uptime)"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB"
for chain in "$@"; do
    files=("$chain"/blk*.dat)
    bytes=$(cat "${files[@]}" | wc -c) # also warms the page cache
    echo
    echo "chain $chain: ${#files[@]} blk files, $((bytes / 1000000)) MB"
    for v in "${!names[@]}"; do : >"$WORK/rows$v"; done
    : >"$WORK/rows-sha"
    for r in $(seq "$RUNS"); do
        timed "$WORK/sha" openssl dgst -sha256 "${files[@]}"
        cat "$WORK/sha" >>"$WORK/rows-sha"
        line="  round $r: sha256 $(awk '{printf "%.2fs (cpu %.2fs)", $1, $2}' "$WORK/sha")"
        for v in "${!names[@]}"; do
            rm -rf "$WORK/db-$v"
            # shellcheck disable=SC2086
            timed "$WORK/imp$v" "$BIN" import --quiet --json --no-exposure ${args[$v]} --db "$WORK/db-$v" "$chain"
            txs=$(awk '$1 == "txs" {print $2}' "$WORK/db-$v/MANIFEST")
            [ "$r" = 1 ] && find "$WORK/db-$v" -type f -printf '%s\n' | awk '{s += $1} END {printf "%.0f\n", s}' >"$WORK/bytes$v"
            echo "$(cat "$WORK/imp$v") $(heap "$WORK/imp$v.out") $txs" >>"$WORK/rows$v"
            line="$line | ${names[$v]#import } $(awk '{printf "%.2fs (cpu %.2fs, %d MB)", $1, $2, $3 / 1024}' "$WORK/imp$v")"
            if [ "$r" = 1 ] && [ "$v" != 0 ]; then
                same=yes
                while read -r f; do cmp -s "$WORK/db-0/$f" "$WORK/db-$v/$f" || same="NO ($f)"; done \
                    < <(cd "$WORK/db-0" && find . -type f)
                echo "  ${names[$v]}: txs $txs; store byte for byte equal to ${names[0]}'s: $same"
            fi
        done
        if [ "$r" = 1 ] && [ -n "$KEEP" ]; then rm -rf "$KEEP" && mv "$WORK/db-$bulk" "$KEEP"; fi
        for v in "${!names[@]}"; do rm -rf "$WORK/db-$v"; done
        echo "$line ($(uptime | sed 's/.*load/load/'))"
    done
    sw=$(awk '{print $1}' "$WORK/rows-sha" | median) sc=$(awk '{print $2}' "$WORK/rows-sha" | median)
    echo "  medians of $RUNS:"
    printf '  %-34s %8.2f s wall %8.2f s cpu\n' "openssl dgst -sha256 (bound)" "$sw" "$sc"
    for v in "${!names[@]}"; do
        col() { awk -v c="$1" '{print $c}' "$WORK/rows$v" | median; }
        awk -v name="${names[$v]}" -v sw="$sw" -v sc="$sc" -v w="$(col 1)" -v c="$(col 2)" -v rss="$(col 3)" \
            -v hp="$(col 4)" -v ha="$(col 5)" -v sp="$(col 6)" -v t="$(col 7)" 'BEGIN {
            printf "  %-34s %8.2f s wall %8.2f s cpu  ratio to bound %.3f wall %.3f cpu  %.2f us/tx  peak RSS %d MB", name, w, c, sw / w, sc / c, w / t * 1e6, rss / 1024
            if (name ~ /bulk/) printf "  sort heap %d MB  RssAnon %d MB  spilled %d MB", hp, ha, sp
            printf "\n" }'
        [ -z "$SUMMARY" ] || echo "$chain $(col 7) ${variants[$v]} $(col 1) $(col 2) $(col 3) $sw $sc $(cat "$WORK/bytes$v")" >>"$SUMMARY"
    done
done
echo
echo "load after: $(uptime)"
