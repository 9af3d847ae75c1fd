#!/bin/bash
# The full scan (issue 18: "a full scan of every input and output, `stats --recompute`, at
# >= 100M rows/s per core"): `stats --recompute` timed against a plain sequential read of the
# same column bytes in the same run.
#
#   bench/scan.sh DB [NEW_BIN [OLD_BIN]]
#       DB:      a store (opened read-only; nothing is written into it)
#       NEW_BIN: default build/cointrail; also timed with --threads 2
#       OLD_BIN: a binary to compare (e.g. main's before the scan), optional
#   env: RUNS (5)
#
# The reference is `cat` of the columns the scan reads (out_value, out_type, out_spent,
# in_prev, tx, addr_last) to /dev/null: one read() pass over the bytes, kernel copies included,
# no arithmetic. Page cache warm: one untimed run of each first, then RUNS rounds, the commands
# interleaved. Prints the machine and `uptime` first and last, then per command the median wall
# time, the median CPU time (user + system) and input+output rows per CPU second, and the CPU
# time as a multiple of the reference's. Every recompute's document must equal the first one's
# and the MANIFEST's figures (`stats --json`); a difference stops the script.
set -euo pipefail
cd "$(dirname "$0")/.."
DB=$1
NEW=${2:-build/cointrail}
OLD=${3:-}
RUNS=${RUNS:-5}
source "$(dirname "$0")/lib.sh" # median
field() { awk -v k="$1" '$1 == k { print $2 }' "$DB/MANIFEST"; }

inputs=$(field inputs)
outputs=$(field outputs)
rows=$((inputs + outputs))
cols=("$DB/out_value.col" "$DB/out_type.col" "$DB/out_spent.col" "$DB/in_prev.col" "$DB/tx.col"
    "$DB/addr_last.col")
bytes=$(stat -c %s "${cols[@]}" | awk '{ s += $1 } END { printf "%.0f", s }')
echo "machine: $(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2 }'), $(nproc) cores," \
    "$(free -g | awk '/Mem:/ { print $2 }') GiB; $(uname -r)"
echo "uptime: $(uptime)"
echo "store: $DB: $(field txs) txs, $inputs inputs, $outputs outputs, $(field addresses) addresses;" \
    "scanned columns $bytes bytes"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$NEW" stats --db "$DB" --json >"$tmp/manifest.json"

cmds=("cat ${cols[*]}" "$NEW stats --recompute --json --db $DB" "$NEW stats --recompute --threads 2 --json --db $DB")
names=(reference new new-2-threads)
if [ -n "$OLD" ]; then
    cmds+=("$OLD stats --recompute --json --db $DB")
    names+=(old)
fi
declare -A wall=() cpu=()
TIMEFORMAT='%3R %3U %3S'
for k in "${!cmds[@]}"; do $(echo "${cmds[$k]}") >/dev/null; done # warm the page cache
for r in $(seq "$RUNS"); do
    for k in "${!cmds[@]}"; do
        out=$tmp/out.json
        [ "$k" -gt 0 ] || out=/dev/null
        { time $(echo "${cmds[$k]}") >"$out"; } 2>"$tmp/t"
        read -r w u s <"$tmp/t"
        wall[$k]+="$w "
        cpu[$k]+="$(echo "$u + $s" | bc) "
        if [ "$k" -gt 0 ]; then
            # the recomputed figures: the same every time, and the MANIFEST's
            cmp -s "$tmp/out.json" "$tmp/manifest.json" ||
                { echo "${names[$k]}: recomputed figures differ from the MANIFEST's" >&2; diff "$tmp/out.json" "$tmp/manifest.json" >&2; exit 1; }
        fi
    done
done
ref_cpu=$(echo "${cpu[0]}" | tr ' ' '\n' | grep . | median)
printf '%-14s %10s %10s %16s %12s\n' command "wall s" "CPU s" "rows/CPU s" "CPU/ref"
for k in "${!cmds[@]}"; do
    w=$(echo "${wall[$k]}" | tr ' ' '\n' | grep . | median)
    c=$(echo "${cpu[$k]}" | tr ' ' '\n' | grep . | median)
    printf '%-14s %10.3f %10.3f %16s %12s\n' "${names[$k]}" "$w" "$c" \
        "$(awk -v r="$rows" -v c="$c" 'BEGIN { printf "%.1fM", r / c / 1e6 }')" \
        "$(awk -v a="$c" -v b="$ref_cpu" 'BEGIN { printf "%.2f", a / b }')"
    echo "  runs: wall ${wall[$k]}| CPU ${cpu[$k]}"
done
echo "(rows: inputs + outputs = $rows; the reference reads $bytes bytes)"
echo "uptime: $(uptime)"
