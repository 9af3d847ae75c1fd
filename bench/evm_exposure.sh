#!/bin/bash
# What the EVM exposure index and the cross-chain overlay cost (docs/exposure.md, "EVM chains"
# and "Across chains"), on a generated chain with an EVM side and the generator's labels:
#
#   bench/evm_exposure.sh [BLOCKS [EVM_TXS_PER_BLOCK [WORKDIR]]]
#       (default 300 Bitcoin blocks, so 15,000 EVM blocks of 12 s, x 20 background txs)
#   CHAIN=DIR bench/evm_exposure.sh     (a chain generated with --evm elsewhere)
#
# In the same run, three times each, alternating, medians reported:
#   - `cointrail evm-import --no-exposure` of the whole EVM export into a store that already
#     has the Bitcoin chain and the labels (the reference), and `cointrail evm-import` of it
#     with the index (built from the first transfer after the blocks are committed): wall time
#     of each, their ratio, and the index's own seconds (its stderr line) against the reference;
#   - the index's bytes (rows and state), per transfer and per transfer row;
#   - a theft label on the busiest and on the median unlabelled sender: `evm-exposure build`
#     (re-propagating what the change touches) against `evm-exposure build --rebuild`, on
#     copies, and whether the two give the same files;
#   - the cross-chain overlay (computed on demand, once per state of the stores): the
#     `cross_chain.overlay.seconds` of a `cointrail screen --json` of a Bitcoin exchange
#     address after `cointrail xchain links`, and the wall time of that screening process
#     against one of the same address with no links file (the Bitcoin-only screening).
# Page cache warm (the CSVs are read first); the machine's load is printed before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
BLOCKS=${1:-300}
ETPB=${2:-20}
WORK=${3:-/tmp/cointrail-bench-evm-exposure}
BIN=build/cointrail
PY=/usr/bin/python3
[ -x "$BIN" ] || scripts/build.sh build
chain=${CHAIN:-$WORK/chain-$BLOCKS-$ETPB}
mkdir -p "$WORK"
if [ ! -f "$chain/truth.jsonl" ]; then
    mkdir -p "$chain"
    "$BIN" generate --out "$chain" --seed 3 --blocks "$BLOCKS" --txs-per-block 40 \
        --users 3000 --maturity 10 --halving-interval 150 --era 2019.5-2024.3 --evm \
        --evm-txs-per-block "$ETPB" --evm-scenarios 8 --force --quiet >/dev/null
fi
cat "$chain"/evm/*.csv >/dev/null
jf() { $PY -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
source "$(dirname "$0")/lib.sh" # median_of
now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }
echo "machine: $(nproc) cores, load before: $(uptime | sed 's/.*load average: //')"

# the Bitcoin side once: blocks, labels, clustering
base="$WORK/base"
rm -rf "$base"
"$BIN" import --db "$base" --quiet "$chain" >/dev/null
"$BIN" labels import --db "$base" "$chain/labels.csv" >/dev/null
"$BIN" cluster --db "$base" >/dev/null

ref=() with=() idx=()
for round in 1 2 3; do
    for mode in ref with; do
        db="$WORK/db-$mode"
        rm -rf "$db"
        cp -a "$base" "$db"
        t0=$(now)
        if [ $mode = ref ]; then
            "$BIN" evm-import --db "$db" --no-exposure "$chain/evm" >/dev/null 2>"$WORK/err"
            ref+=("$(calc "$(now) - $t0")")
        else
            "$BIN" evm-import --db "$db" "$chain/evm" >/dev/null 2>"$WORK/err"
            with+=("$(calc "$(now) - $t0")")
            # "evm exposure index: built (new), ... bytes), S s"
            idx+=("$(sed -n 's/^evm exposure index: .* \([0-9.]*\) s$/\1/p' "$WORK/err")")
        fi
    done
done
db="$WORK/db-with"
"$BIN" evm-stats --db "$db" --json >"$WORK/st.json"
"$BIN" evm-exposure status --db "$db" --json >"$WORK/ix.json"
xf=$(jf "$WORK/st.json" "d['transfers']")
etx=$(jf "$WORK/st.json" "d['txs']")
bytes=$(jf "$WORK/ix.json" "d['bytes']")
rows=$(jf "$WORK/ix.json" "d['rows']")
recs=$(jf "$WORK/ix.json" "d['records']")

# a label change: re-propagated in place (what it touches) against a rebuild, on copies; a
# theft label on the busiest unlabelled sender (much is touched) and on the median one
read -r busiest middle < <($PY -c "import csv, collections, sys
lab = {l.split(',')[1].lower() for l in open(sys.argv[2]) if l.startswith('eth,')}
c = collections.Counter(r['from_address'].lower() for r in csv.DictReader(open(sys.argv[1] + '/transactions.csv')) if int(r['value'] or 0) > 0)
l = [a for a, _ in c.most_common() if a not in lab]
print(l[0], l[len(l) // 2])" "$chain/evm" "$chain/labels.csv")
relabel=()
for who in busiest middle; do
    addr=${!who}
    printf 'chain,address,category,actor,source,confidence\neth,%s,theft,bench,bench,90\n' "$addr" >"$WORK/l.csv"
    inc=() reb=()
    for round in 1 2 3; do
        rm -rf "$WORK/db-inc" "$WORK/db-reb"
        cp -a "$db" "$WORK/db-inc"
        "$BIN" labels import --db "$WORK/db-inc" "$WORK/l.csv" >/dev/null
        cp -a "$WORK/db-inc" "$WORK/db-reb"
        t0=$(now)
        "$BIN" evm-exposure build --db "$WORK/db-inc" >"$WORK/inc.txt"
        inc+=("$(calc "$(now) - $t0")")
        t0=$(now)
        "$BIN" evm-exposure build --db "$WORK/db-reb" --rebuild >"$WORK/reb.txt"
        reb+=("$(calc "$(now) - $t0")")
    done
    diff -r "$WORK/db-inc/evm/eth/exposure" "$WORK/db-reb/evm/eth/exposure" >/dev/null \
        && same="the same bytes" || same="DIFFERENT FILES"
    pairs=$(sed -n 's/.*stops: \([0-9]*\) .*/\1/p' "$WORK/inc.txt")
    rrows=$(sed -n 's/.* \([0-9]*\) rows (.*/\1/p' "$WORK/reb.txt")
    relabel+=("$(printf 'a theft label on the %s unlabelled sender (%s): in place %.3f s (%s pairs re-propagated), --rebuild %.3f s (%s rows), %s   (runs: %s / %s)' \
        "$who" "$addr" "$(median_of "${inc[@]}")" "$pairs" "$(median_of "${reb[@]}")" "$rrows" "$same" "${inc[*]}" "${reb[*]}")")
