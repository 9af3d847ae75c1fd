#!/bin/bash
# Issue 18's targets ("the whole Bitcoin chain on one machine"), each measured and checked, at
# several chain sizes in one run.
#
#   [SIZES="1m 10m"] [RUNS=3] [MEMORY=256M] [WORK=DIR] [BIN=build/cointrail] [LOCK=FILE]
#   [CHAIN_1m=DIR CHAIN_10m=DIR ...] bench/whole_chain.sh
#
# SIZES, smallest first, from 1m 10m 30m 100m: each a chain of `cointrail generate` (seed 1; the
# settings below, those of docs/performance.md's figures), made in WORK/chain-SIZE unless
# CHAIN_SIZE names a directory of blk files to use. Per size: bench/bulk_import.sh (RUNS rounds
# of the hashing bound, `import --bulk` at the default budget and under --memory MEMORY; medians;
# the stores compared), then on the first round's bulk store bench/scan.sh (`stats --recompute`,
# 3 rounds) and bench/open_cost.sh (`tx`, `address`, `stats` against `--help`, 11 rounds).
# Then the targets, from those medians:
#   ratio to the hashing bound   openssl's wall time / the import's, at 10m      >= 0.3
#   cost per tx                  the import's wall time per tx, against the
#                                smallest size's (the issue: 100m against 1m)    <= 1.3x
#   peak RSS under --memory      the largest size's against the one before it    <= 1.3x ("flat")
#   store                        bytes of all its files per tx, every size       <= 150
#   full scan                    input+output rows per CPU second, one thread    >= 100M
#   opening a store              tx, address, stats, each against --help         <= 2x
# Needs about 0.5 KB of disk per tx for the chain and as much again for the stores and temp
# files (100m: about 100 GB). LOCK is passed on (each import under flock LOCK).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-1m 10m}
RUNS=${RUNS:-3}
MEMORY=${MEMORY:-256M}
WORK=${WORK:-/tmp/cointrail-whole-chain}
BIN=$(realpath "${BIN:-build/cointrail}")
[ -x "$BIN" ] || scripts/build.sh build
mkdir -p "$WORK"
SUM=$WORK/summary
: >"$SUM"
trap 'rm -rf "$WORK"/store "$WORK"/imports' EXIT

gen_args() {
    case $1 in
    1m) echo --blocks 620 --txs-per-block 2000 --users 20000 ;;
    10m) echo --blocks 5000 --txs-per-block 2100 --users 20000 ;;
    30m) echo --blocks 15000 --txs-per-block 2100 --users 100000 --exchanges 10 --merchants 500 --miners 8 --scenarios 3 ;;
    100m) echo --blocks 48000 --txs-per-block 2100 --users 300000 --exchanges 20 --merchants 1500 --miners 12 --scenarios 5 ;;
    *) echo "unknown size $1 (1m 10m 30m 100m)" >&2 && return 1 ;;
    esac
}

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $(uname -r)"
echo "binary: $BIN"
echo "load before: $(uptime)"
for size in $SIZES; do
    var=CHAIN_$size
    chain=${!var:-$WORK/chain-$size}
    if [ ! -f "$chain/blk00000.dat" ]; then
        # shellcheck disable=SC2046
        "$BIN" generate --out "$chain" --seed 1 $(gen_args "$size") --quiet >/dev/null
    fi
    echo
    echo "=== $size: $chain"
    SUMMARY=$SUM KEEP=$WORK/store MEMORY=$MEMORY INCREMENTAL=0 RUNS=$RUNS WORK=$WORK/imports BIN=$BIN \
        bench/bulk_import.sh "$chain" | tee "$WORK/import-$size"
    RUNS=3 bench/scan.sh "$WORK/store" "$BIN" | tee "$WORK/scan-$size"
    RUNS=11 bench/open_cost.sh "$WORK/store" "$BIN" | tee "$WORK/open-$size"
    rm -rf "$WORK/store"
done
echo
echo "load after: $(uptime)"

