#!/usr/bin/env python3
"""trace_entity_graph.py T: the entity graph of each trace document in T, recomputed from the
document's own tx-level edges and the clustering's dump (T/dump, `cluster --dump`): edges, their
values, output counts and patterns, and the node totals. Exit 1 on any difference (e2e_trace.sh)."""
import glob, json, sys
from collections import defaultdict
T = sys.argv[1]
ent = {}
for l in open(f"{T}/dump"):
    f = l.split()
    if f[0] == "a": ent[f[1]] = f[2]
fail = 0
docs = sorted(glob.glob(f"{T}/haircut.seeds*.json") + glob.glob(f"{T}/fifo.seeds*.json"))
for path in docs + sorted(glob.glob(f"{T}/poison.seeds*.json"))[:2] + [f"{T}/gback.json"]:
    d = json.load(open(path))
    fwd = d["direction"] == "forward"
    node_of = lambda a: "no-address" if a is None else (f"e{ent[a]}" if a in ent else f"a:{a}")
    order = {}
    for e in d["edges"]:
        order.setdefault(node_of(e["address"]), len(order))
    incoming = defaultdict(lambda: defaultdict(int))
    produced = defaultdict(list)
    for e in d["edges"]:
        if e["to_tx"]: incoming[e["to_tx"]][node_of(e["address"])] += e["value"]
        if e["from_tx"]: produced[e["from_tx"]].append(e)
    want = defaultdict(lambda: [0, 0, set()])
    for x in d["txs"]:
        if x["status"] != "followed": continue
        g = incoming[x["txid"]]
        main = min(g, key=lambda n: (-g[n], order[n]))
        for e in produced[x["txid"]]:
            k = (main, node_of(e["address"])) if fwd else (node_of(e["address"]), main)
            want[k][0] += e["value"]; want[k][1] += 1; want[k][2] |= set(e["patterns"])
    got = {(e["from"], e["to"]): [e["value"], e["outputs"], set(e["patterns"])] for e in d["graph"]["edges"]}
    if got != dict(want) or len(got) != len(d["graph"]["edges"]):
        print("FAIL:", path, "graph edges differ:", len(got), len(want)); fail += 1; continue
    out_sum = sum(x["taint_out"] for x in d["txs"] if x["status"] == "followed")
    if sum(v[0] for v in got.values()) != out_sum:
        print("FAIL:", path, "graph edges do not sum to the taint out of the txs"); fail += 1
    rcv, snt, seeded, toep = defaultdict(int), defaultdict(int), defaultdict(int), defaultdict(int)
    for (a, b), v in got.items(): snt[a] += v[0]; rcv[b] += v[0]
    for e in d["edges"]:
        if e["from_tx"] is None: seeded[node_of(e["address"])] += e["value"]
        if e["fate"] == "endpoint": toep[node_of(e["address"])] += e["value"]
    for n in d["graph"]["nodes"]:
        i = n["id"]
        if (n["received"], n["sent"], n["seeded"], n["to_endpoint"]) != (rcv[i], snt[i], seeded[i], toep[i]):
            print("FAIL:", path, "node", i, "totals"); fail += 1; break
    if d["graph"]["level"] != "entity" or len({n["id"] for n in d["graph"]["nodes"]}) != len(order):
        print("FAIL:", path, "nodes are not the holders of the edges"); fail += 1
sys.exit(1 if fail else 0)
