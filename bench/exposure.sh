#!/bin/bash
# What the exposure index costs (docs/exposure.md), on a generated chain with laundering
# scenarios and the generator's labels:
#
#   bench/exposure.sh [TXS_PER_BLOCK BLOCKS [WORKDIR]]     (default: 2000 x 620 = 1M txs)
#   CHAIN=DIR bench/exposure.sh                            (a generated chain made elsewhere,
#                                                           with its labels.csv and truth.jsonl)
#
# In the same run, three times each, alternating, medians reported:
#   - `cointrail import --no-exposure` of the whole chain into a store that already has the
#     labels (the reference), and `cointrail import` of it with the index, which propagates every
#     block after it is committed (the `exposure.seconds` of import --json): the index's share
#     of import time, and the whole import's time against the reference;
#   - `cointrail labels import` of the same labels into a store imported without them (the index
#     re-propagated from every labelled output), and `cointrail cluster` (the stops entities add);
#   - `cointrail exposure build --rebuild` on the clustered store;
#   - the index's bytes, per tx and per output with amounts;
#   - `cointrail screen --direction incoming` of the scenarios' deposits, from the index and
#     (exposure_index "none") by tracing 10 hops: wall time per screening (one process each).
# Page cache warm (the blk files are read first); the machine's load is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
TPB=${1:-2000}
BLOCKS=${2:-620}
WORK=${3:-/tmp/cointrail-bench-exposure}
BIN=build/cointrail
PY=/usr/bin/python3
[ -x "$BIN" ] || scripts/build.sh build
chain=${CHAIN:-$WORK/xchain-$TPB-$BLOCKS}
mkdir -p "$WORK"
if [ ! -f "$chain/truth.jsonl" ]; then
    mkdir -p "$chain"
    "$BIN" generate --out "$chain" --seed 1 --blocks "$BLOCKS" --txs-per-block "$TPB" \
        --users 100000 --exchanges 10 --merchants 500 --miners 8 --scenarios 6 --force \
        --quiet >/dev/null
fi
cat "$chain"/blk*.dat >/dev/null
jf() { $PY -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
source "$(dirname "$0")/lib.sh" # median_of
now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }
echo "machine: $(nproc) cores, load before: $(uptime | sed 's/.*load average: //')"

ref=() with=() idx=() lab=() clu=() reb=()
for round in 1 2 3; do
    for mode in ref with; do
        db="$WORK/xdb-$mode"
        rm -rf "$db"
        "$BIN" labels import --db "$db" "$chain/labels.csv" >/dev/null
        if [ $mode = ref ]; then
            "$BIN" import --db "$db" --no-exposure --quiet --json "$chain" >"$WORK/x.json"
            ref+=("$(jf "$WORK/x.json" "d['seconds']")")
        else
            "$BIN" import --db "$db" --quiet --json "$chain" >"$WORK/x.json"
            with+=("$(jf "$WORK/x.json" "d['seconds'] + d['exposure']['seconds']")")
            idx+=("$(jf "$WORK/x.json" "d['exposure']['seconds']")")
        fi
    done
    # labels after the blocks: the whole re-propagation
    db="$WORK/xdb-late"
    rm -rf "$db"
    "$BIN" import --db "$db" --quiet "$chain" >/dev/null
    t0=$(now)
    "$BIN" labels import --db "$db" "$chain/labels.csv" >/dev/null
    lab+=("$(calc "$(now) - $t0")")
    # the clustering (its own time is printed apart: the update is the difference)
    "$BIN" cluster --db "$WORK/xdb-ref" --json >"$WORK/c.json"
    c0=$(jf "$WORK/c.json" "d['seconds']")
    t0=$(now)
    "$BIN" cluster --db "$WORK/xdb-with" --json >"$WORK/c.json"
    clu+=("$(calc "$(now) - $t0 - $c0")")
    t0=$(now)
    "$BIN" exposure build --db "$WORK/xdb-with" --rebuild >/dev/null
    reb+=("$(calc "$(now) - $t0")")
