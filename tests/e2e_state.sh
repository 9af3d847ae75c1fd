#!/bin/bash
# The shared state (docs/state.md), the same checks against both backends: the embedded SQLite
# database (sqlite:FILE) and a real PostgreSQL server this script starts itself (initdb into $T,
# pg_ctl on a private unix socket and port, stopped by the trap; tests/pg_server.sh). Per
# backend:
#  - test_state (migrations once under concurrent starts, labels, watchlists, keys, notifications,
#    leases racing across processes);
#  - two `serve --state` replicas over their own copies of one store: a key added or revoked, a
#    label added or retired and a watchlist posted to one replica reach both within 1 s
#    (latencies printed);
#  - alerts delivered exactly once between the replicas (both deliver some, no repeats), then
#    kill -9 of a replica holding leases mid-delivery: the other takes its leases over when they
#    expire, every alert delivered, repeats only for posts that were in flight at the kill;
#  - PostgreSQL only: the server stopped mid-run: screening still answers from the store with
#    the labels last loaded, health says the state is unreachable, a label add fails naming the
#    database, a watchlist POST answers 503; the server back: the replica reconnects by itself
#    and follows changes again.
# Under CI (CI=true) a missing PostgreSQL fails the test instead of skipping it.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/pg_server.sh"
PIDS=""
trap 'kill -9 $PIDS 2>/dev/null; pg_cleanup; [ -n "${KEEP_T:-}" ] || rm -rf "$T"' EXIT
TEST_STATE=$(dirname "$BIN")/tests/test_state
[ -x "$TEST_STATE" ] || { bad "no $TEST_STATE (build the tests)"; finish; exit; }
C="$PY tests/state_check.py"

"$BIN" generate --out "$T/g" --seed 11 --blocks 110 --txs-per-block 40 --maturity 5 \
    --halving-interval 50 --era 2019-2024.3 --privacy-rate 0.2 --users 200 --scenarios 2 \
    --scenario-blocks 60 --quiet >/dev/null || bad "generate"
"$BIN" import --db "$T/db0" --stop-after 90 --quiet "$T/g" >/dev/null || bad "import"
"$BIN" labels import --db "$T/db0" "$T/g/labels.csv" >/dev/null || bad "labels import"
$PY tests/serve_hooks_check.py exchange-items "$T" >"$T/items.json"
ADDR=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["value"])' "$T/items.json")
# The watch list: every labelled Bitcoin address, a few alerts in every block.
$PY -c 'import csv,json,sys; print(json.dumps([{"kind": "address", "value": r["address"]}
    for r in csv.DictReader(open(sys.argv[1])) if r["chain"] == "btc"]))' "$T/g/labels.csv" >"$T/watch.json"

