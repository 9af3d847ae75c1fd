#!/bin/bash
# Query time of two (binary, store) pairs on the same chain, e.g. before and after a store format
# change (issue 18, part 4): `trace --from @SEEDS --format json --hops 10` and
# `stats --recompute --json` (which reads every id column), runs interleaved, one warm-up run
# each, medians of RUNS of wall and CPU (user + system) time; the outputs' SHA-256 must agree.
#
#   bench/store_queries.sh BIN0 DB0 BIN1 DB1 SEEDS
#       SEEDS: a file of txid:vout lines (bench/trace.sh picks the scenario outputs)
#   env: RUNS (3)
set -euo pipefail
B0=$1 D0=$2 B1=$3 D1=$4 SEEDS=$5
RUNS=${RUNS:-3}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
echo "load before: $(uptime)"
one() { # BIN DB CMD... -> "wall cpu sha"
    local b=$1 d=$2
    shift 2
    /usr/bin/time -f "%e %U %S" -o "$W/time" "$b" "$@" --db "$d" 2>/dev/null | sha256sum | cut -c1-12 >"$W/sha"
    read -r w u s <"$W/time"
    echo "$w $(echo "$u + $s" | bc) $(cat "$W/sha")"
}
med() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
bench() { # LABEL CMD...
    local label=$1
    shift
    one "$B0" "$D0" "$@" >/dev/null
    one "$B1" "$D1" "$@" >/dev/null
    : >"$W/q0"
    : >"$W/q1"
    for _ in $(seq "$RUNS"); do
        one "$B0" "$D0" "$@" >>"$W/q0"
        one "$B1" "$D1" "$@" >>"$W/q1"
    done
    local same=DIFFERENT
    [ "$(cut -d' ' -f3 "$W/q0" | sort -u)" = "$(cut -d' ' -f3 "$W/q1" | sort -u)" ] && same=same
    echo "$label: 0: wall $(cut -d' ' -f1 "$W/q0" | med) s cpu $(cut -d' ' -f2 "$W/q0" | med) s | 1: wall $(cut -d' ' -f1 "$W/q1" | med) s cpu $(cut -d' ' -f2 "$W/q1" | med) s | output $same"
}
bench "trace --hops 10" trace --from @"$SEEDS" --format json --hops 10
bench "stats --recompute" stats --recompute --json
echo "load after: $(uptime)"
