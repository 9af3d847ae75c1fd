#!/bin/bash
# Accuracy of `cointrail evm-cluster` on chains with unlabelled exchanges and the lookalikes of
# their deposit addresses (`generate --evm-services`): precision and recall of deposit address ->
# service assignments against the generator's truth (tests/evm_cluster_eval.py services), for a
# grid of settings on the tuning seeds, then for the chosen (default) settings on held-out seeds,
# and with the guards off (to show that the lookalikes are there and the guards are what stops
# them).
#
#   bench/evm_entities.sh [BIN]         TUNE="1 2 3" HELD="4 5 6 7 8" SERVICES=3 USERS=600
#
# Prints one line per (seeds, settings): truth deposits (unlabelled services), assigned, right,
# wrong, precision, recall, recall on unlabelled services, and false positives by truth role.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-build/cointrail}")
TUNE=${TUNE:-1 2 3}
HELD=${HELD:-4 5 6 7 8}
SERVICES=${SERVICES:-3}
USERS=${USERS:-600}
WORK=$(mktemp -d /tmp/evm-entities.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
E="/usr/bin/python3 tests/evm_cluster_eval.py"

prep() { # SEED: chain, store and labels in $WORK/SEED
    local d="$WORK/$1"
    [ -d "$d/db" ] && return
    mkdir -p "$d"
    "$BIN" generate --quiet --out "$d/g" --blocks 120 --txs-per-block 30 --users "$USERS" \
        --maturity 5 --halving-interval 60 --era 2019.5-2024.3 --privacy-rate 0.25 --evm \
        --seed "$1" --evm-scenarios 2 --evm-txs-per-block 1.5 --evm-services "$SERVICES" >/dev/null
    "$BIN" evm-import --db "$d/db" "$d/g/evm" >/dev/null
    "$BIN" labels import --db "$d/db" --format csv "$d/g/labels.csv" >/dev/null
}

run() { # LABEL SEEDS -- OPTS...: totals over the seeds
    local label=$1 seeds=$2
    shift 3
    : >"$WORK/lines"
    for s in $seeds; do
        prep "$s"
        "$BIN" evm-cluster --db "$WORK/$s/db" --json "$@" >"$WORK/e.json"
        $E services "$WORK/e.json" "$WORK/$s/g/truth.jsonl" | tail -1 >>"$WORK/lines"
    done
    /usr/bin/python3 - "$label" "$WORK/lines" <<'EOF'
import json, sys
t = {"truth": 0, "truth_unlabelled": 0, "assigned": 0, "right": 0, "right_unlabelled": 0, "wrong": 0}
fp = {}
for l in open(sys.argv[2]):
    d = json.loads(l)
    for k in t:
        t[k] += d[k]
    for k, v in d["fp"].items():
        fp[k] = fp.get(k, 0) + v
p = 100.0 * t["right"] / t["assigned"] if t["assigned"] else 0.0
r = 100.0 * t["right"] / t["truth"] if t["truth"] else 0.0
ru = 100.0 * t["right_unlabelled"] / t["truth_unlabelled"] if t["truth_unlabelled"] else 0.0
print("%-44s truth %4d (unl %4d) assigned %4d right %4d wrong %3d  P %6.2f%%  R %6.2f%%  "
      "R(unl) %6.2f%%  fp %s" % (sys.argv[1], t["truth"], t["truth_unlabelled"], t["assigned"],
                                  t["right"], t["wrong"], p, r, ru, json.dumps(fp)))
EOF
}

echo "# tuning seeds: $TUNE"
for w in 10 25 100 200 1000; do
    for m in 50 90; do
        run "window $w min-in-window $m" "$TUNE" -- --window "$w" --min-in-window "$m"
    done
done
for f in 3 5 8; do
    run "min-feeders-unlabelled $f" "$TUNE" -- --min-feeders-unlabelled "$f"
done
echo "# held-out seeds: $HELD"
run "defaults" "$HELD" --
run "guards off (funder share 100, paid back 100)" "$HELD" -- --max-funder-share 100 \
    --max-return-share 100
run "labelled rule only (unlabelled off)" "$HELD" -- --min-feeders-unlabelled 0
