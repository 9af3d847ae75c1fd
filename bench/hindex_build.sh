#!/bin/bash
# The hash indexes' build at the end of a bulk import (the "indexes" phase of import --bulk --json's
# bulk_finish), against a reference binary in the same run.
#
#   bench/hindex_build.sh CHAIN_DIR        (BIN=build/cointrail, REF=reference binary or empty,
#                                           RUNS=3, WORK=/tmp/cointrail-hindex-bench, LOCK=file)
#
# RUNS rounds, each `import --bulk --no-exposure --json` of CHAIN_DIR (read-only is fine) with REF
# (if set: e.g. a build of the commit before the slot-order build) and then BIN, stores in WORK,
# deleted after each run; with LOCK set, each import runs under `flock LOCK` (a shared machine
# whose big imports must not overlap). The first round's two stores are compared file by file
# (cmp: the indexes must be byte-identical). Prints per round the indexes phase, the whole
# bulk_finish and the load, then the medians and REF/BIN. Page cache warm (blk files read first).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/cointrail}
REF=${REF:-}
RUNS=${RUNS:-3}
WORK=${WORK:-/tmp/cointrail-hindex-bench}
chain=$1
mkdir -p "$WORK"
trap 'rm -rf "$WORK"/db-*' EXIT
run() { # BIN DB -> "indexes bulk_finish_total"
    local cmd=("$1" import --bulk --no-exposure --json --db "$2" "$chain")
    if [ -n "${LOCK:-}" ]; then flock "$LOCK" "${cmd[@]}"; else "${cmd[@]}"; fi >"$2.json"
    /usr/bin/python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["phase_seconds"]["bulk_finish"]; print("%.3f %.3f" % (p["indexes"], sum(p.values())))' "$2.json"
}
source "$(dirname "$0")/lib.sh" # median
cat "$chain"/blk*.dat >/dev/null
echo "load before: $(uptime)"
echo "chain $chain; BIN $BIN; REF ${REF:-none}"
: >"$WORK/rows"
for r in $(seq "$RUNS"); do
    ref="- -"
    if [ -n "$REF" ]; then
        rm -rf "$WORK/db-ref"
        ref=$(run "$REF" "$WORK/db-ref")
    fi
    rm -rf "$WORK/db-bin"
    bin=$(run "$BIN" "$WORK/db-bin")
    if [ "$r" = 1 ] && [ -n "$REF" ]; then
        same=yes
        while read -r f; do cmp -s "$WORK/db-ref/$f" "$WORK/db-bin/$f" || same="NO ($f)"; done \
            < <(cd "$WORK/db-ref" && find . -type f ! -name '*.json' ! -name undo.log ! -name LOCK)
        echo "  stores byte for byte equal: $same"
    fi
    rm -rf "$WORK/db-ref" "$WORK/db-bin"
    echo "$ref $bin" >>"$WORK/rows"
    echo "  round $r ($(uptime | sed 's/.*load/load/')): indexes ref $(cut -d' ' -f1 <<<"$ref")s bin $(cut -d' ' -f1 <<<"$bin")s | bulk_finish ref $(cut -d' ' -f2 <<<"$ref")s bin $(cut -d' ' -f2 <<<"$bin")s"
done
mi_ref=$(cut -d' ' -f1 "$WORK/rows" | median)
mi_bin=$(cut -d' ' -f3 "$WORK/rows" | median)
mf_ref=$(cut -d' ' -f2 "$WORK/rows" | median)
mf_bin=$(cut -d' ' -f4 "$WORK/rows" | median)
echo "median indexes: ref ${mi_ref}s bin ${mi_bin}s$( [ -n "$REF" ] && awk -v a="$mi_ref" -v b="$mi_bin" 'BEGIN {printf " (ref/bin %.2fx)", a / b}')"
echo "median bulk_finish: ref ${mf_ref}s bin ${mf_bin}s"
echo "load after: $(uptime)"