recv() { # start the receiver in MODE; $P_recv its port
    rm -f "$T/recv.port" "$T/recv.log"
    touch "$T/recv.log"
    $PY tests/hook_receiver.py "$T/recv.log" "$T/recv.port" "$1" >/dev/null 2>&1 &
    PIDS="$PIDS $!"
    for _ in $(seq 50); do [ -s "$T/recv.port" ] && break; sleep 0.1; done
    P_recv=$(cat "$T/recv.port")
}
replica() { # NAME URL: serve NAME's store copy with the shared state; its address in U_NAME
    rm -f "$T/$1.port"
    "$BIN" serve --db "$T/db$1" --state "$2" --replica-id "$1" --listen 127.0.0.1:0 \
        --port-file "$T/$1.port" --poll-ms 50 --webhook-allow "http://127.0.0.1:$P_recv/" \
        --delivery-lease-ms 3000 --webhook-workers 4 --threads 2 2>>"$T/serve$1.log" &
    eval "PID_$1=$!"
    PIDS="$PIDS $!"
    for _ in $(seq 100); do [ -s "$T/$1.port" ] && break; sleep 0.1; done
    eval "U_$1=127.0.0.1:$(cat "$T/$1.port")"
}
code() { curl -s -o "$T/body" -w '%{http_code}' --max-time 10 -H "X-API-Key: $KEY" "$@"; }
health() { curl -s --max-time 5 "$1/v1/health" | $PY tests/jget.py "[\"$2\"]"; }
lat_ok() { # WHAT LATENCIES...: each below 1 s
    local l
    for l in "${@:2}"; do
        if [ "$l" != timeout ] && $PY -c "import sys; sys.exit(not float('$l') < 1.0)"; then ok; else bad "$1 took $l s"; fi
    done
    echo "  $1: ${*:2} s"
}
wait_delivered() { # N: until B has more than N alerts, all delivered, for 1 s (at most 60 s)
    local n stable=0
    for _ in $(seq 600); do
        code "$U_B/v1/alerts?limit=1000" >/dev/null
        n=$($PY -c 'import json,sys; a=json.load(open(sys.argv[1]))["alerts"]
print(len(a) if all(x["webhook"]["state"]=="delivered" for x in a) else -1)' "$T/body" 2>/dev/null)
        if [ "${n:--1}" -gt "$1" ]; then
            stable=$((stable + 1))
            [ $stable -ge 10 ] && { NALERTS=$n; return 0; }
        else
            stable=0
        fi
        sleep 0.1
    done
    return 1
}

suite() { # BACKEND URL
    local be=$1 url=$2
    echo "== $be"
    if [ "$be" = sqlite ]; then
        "$TEST_STATE" >"$T/ts.out" 2>&1 && ok || bad "test_state (sqlite): $(tail -5 "$T/ts.out")"
    else
        # a database of its own: its leases and labels are not the replicas'
        pg_as "$PG_BIN/psql" -q "$url" -c "CREATE DATABASE unit" >/dev/null || bad "createdb"
        CT_STATE_URL="${url/\/postgres\?//unit?}" "$TEST_STATE" >"$T/ts.out" 2>&1 && ok ||
            bad "test_state ($be): $(tail -5 "$T/ts.out")"
    fi
    grep -E "change seen|checks" "$T/ts.out"
    rm -rf "$T/dbA" "$T/dbB"
    cp -a "$T/db0" "$T/dbA"
    cp -a "$T/db0" "$T/dbB"
    KEY=$("$BIN" state key-add --state "$url" --owner ops --role admin 2>/dev/null)
    [ -n "$KEY" ] && ok || bad "state key-add"
    recv slow:0.4
    replica A "$url"
    replica B "$url"
    [ "$(code "$U_B/v1/whoami")" = 200 ] && ok || bad "$be: the admin key from the state: $(cat "$T/body")"

    # keys, labels, watchlists: from one process to both replicas within 1 s
    export NEWKEY=e2e-state-key-$RANDOM-0123456789abcdef
    read -r la lb < <($C propagate "$KEY" "$U_A,$U_B" auth=200 -- "$BIN" state key-add --state "$url" \
        --owner dave --role read --key "$NEWKEY" 2>"$T/k.err")
    lat_ok "$be key added" "$la" "$lb"
    kid=$(printf %s "$NEWKEY" | sha256sum | cut -c1-16)
    read -r la lb < <($C propagate "$KEY" "$U_A,$U_B" auth=401 -- "$BIN" state key-revoke --state "$url" "$kid")
    lat_ok "$be key revoked" "$la" "$lb"
    L0=$(health "http://$U_B" labels)
    read -r la lb < <($C propagate "$KEY" "$U_A,$U_B" "labels!=$L0" -- "$BIN" labels add --state "$url" \
        --address "$ADDR" --category theft --name "seen on a forum" --author alice)
    lat_ok "$be label added" "$la" "$lb"
    code "$U_B/v1/labels/$ADDR" >/dev/null
    grep -q '"seen on a forum"' "$T/body" && ok || bad "$be: B's labels of $ADDR: $(head -c 300 "$T/body")"
    code "$U_A/v1/screen/address/$ADDR" >/dev/null
    grep -q '"theft"' "$T/body" && ok || bad "$be: A's screening does not see the label: $(head -c 300 "$T/body")"
    L1=$(health "http://$U_B" labels)
    read -r la lb < <($C propagate "$KEY" "$U_A,$U_B" "labels!=$L1" -- "$BIN" labels retire --state "$url" \
        --address "$ADDR" --category theft --author bob --reason "not ours")
    lat_ok "$be label retired" "$la" "$lb"
    [ "$(health "http://$U_A" labels)" = "$L0" ] && ok || bad "$be: label count after retire"
    "$BIN" labels history --state "$url" --json "$ADDR" >"$T/h.json"
    [ "$($PY -c 'import json,sys; print(",".join(e["event"]+":"+e["author"] for e in json.load(sys.stdin)["events"]))' <"$T/h.json")" = "add:alice,retire:bob" ] &&
        ok || bad "$be: history: $(cat "$T/h.json")"
    $PY tests/serve_hooks_check.py list-json ex "http://127.0.0.1:$P_recv/hook" "$(cat "$T/watch.json")" >"$T/list.json"
    read -r la lb < <($C propagate "$KEY" "$U_A,$U_B" watchlist=ex -- curl -sf --max-time 10 -H "X-API-Key: $KEY" \
        -d @"$T/list.json" "$U_A/v1/watchlists")
    lat_ok "$be watchlist posted to A" "$la" "$lb"

    # exactly once between two live replicas
    "$BIN" import --db "$T/dbA" --stop-after 6 --quiet "$T/g" >/dev/null &&
        "$BIN" import --db "$T/dbB" --stop-after 6 --quiet "$T/g" >/dev/null || bad "$be: import 6 blocks"
    wait_delivered 0 && ok || bad "$be: round 1 not delivered"
    "$BIN" state deliveries --state "$url" >"$T/d.json"
    code "$U_B/v1/alerts?limit=1000" >/dev/null
    cp "$T/body" "$T/alerts.json"
    out=$($C deliveries "$T/recv.log" "$T/alerts.json" "$T/d.json" 0) && ok || bad "$be: round 1: $out"
    echo "  $be two live replicas: $out"
    case "$out" in *"A:"*"B:"*) ok ;; *) bad "$be: round 1: not both replicas delivered ($out)" ;; esac

    # kill -9 one replica with posts in flight: the other takes over its leases
    "$BIN" import --db "$T/dbA" --quiet "$T/g" >/dev/null &&
        "$BIN" import --db "$T/dbB" --quiet "$T/g" >/dev/null || bad "$be: import rest"
    n0=$(wc -l <"$T/recv.log")
    for _ in $(seq 200); do [ "$(wc -l <"$T/recv.log")" -ge $((n0 + 6)) ] && break; sleep 0.02; done
    kill -9 "$PID_A"
    wait "$PID_A" 2>/dev/null
    wait_delivered "$NALERTS" && ok || bad "$be: after kill -9 not everything delivered"
    "$BIN" state deliveries --state "$url" >"$T/d.json"
    code "$U_B/v1/alerts?limit=1000" >/dev/null
    cp "$T/body" "$T/alerts.json"
    out=$($C deliveries "$T/recv.log" "$T/alerts.json" "$T/d.json" 4) && ok || bad "$be: after kill: $out"
    echo "  $be after kill -9 of A: $out"
    case "$out" in *"repeats 0 "*) bad "$be: A held no lease when killed (nothing taken over): $out" ;; *) ok ;; esac
    case "$out" in *"A:"*"B:"*) ok ;; *) bad "$be: after kill: not both replicas delivered ($out)" ;; esac

    if [ "$be" = postgresql ]; then
        pg_stop
        [ "$(code "$U_B/v1/screen/address/$ADDR")" = 200 ] && ok || bad "pg down: screening $(cat "$T/body")"
        for _ in $(seq 50); do [ "$(health "http://$U_B" state)" = unreachable ] && break; sleep 0.1; done
        [ "$(health "http://$U_B" state)" = unreachable ] && ok || bad "pg down: health state $(health "http://$U_B" state)"
        [ "$(health "http://$U_B" labels)" = "$L0" ] && ok || bad "pg down: labels kept"
        "$BIN" labels add --state "$url" --address "$ADDR" --category scam --author alice 2>"$T/e" &&
            bad "pg down: label add succeeded"
        grep -q "state database .* is unreachable" "$T/e" && ok || bad "pg down: label add said: $(cat "$T/e")"
        sed 's/"name": *"ex"/"name": "ex2"/' "$T/list.json" >"$T/list2.json"
        [ "$(code -d @"$T/list2.json" "$U_B/v1/watchlists")" = 503 ] && grep -q "unreachable" "$T/body" &&
            ok || bad "pg down: watchlist POST: $(cat "$T/body")"
        [ "$(code "$U_B/v1/screen/address/$ADDR")" = 200 ] && ok || bad "pg down: screening (2)"
        pg_resume
        for _ in $(seq 100); do [ "$(health "http://$U_B" state)" = ok ] && break; sleep 0.1; done
        [ "$(health "http://$U_B" state)" = ok ] && ok || bad "pg back: health state $(health "http://$U_B" state)"
        read -r lb < <($C propagate "$KEY" "$U_B" "labels!=$L0" -- "$BIN" labels add --state "$url" \
            --address "$ADDR" --category scam --name back --author alice)
        lat_ok "$be label added after the server came back" "$lb"
    fi
    kill $PID_B 2>/dev/null
    wait $PID_B 2>/dev/null
    kill -9 $PIDS 2>/dev/null
    wait $PIDS 2>/dev/null
    PIDS=""
}

# The embedded default: `labels add --db DIR` keeps DIR/state.sqlite and rewrites DIR/labels.db,
# which `screen` reads and a `serve` without --state follows.
echo "== embedded"
cp -a "$T/db0" "$T/dbE"
"$BIN" screen --db "$T/dbE" --json "$ADDR" >"$T/s0.json" || bad "screen"
grep -q '"theft"' "$T/s0.json" && bad "embedded: theft before the label"
"$BIN" labels add --db "$T/dbE" --address "$ADDR" --category theft --name "embedded" \
    --author alice >/dev/null && ok || bad "embedded: labels add"
[ -f "$T/dbE/state.sqlite" ] && ok || bad "embedded: no DIR/state.sqlite"
"$BIN" screen --db "$T/dbE" --json "$ADDR" >"$T/s1.json"
grep -q '"theft"' "$T/s1.json" && ok || bad "embedded: screen does not see the label"
"$BIN" labels show --db "$T/dbE" "$ADDR" | grep -q '"embedded"' && ok || bad "embedded: labels show"
"$BIN" labels retire --db "$T/dbE" --address "$ADDR" --category theft --author bob >/dev/null &&
    ok || bad "embedded: retire"
"$BIN" screen --db "$T/dbE" --json "$ADDR" >"$T/s2.json"
grep -q '"theft"' "$T/s2.json" && bad "embedded: theft after retire" || ok
"$BIN" labels retire --db "$T/dbE" --address "$ADDR" --category theft --author bob 2>"$T/e"
[ $? = 3 ] && grep -q "no active label" "$T/e" && ok || bad "embedded: second retire: $(cat "$T/e")"
[ "$("$BIN" labels history --db "$T/dbE" "$ADDR" | wc -l)" = 2 ] && ok || bad "embedded: history"
"$BIN" labels add --db "$T/dbE" --address 1NotAnAddress --category theft --author a 2>"$T/e" &&
    bad "embedded: a bad address accepted"
grep -q "field address" "$T/e" && ok || bad "embedded: bad address: $(cat "$T/e")"
"$BIN" labels add --state "mysql://x" --address "$ADDR" --category theft --author a 2>"$T/e" &&
    bad "a mysql URL accepted"
grep -q "neither postgresql" "$T/e" && ok || bad "bad URL: $(cat "$T/e")"

suite sqlite "sqlite:$T/state.sqlite"
pg_start || bad "PostgreSQL did not start"
[ -n "$PG_URL" ] && suite postgresql "$PG_URL"
grep -h "AddressSanitizer\|runtime error" "$T"/serve*.log && bad "sanitizer reports in serve logs"
finish