# The targets. Summary lines: chain txs variant wall cpu peak_rss_kb bound_wall bound_cpu bytes.
echo
echo "=== targets (issue 18), medians of $RUNS; --memory $MEMORY"
verdict() { awk -v v="$1" -v op="$2" -v g="$3" 'BEGIN {ok = op == "<=" ? v <= g : v >= g; print ok ? "met" : "NOT met"}'; }
sizes=($SIZES)
first=${sizes[0]} last=${sizes[${#sizes[@]} - 1]}
row() { # SIZE VARIANT -> the summary line's fields
    local i
    for i in "${!sizes[@]}"; do [ "${sizes[$i]}" = "$1" ] && break; done
    awk -v v="$2" '$3 == v' "$SUM" | sed -n "$((i + 1))p"
}
printf '%-6s %10s %12s %10s %12s %14s %10s %12s %12s %12s\n' size txs "import s" "bound s" "ratio" "us/tx" "x $first" "B/tx" "RSS MB" "RSS --mem MB"
for size in $SIZES; do
    read -r _ t _ w _ rss bw _ bytes < <(row "$size" bulk)
    read -r _ _ _ _ _ mrss _ _ _ < <(row "$size" "$MEMORY")
    read -r _ t1 _ w1 _ _ _ _ _ < <(row "$first" bulk)
    awk -v s="$size" -v t="$t" -v w="$w" -v bw="$bw" -v b="$bytes" -v r="$rss" -v m="$mrss" -v t1="$t1" -v w1="$w1" 'BEGIN {
        printf "%-6s %10d %12.2f %10.2f %12.3f %14.2f %10.2f %12.1f %12d %12d\n", s, t, w, bw, bw / w, w / t * 1e6, (w / t) / (w1 / t1), b / t, r / 1024, m / 1024 }'
done
target() { printf '  %-62s %-12s %s\n' "$1" "$2" "$3"; }
if [[ " $SIZES " == *" 10m "* ]]; then
    read -r _ _ _ w _ _ bw _ _ < <(row 10m bulk)
    x=$(awk -v a="$bw" -v b="$w" 'BEGIN {printf "%.3f", a / b}')
    target "ratio to the hashing bound at 10m (>= 0.3)" "$x" "$(verdict "$x" ">=" 0.3)"
fi
if [ "$first" != "$last" ]; then
    read -r _ t1 _ w1 _ _ _ _ _ < <(row "$first" bulk)
    read -r _ tn _ wn _ _ _ _ _ < <(row "$last" bulk)
    x=$(awk -v a="$wn" -v b="$tn" -v c="$w1" -v d="$t1" 'BEGIN {printf "%.2f", (a / b) / (c / d)}')
    target "cost per tx, $last against $first (<= 1.3; the issue: 100m)" "${x}x" "$(verdict "$x" "<=" 1.3)"
    prev=${sizes[${#sizes[@]} - 2]}
    read -r _ _ _ _ _ mp _ _ _ < <(row "$prev" "$MEMORY")
    read -r _ _ _ _ _ mn _ _ _ < <(row "$last" "$MEMORY")
    x=$(awk -v a="$mn" -v b="$mp" 'BEGIN {printf "%.2f", a / b}')
    target "peak RSS under --memory $MEMORY, $last against $prev (<= 1.3)" "${x}x" "$(verdict "$x" "<=" 1.3)"
fi
for size in $SIZES; do
    read -r _ t _ _ _ _ _ _ bytes < <(row "$size" bulk)
    x=$(awk -v b="$bytes" -v t="$t" 'BEGIN {printf "%.1f", b / t}')
    target "store bytes per tx at $size (<= 150)" "$x" "$(verdict "$x" "<=" 150)"
done
for size in $SIZES; do
    x=$(awk '$1 == "new" {sub("M", "", $4); print $4}' "$WORK/scan-$size")
    target "full scan at $size, M rows per CPU second, 1 thread (>= 100)" "$x" "$(verdict "$x" ">=" 100)"
done
for size in $SIZES; do
    for c in tx address stats; do
        x=$(awk -v c="$c" '$2 == c {for (i = 1; i <= NF; i++) if ($i == "wall") {w = $(i + 3)}} END {gsub(/[(x]/, "", w); print w}' "$WORK/open-$size")
        target "$c at $size, wall against --help (<= 2)" "${x}x" "$(verdict "$x" "<=" 2)"
    done
done
