#!/bin/bash
# The bulk import's checkpoint: two builds A/B on one chain, interleaved (A, B, A, B, ...), and
# the resume after a kill -9 entering the finish's address phase.
#
#   [RUNS=3] [WORK=DIR] [MEMORY=SIZE] [RESUME=0] bench/bulk_checkpoint.sh BIN_A BIN_B CHAIN_DIR
#
# Each round: `flock /tmp/ct-heavy.lock /usr/bin/time -v BIN import --db STORE --quiet
# --no-exposure --json CHAIN` (the bulk path, the default budget or --memory MEMORY) for A then
# B. With RESUME=1 (a small chain), each build is then killed entering phase 5
# (COINTRAIL_TEST_BULK_CRASH_PHASE=5, after its checkpoint) and the rerun that resumes is timed.
# Prints per run wall and CPU (user + sys) seconds and peak RSS, then the medians, and the load
# (uptime) before and after. The first round's two stores are compared file by file (cmp).
set -euo pipefail
A=$1 B=$2 CHAIN=$3
RUNS=${RUNS:-3}
WORK=${WORK:-/tmp/cointrail-ckpt-bench}
RESUME=${RESUME:-0}
MEM=()
[ -n "${MEMORY:-}" ] && MEM=(--memory "$MEMORY")
mkdir -p "$WORK"
trap 'rm -rf "$WORK"/db-*' EXIT
LOCK=${LOCK-/tmp/ct-heavy.lock}
source "$(dirname "$0")/lib.sh" # timed (under flock LOCK), median
echo "load before: $(uptime)"
for r in $(seq 1 "$RUNS"); do
    for k in A B; do
        bin=${!k}
        rm -rf "$WORK/db-$k"
        timed "$WORK/$k.$r" "$bin" import --db "$WORK/db-$k" --quiet --no-exposure --json "${MEM[@]}" "$CHAIN"
        echo "round $r $k import: wall cpu rss_kb = $(cat "$WORK/$k.$r")"
        if [ "$RESUME" = 1 ]; then
            rm -rf "$WORK/db-${k}r"
            COINTRAIL_TEST_BULK_CRASH_PHASE=5 "$bin" import --db "$WORK/db-${k}r" --quiet --no-exposure "${MEM[@]}" "$CHAIN" >/dev/null 2>&1 || true
            timed "$WORK/${k}r.$r" "$bin" import --db "$WORK/db-${k}r" --quiet --no-exposure --json "${MEM[@]}" "$CHAIN"
            grep -q '"resumed_from": *"blocks"' "$WORK/${k}r.$r.out" || echo "round $r $k: the rerun did not resume"
            echo "round $r $k resume: wall cpu rss_kb = $(cat "$WORK/${k}r.$r")"
            rm -rf "$WORK/db-${k}r"
        fi
    done
    if [ "$r" = 1 ]; then
        same=yes
        for f in $(cd "$WORK/db-A" && ls); do cmp -s "$WORK/db-A/$f" "$WORK/db-B/$f" || { same="no ($f)"; break; }; done
        echo "round 1: stores A and B byte-identical: $same"
    fi
done
rm -rf "$WORK"/db-*
for k in A B; do
    for what in "" r; do
        [ -e "$WORK/$k$what.1" ] || continue
        w=$(for r in $(seq 1 "$RUNS"); do cut -d' ' -f1 "$WORK/$k$what.$r"; done | median)
        c=$(for r in $(seq 1 "$RUNS"); do cut -d' ' -f2 "$WORK/$k$what.$r"; done | median)
        m=$(for r in $(seq 1 "$RUNS"); do cut -d' ' -f3 "$WORK/$k$what.$r"; done | median)
        echo "median $k ${what:+resume }: wall $w s, cpu $c s, peak rss $((m / 1024)) MB"
    done
done
echo "load after: $(uptime)"
