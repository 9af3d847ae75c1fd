#!/bin/bash
# Alert latency: from a block file's write to the webhook's delivery.
#
#   bench/alert_latency.sh [TXS_PER_BLOCK BLOCKS [MEASURED [RUNS [WORKDIR [GAP_MS]]]]]
#                          (default 1000 x 400, the last 30 blocks measured, 3 runs, 1000 ms)
#
# Generates a chain (`generate --scenarios 1 --xor`), imports all but its last MEASURED blocks
# with the generator's labels, then per run, on a fresh copy of that store: starts
# `import --follow` on an empty blocks directory, `serve` with one watchlist of every address of
# the largest exchange and of the thief (something moves in every block) and a webhook
# receiver (tests/hook_receiver.py), and writes the MEASURED blocks into the directory as a
# node does (tests/follow_node.py: xor, preallocated files, each record in three writes, one
# block every GAP_MS). Per block: the write of its last byte -> the follower's commit (its
# --json lines) -> the first alert of that block at the receiver. Prints, per run and as the
# median over runs, the median and p99 of the whole path and of its two halves.
set -euo pipefail
cd "$(dirname "$0")/.."
TPB=${1:-1000}
BLOCKS=${2:-400}
M=${3:-30}
RUNS=${4:-3}
WORK=${5:-/tmp/cointrail-alert-bench}
GAP=${6:-1000}
BIN=$(realpath build/cointrail)
[ -x "$BIN" ] || scripts/build.sh build
PY=/usr/bin/python3
chain="$WORK/chain-$TPB-$BLOCKS"
base="$WORK/base-$TPB-$BLOCKS-$M"
mkdir -p "$WORK"
if [ ! -f "$chain/truth.jsonl" ]; then
    "$BIN" generate --out "$chain" --seed 3 --blocks "$BLOCKS" --txs-per-block "$TPB" \
        --users 20000 --scenarios 1 --xor --force --quiet >/dev/null
fi
if [ ! -f "$base/MANIFEST" ]; then
    rm -rf "$base"
    "$BIN" import --db "$base" --stop-after $((BLOCKS - M)) --quiet "$chain" >/dev/null
    "$BIN" labels import --db "$base" "$chain/labels.csv" >/dev/null
fi
$PY - "$chain/truth.jsonl" "$WORK/list-items.json" <<'PY'
import json, sys
ex, thief = [], []
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d.get("kind") == "entity" and d.get("type") == "exchange" and len(d["addresses"]) > len(ex):
        ex = d["addresses"]
    if d.get("kind") == "entity" and d.get("type") == "thief":
        thief += d["addresses"]
items = sorted(set(ex) | set(thief))[:10000]
json.dump([{"kind": "address", "value": a} for a in items], open(sys.argv[2], "w"))
PY
echo "chain: $TPB txs/block x $BLOCKS blocks; $M blocks followed per run, one every $GAP ms;" \
    "watchlist of $($PY -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$WORK/list-items.json") addresses"
