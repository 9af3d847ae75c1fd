#!/bin/bash
# Screenings per second through haproxy (deploy/haproxy.cfg) with one and with two replicas,
# against one replica asked directly (docs/deploy.md).
#
#   bench/replicas.sh [BLOCKS TXS_PER_BLOCK [WORKDIR [SECONDS [CONNECTIONS]]]]
#                     (default 400 x 500, /tmp/cointrail-bench-replicas, 8 s, 16 connections)
#   CACHE=N    serve's --cache (default 0: every screening computed; 16384 is serve's default)
#   MIX=all    the whole mix of tests/e2e_replicas.sh, outgoing traces too (default: incoming, the
#              deposit screening answered from the exposure index; a trace is "expensive" work
#              that a busy replica refuses with 503 and haproxy retries on the other)
#   ROUNDS=N   rounds (default 3): every figure is the median of the rounds
#
# Generates a chain (seeded), imports it into two stores (labels, clustering), starts two
# replicas with 2 worker threads each and haproxy on free loopback ports, and per round runs wrk
# (1 thread) with a screening mix (MIX=incoming: 120 requests, addresses labelled and not and the
# scenarios' deposit txs, ?direction=incoming; MIX=all: 240, default directions too):
#   direct   to replica 1 itself: the reference for the ratios
#   lb1      through haproxy while replica 2 is stopped (haproxy sees it DOWN)
#   lb2      through haproxy with both replicas
# and prints requests/s, p50/p99 latency and the ratio to the same round's direct run, and the
# machine's load before and after. Everything runs on this machine: wrk, haproxy and the
# replicas share its cores.
set -euo pipefail
cd "$(dirname "$0")/.."
BLOCKS=${1:-400}
TPB=${2:-500}
WORK=${3:-/tmp/cointrail-bench-replicas}
SECS=${4:-8}
CONNS=${5:-16}
ROUNDS=${ROUNDS:-3}
CACHE=${CACHE:-0}
BIN=$(realpath build/cointrail)
[ -x "$BIN" ] || scripts/build.sh build
for t in haproxy wrk curl; do command -v $t >/dev/null || { echo "$t is not installed"; exit 1; }; done
PY=/usr/bin/python3
mkdir -p "$WORK"
T=$WORK
if [ ! -s "$T/g/labels.csv" ] || [ ! -f "$T/r2/cluster.state" ]; then
    rm -rf "$T/g" "$T/r1" "$T/r2"
    "$BIN" generate --out "$T/g" --seed 31 --blocks "$BLOCKS" --txs-per-block "$TPB" --maturity 5 \
        --scenarios 8 --scenario-blocks $((BLOCKS / 2)) --quiet >/dev/null
    for r in r1 r2; do
        "$BIN" import --db "$T/$r" --quiet "$T/g" >/dev/null
        "$BIN" labels import --db "$T/$r" "$T/g/labels.csv" >/dev/null
        "$BIN" cluster --db "$T/$r" >/dev/null
    done
fi
rm -f "$T/keys"
"$BIN" serve-key --owner bench --scopes read,screen --key-file "$T/keys" >"$T/key"
MIX=${MIX:-incoming}
$PY tests/replicas_check.py items "$T" $([ "$MIX" = incoming ] && echo incoming)
mapfile -t P < <($PY tests/replicas_check.py ports 4)
LB=127.0.0.1:${P[0]} STATS=http://127.0.0.1:${P[1]} R1=127.0.0.1:${P[2]} R2=127.0.0.1:${P[3]}
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null' EXIT
r2pid=
start() { # r1|r2 ADDR
    "$BIN" serve --db "$T/$1" --listen "$2" --api-keys "$T/keys" --threads 2 --cache "$CACHE" \
        2>>"$T/$1.log" &
    pids+=($!)
    [ "$1" = r2 ] && r2pid=$!
    for _ in $(seq 150); do curl -sf "http://$2/v1/health" >/dev/null && return 0; sleep 0.1; done
    return 1
}
status() { $PY tests/replicas_check.py stats "$STATS" "replicas/$1" 2>/dev/null || true; }
wait_status() { for _ in $(seq 100); do [ "$(status "$1")" = "$2" ] && return 0; sleep 0.1; done; return 1; }
start r1 "$R1"
start r2 "$R2"
COINTRAIL_LB_BIND=$LB COINTRAIL_LB_STATS=127.0.0.1:${P[1]} COINTRAIL_REPLICA1=$R1 \
    COINTRAIL_REPLICA2=$R2 haproxy -W -db -f deploy/haproxy.cfg 2>"$T/haproxy.log" &
pids+=($!)
wait_status r1 UP && wait_status r2 UP
# warm the page cache (and the answer caches, with CACHE > 0)
wrk -t1 -c4 -d3s -s "$T/mix.lua" "http://$LB" >/dev/null

ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /[0-9]s$/ && v !~ /ms$/) n *= 1000; print n }'; }
run() { # name URL -> "name rps p50 p99 non2xx socket_errors"
    local out
    out=$(wrk -t1 -c"$CONNS" -d"$SECS"s --latency --timeout 10s -s "$T/mix.lua" "$2")
    echo "$1 $(echo "$out" | awk '/Requests\/sec/ {print $2}') \
$(ms "$(echo "$out" | awk '$1 == "50%" {print $2}')") $(ms "$(echo "$out" | awk '$1 == "99%" {print $2}')") \
$(echo "$out" | awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(",", ""); s += $4 + $6 + $8 + $10} END {print n + 0, s + 0}')"
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$T/runs"
for round in $(seq "$ROUNDS"); do
    run direct "http://$R1" | sed "s/^/$round /" >>"$T/runs"
    kill "$r2pid"
    wait "$r2pid" 2>/dev/null || true
    wait_status r2 DOWN
    run lb1 "http://$LB" | sed "s/^/$round /" >>"$T/runs"
    start r2 "$R2"
    wait_status r2 UP
    run lb2 "http://$LB" | sed "s/^/$round /" >>"$T/runs"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "chain: $BLOCKS blocks x $TPB txs; mix: $MIX; replicas: 2 worker threads each, --cache $CACHE;" \
    "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
echo "wrk: 1 thread, $CONNS connections, ${SECS} s; $ROUNDS rounds, medians"
$PY - "$T/runs" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
direct = {r[0]: float(r[2]) for r in rows if r[1] == "direct"}
print("%-7s %11s %9s %9s %7s %8s %8s  %s" % ("run", "requests/s", "p50 ms", "p99 ms", "ratio", "non-2xx", "sockerr", "(ratios by round)"))
for name in ("direct", "lb1", "lb2"):
    rs = [r for r in rows if r[1] == name]
    med = lambda i: statistics.median(float(r[i]) for r in rs)
    ratios = [float(r[2]) / direct[r[0]] for r in rs]
    print("%-7s %11.0f %9.2f %9.2f %7.3f %8d %8d  %s" % (name, med(2), med(3), med(4),
          statistics.median(ratios), sum(int(r[5]) for r in rs), sum(int(r[6]) for r in rs),
          " ".join("%.3f" % x for x in ratios)))
print("(non-2xx and socket errors: sums over the rounds; a non-2xx here is a replica's 503 for")
print(" expensive work beyond --max-expensive that haproxy's retries could not place)")
PY
