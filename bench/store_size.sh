#!/bin/bash
# Store size per file in bytes per tx, and the bulk import's time, for one chain and one or more
# cointrail binaries (issue 18, part 4: a smaller store).
#
#   bench/store_size.sh CHAIN WORK BIN...
#       CHAIN: a directory of blk files (read only)
#       WORK:  scratch directory (a store per binary, WORK/store.N, deleted at the end unless
#              KEEP=1)
#       BIN:   cointrail binaries, runs interleaved
#   env: RUNS (3): imports per binary; the median wall and CPU time are printed
#        LOCK (unset): a file to flock around each import (a shared machine's heavy-job lock)
#
# Each run is `import --quiet --bulk --no-exposure` into an empty store under /usr/bin/time. The
# sizes are of the store the last run left: every file's bytes (the column files are exactly
# rows x width after the commit), divided by the store's tx count.
set -euo pipefail
CHAIN=$1
WORK=$2
shift 2
BINS=("$@")
RUNS=${RUNS:-3}
mkdir -p "$WORK"
source "$(dirname "$0")/lib.sh" # median
run() { # BIN DB -> appends "wall cpu" to WORK/times.N
    if [ -n "${LOCK:-}" ]; then flock "$LOCK" "$@"; else "$@"; fi
}
echo "load before: $(uptime)"
for r in $(seq "$RUNS"); do
    for i in "${!BINS[@]}"; do
        db=$WORK/store.$i
        rm -rf "$db"
        run /usr/bin/time -f "%e %U %S" -o "$WORK/time" "${BINS[$i]}" import --quiet --bulk \
            --no-exposure --db "$db" "$CHAIN" >/dev/null
        read -r wall user sys <"$WORK/time"
        echo "$wall $(echo "$user + $sys" | bc)" >>"$WORK/times.$i"
        echo "run $r ${BINS[$i]}: wall $wall s, cpu $(echo "$user + $sys" | bc) s"
    done
done
echo "load after: $(uptime)"
for i in "${!BINS[@]}"; do
    db=$WORK/store.$i
    txs=$(sed -n 's/^txs //p' "$db/MANIFEST")
    echo "== ${BINS[$i]}: $(head -1 "$db/MANIFEST"), $txs txs"
    echo "import --bulk: median wall $(cut -d' ' -f1 "$WORK/times.$i" | median) s, cpu $(cut -d' ' -f2 "$WORK/times.$i" | median) s (of $RUNS)"
    (cd "$db" && find . -maxdepth 1 -type f -size +0 -printf '%s %f\n') | sort -rn |
        awk -v t="$txs" '{ s += $1; if ($1 / t >= 0.05) printf "  %-20s %8.2f B/tx\n", $2, $1 / t }
                         END { printf "  %-20s %8.2f B/tx (%.0f bytes)\n", "total", s / t, s }'
    rm -f "$WORK/times.$i"
    [ -n "${KEEP:-}" ] || rm -rf "$db"
done
