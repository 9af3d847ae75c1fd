#!/bin/bash
# The screening service against hostile clients and careless key files (review findings #2, #7,
# #14, #16, #17, #18; docs/screening.md "Keys", "Limits"):
#  - key files: a line over 1024 characters is an error naming the line (never split into
#    keys); a group- or world-writable file is refused naming its mode; a plaintext key with
#    owner/scopes fields is refused; a legacy plaintext line is accepted with a warning, whole
#    (a 600-character key works and its first 511 characters do not);
#  - scopes: each route needs its scope (403 naming it, nothing changed), admin has all;
#  - the audit log records changes and refusals with the key id, never the key, mode 0600;
#  - framing: two Content-Length, Content-Length with Transfer-Encoding, HTTP/1.1 without Host,
#    %00 in the URL or a query argument: 400; "Authorization: bearer" in lower case works;
#  - cost: too many trace seeds and an oversized answer get 422; --threads 100000 is refused;
#  - health answers fast while four expensive traces are sent at once; traces over
#    --max-expensive get 503 with Retry-After;
#  - slowloris: 1.2 x --max-connections dripping connections, reconnecting, from 20
#    loopback addresses: legitimate requests keep succeeding within 1 s; the per-client limit
#    closes connections beyond it.
source "$(dirname "$0")/common.sh"
ulimit -n 4096 2>/dev/null

"$BIN" generate --out "$T/g" --seed 5 --blocks 160 --txs-per-block 100 --scenarios 2 \
    --quiet >/dev/null || bad "generate"
"$BIN" import --db "$T/db" --quiet "$T/g" >/dev/null || bad "import"
"$BIN" labels import --db "$T/db" "$T/g/labels.csv" >/dev/null || bad "labels import"

