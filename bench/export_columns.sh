#!/bin/bash
# export-columns throughput and size, on a generated chain (issue 17, part 4).
#
#   bench/export_columns.sh [TXS_PER_BLOCK BLOCKS [WORKDIR]]   (default: 1000 x 1000 = 1M txs)
#
# Generates a chain (cached in WORKDIR by its parameters, as bench/import.sh does), imports it
# and imports its labels (the store is cached too), then RUNS times (default 3) `export-columns`
# at gzip level LEVELS (default "6", the default level; e.g. LEVELS="6 1"). The reference,
# measured in the same run: the gzip command line compressing the same CSV text at the same
# level, i.e. what compression alone costs; the export's time over it says what reading the
# store and writing the rows adds. Wall and CPU (user+sys) seconds are both given: on a loaded
# machine the wall time measures the load, the CPU time the work. Prints medians: seconds,
# rows/s, MB/s of CSV text and of gzip output, the sizes against the store's, and the load
# (uptime) before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
TPB=${1:-1000}
BLOCKS=${2:-1000}
WORK=${3:-/tmp/cointrail-bench}
BIN=build/cointrail
[ -x "$BIN" ] || scripts/build.sh build
echo "load before: $(uptime)"
chain="$WORK/chain-$TPB-$BLOCKS"
if [ ! -f "$chain/truth.jsonl" ]; then
    mkdir -p "$chain"
    "$BIN" generate --out "$chain" --seed 1 --blocks "$BLOCKS" --txs-per-block "$TPB" \
        --force --quiet >/dev/null
fi
db="$WORK/export-db-$TPB-$BLOCKS"
if [ ! -f "$db/.bench-done" ]; then
    rm -rf "$db"
    "$BIN" import --db "$db" "$chain" >/dev/null
    "$BIN" labels import --db "$db" "$chain/labels.csv" >/dev/null
    touch "$db/.bench-done"
fi
now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }
source "$(dirname "$0")/lib.sh" # median_of
store_bytes=$(du -sb --exclude=.bench-done "$db" | cut -f1)
txs=$("$BIN" stats --db "$db" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["txs"])')
out="$WORK/export-out"
cat "$db"/*.col >/dev/null 2>&1 || true # warm the page cache

RUNS=${RUNS:-3}
for level in ${LEVELS:-6}; do
    secs=() cpus=() refs=() refcpus=()
    for i in $(seq "$RUNS"); do
        rm -rf "$out"
        t0=$(now)
        /usr/bin/time -f '%U %S' -o "$WORK/export.time" \
            "$BIN" export-columns --db "$db" --out "$out" --level "$level" --json >"$WORK/export.json"
        t1=$(now)
        secs+=("$(calc "$t1 - $t0")")
        cpus+=("$(awk '{ print $1 + $2 }' "$WORK/export.time")")
        # the reference: gzip alone over the same CSV text (decompressed to a file first)
        if [ "$i" = 1 ]; then
            for f in "$out"/*.csv.gz; do zcat "$f"; done >"$WORK/export-all.csv"
        fi
        t0=$(now)
        /usr/bin/time -f '%U %S' -o "$WORK/gzip.time" gzip -"$level" -c "$WORK/export-all.csv" >/dev/null
        t1=$(now)
        refs+=("$(calc "$t1 - $t0")")
        refcpus+=("$(awk '{ print $1 + $2 }' "$WORK/gzip.time")")
    done
    read -r rows bytes csv < <(python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); print(d["rows"], d["bytes"], d["csv_bytes"])' "$WORK/export.json")
    s=$(median_of "${secs[@]}")
    c=$(median_of "${cpus[@]}")
    r=$(median_of "${refs[@]}")
    rc=$(median_of "${refcpus[@]}")
    echo "level $level: export wall ${secs[*]} s (median $s), CPU ${cpus[*]} s (median $c);" \
        "gzip -$level alone wall ${refs[*]} s (median $r), CPU ${refcpus[*]} s (median $rc)"
    echo "  $txs txs, $rows rows: wall $(calc "$rows / $s") rows/s, CSV $(calc "$csv / $s / 1e6") MB/s," \
        "gzip output $(calc "$bytes / $s / 1e6") MB/s; per CPU second $(calc "$rows / $c") rows/s," \
        "CSV $(calc "$csv / $c / 1e6") MB/s; export/gzip-alone CPU $(calc "$c / $rc")"
    echo "  sizes: store $store_bytes B, export $bytes B ($(calc "$bytes / $store_bytes") of the" \
        "store), CSV $csv B ($(calc "$csv / $store_bytes") of the store)"
done
rm -rf "$out" "$WORK/export-all.csv"
echo "load after: $(uptime)"
