#!/bin/bash
# The web UI's speed (docs/webui.md, "Speed"): expanding a graph node on a large store, and
# drawing a graph of 1,000 nodes in Chromium.
#
#   bench/web.sh [TXS_PER_BLOCK BLOCKS [WORKDIR [REQUESTS [NODES]]]]
#                (default 1000 x 2000 = about 2M txs, 400 expand requests, 1000 nodes)
#
# Reuses (or makes) the labelled, clustered chain of bench/labelled_chain.sh (3 thefts), starts
# `cointrail serve` (2 worker threads), and runs bench/web_bench.js:
#   expand   a breadth-first walk of the graph from each theft (start, then forward and
#            backward hops of every node reached, as clicks would ask them) collects REQUESTS
#            POST /v1/graph/expand bodies; each is then timed 3 rounds over one keep-alive
#            connection, with GET /v1/health after each as the reference measured in the same
#            run; prints p50/p99 per round and their medians
#   heavy    the newest 1000 outputs of 3 labelled exchange addresses, each node expanded
#            forward and backward (up to 1000 seeds a request): p50 and max per round
#   render   the walk's first NODES nodes and their edges drawn by the graph page (cytoscape,
#            preset layout) in headless Chromium: from an empty drawing, draw() until two
#            animation frames later, 3 runs each for 100 nodes and NODES nodes; prints the runs
#            and the median (a graph of over 300 nodes paints its edges and lanes on a canvas
#            under the nodes: docs/webui.md, "Speed"). SHOT=FILE keeps a screenshot of it,
#            DUMP=FILE the graph drawn (JSON)
# The machine's load (uptime) is printed before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
TPB=${1:-1000}
BLOCKS=${2:-2000}
WORK=${3:-/tmp/cointrail-bench}
REQS=${4:-400}
NODES=${5:-1000}
BIN=$(realpath build/cointrail)
[ -x "$BIN" ] || scripts/build.sh build
[ -d web/node_modules/playwright-core ] || { echo "run: cd web && npm ci"; exit 1; }
echo "load before: $(uptime)"
source bench/labelled_chain.sh
txs=$("$BIN" stats --db "$db" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["txs"])')
echo "store: $db, $txs txs, $(du -sh "$db" | cut -f1)"
# the run's own files (keys, port, config, log, screenshot) go to a private temp dir, never into
# WORK: the store there may be shared read-only by other runs
R=$(mktemp -d /tmp/cointrail-web-bench.XXXXXX)
KEY=bench-key-0123456789abcdef
echo "$KEY" >"$R/keys"
chmod 600 "$R/keys"
# served from a directory of links to the store's files: the service appends its request log
# (audit.jsonl) to the directory it serves, which must not be the shared store's
mkdir "$R/db"
for f in "$db"/*; do ln -s "$(realpath "$f")" "$R/db/"; done
rm -f "$R/db/audit.jsonl"
"$BIN" serve --db "$R/db" --api-keys "$R/keys" --listen 127.0.0.1:0 \
    --port-file "$R/port" --threads 2 2>"$R/serve.log" &
spid=$!
trap 'kill $spid 2>/dev/null; wait $spid 2>/dev/null; [ -n "${KEEP_R:-}" ] || rm -rf "$R"' EXIT
for _ in $(seq 200); do [ -s "$R/port" ] && break; sleep 0.05; done
thefts=$(python3 -c '
import json, sys
t = [json.loads(l) for l in open(sys.argv[1]) if "\"scenario\"" in l]
print(json.dumps([s["sources"][0].split(":")[0] for s in t if s.get("kind") == "scenario" and s["sources"]]))' \
    "$chain/truth.jsonl")
heavy=$(python3 -c '
import csv, json, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["source"] == "exchange attribution"]
print(json.dumps([r["address"] for r in rows[:3]]))' "$chain/labels.csv")
cat >"$R/bench.json" <<EOF
{"base": "http://127.0.0.1:$(cat "$R/port")", "key": "$KEY", "dump": "${DUMP:-}",
 "chromium": "/usr/bin/chromium", "thefts": $thefts, "requests": $REQS, "nodes": $NODES,
 "heavy": $heavy,
 "shot": "${SHOT:-$R/bench.png}"}
EOF
node bench/web_bench.js "$R/bench.json"
echo "load after: $(uptime)"
