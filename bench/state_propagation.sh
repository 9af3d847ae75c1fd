#!/bin/bash
# Label propagation between `serve --state` replicas (docs/state.md), on SQLite and PostgreSQL.
#
#   bench/state_propagation.sh [CHANGES [RUNS]]   (default 20 changes per run, 3 runs)
#
# A small generated store, two copies, two replicas on one state database per backend (SQLite:
# sqlite:FILE polled every 100 ms; PostgreSQL: a private server from tests/pg_server.sh,
# LISTEN/NOTIFY). Per change: `cointrail labels add` (or retire, alternately) returns, then both
# replicas' /v1/health are polled every 10 ms until their label count moved
# (tests/state_check.py propagate). Prints per run the median and maximum over both replicas,
# and the median of the runs' medians, with the machine's load.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}
RUNS=${2:-3}
BIN=$(realpath build/cointrail)
[ -x "$BIN" ] || scripts/build.sh build
PY=/usr/bin/python3
T=$(mktemp -d)
PIDS=""
source tests/pg_server.sh
trap 'kill -9 $PIDS 2>/dev/null; pg_cleanup; rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP PIPE # the EXIT trap then stops the servers
echo "load: $(uptime)"
"$BIN" generate --out "$T/g" --seed 5 --blocks 60 --txs-per-block 30 --maturity 5 \
    --halving-interval 50 --quiet >/dev/null
"$BIN" import --db "$T/db0" --quiet "$T/g" >/dev/null
ADDR=1BoatSLRHtKNngkdXEeobR76b53LETtpyT
run() { # BACKEND URL
    local be=$1 url=$2 meds=()
    KEY=$("$BIN" state key-add --state "$url" --owner ops --role admin 2>/dev/null)
    for r in $(seq "$RUNS"); do
        for n in A B; do
            rm -rf "$T/db$n" "$T/$n.port"
            cp -a "$T/db0" "$T/db$n"
            "$BIN" serve --db "$T/db$n" --state "$url" --listen 127.0.0.1:0 --port-file "$T/$n.port" \
                --threads 2 2>/dev/null &
            PIDS="$PIDS $!"
            for _ in $(seq 100); do [ -s "$T/$n.port" ] && break; sleep 0.1; done
        done
        UA=127.0.0.1:$(cat "$T/A.port") UB=127.0.0.1:$(cat "$T/B.port")
        : >"$T/lat"
        for i in $(seq "$N"); do
            L=$(curl -s "$UA/v1/health" | $PY tests/jget.py '["labels"]')
            if [ $((i % 2)) = 1 ]; then
                cmd=(labels add --address $ADDR --category scam --name "n$i")
            else
                cmd=(labels retire --address $ADDR --category scam)
            fi
            $PY tests/state_check.py propagate "$KEY" "$UA,$UB" "labels!=$L" -- \
                "$BIN" "${cmd[@]}" --state "$url" --author bench | tr ' ' '\n' >>"$T/lat"
        done
        read -r med max < <($PY -c 'import statistics,sys; v=[float(x) for x in open(sys.argv[1]) if x.strip()]
print(f"{statistics.median(v):.3f} {max(v):.3f}")' "$T/lat")
        echo "$be run $r: $((2 * N)) propagations, median $med s, max $max s"
        meds+=("$med")
        kill $PIDS 2>/dev/null
        wait $PIDS 2>/dev/null || true
        PIDS=""
    done
    echo "$be: median of run medians $(printf '%s\n' "${meds[@]}" | sort -n | sed -n "$(((RUNS + 1) / 2))p") s"
}
[ -n "${SKIP_SQLITE:-}" ] || run sqlite "sqlite:$T/state.sqlite"
pg_start
run postgresql "$PG_URL"
echo "load: $(uptime)"
