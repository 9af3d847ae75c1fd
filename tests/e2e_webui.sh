#!/bin/bash
# e2e_webui: the web UI of `cointrail serve` in a real browser. A generated chain with a theft
# (truth.jsonl) and hostile labels (markup and a javascript: URL in actor, name and url) is
# imported and clustered; the service runs with a key of each role (and an old scopes= line);
# Debian's Chromium, headless, driven by playwright-core from web/node_modules
# (tests/webui_browser.js), signs in, searches the theft, opens the graph, expands and collapses
# nodes, follows a cross-chain hop (generate --evm, xchain links) into the Ethereum lane, checks the amounts shown against tests/webui_oracle.py (the truth and the blocks
# decoded by python3-bitcoinlib), runs the screening page and its CSV download, checks that
# hostile labels render as text, that a read key cannot write and that unknown ids give a 404
# view. Screenshots go to $T/shots (KEEP_T=1 keeps them).
# Needs node, `npm ci` in web/ and /usr/bin/chromium (scripts/install-deps.sh installs them):
# without them it exits 77 (a skip), unless CI=true or CT_REQUIRE_NODE=1 (then it fails).
. "$(dirname "$0")/common.sh"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1
CHROMIUM=${CT_CHROMIUM:-/usr/bin/chromium}
missing=""
command -v node >/dev/null || missing="node"
[ -d web/node_modules/playwright-core ] || missing="$missing web/node_modules (run: cd web && npm ci)"
[ -x "$CHROMIUM" ] || missing="$missing $CHROMIUM (apt-get install chromium)"
if [ -n "$missing" ]; then
    echo "SKIPPED: missing $missing"
    if [ -n "${CT_REQUIRE_NODE:-}" ] || [ "${CI:-}" = true ]; then
        echo "FAIL: CI or CT_REQUIRE_NODE is set"
        echo "0 passed, 1 failed"
        exit 1
    fi
    exit 77
