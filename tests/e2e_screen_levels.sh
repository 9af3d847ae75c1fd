#!/bin/bash
# Risk levels follow the money (docs/screening.md, "The score"): every deposit of a generated
# chain with laundering scenarios, screened at the default rules and under rules files, has the
# level tests/screen_accuracy.py computes independently from the exposure shares
# (tests/exposure_oracle.py's haircut over the whole history, from the block files decoded by
# python3-bitcoinlib) and the labels on the tx's addresses; and the stolen deposits (the
# generator's truth), however deep, are at medium or above (recall >= 99 %).
source "$(dirname "$0")/common.sh"

"$BIN" generate --out "$T/g" --seed 13 --blocks 260 --txs-per-block 120 --maturity 5 \
    --halving-interval 50 --era 2019-2024.3 --privacy-rate 0.2 --users 500 --scenarios 6 \
    --scenario-blocks 130 --quiet >/dev/null || bad "generate"
"$BIN" labels import --db "$T/db" "$T/g/labels.csv" >/dev/null || bad "labels import"
"$BIN" import --db "$T/db" --quiet "$T/g" >/dev/null || bad "import"
"$BIN" cluster --db "$T/db" >/dev/null || bad "cluster"

cat >"$T/rules.json" <<'J'
{"level_shares": {"medium": 0.05, "high": 0.3, "severe": 0.8}, "full_exposure_share": 0.9,
 "cumulative_share": false, "thresholds": {"medium": 25, "high": 55, "severe": 85},
 "categories": {"sanctioned": 90, "mixer": 60}}
J
echo '{"full_exposure_share": 0.4}' >"$T/old.json"
echo '{"level_shares": {"medium": 0.3, "high": 0.6, "severe": 0.9}}' >"$T/other.json"
# The default rules (levels as computed; the stolen deposits at medium or above, however
# deep), a rules file with its own level shares and weights, a file of the format before
# level_shares (its straight line min(1, share / full)), and a control: cointrail under other
# level shares than the defaults computed here, which must disagree.
$PY tests/screen_accuracy.py levels "$BIN" "$T/db" "$T/g" --check --require-medium 99,0 \
    --rules "" --rules "$T/rules.json" --rules "$T/old.json" --control "$T/other.json" \
    >"$T/out" && ok || bad "levels"
grep -E "FAIL|DIFF|rules|medium\+|agree" "$T/out" | head -40
grep -q "^DIFF: " "$T/out" && ok || bad "the control gave no DIFF"
[ "$(grep -c "agree" "$T/out")" = 4 ] && ok || bad "not every rules set was compared"
finish
