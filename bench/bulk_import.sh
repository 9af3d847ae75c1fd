#!/bin/bash
# Bulk import (import --bulk) against the incremental import and the hashing bound, same run.
#
#   bench/bulk_import.sh CHAIN_DIR...        (RUNS=3 by default; WORK=/tmp/cointrail-bulk-bench)
#
# For each chain directory of blk files (make one with `cointrail generate`, see
# bench/import.sh; a read-only one is fine: stores go to WORK and are deleted), RUNS rounds of:
# `openssl dgst -sha256` over the blk files (the hashing bound: every byte hashed once, one
# core), `cointrail import` (incremental, one commit at the end: --commit-seconds 100000, its
# best case) and `cointrail import --bulk` (`--memory`, a sort budget, is not built yet),
# all --no-exposure (the import alone), each under /usr/bin/time -v. Prints per round and
# the medians: wall seconds, CPU seconds (user + sys: on a shared machine the wall time
# includes waiting for a core), peak RSS, the ratio to the bound (bound time / import time, wall
# and CPU) and the cost per tx. The first round's two stores are compared file by file (cmp).
# Page cache warm (the files are read once first). States the load (uptime) before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/cointrail}
RUNS=${RUNS:-3}
WORK=${WORK:-/tmp/cointrail-bulk-bench}
[ -x "$BIN" ] || scripts/build.sh build
mkdir -p "$WORK"
trap 'rm -rf "$WORK"/db-*' EXIT

timed() { # OUT CMD... -> OUT holds "wall cpu rss_kb"
    local out=$1
    shift
    /usr/bin/time -v -o "$out.time" "$@" >/dev/null
    awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + p[i]}
                /User time/ {u = $2} /System time/ {s = $2} /Maximum resident/ {m = $2}
                END {printf "%.3f %.3f %d\n", w, u + s, m}' "$out.time" >"$out"
}
median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

echo "load before: $(uptime)"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB"
for chain in "$@"; do
    files=("$chain"/blk*.dat)
    bytes=$(cat "${files[@]}" | wc -c) # also warms the page cache
    echo
    echo "chain $chain: ${#files[@]} blk files, $((bytes / 1000000)) MB"
    : >"$WORK/rows"
    for r in $(seq "$RUNS"); do
        timed "$WORK/sha" openssl dgst -sha256 "${files[@]}"
        rm -rf "$WORK/db-inc" "$WORK/db-bulk"
        timed "$WORK/inc" "$BIN" import --quiet --no-exposure --commit-seconds 100000 --db "$WORK/db-inc" "$chain"
        timed "$WORK/bulk" "$BIN" import --quiet --no-exposure --bulk --db "$WORK/db-bulk" "$chain"
        txs=$(awk '$1 == "txs" {print $2}' "$WORK/db-bulk/MANIFEST")
        if [ "$r" = 1 ]; then
            same=yes
            while read -r f; do cmp -s "$WORK/db-inc/$f" "$WORK/db-bulk/$f" || same="NO ($f)"; done \
                < <(cd "$WORK/db-inc" && find . -type f)
            echo "  txs $txs; stores byte for byte equal: $same; store $(du -sb --exclude=undo.log "$WORK/db-bulk" | cut -f1) bytes"
        fi
        rm -rf "$WORK/db-inc" "$WORK/db-bulk"
        read -r sw sc _ <"$WORK/sha"
        read -r iw ic ir <"$WORK/inc"
        read -r bw bc br <"$WORK/bulk"
        printf '  round %d (%s): sha256 %.2fs (cpu %.2fs) | incremental %.2fs (cpu %.2fs, %d MB) | bulk %.2fs (cpu %.2fs, %d MB)\n' \
            "$r" "$(uptime | sed 's/.*load/load/')" "$sw" "$sc" "$iw" "$ic" $((ir / 1024)) "$bw" "$bc" $((br / 1024))
        echo "$sw $sc $iw $ic $ir $bw $bc $br $txs" >>"$WORK/rows"
    done
    col() { awk -v c="$1" '{print $c}' "$WORK/rows" | median; }
    sw=$(col 1) sc=$(col 2) iw=$(col 3) ic=$(col 4) ir=$(col 5) bw=$(col 6) bc=$(col 7) br=$(col 8) txs=$(col 9)
    awk -v sw="$sw" -v sc="$sc" -v iw="$iw" -v ic="$ic" -v ir="$ir" -v bw="$bw" -v bc="$bc" -v br="$br" -v t="$txs" -v n="$RUNS" 'BEGIN {
        printf "  medians of %d:\n", n
        printf "  %-28s %8.2f s wall %8.2f s cpu\n", "openssl dgst -sha256 (bound)", sw, sc
        printf "  %-28s %8.2f s wall %8.2f s cpu  ratio to bound %.3f wall %.3f cpu  %.2f us/tx  peak %d MB\n", "import (incremental)", iw, ic, sw / iw, sc / ic, iw / t * 1e6, ir / 1024
        printf "  %-28s %8.2f s wall %8.2f s cpu  ratio to bound %.3f wall %.3f cpu  %.2f us/tx  peak %d MB\n", "import --bulk", bw, bc, sw / bw, sc / bc, bw / t * 1e6, br / 1024
        printf "  bulk / incremental: %.2fx faster (wall), %.2fx (cpu)\n", iw / bw, ic / bc }'
done
echo
echo "load after: $(uptime)"
