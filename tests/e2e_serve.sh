#!/bin/bash
# The screening service through real HTTP against the real running server (docs/screening.md):
#  - incoming exposure of deposit addresses and random addresses equals an independent backward
#    haircut computed by tests/serve_check.py from blocks decoded by python3-bitcoinlib;
#  - the API and `cointrail screen` give the same documents;
#  - the service follows the store: a clustering and a later import are picked up without a
#    restart, and what it reports while the import runs is always a committed state;
#  - watchlists: alerts for funds leaving a watched address are exactly the chain's spends of it
#    (independent decode), an entity list covers it, and its webhook receives the alerts;
#  - keys, limits and hostile input (serve_check.py hostile); a bad rules or keys file.
source "$(dirname "$0")/common.sh"

"$BIN" generate --out "$T/g" --seed 11 --blocks 260 --txs-per-block 120 --maturity 5 \
    --halving-interval 50 --era 2019-2024.3 --privacy-rate 0.2 --users 500 --scenarios 6 \
    --scenario-blocks 120 --quiet >/dev/null || bad "generate"
FIRST=180
"$BIN" import --db "$T/db" --stop-after $FIRST --quiet "$T/g" >/dev/null || bad "import first part"
"$BIN" labels import --db "$T/db" "$T/g/labels.csv" >/dev/null || bad "labels import"

KEY=$("$BIN" serve-key --owner test --scopes read,screen,watch --key-file "$T/keys") || bad "serve-key"
# The webhook receiver: records every POST body, one per line.
$PY tests/serve_flow.py hook-receiver "$T" &
HOOK_PID=$!
for _ in $(seq 100); do [ -s "$T/hook.port" ] && break; sleep 0.1; done
# (--webhook-prefix is the older name of --webhook-allow: an origin and a path prefix)
"$BIN" serve --db "$T/db" --listen 127.0.0.1:0 --api-keys "$T/keys" --port-file "$T/port" \
    --poll-ms 50 --timeout 2 --max-batch 1000 --webhook-prefix "http://127.0.0.1:$(cat "$T/hook.port")/" \
    2>"$T/serve.log" &