done
r=$(median_of "${ref[@]}") w=$(median_of "${with[@]}") i=$(median_of "${idx[@]}")
txs=$(jf "$WORK/x.json" "d['txs_added']")
printf 'chain: %s, %s txs, labels.csv of %s lines\n' "$chain" "$txs" "$(wc -l <"$chain/labels.csv")"
printf 'import --no-exposure (reference): %.2f s   (runs: %s)\n' "$r" "${ref[*]}"
printf 'import with the index:            %.2f s   (runs: %s)\n' "$w" "${with[*]}"
printf '  of which the index update:      %.2f s = %.1f%% of the reference import (runs: %s)\n' \
    "$i" "$(calc "100 * $i / $r")" "${idx[*]}"
printf 'labels import after the blocks:   %.2f s   (runs: %s)\n' "$(median_of "${lab[@]}")" "${lab[*]}"
printf 'cluster: index update             %.2f s   (runs: %s)\n' "$(median_of "${clu[@]}")" "${clu[*]}"
printf 'exposure build --rebuild:         %.2f s   (runs: %s)\n' "$(median_of "${reb[@]}")" "${reb[*]}"
"$BIN" exposure status --db "$WORK/xdb-with" --json >"$WORK/s.json"
bytes=$(jf "$WORK/s.json" "d['bytes']")
printf 'index: %s bytes, %.2f per tx; %s amounts on %s outputs (%.2f%% of outputs), %s stops\n' \
    "$bytes" "$(calc "$bytes / $txs")" "$(jf "$WORK/s.json" "d['rows']")" \
    "$(jf "$WORK/s.json" "d['outputs_with_rows']")" \
    "$(calc "100 * $(jf "$WORK/s.json" "d['outputs_with_rows']") / $(jf "$WORK/s.json" "d['outputs']")")" \
    "$(jf "$WORK/s.json" "d['stops']")"
$PY -c "import json,sys; [print('  %-11s received %16d sat, below the floor %12d sat in %d shares' % (c['category'], c['received'], c['below_floor'], c['below_floor_shares'])) for c in json.load(open(sys.argv[1]))['categories'] if c['tracked']]" "$WORK/s.json"
store=$(du -sb --exclude=undo.log --exclude=exposure "$WORK/xdb-with" | cut -f1)
printf 'store without the index: %.1f bytes per tx\n' "$(calc "$store / $txs")"

# screening: the deposits of the scenarios, from the index and by tracing
$PY -c "
import json, sys
d = [s['txid'] for l in open(sys.argv[1]) for x in [json.loads(l)] if x.get('kind') == 'scenario'
     for s in x['steps'] if s['kind'].endswith('_deposit')]
print('\n'.join(d[:200]))" "$chain/truth.jsonl" >"$WORK/deposits.txt"
n=$(wc -l <"$WORK/deposits.txt")
for db in xdb-with xdb-ref; do
    # one process for all: its start (opening the store, labels, entities, checking the index)
    # measured apart with one deposit
    t0=$(now)
    "$BIN" screen --db "$WORK/$db" --direction incoming --json "$(head -1 "$WORK/deposits.txt")" >/dev/null
    t1=$(now)
    "$BIN" screen --db "$WORK/$db" --direction incoming --json $(cat "$WORK/deposits.txt") >"$WORK/sc.json"
    t2=$(now)
    how=$($PY -c "import json,sys; d=json.load(sys.stdin); print((d[0] if isinstance(d, list) else d)['exposure_index'])" <"$WORK/sc.json")
    printf 'screen %s deposits (exposure_index %s): start %.2f s, then %.1f ms a screening\n' "$n" \
        "$how" "$(calc "$t1 - $t0")" "$(calc "1000 * ($t2 - $t1 - ($t1 - $t0)) / ($n - 1)")"
done
echo "load after: $(uptime | sed 's/.*load average: //')"