echo "load before: $(uptime)"
PIDS=""
trap 'kill $PIDS 2>/dev/null || true' EXIT
for run in $(seq "$RUNS"); do
    R="$WORK/run$run"
    rm -rf "$R"
    mkdir -p "$R/node"
    cp -a "$base" "$R/db"
    $PY tests/hook_receiver.py "$R/hook.log" "$R/hook.port" ok >/dev/null 2>&1 &
    RECV=$!
    for _ in $(seq 50); do [ -s "$R/hook.port" ] && break; sleep 0.1; done
    HOOK="http://127.0.0.1:$(cat "$R/hook.port")"
    "$BIN" serve --db "$R/db" --listen 127.0.0.1:0 --insecure-no-auth --port-file "$R/port" \
        --webhook-allow "$HOOK/" 2>"$R/serve.log" &
    SERVE=$!
    "$BIN" import --db "$R/db" --follow --json "$R/node" >"$R/follow.out" 2>"$R/follow.err" &
    FOLLOW=$!
    PIDS="$RECV $SERVE $FOLLOW"
    for _ in $(seq 100); do [ -s "$R/port" ] && break; sleep 0.1; done
    U="127.0.0.1:$(cat "$R/port")"
    $PY -c 'import json,sys; print(json.dumps({"name": "bench", "webhook": sys.argv[1] + "/hook",
        "items": json.load(open(sys.argv[2]))}))' "$HOOK" "$WORK/list-items.json" >"$R/list.json"
    curl -s --max-time 30 -d @"$R/list.json" "$U/v1/watchlists" >/dev/null
    $PY tests/follow_node.py play "$chain" "$R/node" "$R/play.log" --from $((BLOCKS - M)) \
        --prealloc 16777216 --gap-ms "$GAP" --pause-ms 5
    for _ in $(seq 300); do
        curl -s "$U/v1/alerts?limit=1" | $PY -c 'import json,sys; d=json.load(sys.stdin)
sys.exit(not (d["scanned_height"] == int(sys.argv[1]) and d["delivery_queue"] == 0))' "$BLOCKS" && break
        sleep 0.1
    done
    kill -TERM $FOLLOW $SERVE
    wait $FOLLOW $SERVE || true
    kill $RECV
    wait $RECV 2>/dev/null || true
    PIDS=""
    $PY - "$R" "$chain" "$BLOCKS" "$M" <<'PY'
import json, os, sys
R, chain, blocks, m = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
first = blocks - m
wrote = {}  # height -> write time of the record's last byte (records are in chain order)
for k, line in enumerate(open(f"{R}/play.log")):
    wrote[first + k] = json.loads(line)["t"]
commit = {}  # height -> when the follower committed it
for line in open(f"{R}/follow.out"):
    if line.startswith('{"height"'):
        d = json.loads(line)
        for h in range(d["height"] - d["blocks_added"], d["height"]):
            commit.setdefault(h, d["time"])
alert = {}
for line in open(f"{R}/hook.log"):
    d = json.loads(line)
    alert[d["height"]] = min(alert.get(d["height"], d["t"]), d["t"])
hs = [h for h in range(first, blocks) if h in alert and h in commit and h in wrote]
def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]
tot = [alert[h] - wrote[h] for h in hs]
imp = [commit[h] - wrote[h] for h in hs]
srv = [alert[h] - commit[h] for h in hs]
s = {"blocks": len(hs), "of": m, "median": pct(tot, .5), "p99": pct(tot, .99),
     "import_median": pct(imp, .5), "import_p99": pct(imp, .99),
     "serve_median": pct(srv, .5), "serve_p99": pct(srv, .99)}
json.dump(s, open(f"{R}/summary.json", "w"))
print(f"run {os.path.basename(R)}: {len(hs)} of {m} blocks with an alert; write -> webhook "
      f"median {s['median']*1000:.0f} ms, p99 {s['p99']*1000:.0f} ms (write -> commit "
      f"{s['import_median']*1000:.0f} / {s['import_p99']*1000:.0f} ms, commit -> webhook "
      f"{s['serve_median']*1000:.0f} / {s['serve_p99']*1000:.0f} ms)")
PY
done
$PY - "$WORK" "$RUNS" <<'PY'
import json, statistics, sys
runs = [json.load(open(f"{sys.argv[1]}/run{r}/summary.json")) for r in range(1, int(sys.argv[2]) + 1)]
med = lambda k: statistics.median(r[k] for r in runs) * 1000
print(f"median of {len(runs)} runs: write -> webhook median {med('median'):.0f} ms, p99 "
      f"{med('p99'):.0f} ms; write -> commit {med('import_median'):.0f} / "
      f"{med('import_p99'):.0f} ms; commit -> webhook {med('serve_median'):.0f} / "
      f"{med('serve_p99'):.0f} ms")
PY
echo "load after: $(uptime)"