K=$T/keys
ADMIN=$("$BIN" serve-key --owner ops --scopes admin --key-file "$K") || bad "serve-key admin"
READ=$("$BIN" serve-key --owner auditor --scopes read --key-file "$K") || bad "serve-key read"
SCREEN=$("$BIN" serve-key --owner desk --scopes read,screen --key-file "$K") || bad "serve-key screen"
WATCH=$("$BIN" serve-key --owner teamA --scopes watch --key-file "$K") || bad "serve-key watch"
[ "$(stat -c %a "$K")" = 600 ] && ok || bad "key file mode $(stat -c %a "$K")"
grep -qF "$ADMIN" "$K" && bad "the key itself is stored" || ok
[ ${#ADMIN} -eq 43 ] && ok || bad "key length ${#ADMIN}"
"$BIN" serve-key --owner x --scopes read,bogus >/dev/null 2>&1 && bad "bad scope accepted" || ok

# ---- key file checks (the server must refuse to start) ----
refused() { # FILE PATTERN WHAT
    timeout 10 "$BIN" serve --db "$T/db" --listen 127.0.0.1:0 --api-keys "$1" 2>"$T/err" >/dev/null
    local rc=$?
    [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "$2" "$T/err" && ok || bad "$3: rc $rc, $(cat "$T/err")"
}
{ cat "$K"; printf 'sha256:%s owner=x scopes=read %01100d\n' "$(printf '%064d' 0)" 0; } >"$T/k_long"
chmod 600 "$T/k_long"
refused "$T/k_long" "k_long:5: line of 1.* characters, over 1024" "long line"
cp "$K" "$T/k_ww" && chmod 666 "$T/k_ww"
refused "$T/k_ww" "k_ww: mode 0666" "world-writable key file"
cp "$K" "$T/k_gw" && chmod 620 "$T/k_gw"
refused "$T/k_gw" "k_gw: mode 0620" "group-writable key file"
printf 'plaintext-key-0123456789 owner=x scopes=read\n' >"$T/k_mixed" && chmod 600 "$T/k_mixed"
refused "$T/k_mixed" "k_mixed:1: expected sha256:" "plaintext key with owner/scopes"
printf 'sha256:%s owner=x scopes=read,root\n' "$(printf '%064d' 1)" >"$T/k_scope" && chmod 600 "$T/k_scope"
refused "$T/k_scope" "k_scope:1: scopes" "unknown scope"
"$BIN" serve --db "$T/db" --api-keys "$K" --threads 100000 2>"$T/err" >/dev/null
[ $? -eq 2 ] && grep -q "threads: expected 1..256" "$T/err" && ok || bad "threads 100000: $(cat "$T/err")"

# A legacy plaintext line (600 characters): accepted with a warning, as one key.
LEGACY=$($PY tests/serve_attack_check.py legacy-key)
{ cat "$K"; echo "$LEGACY"; } >"$T/keys2" && chmod 600 "$T/keys2"

"$BIN" serve --db "$T/db" --listen 127.0.0.1:0 --api-keys "$T/keys2" --port-file "$T/port" \
    --threads 4 --max-expensive 3 --request-deadline 3 --max-connections 400 \
    --per-ip-connections 1000 --max-seeds 100 --poll-ms 100 2>"$T/serve.log" &
SERVE_PID=$!
trap 'kill $SERVE_PID ${SERVE2_PID:-} 2>/dev/null; [ -n "${KEEP_T:-}" ] || rm -rf "$T"' EXIT
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
PORT=$(cat "$T/port")
grep -q "keys2:5: a plaintext key" "$T/serve.log" && ok || bad "no plaintext warning: $(cat "$T/serve.log")"

$PY tests/serve_attack_check.py keys "$PORT" "$ADMIN" "$READ" "$SCREEN" "$WATCH" "$LEGACY" "$T" && ok || bad "keys, scopes, framing, cost"

# The answer cap: a server with --max-answer 4096 refuses a larger labels page with 422.
"$BIN" serve --db "$T/db" --listen 127.0.0.1:0 --api-keys "$K" --port-file "$T/port2" \
    --max-answer 4096 --per-ip-connections 8 --request-deadline 60 2>"$T/serve2.log" &
SERVE2_PID=$!
for _ in $(seq 100); do [ -s "$T/port2" ] && break; sleep 0.1; done
P2=$(cat "$T/port2")
st=$(curl -s -o "$T/big" -w '%{http_code}' -H "X-API-Key: $READ" "127.0.0.1:$P2/v1/labels?limit=1000")
[ "$st" = 422 ] && grep -q -- "--max-answer" "$T/big" && ok || bad "oversized answer: $st $(head -c 200 "$T/big")"
st=$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $READ" "127.0.0.1:$P2/v1/labels?limit=2")
[ "$st" = 200 ] && ok || bad "small answer: $st"
# Expensive slots: two workers, one slot: concurrent traces beyond it get 503 + Retry-After.
$PY tests/serve_attack_check.py expensive "$P2" "$SCREEN" "$T" && ok || bad "no 503 for traces over --max-expensive"
# The per-client limit: 20 silent connections from 127.0.0.5 with a limit of 8: 12 are closed
# at once (the deadline is 60 s here), and 127.0.0.1 is still served.
$PY tests/serve_attack_check.py per-ip "$P2" "$READ" && ok || bad "per-IP connection limit"

# Slowloris: 480 connections (over --max-connections 400, per-client limit raised so that the
# deadline must hold) dripping a header line every second and reconnecting when cut, for 12 s.
$PY tests/slowloris.py "$PORT" 480 12 1 --sources 20 --reconnect --probe "$READ" /v1/rules \
    >"$T/attack.json" || bad "slowloris client"
cat "$T/attack.json"
$PY tests/serve_attack_check.py slowloris "$T/attack.json" && ok || bad "slowloris held the service"
cut=$(curl -s -H "X-API-Key: $READ" "127.0.0.1:$PORT/v1/metrics" |
    $PY tests/jget.py '["limits"]["connections_cut_at_deadline"]')
[ "$cut" -ge 480 ] && ok || bad "connections cut at the deadline: $cut"
kill -0 $SERVE_PID && ok || bad "server died"
finish
