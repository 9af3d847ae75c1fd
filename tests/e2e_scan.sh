#!/bin/bash
# `stats --recompute` (the full scan, docs/performance.md "Full scan") against the row-by-row
# definition of each figure, computed by tests/scan_check.py from the column files with Python
# integers: on a generated chain and on a python3-bitcoinlib chain with unresolved inputs
# (tests/mkchain.py; its figures against tests/oracle.py's from the blk files are e2e_chain.sh's),
# with 1, 2 and 3 threads. Then the self-check: copies of both stores with one column damaged in
# each of 15 ways (values, spend marks, previous outputs, a consistent relink, script types, tx
# flags and runs, an address head). Each damaged store's recompute must equal the definition on
# the damaged columns and differ from the MANIFEST's running totals, or, where the definition
# would read past the rows, fail naming the column file.
source "$(dirname "$0")/common.sh"

"$BIN" generate --out "$T/g" --seed 5 --blocks 80 --txs-per-block 120 --maturity 5 --quiet \
    >/dev/null || bad "generate"
"$BIN" import --quiet --db "$T/gen" "$T/g" >/dev/null || bad "import the generated chain"
$PY tests/mkchain.py "$T/c.json" --blocks 80 --seed 9 || bad "mkchain"
mkdir -p "$T/c"
$PY tests/mkchain.py write "$T/c/blk00000.dat" "$T/c.json" main 0 80 || bad "mkchain write"
"$BIN" import --quiet --db "$T/mk" "$T/c" >/dev/null || bad "import the mkchain chain"
[ "$("$BIN" stats --db "$T/mk" --json | $PY tests/jget.py '["unresolved_inputs"]')" -gt 0 ] && ok ||
    bad "mk: no unresolved inputs"

# check DB EXPECT [THREADS...]: recompute = the definition; "same" or "differs" from the MANIFEST
check() {
    local db=$1 expect=$2 th
    shift 2
    "$BIN" stats --db "$db" --json >"$T/st.json" || { bad "$db: stats"; return; }
    $PY tests/scan_check.py definition "$db" >"$T/def.json" || { bad "$db: definition"; return; }
    for th in "$@"; do
        "$BIN" stats --db "$db" --recompute --threads "$th" --json >"$T/re.json" ||
            { bad "$db: stats --recompute --threads $th failed"; continue; }
        $PY tests/scan_check.py check "$T/def.json" "$T/re.json" "$T/st.json" "$expect" && ok ||
            bad "$db ($expect, $th threads)"
        # an intact store's runs partition its rows: the fees come from the passes' sums (the
        # fast path; the row-by-row sum gives the same figure, so only this sees a slip)
        [ "$expect" = same ] || continue
        "$BIN" stats --db "$db" --recompute --threads "$th" >"$T/re.txt" || bad "$db: stats --recompute"
        grep -Eq '^fees_summed +by runs$' "$T/re.txt" && ok ||
            bad "$db: $(grep fees_summed "$T/re.txt") ($th threads)"
    done
}
check "$T/gen" same 1 2 3
check "$T/mk" same 1 2 3
# more rows than the scan reads in one chunk (SCAN_CHUNK, 32768: txs, inputs, outputs and
# addresses), so its chunks' edges and the threads' slices inside a chunk are checked too
"$BIN" generate --out "$T/g2" --seed 6 --blocks 60 --txs-per-block 1000 --maturity 5 --quiet \
    >/dev/null || bad "generate (big)"
"$BIN" import --quiet --db "$T/big" "$T/g2" >/dev/null || bad "import the big chain"
"$BIN" stats --db "$T/big" --json | $PY -c 'import json, sys
d = json.load(sys.stdin)
sys.exit(not all(d[k] > 32768 for k in ("txs", "inputs", "outputs", "addresses")))' && ok ||
    bad "the big store is not larger than a scan chunk"
check "$T/big" same 1 2 3
# without --threads: one thread, the same document
"$BIN" stats --db "$T/gen" --recompute --json >"$T/one.json" &&
    "$BIN" stats --db "$T/gen" --recompute --threads 1 --json | cmp -s - "$T/one.json" && ok ||
    bad "--recompute alone differs from --threads 1"
"$BIN" stats --db "$T/gen" --threads 2 >/dev/null 2>"$T/err" && bad "--threads without --recompute accepted" ||
    { grep -q -- "--recompute" "$T/err" && ok || bad "--threads alone: $(cat "$T/err")"; }
"$BIN" stats --db "$T/gen" --recompute --threads 0 >/dev/null 2>&1 && bad "--threads 0 accepted" || ok

n=0
for kind in value_spent value_unspent spent_none spent_other prev_other prev_swap \
    prev_unresolved relink type_other type_past coinbase_flag unresolved_flag first_in first_out \
    addr_none; do
    n=$((n + 1))
    src=gen
    [ "$kind" = relink ] && src=mk # needs an unresolved tx with a resolved input
    [ $((n % 2)) -eq 0 ] && [ "$kind" != relink ] && src=mk
    d="$T/bad-$kind"
    cp -r "$T/$src" "$d"
    expect=$($PY tests/scan_check.py corrupt "$d" "$kind") || { bad "$kind: corrupt"; continue; }
    if [ "$expect" = error ]; then
        for th in 1 2; do
            "$BIN" stats --db "$d" --recompute --threads $th --json >/dev/null 2>"$T/err" &&
                bad "$kind: recompute succeeded on a column it cannot read ($th threads)" ||
                { grep -q "$d/\(tx\|out_type\)\.col" "$T/err" && ok || bad "$kind: error: $(cat "$T/err")"; }
        done
        $PY tests/scan_check.py definition "$d" | grep -q '"error"' && ok || bad "$kind: definition reads it"
    else
        check "$d" "$expect" 1 2
    fi
    rm -rf "$d"
done
finish