SERVE_PID=$!
trap 'kill $SERVE_PID $HOOK_PID 2>/dev/null; [ -n "${KEEP_T:-}" ] || rm -rf "$T"' EXIT
for _ in $(seq 100); do [ -s "$T/port" ] && [ -s "$T/hook.port" ] && break; sleep 0.1; done
PORT=$(cat "$T/port") HOOK=$(cat "$T/hook.port")
U="127.0.0.1:$PORT"
api() { curl -s --max-time 30 -H "X-API-Key: $KEY" "$@"; }
jq_py() { $PY -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

[ "$(curl -s "$U/v1/health" | $PY tests/jget.py '["height"]')" = $((FIRST - 1)) ] && ok ||
    bad "health height"

# Addresses to screen: every scenario deposit paid in the imported part, and 40 others.
$PY tests/serve_flow.py deposit-steps "$T" "$FIRST" || bad "address list"
for tx in $(cat "$T/steps.txt"); do
    "$BIN" tx --db "$T/db" --json "$tx" | jq_py '"\n".join(o["address"] for o in d["outputs"] if o["address"])'
done | sort -u >"$T/addrs.txt"
"$BIN" address --db "$T/db" --json --limit 400 "$(head -1 "$T/addrs.txt")" >/dev/null || bad "address query"
$PY tests/serve_flow.py sample-labelled "$T" >>"$T/addrs.txt"
[ "$(wc -l <"$T/addrs.txt")" -gt 30 ] && ok || bad "too few addresses to screen"
$PY tests/serve_check.py exposure "$U" "$KEY" "$T/g" "$T/g/labels.csv" $FIRST 3 1000 \
    "$T/addrs.txt" && ok || bad "incoming exposure differs from the independent haircut"
$PY tests/serve_check.py exposure "$U" "$KEY" "$T/g" "$T/g/labels.csv" $FIRST 6 1000 \
    <(head -15 "$T/addrs.txt") && ok || bad "incoming exposure (6 hops)"

# Against the generator's truth: the exchange and OTC deposits made with stolen funds, screened
# in one batch with the default rules, are flagged (theft or sanctioned exposure, level medium or
# above); the floor sits below the measured share (docs/screening.md).
$PY tests/serve_flow.py deposits-flagged "$U" "$KEY" "$T" "$FIRST" && ok || bad "deposits of stolen funds not flagged"
# The API and the CLI answer from the same library call.
A=$(head -1 "$T/addrs.txt") TX=$(head -1 "$T/steps.txt")
for what in "address/$A" "tx/$TX"; do
    api "$U/v1/screen/$what?hops=4" | jq_py 'json.dumps(d, sort_keys=True)' >"$T/api.json"
    "$BIN" screen --db "$T/db" --hops 4 --json "${what#*/}" | jq_py 'json.dumps(d, sort_keys=True)' \
        >"$T/cli.json"
    cmp -s "$T/api.json" "$T/cli.json" && ok || bad "API and CLI differ for $what"
done
"$BIN" screen --db "$T/db" "$A" | grep -q "risk" && ok || bad "screen text output"
# The answer cache: a repeat is a hit with the same body; a new snapshot starts empty.
cache_state() { api -D - -o "$T/body.$2" "$U/v1/screen/address/$1?hops=2" | tr -d '\r' |
    awk -F': ' 'tolower($1) == "x-cointrail-cache" {print $2}'; }
[ "$(cache_state "$A" 1)" = miss ] && [ "$(cache_state "$A" 2)" = hit ] &&
    cmp -s "$T/body.1" "$T/body.2" && ok || bad "screening cache"
# Batch: one result per item, in order, errors per item.
api -d "{\"addresses\": [\"$A\", \"1BoatSLRHtKNngkdXEeobR76b53LETtpyU\"], \"txs\": [\"$TX\"]}" \
    "$U/v1/screen/batch" | jq_py '[(r["kind"], "error" in r, r.get("error", {}).get("code")) for r in d["results"]]' \
    >"$T/batch.txt"
[ "$(cat "$T/batch.txt")" = "[('address', False, None), ('address', True, 400), ('tx', False, None)]" ] &&
    ok || bad "batch: $(cat "$T/batch.txt")"
# Look-ups and trace answer like the CLI.
api "$U/v1/tx/$TX" | $PY tests/jget.py '["txid"]' | grep -qx "$TX" && ok || bad "GET /v1/tx"
api "$U/v1/labels/$A" | $PY tests/jget.py '["address"]' | grep -qx "$A" && ok || bad "GET /v1/labels/ADDR"
api "$U/v1/labels?category=theft&limit=5" | jq_py 'len(d["labels"])' | grep -qx 5 && ok ||
    bad "GET /v1/labels?category"
api -d "{\"from\": [\"$TX\"], \"hops\": 3}" "$U/v1/trace" | $PY tests/jget.py '["totals"]["balanced"]' |
    grep -qx True && ok || bad "POST /v1/trace"
[ "$(api "$U/v1/entity/$A" | $PY tests/jget.py '["error"]["code"]')" = 404 ] && ok ||
    bad "entity before clustering should be 404"

# Clustering while serving: the service picks it up.
"$BIN" cluster --db "$T/db" >/dev/null || bad "cluster"
for _ in $(seq 100); do
    [ "$(curl -s "$U/v1/health" | $PY tests/jget.py '["clustered"]')" = True ] && break
    sleep 0.1
done
[ "$(curl -s "$U/v1/health" | $PY tests/jget.py '["clustered"]')" = True ] && ok || bad "clustering not picked up"
api "$U/v1/entity/$A" | $PY tests/jget.py '["size"]' | grep -qE '^[0-9]+$' && ok || bad "GET /v1/entity"
[ "$(cache_state "$A" 3)" = miss ] && jq_py 'd["entity"] is not None' <"$T/body.3" | grep -qx True &&
    ok || bad "a cached answer outlived its snapshot"

# Watchlists: a thief address with outputs still unspent at $FIRST that are spent later, and
# the thief's entity, with a webhook.
$PY tests/serve_flow.py watch-address "$T" "$FIRST" >"$T/watch.txt" || bad "watch address"
THIEF=$(head -1 "$T/watch.txt")
$PY tests/serve_flow.py thief-addresses "$T" "$THIEF" >"$T/thief_addrs.txt"
# (only addresses already on chain at $FIRST can be watched by address)
for a in $(cat "$T/thief_addrs.txt"); do
    "$BIN" address --db "$T/db" "$a" >/dev/null 2>&1 && echo "$a"
done >"$T/thief_seen.txt"
$PY tests/serve_check.py watch-expect "$T/g" $FIRST $(cat "$T/thief_seen.txt") >"$T/expect.json"
WATCH=$(jq_py 'd["address"] or ""' <"$T/expect.json")
[ -n "$WATCH" ] && ok || bad "no thief address is spent after block $FIRST"
api -d "{\"name\": \"thief-addr\", \"items\": [{\"kind\": \"address\", \"value\": \"$WATCH\"}]}" \
    -o /dev/null -w '%{http_code}' "$U/v1/watchlists" | grep -qx 201 && ok || bad "create watchlist"
api -d "{\"name\": \"thief-entity\", \"items\": [{\"kind\": \"entity\", \"value\": \"$WATCH\"}],
        \"webhook\": \"http://127.0.0.1:$HOOK/alert\"}" -o /dev/null -w '%{http_code}' \
    "$U/v1/watchlists" | grep -qx 201 && ok || bad "create entity watchlist"
api "$U/v1/watchlists" | jq_py 'sorted(w["name"] for w in d["watchlists"])' |
    grep -qx "\['thief-addr', 'thief-entity'\]" && ok || bad "list watchlists"

# Import the rest while a client keeps asking; every state it sees is a committed one.
$PY tests/serve_flow.py tip-poller "$U" "$KEY" "$A" >"$T/tips.log" 2>"$T/poller.err" &
POLL_PID=$!
"$BIN" import --db "$T/db" --commit-seconds 0.01 --quiet "$T/g" >/dev/null || bad "import rest"
"$BIN" cluster --db "$T/db" >/dev/null || bad "cluster rest"
wait $POLL_PID
[ -s "$T/poller.err" ] && bad "screening failed during the import: $(head -3 "$T/poller.err")"
$PY tests/serve_check.py tips "$T/g" "$T/tips.log" && ok || bad "inconsistent state served"
for _ in $(seq 100); do
    [ "$(api "$U/v1/alerts" | $PY tests/jget.py '["scanned_height"]')" = 260 ] && break
    sleep 0.1
done
api "$U/v1/alerts?limit=1000" >"$T/alerts.json"
$PY tests/serve_flow.py alerts "$T" "$WATCH" && ok || bad "alerts"

# Metrics count what was served.
api "$U/v1/metrics" | jq_py 'd["requests"] > 50 and d["latency_us"]["p99"] > 0 and d["store"]["height"] == 259' |
    grep -qx True && ok || bad "metrics"
# docs/openapi.yaml describes what is served: every documented path and method is routed (no
# "no such endpoint"), and an undocumented one is not.
$PY tests/serve_flow.py openapi-paths "$U" "$KEY" "$A" "$TX" && ok || bad "openapi paths"
# Hostile and malformed requests.
$PY tests/serve_check.py hostile 127.0.0.1 "$PORT" "$KEY" && ok || bad "hostile input"
# A restart keeps watchlists and alerts, and does not alert twice.
N1=$(api "$U/v1/alerts?limit=1000" | jq_py 'len(d["alerts"])')
kill -TERM $SERVE_PID && wait $SERVE_PID && ok || bad "clean stop on SIGTERM"
rm -f "$T/port"
"$BIN" serve --db "$T/db" --listen 127.0.0.1:0 --api-keys "$T/keys" --port-file "$T/port" \
    2>>"$T/serve.log" &
SERVE_PID=$!
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
U="127.0.0.1:$(cat "$T/port")"
[ "$(api "$U/v1/alerts?limit=1000" | jq_py 'len(d["alerts"])')" = "$N1" ] && ok || bad "alerts after restart"
api "$U/v1/watchlists" | jq_py 'len(d["watchlists"])' | grep -qx 2 && ok || bad "watchlists after restart"
kill -TERM $SERVE_PID; wait $SERVE_PID

# Bad configuration is refused with the file and the key named.
echo '{"hops": 0}' >"$T/rules.json"
"$BIN" serve --db "$T/db" --api-keys "$T/keys" --rules "$T/rules.json" 2>"$T/err" && bad "bad rules accepted"
grep -q "rules.json: hops" "$T/err" && ok || bad "bad rules message: $(cat "$T/err")"
echo '{"categories": {"theft": 300}}' >"$T/rules.json"
"$BIN" screen --db "$T/db" --rules "$T/rules.json" "$A" 2>"$T/err" >/dev/null && bad "weight 300 accepted"
grep -q "categories.theft" "$T/err" && ok || bad "bad weight message: $(cat "$T/err")"
echo short >"$T/badkeys"
"$BIN" serve --db "$T/db" --api-keys "$T/badkeys" 2>"$T/err" && bad "short key accepted"
grep -q "badkeys:1" "$T/err" && ok || bad "bad key message: $(cat "$T/err")"
cp -r "$T/db" "$T/db2"
echo '{"version": 1, "watchlists": [{"name": "x", "bogus": 1, "items": []}]}' >"$T/db2/watchlists.json"
"$BIN" serve --db "$T/db2" --api-keys "$T/keys" 2>"$T/err" && bad "damaged watchlists accepted"
grep -q "watchlists.json: watchlist 0: field bogus: unknown field" "$T/err" && ok ||
    bad "damaged watchlists message: $(cat "$T/err")"
"$BIN" serve --db "$T/db" 2>"$T/err" && bad "no keys accepted"
grep -q "api-keys" "$T/err" && ok || bad "no keys message"
finish
