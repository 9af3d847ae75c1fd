#!/bin/bash
# What the periodic commits of an import cost (issue 18, part 1): a whole import with the default
# commits against the same import with one commit (--commit-seconds 100000), both against the
# hashing bound (`openssl dgst -sha256` over the same blk files) measured in the same run.
#
#   bench/commit_cost.sh CHAIN [BIN...]
#       CHAIN: a directory of blk files (read only), or "1m" to generate the 1.02M-tx chain of
#              bench/scale.sh under WORK (seed 1, 620 blocks of 2000 txs, 20,000 users)
#       BIN:   cointrail binaries to compare (default: build/cointrail); runs are interleaved,
#              so every binary sees the same machine load
#   env: WORK (default /tmp/cointrail-commit-cost; stores are made and deleted there), RUNS (3)
#
# Prints `uptime` first and last, each run, then per binary the medians: seconds with periodic
# commits and with one, their ratio, the `commit` phase of each, and each import's time as a
# multiple of the hashing time. The page cache is warm (the blk files are read once first).
set -euo pipefail
cd "$(dirname "$0")/.."
CHAIN=$1
shift
BINS=("$@")
[ ${#BINS[@]} -gt 0 ] || BINS=(build/cointrail)
WORK=${WORK:-/tmp/cointrail-commit-cost}
RUNS=${RUNS:-3}
mkdir -p "$WORK"
source "$(dirname "$0")/lib.sh" # median
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }

if [ "$CHAIN" = 1m ]; then
    CHAIN=$WORK/chain-1m
    [ -f "$CHAIN/truth.jsonl" ] || "${BINS[0]}" generate --out "$CHAIN" --seed 1 --blocks 620 \
        --txs-per-block 2000 --users 20000 --force --quiet >/dev/null
fi
files=("$CHAIN"/blk*.dat)
cat "${files[@]}" >/dev/null
echo "uptime: $(uptime)"
echo "chain: $CHAIN (${#files[@]} blk files, $(du -sh --apparent-size "$CHAIN" | cut -f1))"

declare -A secs=() commit=()
hash_secs=""
for run in $(seq "$RUNS"); do
    t0=$(date +%s.%N)
    openssl dgst -sha256 "${files[@]}" >/dev/null
    h=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
    hash_secs+="$h"$'\n'
    echo "run $run: openssl dgst -sha256 $h s"
    for i in "${!BINS[@]}"; do
        for mode in periodic one; do
            args=() && [ $mode = one ] && args=(--commit-seconds 100000)
            db=$WORK/db
            rm -rf "$db"
            "${BINS[$i]}" import --db "$db" --quiet --json "${args[@]}" "$CHAIN" >"$WORK/out.json"
            read -r s c < <(python3 -c "import json; d=json.load(open('$WORK/out.json')); print(d['seconds'], d['phase_seconds']['commit'])")
            secs[$i-$mode]+="$s"$'\n'
            commit[$i-$mode]+="$c"$'\n'
            echo "run $run: ${BINS[$i]} $mode: $s s, committing $c s"
            rm -rf "$db"
        done
    done
done
H=$(printf '%s' "$hash_secs" | median)
echo "uptime: $(uptime)"
echo "hashing bound (median): $H s"
for i in "${!BINS[@]}"; do
    p=$(printf '%s' "${secs[$i-periodic]}" | median)
    o=$(printf '%s' "${secs[$i-one]}" | median)
    pc=$(printf '%s' "${commit[$i-periodic]}" | median)
    oc=$(printf '%s' "${commit[$i-one]}" | median)
    echo "${BINS[$i]}: periodic $p s (commit $pc s, $(calc "$p / $H")x hashing), one commit $o s" \
        "(commit $oc s, $(calc "$o / $H")x hashing), periodic/one $(calc "$p / $o")"
done