fi
SPID=""
cleanup() {
    [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
    [ -n "${KEEP_T:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

# --- a chain with a theft, its labels, and hostile ones on the theft's biggest output
"$BIN" generate --out "$T/chain" --scenarios 1 --blocks 300 --txs-per-block 200 --maturity 5 \
    --halving-interval 50 --era 2019-2024.3 --privacy-rate 0.25 --evm --quiet >/dev/null ||
    bad "generate"
"$BIN" import --db "$T/db" "$T/chain" >/dev/null || bad "import"
# the EVM side and its links to Bitcoin: cross-chain hops in the graph's lanes
"$BIN" evm-import --db "$T/db" "$T/chain/evm" >/dev/null || bad "evm-import"
"$BIN" xchain links --db "$T/db" >/dev/null || bad "xchain links"
big=$($PY tests/webui_oracle.py expect "$T/chain" - | $PY -c \
    'import json,sys; d=json.load(sys.stdin); print(d["hop"]["from_address"])')
# the EVM sender of the first ETH -> Bitcoin swap: a hostile actor on a 0x address
efrom=$($PY tests/webui_oracle.py expect "$T/chain" - | $PY -c \
    'import json,sys; d=json.load(sys.stdin); print(d["xchain"]["inbound_from"])')
cat >"$T/hostile.csv" <<EOF
chain,address,category,actor,name,url,source,confidence
btc,$big,theft,<script>alert(1)</script>,"""><img src=x onerror=alert(1)>",javascript:alert(document.domain),0 hostile feed,100
btc,$big,scam,"""><img src=x onerror=alert(2)>",<svg onload=alert(3)>,javascript:alert(4),0 hostile feed,40
eth,$efrom,scam,<img src=x onerror=alert(5)>,<b>evm</b>,javascript:alert(6),0 hostile feed,90
EOF
"$BIN" labels import --db "$T/db" "$T/chain/labels.csv" >/dev/null || bad "labels import"
"$BIN" labels import --db "$T/db" "$T/hostile.csv" >/dev/null || bad "hostile labels import"
"$BIN" cluster --db "$T/db" >/dev/null || bad "cluster"
$PY tests/webui_oracle.py expect "$T/chain" "$big" >"$T/expect.json" || bad "oracle"

# --- keys: one per role, and a line of the old format (scopes=) that must stay valid
K=$T/keys
RK=$("$BIN" serve-key --owner reader --role read --key-file "$K")
AK=$("$BIN" serve-key --owner ana --role analyst --key-file "$K")
DK=$("$BIN" serve-key --owner boss --role admin --key-file "$K")
OK=$("$BIN" serve-key --owner old --scopes read,screen,watch --key-file "$K")
grep -q "owner=reader role=read$" "$K" && grep -q "owner=old scopes=read,screen,watch$" "$K" &&
    ok || bad "key file lines: $(cat "$K")"
"$BIN" serve --db "$T/db" --api-keys "$K" --listen 127.0.0.1:0 --port-file "$T/port" \
    --threads 3 2>"$T/serve.log" &
SPID=$!
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.05; done
U=http://127.0.0.1:$(cat "$T/port")
role() { curl -s "$U/v1/whoami" -H "X-API-Key: $1" | $PY tests/jget.py '["role"]'; }
[ "$(role "$RK")" = read ] && [ "$(role "$AK")" = analyst ] && [ "$(role "$DK")" = admin ] &&
    [ "$(role "$OK")" = read ] && ok || bad "roles: $(role "$RK") $(role "$AK") $(role "$DK")"
# the old key keeps its watch scope; a read key has none
st() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(st "$U/v1/watchlists" -H "X-API-Key: $OK")" = 200 ] &&
    [ "$(st "$U/v1/watchlists" -H "X-API-Key: $RK")" = 403 ] && ok || bad "old key's scopes"
[ "$(st -X POST "$U/v1/watchlists" -H "X-API-Key: $RK" -d '{"name":"x","items":[]}')" = 403 ] &&
    ok || bad "a read key posted a watchlist"
# the UI's pages: no key needed, a strict CSP, no inline script; unknown paths a 404 page
curl -s -D "$T/h" -o "$T/index.html" "$U/"
grep -qi "^content-security-policy: default-src 'none'; script-src 'self';" "$T/h" &&
    grep -qi "^x-content-type-options: nosniff" "$T/h" && ! grep -qi "set-cookie" "$T/h" &&
    ok || bad "UI headers: $(cat "$T/h")"
! grep -Eq "<script>|<script [^>]*>[^<]|on(click|load|error)=" "$T/index.html" && ok ||
    bad "inline script in index.html"
[ "$(st "$U/nope/x")" = 404 ] && [ "$(st -X POST "$U/")" = 405 ] &&
    [ "$(st "$U/v1/tx/$(printf '0%.0s' $(seq 64))" -H "X-API-Key: $RK")" = 404 ] && ok ||
    bad "404/405 of the UI"
[ "$(st "$U/ui/vendor/cytoscape.min.js")" = 200 ] && ok || bad "the graph library is not served"
# no browser download: the lock file holds no browser package
! grep -Eq '"node_modules/(playwright|puppeteer|@playwright/browser|chromium)[^-]' web/package-lock.json &&
    ok || bad "web/package-lock.json pulls a browser package"

# --- the browser
mkdir -p "$T/shots" "$T/dl"
cat >"$T/cfg.json" <<EOF
{"base": "$U", "chromium": "$CHROMIUM", "shots": "$T/shots", "download_dir": "$T/dl",
 "keys": {"read": "$RK", "analyst": "$AK", "admin": "$DK"},
 "expect": $(cat "$T/expect.json")}
EOF
timeout 300 node tests/webui_browser.js "$T/cfg.json" >"$T/browser.log" 2>&1
rc=$?
while read -r line; do
    case "$line" in
    ok\ *) ok ;;
    FAIL\ *) bad "browser: ${line#FAIL }" ;;
    esac
done <"$T/browser.log"
[ $rc -eq 0 ] || bad "browser driver exit $rc: $(grep -v '^ok ' "$T/browser.log" | tail -5)"
n_ok=$(grep -c '^ok ' "$T/browser.log")
[ "$n_ok" -ge 60 ] && ok || bad "only $n_ok browser checks passed"
if [ -f "$T/dl/screening.csv" ]; then
    r=$($PY tests/webui_oracle.py csv "$T/dl/screening.csv" 4)
    [ "$r" = ok ] && ok || bad "screening CSV: $r"
fi
ls "$T"/shots/*.png >/dev/null 2>&1 && ok || bad "no screenshots"
[ -n "${KEEP_T:-}" ] && echo "screenshots: $T/shots" >&2
# the service is still up and answered everything without a crash
[ "$(st "$U/v1/health")" = 200 ] && ok || bad "the service died: $(tail -5 "$T/serve.log")"
finish
