#!/bin/bash
# The tested deployment of docs/deploy.md: haproxy (Debian's) with deploy/haproxy.cfg in front of
# two `cointrail serve` replicas, each over its own store imported from the same blk files, all
# on loopback ports found free, all started and stopped here. wrk sends a screening mix
# (addresses labelled and not, both directions, deposit txs) through haproxy; one replica is
# killed with SIGKILL mid-load and restarted. Checks:
#  - the two replicas' stores are byte for byte the same;
#  - failed requests under load (wrk's non-2xx responses and socket errors), reported as counts:
#    none, haproxy retrying on the other replica what the dead one did not answer;
#  - a client asking through haproxy during and after the kill gets, for every request, the
#    answer one server gave directly before the load (status and document);
#  - haproxy marks the killed replica DOWN, and UP again after its restart, and the restarted
#    replica serves requests again.
# Requests/s through haproxy and directly to one replica are printed (one short run each: a
# test, not a benchmark). Without haproxy or wrk it skips (77), but fails under CI=true.
source "$(dirname "$0")/common.sh"

for tool in haproxy wrk curl; do
    if ! command -v $tool >/dev/null; then
        echo "$tool is not installed (scripts/install-deps.sh)"
        [ "${CI:-}" = true ] && { echo "0 passed, 1 failed"; exit 1; }
        exit 77
    fi
done

# COINTRAIL_HAPROXY_CFG: another configuration to try (e.g. one without retries, to see what
# they save); the test as run by ctest uses the documented one.
CFG=${COINTRAIL_HAPROXY_CFG:-deploy/haproxy.cfg}
pids=()
stop_all() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    pids=()
}
trap 'stop_all; [ -n "${KEEP_T:-}" ] || rm -rf "$T"' EXIT

"$BIN" generate --out "$T/g" --seed 23 --blocks 220 --txs-per-block 150 --maturity 5 \
    --scenarios 6 --scenario-blocks 120 --file-size 4 --quiet >/dev/null || bad "generate"
for r in r1 r2; do
    "$BIN" import --db "$T/$r" --quiet "$T/g" >/dev/null || bad "import $r"
    "$BIN" labels import --db "$T/$r" "$T/g/labels.csv" >/dev/null || bad "labels import $r"
    "$BIN" cluster --db "$T/$r" >/dev/null || bad "cluster $r"
done
diff -r "$T/r1" "$T/r2" >/dev/null && ok || bad "the replicas' stores differ"
"$BIN" serve-key --owner replicas-test --scopes read,screen,watch --key-file "$T/keys" >"$T/key" || bad "serve-key"
KEY=$(cat "$T/key")
$PY tests/replicas_check.py items "$T" || bad "items"

mapfile -t P < <($PY tests/replicas_check.py ports 4)
LB=127.0.0.1:${P[0]} STATS=http://127.0.0.1:${P[1]} R1=127.0.0.1:${P[2]} R2=127.0.0.1:${P[3]}
declare -A rpid
start_replica() { # r1|r2 HOST:PORT
    "$BIN" serve --db "$T/$1" --listen "$2" --api-keys "$T/keys" --threads 2 \
        2>>"$T/$1.log" &
    rpid[$1]=$!
    pids+=($!)
    for _ in $(seq 150); do curl -sf "http://$2/v1/health" >/dev/null && return 0; sleep 0.1; done
    return 1
}
start_replica r1 "$R1" && start_replica r2 "$R2" && ok || bad "replicas did not start"
COINTRAIL_LB_BIND=$LB COINTRAIL_LB_STATS=127.0.0.1:${P[1]} COINTRAIL_REPLICA1=$R1 \
    COINTRAIL_REPLICA2=$R2 haproxy -W -db -f "$CFG" 2>"$T/haproxy.log" &
pids+=($!)
status() { $PY tests/replicas_check.py stats "$STATS" "replicas/$1" 2>/dev/null; }
wait_status() { # server status: within 10 s
    for _ in $(seq 100); do [ "$(status "$1")" = "$2" ] && return 0; sleep 0.1; done
    return 1
}
wait_status r1 UP && wait_status r2 UP && ok || bad "haproxy does not see both replicas UP"

# The reference: every path asked of replica 1 directly, once.
$PY tests/replicas_check.py reference "http://$R1" "$KEY" "$T" && ok || bad "reference answers"

wrk_run() { # SECONDS URL -> wrk's output in $T/wrk.out; prints "rps non2xx socket_errors"
    wrk -t1 -c16 -d"$1"s --timeout 10s -s "$T/mix.lua" "$2" >"$T/wrk.out" 2>&1
    awk '/Requests\/sec/ {r = $2} /Non-2xx/ {n += $NF}
         /Socket errors/ {gsub(",", ""); s += $4 + $6 + $8 + $10}
         END {print r + 0, n + 0, s + 0}' "$T/wrk.out"
}
read -r rps_direct e1 s1 < <(wrk_run 4 "http://$R1")
read -r rps_lb e2 s2 < <(wrk_run 4 "http://$LB")
[ $((e1 + s1 + e2 + s2)) = 0 ] && ok || bad "failed requests without a kill: direct $e1+$s1, haproxy $e2+$s2"