done
rm -rf "$WORK/db-inc" "$WORK/db-reb"

# the cross-chain overlay, on demand
"$BIN" xchain links --db "$db" --json >"$WORK/links.json"
nlinks=$(($(wc -l <"$db/xchain/links.jsonl") - 1))
addr=$($PY -c "import sys
print(next(l.split(',')[1] for l in open(sys.argv[1]) if l.startswith('btc,') and ',exchange,' in l))" "$chain/labels.csv")
xo=() xw=() bw=()
for round in 1 2 3; do
    t0=$(now)
    "$BIN" screen --db "$db" --json "$addr" >"$WORK/s.json"
    xw+=("$(calc "$(now) - $t0")")
    xo+=("$(jf "$WORK/s.json" "d['cross_chain']['overlay']['seconds']")")
    mv "$db/xchain/links.jsonl" "$WORK/links.jsonl"
    t0=$(now)
    "$BIN" screen --db "$db" --json "$addr" >/dev/null
    bw+=("$(calc "$(now) - $t0")")
    mv "$WORK/links.jsonl" "$db/xchain/links.jsonl"
done
outs=$(jf "$WORK/s.json" "d['cross_chain']['overlay']['outputs']")
used=$(jf "$WORK/s.json" "d['cross_chain']['overlay']['links_used']")

r=$(median_of "${ref[@]}") w=$(median_of "${with[@]}") i=$(median_of "${idx[@]}")
printf 'chain: %s: %s EVM txs, %s transfers; Bitcoin side %s txs\n' "$chain" "$etx" "$xf" \
    "$("$BIN" stats --db "$base" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["txs"])')"
printf 'evm-import --no-exposure (reference): %.2f s   (runs: %s)\n' "$r" "${ref[*]}"
printf 'evm-import with the index:            %.2f s   (runs: %s)\n' "$w" "${with[*]}"
# the load moves between rounds: the ratios are also taken round by round (same round's runs)
rw=() ri=()
for k in 0 1 2; do
    rw+=("$(calc "${with[$k]} / ${ref[$k]}")")
    ri+=("$(calc "100 * ${idx[$k]} / ${ref[$k]}")")
done
printf 'with / without:                       %.3f of the medians; per round %s, median %.3f\n' \
    "$(calc "$w / $r")" "${rw[*]}" "$(median_of "${rw[@]}")"
printf "the index's own time:                 %.2f s = %.1f%% of the reference; per round %s%%, median %.1f%%   (runs: %s)\n" \
    "$i" "$(calc "100 * $i / $r")" "${ri[*]}" "$(median_of "${ri[@]}")" "${idx[*]}"
printf 'index: %s bytes, %s transfer rows, %s (address, asset) records: %.1f bytes per transfer, %.1f per row\n' \
    "$bytes" "$rows" "$recs" "$(calc "$bytes / $xf")" "$(calc "$bytes / ($rows > 0 ? $rows : 1)")"
printf '%s\n' "${relabel[@]}"
printf 'cross-chain overlay: %s links (%s used), %s outputs reached: %.3f s   (runs: %s)\n' \
    "$nlinks" "$used" "$outs" "$(median_of "${xo[@]}")" "${xo[*]}"
printf 'screen process with the overlay: %.3f s, Bitcoin-only: %.3f s   (runs: %s / %s)\n' \
    "$(median_of "${xw[@]}")" "$(median_of "${bw[@]}")" "${xw[*]}" "${bw[*]}"
echo "load after: $(uptime | sed 's/.*load average: //')"
rm -rf "$WORK/db-ref" "$WORK/db-with" "$base"
