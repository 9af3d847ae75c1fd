#!/bin/bash
# Watchlists and alerts belong to the owner of the key that made them (review finding #7,
# docs/screening.md "Keys"): over real HTTP with keys of two teams and an admin,
#  - a team sees, replaces and deletes only its own lists; the same list name may exist once per
#    owner; another team's DELETE of it is a 404 and leaves it in watchlists.json;
#  - alerts recorded for a team's list are shown to that team only;
#  - a non-admin naming another owner (?owner=) gets 403; the admin sees every owner's lists
#    and may act for one with ?owner=;
#  - every change is in the audit log under the key id of the team that made it.
source "$(dirname "$0")/common.sh"

"$BIN" generate --out "$T/g" --seed 9 --blocks 160 --txs-per-block 60 --maturity 5 --quiet \
    >/dev/null || bad "generate"
"$BIN" import --db "$T/db" --stop-after 120 --quiet "$T/g" >/dev/null || bad "import"
K=$T/keys
A=$("$BIN" serve-key --owner teamA --scopes read,watch --key-file "$K") || bad "serve-key A"
B=$("$BIN" serve-key --owner teamB --scopes read,watch --key-file "$K") || bad "serve-key B"
ADM=$("$BIN" serve-key --owner ops --scopes admin --key-file "$K") || bad "serve-key admin"
"$BIN" serve --db "$T/db" --listen 127.0.0.1:0 --api-keys "$K" --port-file "$T/port" \
    --poll-ms 50 2>"$T/serve.log" &
SERVE_PID=$!
trap 'kill $SERVE_PID 2>/dev/null; [ -n "${KEEP_T:-}" ] || rm -rf "$T"' EXIT
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
U=127.0.0.1:$(cat "$T/port")
req() { # KEY METHOD PATH [BODY] -> status; body in $T/body
    curl -s -o "$T/body" -w '%{http_code}' -X "$2" -H "X-API-Key: $1" ${4:+-d "$4"} "$U$3"
}
names() { $PY tests/serve_owners_check.py names "$T/body"; }

# Watched: the generator's labelled service addresses (busy wallets that spend in every block).
ADDRS=$($PY tests/serve_owners_check.py watched "$T/g/labels.csv")
[ -n "$ADDRS" ] && [ "$ADDRS" != "[]" ] && ok || bad "no watched addresses"

[ "$(req "$A" POST /v1/watchlists "{\"name\":\"w\",\"items\":$ADDRS}")" = 201 ] && ok || bad "A create: $(cat "$T/body")"
[ "$(req "$B" POST /v1/watchlists "{\"name\":\"w\",\"items\":$ADDRS}")" = 201 ] && ok ||
    bad "B cannot use the same name: $(cat "$T/body")"
req "$A" GET /v1/watchlists >/dev/null && [ "$(names)" = "[('w', 'teamA')]" ] && ok || bad "A sees: $(names)"
req "$B" GET /v1/watchlists >/dev/null && [ "$(names)" = "[('w', 'teamB')]" ] && ok || bad "B sees: $(names)"
[ "$(req "$B" GET "/v1/watchlists?owner=teamA")" = 403 ] && ok || bad "B ?owner=teamA not 403"
[ "$(req "$B" GET "/v1/alerts?owner=teamA")" = 403 ] && ok || bad "B alerts ?owner=teamA not 403"
req "$ADM" GET /v1/watchlists >/dev/null && [ "$(names)" = "[('w', 'teamA'), ('w', 'teamB')]" ] &&
    ok || bad "admin sees: $(names)"

# B deletes its own list, not A's: A's stays, in memory and on disk.
[ "$(req "$B" DELETE /v1/watchlists/w)" = 200 ] && ok || bad "B delete own"
[ "$(req "$B" DELETE /v1/watchlists/w)" = 404 ] && ok || bad "B second delete reached A's list"
req "$A" GET /v1/watchlists/w | grep -qx 200 && ok || bad "A's list gone"
$PY tests/serve_owners_check.py stored-lists "$T/db/watchlists.json" &&
    ok || bad "watchlists.json: $(cat "$T/db/watchlists.json" | head -c 300)"
[ "$(stat -c %a "$T/db/watchlists.json")" = 600 ] && ok || bad "watchlists.json mode"

# Alerts: import the rest; A's list alerts, B (no list now) sees none of them.
"$BIN" import --db "$T/db" --quiet "$T/g" >/dev/null || bad "import rest"
for _ in $(seq 100); do
    req "$A" GET /v1/alerts >/dev/null
    [ "$($PY tests/serve_owners_check.py alert-count "$T/body")" -gt 0 ] && break
    sleep 0.1
done
na=$($PY tests/serve_owners_check.py team-alerts "$T/body")
[ "${na:-0}" -gt 0 ] && ok || bad "A has no alerts"
req "$B" GET /v1/alerts >/dev/null
[ "$($PY tests/serve_owners_check.py alert-count "$T/body")" = 0 ] && ok ||
    bad "B sees A's alerts"
req "$ADM" GET "/v1/alerts?owner=teamA" >/dev/null
[ "$($PY tests/serve_owners_check.py alert-count "$T/body")" = "$na" ] && ok ||
    bad "admin ?owner=teamA"
[ "$(req "$ADM" DELETE "/v1/watchlists/w?owner=teamA")" = 200 ] && ok || bad "admin delete for A"

# The audit log: three changes by teams A, B and the admin, each under its own key id.
$PY tests/serve_owners_check.py audit "$T/db/audit.jsonl" && ok || bad "audit log"
finish
