#!/bin/bash
# Screening's precision and recall per risk level at the default rules, on the generator's
# laundering scenarios at their deepest (each scenario unfolds over half the chain), and the
# levels checked against an independent computation from the exposure shares
# (tests/screen_accuracy.py levels --check; docs/screening.md, "Calibration").
#
#   bench/screen_accuracy.sh [SEED:PRIVACY_RATE:SCENARIOS ...]   (default 11:0.2:16, the held-out
#                                                                 chain of the published figure)
# Environment: BLOCKS (600), TXS (150), WORK (/tmp/cointrail-bench-screen), RULES (a rules file
# instead of the defaults), KEEP=1 keeps the chains and stores.
set -euo pipefail
cd "$(dirname "$0")/.."
BLOCKS=${BLOCKS:-600}
TPB=${TXS:-150}
WORK=${WORK:-/tmp/cointrail-bench-screen}
BIN=build/cointrail
PY=/usr/bin/python3
[ -x "$BIN" ] || scripts/build.sh build
[ $# -gt 0 ] || set -- 11:0.2:16
mkdir -p "$WORK"
echo "load: $(uptime | sed 's/.*load average: //'); $BLOCKS blocks of $TPB txs per chain"
dumps=()
status=0
for s in "$@"; do
    IFS=: read -r seed priv scen <<<"$s"
    chain="$WORK/chain-$seed-$priv-$scen-$BLOCKS-$TPB"
    db="$WORK/db-$seed-$priv-$scen-$BLOCKS-$TPB"
    if [ ! -f "$chain/truth.jsonl" ]; then
        "$BIN" generate --out "$chain" --seed "$seed" --blocks "$BLOCKS" --txs-per-block "$TPB" \
            --maturity 5 --halving-interval 100 --era 2019-2024.3 --privacy-rate "$priv" \
            --users 2000 --scenarios "$scen" --scenario-blocks $((BLOCKS / 2)) --force \
            --quiet >/dev/null
    fi
    if [ ! -f "$db/MANIFEST" ]; then
        rm -rf "$db"
        "$BIN" labels import --db "$db" "$chain/labels.csv" >/dev/null
        "$BIN" import --db "$db" --quiet "$chain" >/dev/null
        "$BIN" cluster --db "$db" >/dev/null
    fi
    echo "== seed $seed, privacy rate $priv, $scen scenarios"
    $PY tests/screen_accuracy.py levels "$BIN" "$db" "$chain" --check \
        --dump "$WORK/levels-$seed-$priv-$scen.json" ${RULES:+--rules "$RULES"} || status=1
    dumps+=("$WORK/levels-$seed-$priv-$scen.json")
done
if [ ${#dumps[@]} -gt 1 ]; then
    echo "== the medium share swept over these chains (recall/precision at medium or above)"
    $PY tests/screen_accuracy.py calibrate "${dumps[@]}"
fi
[ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"/chain-* "$WORK"/db-*
exit $status
