#!/bin/bash
# Screening recall and precision on the generator's laundering scenarios (docs/exposure.md,
# "Recall"): the same chain screened from the exposure index (floor 1000 and floor 0) and, in a
# store without the index, by tracing 10 and 20 hops as before it. tests/exposure_oracle.py
# recall does the counting against truth.jsonl (deposits, depth from the theft).
#
#   bench/exposure_recall.sh [BLOCKS TXS_PER_BLOCK SCENARIOS [WORKDIR]]   (default 600 150 16)
set -euo pipefail
cd "$(dirname "$0")/.."
BLOCKS=${1:-600}
TPB=${2:-150}
SCEN=${3:-16}
WORK=${4:-/tmp/cointrail-bench-exposure}
BIN=build/cointrail
PY=/usr/bin/python3
[ -x "$BIN" ] || scripts/build.sh build
chain="$WORK/recall-$BLOCKS-$TPB-$SCEN"
if [ ! -f "$chain/truth.jsonl" ]; then
    mkdir -p "$chain"
    "$BIN" generate --out "$chain" --seed 5 --blocks "$BLOCKS" --txs-per-block "$TPB" \
        --maturity 5 --halving-interval 100 --era 2019-2024.3 --privacy-rate 0.2 --users 2000 \
        --scenarios "$SCEN" --scenario-blocks $((BLOCKS / 2)) --force --quiet >/dev/null
fi
for v in idx idx0 none; do
    db="$WORK/recall-db-$v"
    rm -rf "$db"
    "$BIN" labels import --db "$db" "$chain/labels.csv" >/dev/null
    case $v in
    none) "$BIN" import --db "$db" --no-exposure --quiet "$chain" >/dev/null ;;
    *) "$BIN" import --db "$db" --quiet "$chain" >/dev/null ;;
    esac
    "$BIN" cluster --db "$db" >/dev/null
    [ $v = idx0 ] && "$BIN" exposure build --db "$db" --rebuild --floor 0 >/dev/null
done
echo "chain: $BLOCKS blocks of $TPB txs, $SCEN scenarios (seed 5); load $(uptime | sed 's/.*load average: //')"
echo "== exposure index, floor 1000"
$PY tests/exposure_oracle.py recall "$BIN" "$WORK/recall-db-idx" "$chain"
echo "== exposure index, floor 0"
$PY tests/exposure_oracle.py recall "$BIN" "$WORK/recall-db-idx0" "$chain"
for h in 10 20; do
    echo "== no index: trace $h hops"
    $PY tests/exposure_oracle.py recall "$BIN" "$WORK/recall-db-none" "$chain" --hops $h
done
