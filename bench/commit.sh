#!/bin/bash
# What a commit and an open cost, before and after a change, in the same run (issue 18).
#
#   bench/commit.sh BEFORE_BIN AFTER_BIN [WORKDIR] [SIZES]
#       SIZES: "1" (about 1M txs), "3" (about 3.2M txs) or "1 3" (default)
#
# BEFORE_BIN is a cointrail built from the commit to compare with (build it in its own
# directory). Both must read and write the same store format. For each chain size:
#  (a) a whole import with the default periodic commits and with --commit-seconds 100000 (one
#      commit), each binary, medians of RUNS (3) interleaved runs: the cost of the commits is
#      the difference;
#  (b) the cost of a small commit: a store holding all but the last blk file (about 30 blocks)
#      is copied, and the rest imported with --commit-seconds 0 (one commit per block, what
#      `import --follow` does): the mean commit_seconds per commit, median of RUNS;
#  (c) the wall time of `tx`, `stats` and `address` (first page) on the whole store against
#      `cointrail --help` (process start), medians of 11 runs each.
# Chains are generated once per WORKDIR (--file-size 16, so the last file is small). Page
# cache is warm. Prints `uptime` first and last: the figures are only comparable within a run.
set -euo pipefail
BEFORE=$(realpath "$1")
AFTER=$(realpath "$2")
WORK=${3:-/tmp/cointrail-commit-bench}
SIZES=${4:-"1 3"}
RUNS=${RUNS:-3}
mkdir -p "$WORK"
now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }
source "$(dirname "$0")/lib.sh" # median

echo "uptime: $(uptime)"
echo "before: $BEFORE"
echo "after:  $AFTER"
for size in $SIZES; do
    case $size in
    1) blocks=620 users=20000 ;;
    3) blocks=1720 users=50000 ;;
    *) echo "unknown size $size" >&2 && exit 2 ;;
    esac
    chain="$WORK/chain-$size"
    if [ ! -f "$chain/truth.jsonl" ]; then
        "$AFTER" generate --out "$chain" --seed 1 --blocks "$blocks" --txs-per-block 2000 \
            --users "$users" --file-size 16 --force --quiet >/dev/null
    fi
    files=("$chain"/blk*.dat)
    cat "${files[@]}" >/dev/null
    txs=$(grep -m1 '"kind":"totals"' "$chain/truth.jsonl" | python3 -c "import json,sys; print(json.load(sys.stdin)['txs'])")
    echo
    echo "== chain $chain: $txs txs, ${#files[@]} blk files"

    # (a) whole imports
    declare -A secs=()
    for run in $(seq "$RUNS"); do
        for which in before after; do
            bin=$BEFORE && [ $which = after ] && bin=$AFTER
            for mode in periodic one; do
                args=() && [ $mode = one ] && args=(--commit-seconds 100000)
                db="$WORK/db-$size-$which-$mode"
                rm -rf "$db"
                "$bin" import --db "$db" --quiet --json "${args[@]}" "$chain" >"$WORK/out.json"
                s=$(python3 -c "import json; d=json.load(open('$WORK/out.json')); print(d['seconds'], d['phase_seconds']['commit'])")
                secs[$which-$mode]+="${s%% *}"$'\n'
                echo "  run $run $which $mode: seconds, of which committing = $s"
                # keep one whole store per binary for (c)
                [ $mode = one ] || rm -rf "$db"
            done
        done
    done
    for which in before after; do
        p=$(printf '%s' "${secs[$which-periodic]}" | median)
        o=$(printf '%s' "${secs[$which-one]}" | median)
        printf '  (a) %-6s import: periodic commits %7.2f s, one commit %7.2f s, ratio %.2f\n' \
            "$which" "$p" "$o" "$(calc "$p / $o")"
        eval "a_$which=$p"
    done
    # shellcheck disable=SC2154
    printf '  (a) after/before, periodic commits: %.2f\n' "$(calc "$a_after / $a_before")"

    # (b) one-block commits on a store of all but the last blk file
    prefix="$WORK/prefix-$size"
    rm -rf "$prefix" && mkdir -p "$prefix"
    for f in "${files[@]:0:${#files[@]}-1}"; do ln -s "$f" "$prefix/"; done
    base="$WORK/base-$size"
    rm -rf "$base"
    "$AFTER" import --db "$base" --quiet --json "$prefix" >/dev/null
    declare -A per=()
    for run in $(seq "$RUNS"); do
        for which in before after; do
            bin=$BEFORE && [ $which = after ] && bin=$AFTER
            db="$WORK/tip-$size"
            rm -rf "$db" && cp -a "$base" "$db"
            "$bin" import --db "$db" --quiet --json --commit-seconds 0 "$chain" >"$WORK/out.json"
            # --commit-seconds 0 commits after every block: commits = blocks added
            r=$(python3 -c "import json; d=json.load(open('$WORK/out.json')); print(d['phase_seconds']['commit'] / max(d['blocks_added'], 1) * 1000, d['blocks_added'])")
            per[$which]+="${r%% *}"$'\n'
            echo "  run $run $which: ms per commit, blocks (= commits) = $r"
        done
    done
    rm -rf "$WORK/tip-$size" "$base"
    for which in before after; do
        m=$(printf '%s' "${per[$which]}" | median)
        printf '  (b) %-6s one-block commit on the %s-tx store: %.1f ms (median)\n' "$which" "$txs" "$m"
        eval "b_$which=$m"
    done
    # shellcheck disable=SC2154
    printf '  (b) after/before: %.2f\n' "$(calc "$b_after / $b_before")"

    # (c) open + one query against process start
    txid=$(grep -o '"txid":"[0-9a-f]\{64\}"' "$chain/truth.jsonl" | tail -1 | cut -d'"' -f4)
    addr=$(grep -m1 '"kind":"entity"' "$chain/truth.jsonl" | grep -o '"addresses":\["[^"]*"' | cut -d'"' -f4)
    timeit() { # CMD... -> median wall seconds of 11 runs
        for _ in $(seq 11); do
            t0=$(now)
            "$@" >/dev/null 2>&1 || true
            t1=$(now)
            calc "$t1 - $t0"
        done | median
    }
    for which in before after; do
        bin=$BEFORE && [ $which = after ] && bin=$AFTER
        db="$WORK/db-$size-$which-one"
        h=$(timeit "$bin" --help)
        t=$(timeit "$bin" tx --db "$db" "$txid")
        s=$(timeit "$bin" stats --db "$db")
        a=$(timeit "$bin" address --db "$db" "$addr")
        printf '  (c) %-6s --help %.3f s; tx %.3f s (%.1fx); stats %.3f s (%.1fx); address %.3f s (%.1fx)\n' \
            "$which" "$h" "$t" "$(calc "$t / $h")" "$s" "$(calc "$s / $h")" "$a" "$(calc "$a / $h")"
    done
    rm -rf "$WORK"/db-"$size"-*
done
echo
echo "uptime: $(uptime)"
