#!/bin/bash
# Legitimate load on the screening service while a slowloris attack runs (review finding #2).
#
#   bench/serve_attack.sh OLD_BINARY [SECONDS]   (OLD_BINARY: a build of an earlier commit; 15 s)
#
# A small generated store; each service runs with 2 worker threads. For each binary, wrk (one
# thread, 16 keep-alive connections, 2 s timeout) loads GET /v1/rules (cheap, authenticated):
#   quiet     no attack
#   attack    tests/slowloris.py: 4200 connections from 127.0.0.2..127.0.0.21, one header line
#             every 2 s, never finishing; it starts 3 s before wrk and outlasts it
# and, for this tree's binary only:
#   attack+   the same with --per-ip-connections 10000 (so the per-client limit does not hold
#             the attack off and the request deadline must) and attackers that reconnect at once
# It prints wrk's requests/s, p50 and p99 latency, and errors (socket errors + non-2xx).
# Loopback only; everything it starts is stopped at exit. About 2 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=${1:?usage: bench/serve_attack.sh OLD_BINARY [SECONDS]}
SECS=${2:-15}
NEW=$(realpath build/cointrail)
[ -x "$NEW" ] || scripts/build.sh build
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
ulimit -n 20000
W=$(mktemp -d /tmp/cointrail-attack.XXXXXX)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; rm -rf "$W"' EXIT
"$NEW" generate --out "$W/g" --seed 5 --blocks 200 --txs-per-block 100 --scenarios 2 --quiet >/dev/null
"$NEW" import --db "$W/db" --quiet "$W/g" >/dev/null
"$NEW" labels import --db "$W/db" "$W/g/labels.csv" >/dev/null
KEY=$("$NEW" serve-key --owner bench --scopes read --key-file "$W/keys")
echo "$KEY" >"$W/plainkeys" # the old binary reads plaintext keys
chmod 600 "$W/plainkeys"

start() { # BINARY KEYFILE EXTRA... -> sets PORT
    rm -f "$W/port"
    "$@" --db "$W/db" --listen 127.0.0.1:0 --port-file "$W/port" --threads 2 2>>"$W/serve.log" &
    SPID=$!
    PIDS+=($SPID)
    for _ in $(seq 100); do [ -s "$W/port" ] && break; sleep 0.1; done
    PORT=$(cat "$W/port")
}

run_wrk() { # NAME
    wrk -t1 -c16 -d"${SECS}s" --timeout 2s --latency -H "X-API-Key: $KEY" \
        "http://127.0.0.1:$PORT/v1/rules" >"$W/wrk.txt" 2>&1 || true
    python3 - "$1" "$W/wrk.txt" <<'PY'
import re, sys
name, t = sys.argv[1], open(sys.argv[2]).read()
rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", t, re.M))
err = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", t))
non2 = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
err += int(non2.group(1)) if non2 else 0
reqs = re.search(r"(\d+) requests in", t)
if not reqs or reqs.group(1) == "0":
    err = "all"  # wrk's connections were never answered (wrk counts no error for that)
print(f"{name:<22} {rps.group(1) if rps else '-':>10} {lat.get('50', '-'):>9} {lat.get('99', '-'):>9}"
      f" {err:>7} {reqs.group(1) if reqs else '-':>9}")
PY
}

attack() { # EXTRA ARGS for slowloris.py
    python3 tests/slowloris.py "$PORT" 4200 $((SECS + 6)) 2 --sources 20 "$@" >"$W/attack.json" &
    APID=$!
    PIDS+=($APID)
    sleep 3
}

printf '%-22s %10s %9s %9s %7s %9s\n' run "req/s" p50 p99 errors requests
for which in old new; do
    if [ $which = old ]; then b=$OLD k=$W/plainkeys; else b=$NEW k=$W/keys; fi
    start "$b" serve --api-keys "$k"
    run_wrk "$which quiet"
    attack
    run_wrk "$which attack"
    wait $APID || true
    echo "  attacker: $(cat "$W/attack.json")"
    kill $SPID; wait $SPID 2>/dev/null || true
done
start "$NEW" serve --api-keys "$W/keys" --per-ip-connections 10000
attack --reconnect
run_wrk "new attack+"
wait $APID || true
echo "  attacker: $(cat "$W/attack.json")"
