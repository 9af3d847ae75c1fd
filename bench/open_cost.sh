#!/bin/bash
# What opening a store costs a query (issue 18, part 6): `tx`, `address` (first page) and
# `stats` on a store against `cointrail --help` (process start, no store), each timed on its own.
#
#   bench/open_cost.sh DB [BIN...]
#       DB:  a store (opened read-only; nothing is written into it)
#       BIN: cointrail binaries to compare (default: build/cointrail), runs interleaved
#   env: RUNS (11)
#
# The txid is the store's middle tx (from tx_hash.col); the address the first output address of
# that tx; the labelled address (`addr-lab`, when labels.db has btc labels) the first btc label
# from the middle of labels.db on that the store has (or env LADDR). On a clustered store an address of an entity of several addresses lists
# the labels of all of them: with labels.idx and entity-labels.idx (labels import, cluster,
# labels reindex) a look-up reads what it needs; without them the whole of labels.db is read and
# the label set walked. Prints `uptime` first and last, then per binary and command the median
# wall time and the median CPU time (user + system, less sensitive to other load), and both as
# multiples of `--help`'s. Page cache warm (one untimed run of each first).
set -euo pipefail
cd "$(dirname "$0")/.."
DB=$1
shift
BINS=("$@")
[ ${#BINS[@]} -gt 0 ] || BINS=(build/cointrail)
RUNS=${RUNS:-11}
source "$(dirname "$0")/lib.sh" # median

txs=$(($(stat -c %s "$DB/tx_hash.col") / 32))
TXID=$(python3 -c "
f = open('$DB/tx_hash.col', 'rb'); f.seek(32 * ($txs // 2)); print(f.read(32)[::-1].hex())")
ADDR=$("${BINS[0]}" tx --db "$DB" --json "$TXID" | python3 -c "
import json, sys
d = json.load(sys.stdin)
print(next(o['address'] for o in d['outputs'] if o.get('address')))")
LADDR=${LADDR:-$(python3 -c "
import subprocess
try:
    rows = [l.split('\t')[1] for i, l in enumerate(open('$DB/labels.db', errors='replace')) if i >= 2 and l.startswith('btc\t')]
except OSError:
    rows = []
# the middle label whose address the store has (labels may name addresses it never saw)
for a in rows[len(rows) // 2:][:500]:
    if subprocess.run(['${BINS[0]}', 'address', '--db', '$DB', '--limit', '1', a],
                      capture_output=True).returncode == 0:
        print(a)
        break")}
echo "uptime: $(uptime)"
echo "store: $DB ($txs txs; labels.db: $(stat -c %s "$DB/labels.db" 2>/dev/null || echo none) bytes," \
    "$(($(wc -l 2>/dev/null <"$DB/labels.db" || echo 2) - 2)) labels; labels.idx:" \
    "$([ -f "$DB/labels.idx" ] && echo yes || echo no), entity-labels.idx:" \
    "$([ -f "$DB/entity-labels.idx" ] && echo yes || echo no))"
echo "tx $TXID, address $ADDR, labelled address ${LADDR:-none}"

cmds=("--help" "tx --db $DB $TXID" "address --db $DB $ADDR" "stats --db $DB")
names=(help tx address stats)
if [ -n "$LADDR" ]; then
    cmds+=("address --db $DB $LADDR")
    names+=(addr-lab)
fi
declare -A wall=() cpu=()
TIMEFORMAT='%3R %3U %3S'
for b in "${BINS[@]}"; do
    for c in "${cmds[@]}"; do
        # shellcheck disable=SC2086
        "$b" $c >/dev/null
    done
done
for run in $(seq "$RUNS"); do
    for i in "${!BINS[@]}"; do
        for k in "${!cmds[@]}"; do
            # bash's `time`: wall, user and system time of the child in ms
            # shellcheck disable=SC2086
            { time "${BINS[$i]}" ${cmds[$k]} >/dev/null 2>&1; } 2>/tmp/open_cost.$$
            read -r e u s </tmp/open_cost.$$
            wall[$i-$k]+="$e"$'\n'
            cpu[$i-$k]+="$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')"$'\n'
        done
    done
done
rm -f /tmp/open_cost.$$
echo "uptime: $(uptime)"
for i in "${!BINS[@]}"; do
    h=$(printf '%s' "${wall[$i-0]}" | median)
    hc=$(printf '%s' "${cpu[$i-0]}" | median)
    for k in "${!cmds[@]}"; do
        w=$(printf '%s' "${wall[$i-$k]}" | median)
        c=$(printf '%s' "${cpu[$i-$k]}" | median)
        printf '%s %-8s wall %.3f s (%.1fx --help), cpu %.3f s (%s --help)\n' "${BINS[$i]}" \
            "${names[$k]}" "$w" "$(awk -v a="$w" -v b="$h" 'BEGIN { print (b > 0) ? a / b : 0 }')" \
            "$c" "$(awk -v a="$c" -v b="$hc" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "n/a:" }')"
    done
done
