#!/bin/bash
# The web UI's graph on an EVM chain (docs/webui.md, "Speed"): latency of expanding EVM nodes.
#
#   bench/web_evm.sh [BLOCKS [EVM_TXS_PER_BLOCK [REQUESTS]]]   (default 300, 1.0, 300)
#
# Generates a chain with EVM thefts (generate --evm --evm-scenarios 2; Bitcoin 200 txs a block),
# imports it with its links, labels, clustering and EVM entities into a private temp dir, starts
# `cointrail serve` (2 worker threads), and walks the graph breadth-first from each EVM thief's
# address (a start, then the forward and backward hop of every EVM node reached, as clicks would
# ask them) until REQUESTS POST /v1/graph/expand bodies are collected; each is then timed 3
# rounds over one keep-alive connection, with GET /v1/health after each as the reference
# measured in the same run. Prints p50/p99 per round and their medians, the store's size and the
# machine's load (uptime) before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
BLOCKS=${1:-300}
ETPB=${2:-1.0}
REQS=${3:-300}
BIN=$(realpath build/cointrail)
[ -x "$BIN" ] || scripts/build.sh build
echo "load before: $(uptime)"
R=$(mktemp -d /tmp/cointrail-web-evm-bench.XXXXXX)
spid=""
trap '[ -n "$spid" ] && kill $spid 2>/dev/null; wait 2>/dev/null; [ -n "${KEEP_R:-}" ] || rm -rf "$R"' EXIT
"$BIN" generate --out "$R/chain" --scenarios 1 --evm-scenarios 2 --blocks "$BLOCKS" \
    --txs-per-block 200 --maturity 5 --halving-interval 50 --evm --evm-txs-per-block "$ETPB" \
    --quiet >/dev/null
"$BIN" import --db "$R/db" "$R/chain" >/dev/null
"$BIN" evm-import --db "$R/db" "$R/chain/evm" >/dev/null 2>&1
"$BIN" xchain links --db "$R/db" >/dev/null
"$BIN" labels import --db "$R/db" "$R/chain/labels.csv" >/dev/null
"$BIN" cluster --db "$R/db" >/dev/null
"$BIN" evm-cluster --db "$R/db" >/dev/null 2>&1
"$BIN" evm-stats --db "$R/db" --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("EVM store: %s blocks, %s txs, %s transfers, %s addresses" % tuple(
    d.get(k, "?") for k in ("blocks", "txs", "transfers", "addresses")))' || true
echo "store: $(du -sh "$R/db" | cut -f1)"
KEY=bench-key-0123456789abcdef
echo "$KEY" >"$R/keys"
chmod 600 "$R/keys"
"$BIN" serve --db "$R/db" --api-keys "$R/keys" --listen 127.0.0.1:0 --port-file "$R/port" \
    --threads 2 2>"$R/serve.log" &
spid=$!
for _ in $(seq 200); do [ -s "$R/port" ] && break; sleep 0.05; done
python3 - "$(cat "$R/port")" "$KEY" "$R/chain/truth.jsonl" "$REQS" <<'PY'
import http.client, json, statistics, sys, time
port, key, truth, reqs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
c = http.client.HTTPConnection("127.0.0.1", int(port))
H = {"X-API-Key": key, "Content-Type": "application/json"}
def post(path, body):
    c.request("POST", path, json.dumps(body), H)
    r = c.getresponse()
    d = r.read()
    if r.status != 200:
        raise SystemExit(f"{path}: HTTP {r.status}: {d[:200]}")
    return json.loads(d)
thieves = [t["steps"][0]["to"] for t in map(json.loads, open(truth))
           if t.get("kind") == "evm_scenario"]
bodies, seen, queue = [], set(), []
for t in thieves:
    for n in post("/v1/graph/start", {"from": t})["nodes"]:
        if n["id"] not in seen:
            seen.add(n["id"]); queue.append(n)
while queue and len(bodies) < reqs:
    n = queue.pop(0)
    xs = [{"xfer": t["xfer"], "taint": t["taint"]} for t in n["transfers"] if int(t["taint"])]
    for d in ("forward", "backward"):
        sel = [x for x, t in zip(xs, n["transfers"]) if d == "backward" or t.get("fate") != "endpoint"]
        if not sel or len(bodies) >= reqs:
            continue
        b = {"chain": n["chain"], "direction": d, "transfers": sel[:1000]}
        bodies.append(b)
        for m in post("/v1/graph/expand", b)["nodes"]:
            if m["chain"] != "btc" and m["id"] not in seen:
                seen.add(m["id"]); queue.append(m)
print(f"walk: {len(bodies)} expand requests from {len(thieves)} EVM thieves, {len(seen)} EVM nodes")
def pct(v, p):
    v = sorted(v); return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]
rounds, by_dir = [], {"forward": [], "backward": []}
for rnd in range(3):
    ex, he, dx = [], [], {"forward": [], "backward": []}
    for b in bodies:
        t0 = time.perf_counter(); post("/v1/graph/expand", b); ex.append(time.perf_counter() - t0)
        dx[b["direction"]].append(ex[-1])
        t0 = time.perf_counter(); c.request("GET", "/v1/health", headers=H); c.getresponse().read()
        he.append(time.perf_counter() - t0)
    r = [pct(ex, 50) * 1e3, pct(ex, 99) * 1e3, max(ex) * 1e3, pct(he, 99) * 1e3]
    rounds.append(r)
    for d, v in dx.items():
        if v:
            by_dir[d].append((pct(v, 50) * 1e3, pct(v, 99) * 1e3, len(v)))
    print("round %d: expand p50 %.2f ms, p99 %.2f ms, max %.2f ms; health p99 %.2f ms" % (rnd + 1, *r))
m = [statistics.median(x[i] for x in rounds) for i in range(4)]
print("median of 3: expand p50 %.2f ms, p99 %.2f ms, max %.2f ms; health p99 %.2f ms "
      "(expand p99 / health p99 = %.1f)" % (*m, m[1] / m[3] if m[3] else 0))
for d, v in by_dir.items():
    if v:
        print("  %s (%d requests): median p50 %.2f ms, p99 %.2f ms" %
              (d, v[0][2], statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)))
PY
echo "load after: $(uptime)"
