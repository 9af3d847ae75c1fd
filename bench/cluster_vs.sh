#!/bin/bash
# Full clustering time and peak memory of two builds on the same generated chain, alternating
# runs, median of N (default 3) for each, and the ratio new/ref:
#
#   WORK=/tmp/cvs bench/cluster_vs.sh REF_BIN NEW_BIN [TXS_PER_BLOCK:BLOCKS] [N]
#
# The chain (seed 1, --era 2015-2024.3, users = 10 x txs per block: bench/cluster.sh's) is
# generated and imported once by NEW_BIN; each build then runs `cluster --rebuild` on its own
# copy of the store (the clustering files of the two formats never meet). Prints the machine
# load (uptime) before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
REF=$(realpath "$1") NEW=$(realpath "$2")
size=${3:-2000:620} n=${4:-3}
tpb=${size%%:*} blocks=${size##*:}
WORK=${WORK:-/tmp/cointrail-cvs}
mkdir -p "$WORK"
chain="$WORK/chain-$tpb-$blocks"
if [ ! -f "$chain/truth.jsonl" ]; then
    "$NEW" generate --out "$chain" --seed 1 --blocks "$blocks" --txs-per-block "$tpb" \
        --users $((tpb * 10)) --era 2015-2024.3 --force --quiet >/dev/null
fi
rm -rf "$WORK/db"
"$NEW" import --db "$WORK/db" --quiet "$chain" >/dev/null
rm -rf "$WORK/db.ref" "$WORK/db.new"
cp -r "$WORK/db" "$WORK/db.ref"
cp -r "$WORK/db" "$WORK/db.new"
echo "load before: $(uptime)"
for i in $(seq "$n"); do
    for which in ref new; do
        bin=$REF
        [ "$which" = new ] && bin=$NEW
        /usr/bin/time -f '%e %M' -o "$WORK/t" "$bin" cluster --db "$WORK/db.$which" --rebuild \
            >/dev/null
        echo "$which $(cat "$WORK/t")" >>"$WORK/runs"
    done
done
echo "load after: $(uptime)"
python3 - "$WORK/runs" "$n" <<'EOF'
import statistics, sys
lines = open(sys.argv[1]).read().split("\n")[-2 * int(sys.argv[2]) - 1:]
runs = {"ref": [], "new": []}
for l in lines:
    if l:
        w, s, kb = l.split()
        runs[w].append((float(s), int(kb)))
med = {w: (statistics.median(s for s, _ in r), statistics.median(k for _, k in r) / 1024)
       for w, r in runs.items()}
for w in ("ref", "new"):
    print(f"{w}: {med[w][0]:.2f} s, peak {med[w][1]:.0f} MB (runs {[s for s, _ in runs[w]]})")
print(f"new/ref: time {med['new'][0] / med['ref'][0]:.2f}, memory {med['new'][1] / med['ref'][1]:.2f}")
EOF
