#!/bin/bash
# Screening service load: wrk against `cointrail serve` on loopback.
#
#   bench/serve.sh [TXS_PER_BLOCK BLOCKS [WORKDIR [SECONDS [CONNECTIONS]]]]
#                  (default 2500 x 5000 = about 10M txs, 10 s, 32 connections)
#   DB=STORE bench/serve.sh TPB BLOCKS WORKDIR ...   (screen STORE, e.g. a copy whose exposure
#                  index was rebuilt; the chain of TPB x BLOCKS in WORKDIR gives the items)
#   ROUNDS=N       rounds (default 3): every figure is the median of the rounds
#
# Reuses (or makes) the chain and store of bench/trace.sh (generated, imported, labelled,
# clustered), starts two services with two worker threads each (one with the answer cache, one
# with --cache 0), and runs wrk (one thread, on the same machine) in each round:
#   health    GET /v1/health: the HTTP stack alone, the reference for the ratios
#   cached    GET /v1/screen/address/A for 2000 addresses picked at random (labelled and not),
#             cycled by a Lua script, default rules, every answer already in the cache
#             (repeat screening between two blocks)
#   incoming  the same addresses with ?direction=incoming against the service without a cache:
#             every answer computed, from the exposure index (amounts, sources and their
#             paths), the deposit screening of docs/screening.md
#   deposits  GET /v1/screen/tx/T?direction=incoming for the scenarios' deposit txs (the
#             generator's truth), computed
#   both      the addresses with the default directions, computed: outgoing is still a trace
#             within the hops (not indexed)
#   hops1     incoming with ?hops=1: the index's answer explained by a 1-hop trace as well
# and prints requests/s, p50/p99 latency and requests/s as a ratio of the same round's health
# run (medians over the rounds), the server's CPU time per request, and the machine's load.
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
db=${DB:-$db}
ROUNDS=${ROUNDS:-3}
if ! "$BIN" exposure status --db "$db" >/dev/null 2>&1; then
    echo "$db: no exposure index this build reads (cointrail exposure build --db $db --rebuild)"
    exit 1
fi
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
deps = [s["txid"] for l in open(truth) for d in [json.loads(l)] if d.get("kind") == "scenario"
        for s in d["steps"] if s["kind"].endswith("_deposit")]
with open(out.replace("screen.lua", "deposits.lua"), "w") as f:
    f.write("local txs = {" + ",".join('"%s"' % t for t in deps) + "}\n")
    f.write("local i = 0\nrequest = function()\n  i = i % #txs + 1\n"
            "  return wrk.format('GET', '/v1/screen/tx/' .. txs[i] .. '?direction=incoming', "
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
start "$WORK/port.nocache" --cache 0 --max-expensive 2 # traces (both, hops1) measured, not refused
nocache=$started
# warm the page cache over the addresses once, and fill the answer cache of the first server
SCREEN_SUFFIX= wrk -t1 -c4 -d3s -s "$WORK/screen.lua" "$nocache" >/dev/null
wrk -t1 -c4 -d2s -s "$WORK/deposits.lua" "$nocache" >/dev/null
SCREEN_SUFFIX= wrk -t1 -c4 -d5s -s "$WORK/screen.lua" "$url" >/dev/null

ms() { # wrk's latency (850.00us, 1.20ms, 2.00s) in milliseconds
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /[0-9]s$/ && v !~ /ms$/) n *= 1000; print n }'
}
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, clock ticks
run() { # name, server pid, env and wrk command...: "name rps p50_ms p99_ms errors cpu_us_per_request"
    local name=$1 pid=$2
    shift 2
    local out c0 c1
    c0=$(cpu_of "$pid")
    out=$(env "$@")
    c1=$(cpu_of "$pid")
    local rps p50 p99 errs n
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    n=$(echo "$out" | awk '/requests in/ {print $1}')
    p50=$(ms "$(echo "$out" | awk '$1 == "50%" {print $2}')")
    p99=$(ms "$(echo "$out" | awk '$1 == "99%" {print $2}')")
    errs=$(echo "$out" | awk '/Non-2xx/ {n += $NF} /Socket errors/ {n += 1} END {print n + 0}')
    echo "$name $rps $p50 $p99 $errs $(awk -v a="$c0" -v b="$c1" -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", (b - a) / hz * 1e6 / n }')"
}
W="wrk -t1 -c$CONNS -d${SECS}s --latency"
spid=${pids[0]} npid=${pids[1]}
echo "load before: $(uptime | sed 's/.*load average: //')"
: >"$WORK/serve.runs"
for round in $(seq "$ROUNDS"); do
    {
        run health "$spid" $W "$url/v1/health"
        run cached "$spid" SCREEN_SUFFIX= $W -s "$WORK/screen.lua" "$url"
        run incoming "$npid" SCREEN_SUFFIX='?direction=incoming' $W -s "$WORK/screen.lua" "$nocache"
        run deposits "$npid" $W -s "$WORK/deposits.lua" "$nocache"
        run both "$npid" SCREEN_SUFFIX= $W -s "$WORK/screen.lua" "$nocache"
        run hops1 "$npid" SCREEN_SUFFIX='?direction=incoming&hops=1' $W -s "$WORK/screen.lua" "$nocache"
    } | sed "s/^/$round /" >>"$WORK/serve.runs"
done
echo "load after: $(uptime | sed 's/.*load average: //')"
echo "store: $txs txs ($db); machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
echo "wrk: 1 thread, $CONNS connections, ${SECS} s, beside the server (2 worker threads); $ROUNDS rounds, medians"
python3 - "$WORK/serve.runs" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
health = {r[0]: float(r[2]) for r in rows if r[1] == "health"}
print("%-9s %11s %9s %9s %7s %7s %11s  %s" % ("run", "requests/s", "p50 ms", "p99 ms", "ratio",
                                             "errors", "cpu us/req", "(ratios by round)"))
for name in dict.fromkeys(r[1] for r in rows):
    rs = [r for r in rows if r[1] == name]
    med = lambda i: statistics.median(float(r[i]) for r in rs)
    ratios = [float(r[2]) / health[r[0]] for r in rs]
    print("%-9s %11.0f %9.2f %9.2f %7.3f %7d %11.1f  %s" % (
        name, med(2), med(3), med(4), statistics.median(ratios), sum(int(r[5]) for r in rs),
        med(6), " ".join("%.3f" % x for x in ratios)))
inc = [r for r in rows if r[1] == "incoming"]
rps, p99 = statistics.median(float(r[2]) for r in inc), statistics.median(float(r[4]) for r in inc)
ratio = statistics.median(float(r[2]) / health[r[0]] for r in inc)
print("target (incoming, computed): >= 50%% of health and >= 20,000/s, p99 < 5 ms: "
      "%.1f%%, %.0f/s, p99 %.2f ms: %s" % (100 * ratio, rps, p99,
      "met" if ratio >= 0.5 and rps >= 20000 and p99 < 5 else "NOT met"))
PY
curl -s -H "X-API-Key: bench-key-0123456789abcdef" "$url/v1/metrics" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("cached server:", d["screening_cache"], "latency_us inside the server", d["latency_us"])'