# The kill: wrk and a checking client through haproxy; replica 2 killed at 3 s, restarted at 6 s.
rm -f "$T/stop"
$PY tests/replicas_check.py sampler "http://$LB" "$KEY" "$T" "$T/stop" >"$T/sampler.out" &
SAMPLER=$!
pids+=($SAMPLER)
wrk_run 10 "http://$LB" >"$T/wrk.kill" &
WRK=$!
pids+=($WRK)
sleep 3
before=$(curl -s "http://$R2/v1/metrics" -H "X-API-Key: $KEY" | $PY tests/jget.py '["requests"]')
kill -9 "${rpid[r2]}" && wait "${rpid[r2]}" 2>/dev/null
wait_status r2 DOWN && ok || bad "haproxy did not mark the killed replica DOWN"
sleep 1
start_replica r2 "$R2" && ok || bad "restart of replica 2"
wait_status r2 UP && ok || bad "the restarted replica is not UP again"
wait $WRK
read -r rps_kill e3 s3 <"$T/wrk.kill"
cp "$T/wrk.out" "$T/wrk.kill.out"
# After the load: the restarted replica takes its share again.
read -r rps_after e4 s4 < <(wrk_run 3 "http://$LB")
after=$(curl -s "http://$R2/v1/metrics" -H "X-API-Key: $KEY" | $PY tests/jget.py '["requests"]')
touch "$T/stop"
wait $SAMPLER && ok || bad "answers through haproxy: $(cat "$T/sampler.out")"
echo "sampler through haproxy during and after the kill: $(head -1 "$T/sampler.out")"
[ "${after:-0}" -gt 100 ] && ok || bad "the restarted replica served ${after:-no} requests after the load"
echo "replica 2: $before requests before its kill, $after after its restart"
echo "failed requests during the kill: $e3 non-2xx, $s3 socket errors (wrk, $(awk '/requests in/ {print $1}' "$T/wrk.kill.out") requests)"
[ "$((e3 + s3))" = 0 ] && ok || { bad "requests failed during the kill"; cat "$T/wrk.kill.out"; }
[ "$((e4 + s4))" = 0 ] && ok || bad "requests failed after the restart: $e4 non-2xx, $s4 socket errors"
echo "requests/s: direct to one replica $rps_direct, through haproxy (2 replicas) $rps_lb," \
    "during the kill $rps_kill, after $rps_after (wrk 1 thread, 16 connections, $(nproc) cores," \
    "load $(cut -d' ' -f1-3 /proc/loadavg))"
retr=$($PY tests/replicas_check.py stats "$STATS" replicas/BACKEND wretr)
redis=$($PY tests/replicas_check.py stats "$STATS" replicas/BACKEND wredis)
echo "haproxy: $retr retries, $redis redispatches"
# (the kill cost requests that haproxy sent again: else it did not test the retries)
[ "${retr:-0}" -gt 0 ] && ok || bad "haproxy retried nothing: the kill hit no request"
# Embedded state: a watchlist made through haproxy exists once, on replica 1 (deploy/haproxy.cfg
# sends watchlists, alerts and cases there), and every read of it through haproxy finds it.
A=$(sed -n 's|^/v1/screen/address/\([^?]*\)$|\1|p' "$T/paths.txt" | head -1)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $KEY" -d "{\"name\": \"w\", \"items\": [{\"kind\": \"address\", \"value\": \"$A\"}]}" "http://$LB/v1/watchlists")
[ "$code" = 201 ] && ok || bad "watchlist through haproxy: $code"
n=0
for _ in 1 2 3 4 5 6; do
    curl -s -H "X-API-Key: $KEY" "http://$LB/v1/watchlists" | grep -q '"name": *"w"' && n=$((n + 1))
done
w1=$(curl -s -H "X-API-Key: $KEY" "http://$R1/v1/watchlists" | grep -c '"name": *"w"')
w2=$(curl -s -H "X-API-Key: $KEY" "http://$R2/v1/watchlists" | grep -c '"name": *"w"')
[ "$n/$w1/$w2" = 6/1/0 ] && ok || bad "watchlist reads through haproxy $n/6, on replica 1 $w1, on replica 2 $w2 (want 6/1/0)"
grep -q "r2 is DOWN" "$T/haproxy.log" && ok || bad "haproxy's log lacks the DOWN: $(head -3 "$T/haproxy.log")"
stop_all
finish
