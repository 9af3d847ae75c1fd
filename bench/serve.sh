#!/bin/bash
# Screening service load: wrk against `cointrail serve` on loopback.
#
#   bench/serve.sh [TXS_PER_BLOCK BLOCKS [WORKDIR [SECONDS [CONNECTIONS]]]]
#                  (default 2500 x 5000 = about 10M txs, 10 s, 32 connections)
#
# Reuses (or makes) the chain and store of bench/trace.sh (generated, imported, labelled,
# clustered), starts two services with two worker threads each (one with the answer cache, one
# with --cache 0), and runs wrk (one thread) four times:
#   health    GET /v1/health: the HTTP stack alone, the reference for the ratios
#   cached    GET /v1/screen/address/A for 2000 addresses picked at random (labelled and not),
#             cycled by a Lua script, default rules (4 hops each way, haircut), every answer
#             already in the cache (repeat screening between two blocks)
#   uncached  the same against the service without a cache: every answer computed
#   hops1     uncached with ?hops=1
# and prints requests/s, p50/p99 latency and requests/s as a ratio of the health run.
set -euo pipefail
cd "$(dirname "$0")/.."
TPB=${1:-2500}
BLOCKS=${2:-5000}
WORK=${3:-/tmp/cointrail-bench}
SECS=${4:-10}
CONNS=${5:-32}
BIN=$(realpath build/cointrail)
[ -x "$BIN" ] || scripts/build.sh build
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
source bench/labelled_chain.sh # (the cd above made the repository root current)
txs=$("$BIN" stats --db "$db" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["txs"])')

# 2000 addresses: 1000 labelled ones and 1000 drawn from the generator's entities (users,
# merchants, services), a reservoir sample.
python3 - "$chain/labels.csv" "$chain/truth.jsonl" "$WORK/screen.lua" <<'PY'
import json, random, re, sys
labels, truth, out = sys.argv[1:]
random.seed(7)
addrs = sorted(set(re.findall(r"^btc,([^,]+),", open(labels).read(), re.M)))
pick = random.sample(addrs, min(1000, len(addrs)))
seen, res = 0, []
for line in open(truth):
    d = json.loads(line)
    for a in d.get("addresses", []) if d.get("kind") == "entity" else []:
        seen += 1
        if len(res) < 1000:
            res.append(a)
        elif random.randrange(seen) < 1000:
            res[random.randrange(1000)] = a
pick += res
with open(out, "w") as f:
    f.write("local addrs = {" + ",".join('"%s"' % a for a in pick) + "}\n")
    f.write("local i = 0\nlocal suffix = os.getenv('SCREEN_SUFFIX') or ''\n"
            "request = function()\n  i = i % #addrs + 1\n"
            "  return wrk.format('GET', '/v1/screen/address/' .. addrs[i] .. suffix, "
            "{['X-API-Key'] = 'bench-key-0123456789abcdef'})\nend\n")
PY

echo "bench-key-0123456789abcdef" >"$WORK/keys"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
start() { # port file, extra serve options...; sets $started to the URL
    local pf=$1
    shift
    rm -f "$pf"
    "$BIN" serve --db "$db" --listen 127.0.0.1:0 --api-keys "$WORK/keys" --threads 2 \
        --port-file "$pf" "$@" >/dev/null 2>>"$WORK/serve.log" &
    pids+=($!)
    for _ in $(seq 300); do [ -s "$pf" ] && break; sleep 0.1; done
    started="http://127.0.0.1:$(cat "$pf")"
}
start "$WORK/port.cached"
url=$started
start "$WORK/port.nocache" --cache 0
nocache=$started
# warm the page cache over the addresses once, and fill the answer cache of the first server
SCREEN_SUFFIX= wrk -t1 -c4 -d3s -s "$WORK/screen.lua" "$nocache" >/dev/null
SCREEN_SUFFIX= wrk -t1 -c4 -d5s -s "$WORK/screen.lua" "$url" >/dev/null

run() { # name, env and wrk command...
    local name=$1
    shift
    local out
    out=$(env "$@")
    local rps p50 p99 errs
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    errs=$(echo "$out" | grep -E "Non-2xx|Socket errors" | tr '\n' ' ')
    echo "$name $rps $p50 $p99 $errs"
}
W="wrk -t1 -c$CONNS -d${SECS}s --latency"
health=$(run health $W "$url/v1/health")
cached=$(run cached SCREEN_SUFFIX= $W -s "$WORK/screen.lua" "$url")
uncached=$(run uncached SCREEN_SUFFIX= $W -s "$WORK/screen.lua" "$nocache")
hops1=$(run hops1 SCREEN_SUFFIX='?hops=1' $W -s "$WORK/screen.lua" "$nocache")
href=$(echo "$health" | awk '{print $2}')
echo "store: $txs txs ($db); machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
echo "wrk: 1 thread, $CONNS connections, ${SECS} s; server: 2 worker threads; 2000 addresses cycled"
printf "%-9s %12s %10s %10s %8s\n" run "requests/s" p50 p99 "ratio"
for line in "$health" "$cached" "$uncached" "$hops1"; do
    set -- $line
    printf "%-9s %12s %10s %10s %8.3f %s\n" "$1" "$2" "$3" "$4" "$(python3 -c "print($2/$href)")" "${*:5}"
done
curl -s -H "X-API-Key: bench-key-0123456789abcdef" "$url/v1/metrics" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("cached server:", d["screening_cache"], "latency_us inside the server", d["latency_us"])'
