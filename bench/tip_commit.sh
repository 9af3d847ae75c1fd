#!/bin/bash
# What one commit at the tip costs on a large store (issue 18, part 1): a store holding all but
# the last TIP blocks of a chain, then those TIP blocks imported with --commit-seconds 0 (one
# commit per block, as `import --follow` commits): the commit phase per block.
#
#   bench/tip_commit.sh CHAIN [BIN...]
#       CHAIN: a directory of blk files (read only); BIN: binaries to compare (build/cointrail)
#   env: WORK (/tmp/cointrail-tip-commit; stores made and deleted there), RUNS (3), TIP (20)
#
# Each binary builds its own prefix store once (untimed); each run copies it and imports the
# tip. Prints `uptime` first and last, each run, and per binary the median of the commit
# seconds per block and of the whole tip import.
set -euo pipefail
cd "$(dirname "$0")/.."
CHAIN=$1
shift
BINS=("$@")
[ ${#BINS[@]} -gt 0 ] || BINS=(build/cointrail)
WORK=${WORK:-/tmp/cointrail-tip-commit}
RUNS=${RUNS:-3}
TIP=${TIP:-20}
mkdir -p "$WORK"
source "$(dirname "$0")/lib.sh" # median
echo "uptime: $(uptime)"
for i in "${!BINS[@]}"; do
    p=$WORK/prefix-$i
    rm -rf "$p"
    "${BINS[$i]}" import --db "$p" --quiet "$CHAIN" >/dev/null
    blocks=$("${BINS[$i]}" stats --db "$p" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['blocks'])")
    rm -rf "$p"
    "${BINS[$i]}" import --db "$p" --quiet --stop-after $((blocks - TIP)) "$CHAIN" >/dev/null
done
echo "chain: $CHAIN ($blocks blocks; the last $TIP imported one commit each)"
declare -A per=() whole=()
for run in $(seq "$RUNS"); do
    for i in "${!BINS[@]}"; do
        db=$WORK/tip
        rm -rf "$db"
        cp -a "$WORK/prefix-$i" "$db"
        "${BINS[$i]}" import --db "$db" --quiet --json --commit-seconds 0 "$CHAIN" >"$WORK/out.json"
        read -r s c < <(python3 -c "import json; d=json.load(open('$WORK/out.json')); print(d['seconds'], d['phase_seconds']['commit'] / $TIP)")
        per[$i]+="$c"$'\n'
        whole[$i]+="$s"$'\n'
        echo "run $run: ${BINS[$i]}: $s s, commit $c s per block"
        rm -rf "$db"
    done
done
echo "uptime: $(uptime)"
for i in "${!BINS[@]}"; do
    echo "${BINS[$i]}: commit per block $(printf '%s' "${per[$i]}" | median) s, tip import $(printf '%s' "${whole[$i]}" | median) s (medians of $RUNS)"
    rm -rf "$WORK/prefix-$i"
done
