#!/bin/bash
# The exposure index (docs/exposure.md) against tests/exposure_oracle.py, which recomputes it
# from the block files with python3-bitcoinlib and Python integers:
#  - kept by import, labels import (before and after the blocks) and cluster: every stored
#    amount, stop row and amount below the floor equals the oracle's, at a middle state and at
#    the end; screening a tx reads it (amounts = the sum over its outputs; each path leads to
#    a source of its category);
#  - kill -9 inside every kind of index update (forward, re-propagation after labels and after
#    clustering), then a rerun: the index files are byte for byte those of an uninterrupted run;
#  - a labels import that fails leaves the index as it was;
#  - a reorganisation (tests/mkchain.py, with an unresolved input) cuts and redoes it exactly;
#  - a store without an index (--no-exposure) is screened by tracing and says so, until
#    `exposure build` makes one;
#  - stolen deposits 20+ txs from their theft are all flagged (the generator's truth).
source "$(dirname "$0")/common.sh"
ORACLE="$PY tests/exposure_oracle.py"

"$BIN" generate --out "$T/g" --seed 11 --blocks 260 --txs-per-block 120 --maturity 5 \
    --halving-interval 50 --era 2019-2024.3 --privacy-rate 0.2 --users 500 --scenarios 6 \
    --scenario-blocks 120 --quiet >/dev/null || bad "generate"
MID=150
# The deposits of the scenarios; the first MID blocks in a directory of their own (an import of
# it is the same when rerun).
$PY - "$T" $MID <<'EOF' || bad "deposit list"
import json, os, struct, sys
T, mid = sys.argv[1], int(sys.argv[2])
deps = [s["txid"] for l in open(f"{T}/g/truth.jsonl") for d in [json.loads(l)]
        if d.get("kind") == "scenario" for s in d["steps"] if s["kind"].endswith("_deposit")]
open(f"{T}/deposits.txt", "w").write("\n".join(deps) + "\n")
data, off = open(f"{T}/g/blk00000.dat", "rb").read(), 0
for _ in range(mid):
    off += 8 + struct.unpack_from("<I", data, off + 4)[0]
os.makedirs(f"{T}/half")
open(f"{T}/half/blk00000.dat", "wb").write(data[:off])
EOF

# 1. The uninterrupted run: half the chain, labels, the rest, entities.
"$BIN" import --db "$T/a" --commit-seconds 0.01 --quiet "$T/half" >/dev/null || bad "import"
"$BIN" labels import --db "$T/a" "$T/g/labels.csv" >/dev/null || bad "labels import"
$ORACLE compare "$BIN" "$T/a" "$T/g" --labels "$T/g/labels.csv" --heights $MID && ok ||
    bad "index after labels imported at height $MID differs from the oracle"
cp -r "$T/a/exposure" "$T/mid"
# A labels import that fails (a malformed line) changes nothing.
printf 'chain,address,category\nbtc,not-an-address,theft\nbtc,1BoatSLRHtKNngkdXEeobR76b53LETtpyU\n' >"$T/bad.csv"
"$BIN" labels import --db "$T/a" "$T/bad.csv" >/dev/null 2>&1 && bad "malformed labels accepted"
diff -r "$T/mid" "$T/a/exposure" >/dev/null && ok || bad "a failed labels import changed the index"
"$BIN" import --db "$T/a" --commit-seconds 0.01 --quiet "$T/g" >/dev/null || bad "import rest"
"$BIN" cluster --db "$T/a" >/dev/null || bad "cluster"
$ORACLE compare "$BIN" "$T/a" "$T/g" --labels "$T/g/labels.csv" --clusters \
    --screen "$T/deposits.txt" && ok || bad "index at the end differs from the oracle"
"$BIN" exposure status --db "$T/a" | grep -q "^exposure index: ok" && ok || bad "status"

