#!/bin/bash
# Case operations per second on the two backends of the cases (docs/cases.md, docs/state.md):
# `POST /v1/cases/ID/notes` (a note and its audit row, one write transaction) through
# `cointrail serve`, one client on one keep-alive connection, one request at a time.
#
#   bench/case_ops.sh [NOTES [RUNS]]   (default 300 notes per run, 3 runs)
#
#   sqlite  serve without --state: DIR/cases.sqlite (WAL, synchronous=FULL), opened per request
#   pg      serve --state postgresql://...: a private PostgreSQL 15 (tests/pg_server.sh) on a unix
#           socket, fsync on (PG_FSYNC=on, as a real server: the tests run it with fsync off),
#           one kept connection, the writers' advisory lock taken in every write transaction
#
# The store is a small generated chain (each note records its tip). Prints each run's notes per
# second, and per backend the median of the runs, and pg's median as a ratio of sqlite's, with the
# machine's load before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-300}
RUNS=${2:-3}
BIN=$(realpath build/cointrail)
[ -x "$BIN" ] || scripts/build.sh build
PY=/usr/bin/python3
T=$(mktemp -d)
PIDS=""
source tests/pg_server.sh
trap 'kill $PIDS 2>/dev/null || true; pg_cleanup; rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP PIPE
echo "load before: $(uptime)"
"$BIN" generate --out "$T/g" --seed 5 --blocks 60 --txs-per-block 30 --maturity 5 --quiet >/dev/null
"$BIN" import --db "$T/db0" --quiet "$T/g" >/dev/null
LITEKEY=$("$BIN" serve-key --owner bench --scopes read,write --key-file "$T/keys")
PG_FSYNC=on pg_start >/dev/null
PGKEY=$("$BIN" state key-add --state "$PG_URL" --owner bench --role analyst 2>/dev/null)

serve() { # DIR KEYOPTS... -> URL in $U
    rm -f "$T/port"
    "$BIN" serve --db "$1" --listen 127.0.0.1:0 --port-file "$T/port" --threads 2 "${@:2}" \
        2>>"$T/serve.log" &
    PIDS="$PIDS $!"
    for _ in $(seq 300); do [ -s "$T/port" ] && break; sleep 0.1; done
    U="http://127.0.0.1:$(cat "$T/port")"
}
notes() { # URL KEY -> notes per second
    $PY - "$1" "$2" "$N" <<'EOF'
import http.client, json, sys, time, urllib.parse
url, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
u = urllib.parse.urlparse(url)
c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
h = {"X-API-Key": key, "Content-Type": "application/json"}
def post(path, doc):
    c.request("POST", path, json.dumps(doc), h)
    r = c.getresponse()
    body = r.read()
    if r.status != 201:
        sys.exit(f"{path}: {r.status} {body[:200]}")
    return json.loads(body)
cid = post("/v1/cases", {"title": "bench"})["id"]
for i in range(10):  # warm: the connection, the file or the server's caches
    post(f"/v1/cases/{cid}/notes", {"text": f"warm {i}"})
t0 = time.monotonic()
for i in range(n):
    post(f"/v1/cases/{cid}/notes", {"text": f"note {i}"})
print(f"{n / (time.monotonic() - t0):.1f}")
EOF
}
declare -A med
for be in sqlite pg; do
    rates=()
    for r in $(seq "$RUNS"); do
        rm -rf "$T/db"
        cp -a "$T/db0" "$T/db"
        if [ $be = sqlite ]; then
            serve "$T/db" --api-keys "$T/keys"
            rate=$(notes "$U" "$LITEKEY")
        else
            serve "$T/db" --state "$PG_URL"
            rate=$(notes "$U" "$PGKEY")
        fi
        kill $PIDS 2>/dev/null || true
        wait 2>/dev/null || true
        PIDS=""
        echo "$be run $r: $rate notes/s ($N notes, each with its audit row)"
        rates+=("$rate")
    done
    med[$be]=$(printf '%s\n' "${rates[@]}" | sort -n | sed -n "$(((RUNS + 1) / 2))p")
    echo "$be median: ${med[$be]} notes/s"
done
$PY -c 'import sys; print(f"pg / sqlite: {float(sys.argv[2]) / float(sys.argv[1]):.2f}")' "${med[sqlite]}" "${med[pg]}"
echo "load after: $(uptime)"
