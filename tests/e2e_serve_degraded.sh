#!/bin/bash
# Review finding #6: an interrupted `cointrail cluster` (its journal left behind) must not
# freeze the service. A service already running keeps following new labels and blocks on the
# last committed clustering (health "degraded", clustering "recovered") and a fresh `serve` on
# such a store starts the same way; the next `import` undoes the interrupted run on disk and
# health is "ok" again. A clustering that cannot be read at all (a damaged map file) is served
# without entities: clustering "unavailable", the open /v1/health names no store path, the
# authenticated /v1/metrics carries the message.
source "$(dirname "$0")/common.sh"

"$BIN" generate --out "$T/g" --seed 13 --blocks 200 --txs-per-block 80 --maturity 5 \
    --era 2019-2024.3 --privacy-rate 0.2 --users 300 --quiet >/dev/null || bad "generate"
"$BIN" import --db "$T/db" --stop-after 150 --quiet "$T/g" >/dev/null &&
    "$BIN" cluster --db "$T/db" >/dev/null || bad "first import and cluster"
"$BIN" import --db "$T/db" --stop-after 170 --quiet "$T/g" >/dev/null || bad "second import"
KEY=$("$BIN" serve-key --owner ops --scopes read --key-file "$T/keys") || bad "serve-key"

start() { # PORTFILE LOG
    "$BIN" serve --db "$T/db" --listen 127.0.0.1:0 --api-keys "$T/keys" --port-file "$1" \
        --poll-ms 50 2>"$2" &
    LAST_PID=$!
    for _ in $(seq 100); do [ -s "$1" ] && break; sleep 0.1; done
}
start "$T/port" "$T/serve.log"
SERVE_PID=$LAST_PID
trap 'kill $SERVE_PID ${SERVE2_PID:-} 2>/dev/null; [ -n "${KEEP_T:-}" ] || rm -rf "$T"' EXIT
U=127.0.0.1:$(cat "$T/port")
health() { curl -s "$1/v1/health"; }
field() { $PY tests/jget.py "$1"; }
[ "$(health "$U" | field '["clustering"]')" = ok ] && ok || bad "clustering not ok at start"

COINTRAIL_TEST_CLUSTER_CRASH=1 "$BIN" cluster --db "$T/db" >/dev/null 2>&1 &
wait $! 2>/dev/null
[ $? -eq 137 ] && [ -e "$T/db/cluster.journal" ] && ok || bad "crash hook: no journal"
# New labels after the interrupted run: the running service shows them, on the last committed
# clustering (entities still answered).
"$BIN" labels import --db "$T/db" "$T/g/labels.csv" >/dev/null || bad "labels import"
for _ in $(seq 100); do
    [ "$(health "$U" | field '["labels"]')" -gt 0 ] && break
    sleep 0.1
done
h=$(health "$U")
[ "$(echo "$h" | field '["labels"]')" -gt 0 ] && ok || bad "labels not followed: $h"
[ "$(echo "$h" | field '["status"]')" = degraded ] && ok || bad "not degraded: $h"
[ "$(echo "$h" | field '["clustering"]')" = recovered ] && ok || bad "clustering state: $h"
A=$(grep -m1 -Eo '^btc,[^,]+' "$T/g/labels.csv" | cut -d, -f2)
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $KEY" "$U/v1/entity/$A")" = 200 ] &&
    ok || bad "entity not answered on the last committed clustering"

# A fresh service on the store starts (degraded) instead of refusing.
start "$T/port2" "$T/serve2.log"
SERVE2_PID=$LAST_PID
[ -s "$T/port2" ] && [ "$(health "127.0.0.1:$(cat "$T/port2")" | field '["clustering"]')" = recovered ] &&
    ok || bad "fresh serve did not start on the committed clustering: $(cat "$T/serve2.log")"

# The next import undoes the interrupted run on disk; the running service follows the blocks.
"$BIN" import --db "$T/db" --quiet "$T/g" >/dev/null || bad "third import"
[ -e "$T/db/cluster.journal" ] && bad "import left the journal" || ok
want_h=$(( $("$BIN" stats --db "$T/db" --json | field '["blocks"]') - 1 ))
for _ in $(seq 100); do
    [ "$(health "$U" | field '["height"]')" = "$want_h" ] && break
    sleep 0.1
done
h=$(health "$U")
[ "$(echo "$h" | field '["height"]')" = "$want_h" ] && ok || bad "blocks not followed: $h"
[ "$(echo "$h" | field '["status"]')" = ok ] && [ "$(echo "$h" | field '["clustering"]')" = ok ] &&
    ok || bad "not recovered after import: $h"
"$BIN" cluster --db "$T/db" >/dev/null || bad "cluster after recovery"

# A damaged clustering: served without it, and said so.
cp -a "$T/db" "$T/db2"
map=$(ls "$T/db2"/cluster-map.*.col | tail -1)
truncate -s 1000 "$map"
kill $SERVE2_PID 2>/dev/null
"$BIN" serve --db "$T/db2" --listen 127.0.0.1:0 --api-keys "$T/keys" --port-file "$T/port3" \
    --poll-ms 50 2>"$T/serve3.log" &
SERVE2_PID=$!
for _ in $(seq 100); do [ -s "$T/port3" ] && break; sleep 0.1; done
U3=127.0.0.1:$(cat "$T/port3")
h=$(health "$U3")
[ "$(echo "$h" | field '["status"]')" = degraded ] &&
    [ "$(echo "$h" | field '["clustering"]')" = unavailable ] &&
    [ "$(echo "$h" | field '["labels"]')" -gt 0 ] && ok || bad "damaged clustering: $h"
echo "$h" | grep -q "$T" && bad "health names the store path: $h" || ok
m=$(curl -s -H "X-API-Key: $KEY" "$U3/v1/metrics")
echo "$m" | field '["store"]["clustering_error"]' | grep -q "shorter" && ok || bad "metrics: $m"
grep -q "serving without the clustering" "$T/serve3.log" && ok || bad "not logged"
finish
