#!/bin/bash
# kill -9 at random moments (inside appends, syncs, MANIFEST replacement, index growth) while
# importing a generated chain that commits often; after each kill the import is rerun, and the
# store in the end is byte for byte the store of one uninterrupted import. Stats also equal
# the generator's truth file.
source "$(dirname "$0")/common.sh"

"$BIN" generate --out "$T/chain" --seed 11 --blocks 100 --txs-per-block 1500 --maturity 10 --xor --quiet >/dev/null ||
    { echo "generate failed"; echo "0 passed, 1 failed"; exit 1; }
t0=$(date +%s%N)
"$BIN" import --db "$T/straight" --quiet "$T/chain" >/dev/null || bad "straight import"
# Kill times are drawn as fractions of how long this machine takes for the whole import.
straight_ms=$((($(date +%s%N) - t0) / 1000000))
"$BIN" stats --db "$T/straight" --json >"$T/stats.json"
$PY tests/stats_truth.py "$T/stats.json" "$T/chain/truth.jsonl" && ok || bad "stats differ from the generator's truth"

kills=0
for round in $(seq 1 12); do
    "$BIN" import --db "$T/crash" --quiet --commit-seconds 0.02 "$T/chain" >/dev/null 2>&1 &
    pid=$!
    sleep "$(awk -v ms="$straight_ms" -v r="$RANDOM" 'BEGIN { printf "%.3f", ms * (0.03 + 0.5 * r / 32768) / 1000 }')"
    if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
    wait "$pid" 2>/dev/null
    # Readers must be able to open the store between crashes.
    [ -f "$T/crash/MANIFEST" ] && { "$BIN" stats --db "$T/crash" --json >/dev/null || bad "unreadable after kill $round"; }
done
"$BIN" import --db "$T/crash" --quiet "$T/chain" >/dev/null || bad "final resume"
[ "$kills" -gt 0 ] && ok || bad "no import was ever killed (machine too fast?)"
if diff -r "$T/straight" "$T/crash" >/dev/null; then ok; else
    bad "store differs from the uninterrupted import after $kills kills"
    for f in "$T/straight"/*; do cmp -s "$f" "$T/crash/$(basename "$f")" || echo "  differs: $(basename "$f")"; done
fi
echo "kills: $kills (straight import: ${straight_ms} ms)"
finish