# 2. The same steps, each killed inside its index update and rerun.
crash() { # N COMMAND... : run with the crash hook after N txs, expect the kill, rerun
    (COINTRAIL_TEST_EXPOSURE_CRASH_AFTER=$1 "${@:2}" >/dev/null 2>&1) 2>/dev/null
    [ $? = 137 ] || bad "not killed at $1: ${*:2}"
    "${@:2}" >/dev/null || bad "rerun of ${*:2}"
}
crash 7000 "$BIN" import --db "$T/b" --commit-seconds 0.01 --quiet "$T/half"
crash 300 "$BIN" labels import --db "$T/b" "$T/g/labels.csv"
diff -r "$T/mid" "$T/b/exposure" >/dev/null && ok || bad "killed labels import: index differs"
crash 9000 "$BIN" import --db "$T/b" --commit-seconds 0.01 --quiet "$T/g"
crash 200 "$BIN" cluster --db "$T/b"
if diff -r "$T/a/exposure" "$T/b/exposure" >/dev/null; then ok; else
    bad "index after kills differs from the uninterrupted run"
    for f in "$T/a/exposure"/*; do cmp -s "$f" "$T/b/exposure/$(basename "$f")" || echo "  differs: $(basename "$f")"; done
fi

# 3. Labels imported before the blocks: the index is built by the import alone, and equals the
#    one re-propagated after the labels (but for the generation number).
"$BIN" labels import --db "$T/c" "$T/g/labels.csv" >/dev/null
"$BIN" import --db "$T/c" --quiet "$T/g" >/dev/null || bad "import after labels"
"$BIN" cluster --db "$T/c" >/dev/null || bad "cluster c"
for c in rows dir stops drops blocks; do
    cmp -s "$(ls "$T/a/exposure/$c".*.col)" "$(ls "$T/c/exposure/$c".*.col)" || bad "$c differs by order of steps"
done
ok

# 4. A store without an index: screening traces and says so; `exposure build` makes one.
"$BIN" import --db "$T/d" --no-exposure --quiet "$T/g" >/dev/null || bad "import --no-exposure"
"$BIN" labels import --db "$T/d" "$T/g/labels.csv" >/dev/null || bad "labels d"
TX=$(head -1 "$T/deposits.txt")
"$BIN" screen --db "$T/d" --json "$TX" | $PY tests/jget.py '["exposure_index"]' | grep -qx none &&
    ok || bad "a store without an index should say so"
"$BIN" exposure status --db "$T/d" 2>&1 | grep -q "exposure build" && ok || bad "status without index"
"$BIN" exposure build --db "$T/d" >/dev/null || bad "exposure build"
"$BIN" screen --db "$T/d" --json "$TX" | $PY tests/jget.py '["exposure_index"]' | grep -qx used &&
    ok || bad "screening after exposure build"
$ORACLE compare "$BIN" "$T/d" "$T/g" --labels "$T/g/labels.csv" >/dev/null && ok ||
    bad "built index differs from the oracle"
# A floor of 0 keeps every satoshi: nothing is below it.
"$BIN" exposure build --db "$T/d" --rebuild --floor 0 >/dev/null || bad "rebuild --floor 0"
"$BIN" exposure status --db "$T/d" --json | $PY -c 'import json,sys; d=json.load(sys.stdin)
sys.exit(0 if d["floor"] == 0 and all(c["below_floor"] == 0 for c in d["categories"]) else 1)' &&
    ok || bad "floor 0"
$ORACLE compare "$BIN" "$T/d" "$T/g" --labels "$T/g/labels.csv" --floor 0 >/dev/null && ok ||
    bad "floor 0 index differs from the oracle"

# A damaged index: screening traces and says so; build names the file; --rebuild mends it.
sed -i 's/^floor 0$/floor 7/' "$T/d/exposure/MANIFEST"
"$BIN" screen --db "$T/d" --json "$TX" | $PY tests/jget.py '["exposure_index"]' | grep -qx unreadable &&
    ok || bad "a damaged index should be reported unreadable"
"$BIN" exposure build --db "$T/d" 2>"$T/err" >/dev/null && bad "build over a damaged MANIFEST"
grep -q "exposure/MANIFEST: checksum" "$T/err" && ok || bad "damaged MANIFEST message: $(cat "$T/err")"
"$BIN" exposure build --db "$T/d" --rebuild >/dev/null && $ORACLE compare "$BIN" "$T/d" "$T/g" \
    --labels "$T/g/labels.csv" >/dev/null && ok || bad "rebuild over a damaged MANIFEST"
[ "$(ls "$T/d/exposure" | grep -cE '^(rows|dir|stops|drops|blocks)\.[0-9]+\.col$')" = 5 ] && ok ||
    bad "files of other generations left: $(ls "$T/d/exposure")"

# 5. Stolen deposits far from their theft are flagged (the index has no hop limit).
$ORACLE recall "$BIN" "$T/a" "$T/g" --min-depth 20 --require-recall 100 >"$T/recall.txt" && ok ||
    bad "stolen deposits missed: $(cat "$T/recall.txt")"
grep -E "^depth 20\+: [1-9]" "$T/recall.txt" >/dev/null && ok || bad "no deposit 20+ txs deep: $(cat "$T/recall.txt")"
cat "$T/recall.txt"

# 6. A reorganisation, on a chain with an unresolved input.
$PY tests/mkchain.py "$T/c.json" --blocks 60 --seed 7 --fork-at 45 --fork-len 16 || bad "mkchain"
mkdir -p "$T/r1" "$T/r2"
$PY tests/mkchain.py write "$T/r1/blk00000.dat" "$T/c.json" main 0 60
cp "$T/r1/blk00000.dat" "$T/r2/"
$PY tests/mkchain.py write "$T/r2/blk00001.dat" "$T/c.json" fork 0 16
$ORACLE pick-labels "$T/r2" 40 12 "$T/rl.csv"
"$BIN" import --db "$T/r" --quiet "$T/r1" >/dev/null && "$BIN" labels import --db "$T/r" "$T/rl.csv" >/dev/null ||
    bad "reorg chain import"
$ORACLE compare "$BIN" "$T/r" "$T/r1" --labels "$T/rl.csv" >/dev/null && ok || bad "before the reorganisation"
"$BIN" import --db "$T/r" --quiet "$T/r2" >/dev/null || bad "reorganising import"
$ORACLE compare "$BIN" "$T/r" "$T/r2" --labels "$T/rl.csv" && ok || bad "after the reorganisation"
"$BIN" exposure status --db "$T/r" --json | $PY tests/jget.py '["blocks"]' | grep -qx 61 && ok ||
    bad "reorganised index height"
# The same reorganisation imported without the index: readers see it forked; build mends it.
"$BIN" import --db "$T/rf" --quiet "$T/r1" >/dev/null && "$BIN" labels import --db "$T/rf" "$T/rl.csv" >/dev/null &&
    "$BIN" import --db "$T/rf" --no-exposure --quiet "$T/r2" >/dev/null || bad "reorg without the index"
"$BIN" exposure status --db "$T/rf" | grep -q "^exposure index: forked" && ok || bad "forked state"
"$BIN" exposure build --db "$T/rf" >/dev/null && $ORACLE compare "$BIN" "$T/rf" "$T/r2" --labels "$T/rl.csv" >/dev/null &&
    ok || bad "exposure build after a reorganisation"

# 7. Blocks imported past the index: outputs it covers are screened from it, the others traced.
read -r EARLY LATE < <($PY - "$T" $MID <<'EOF'
import json, sys
T, mid = sys.argv[1], int(sys.argv[2])
h = {l.split()[0] for l in open(f"{T}/deposits.txt")}
steps = [s for l in open(f"{T}/g/truth.jsonl") for d in [json.loads(l)]
         if d.get("kind") == "scenario" for s in d["steps"] if s["txid"] in h]
print(min(steps, key=lambda s: s["height"])["txid"], max(steps, key=lambda s: s["height"])["txid"])
EOF
)
"$BIN" import --db "$T/e" --quiet "$T/half" >/dev/null && "$BIN" labels import --db "$T/e" "$T/g/labels.csv" >/dev/null &&
    "$BIN" import --db "$T/e" --no-exposure --quiet "$T/g" >/dev/null || bad "import past the index"
"$BIN" screen --db "$T/e" --json "$LATE" | $PY tests/jget.py '["exposure_index"]' | grep -qx behind && ok ||
    bad "a tx past the index should be traced (behind)"
"$BIN" screen --db "$T/e" --json "$EARLY" | $PY tests/jget.py '["exposure_index"]' | grep -qx used && ok ||
    bad "a tx the index covers should be read from it"
"$BIN" exposure build --db "$T/e" >/dev/null && "$BIN" screen --db "$T/e" --json "$LATE" |
    $PY tests/jget.py '["exposure_index"]' | grep -qx used && ok || bad "after exposure build"

# 8. Labels removed (labels.db made again from fewer labels): stale until the import updates it,
#    then what the oracle computes from the fewer labels.
rm "$T/e/labels.db"
"$BIN" screen --db "$T/e" --json "$EARLY" | $PY tests/jget.py '["exposure_index"]' | grep -qx stale && ok ||
    bad "labels gone: the index should be stale"
awk 'NR == 1 || NR % 3 != 0' "$T/g/labels.csv" >"$T/fewer.csv"
"$BIN" labels import --db "$T/e" "$T/fewer.csv" >/dev/null || bad "fewer labels"
$ORACLE compare "$BIN" "$T/e" "$T/g" --labels "$T/fewer.csv" >/dev/null && ok ||
    bad "index after labels were removed differs from the oracle"
finish
