#!/usr/bin/env python3
"""trace_patterns.py T TABLE: the pattern annotations of the haircut traces T/haircut.seeds*.json
against the generator's truth (T/g/truth.jsonl: precision and recall floors per annotation),
and "fresh" on every edge exactly against the raw blocks in T/g read by python3-bitcoinlib
(tests/oracle.py). TABLE=1 prints the annotation table of docs/tracing.md (e2e_trace.sh)."""
import glob, json, sys
sys.path.insert(0, "tests")
import oracle
from collections import Counter, defaultdict
from bitcoin.core import b2lx
T, table = sys.argv[1], sys.argv[2] == "1"
step = {}
for l in open(f"{T}/g/truth.jsonl"):
    d = json.loads(l)
    if d.get("kind") == "scenario":
        for st in d["steps"]:
            step[st["txid"]] = st["kind"]
KINDS = {"split": "split", "consolidate": "consolidate", "peel": "peel", "coinjoin": "coinjoin",
         "hop": "hop", "bridge": "bridge_deposit", "swap": "swap_deposit"}
# precision floor, recall floor: below the measured figures (docs/tracing.md)
FLOORS = {"split": (0.95, 0.8), "consolidate": (0.95, 0.95), "peel": (0.95, 0.95),
          "coinjoin": (0.95, 0.8), "hop": (0.9, 0.95), "bridge": (0.95, 0.95), "swap": (0.95, 0.85)}
ann, followed, fresh_edges = defaultdict(set), set(), {}
for path in glob.glob(f"{T}/haircut.seeds*.json"):
    d = json.load(open(path))
    for x in d["txs"]:
        if x["status"] == "followed":
            followed.add(x["txid"])
            ann[x["txid"]] |= set(x["patterns"])
    for e in d["edges"]:
        if e["from_tx"]:
            ann[e["from_tx"]] |= set(e["patterns"]) & {"bridge", "swap"}
        fresh_edges[e["output"]] = (e["address"], "fresh" in e["patterns"])
fail = 0
rows = []
for p, kind in KINDS.items():
    tp = fp = fn = other = 0
    for tx in followed:
        a, k = p in ann[tx], step.get(tx)
        if k is None: other += a
        elif a and k == kind: tp += 1
        elif a: fp += 1
        elif k == kind: fn += 1
    prec = tp / (tp + fp) if tp + fp else 0
    rec = tp / (tp + fn) if tp + fn else 0
    rows.append((p, kind, tp, fp, fn, prec, rec, other))
    if prec < FLOORS[p][0] or rec < FLOORS[p][1]:
        print(f"FAIL: {p}: precision {prec:.3f} recall {rec:.3f} below {FLOORS[p]} (tp {tp} fp {fp} fn {fn})")
        fail += 1
# fresh, from the raw chain
first = {}
for b in oracle.main_chain([f"{T}/g"]):
    for tx in b.vtx:
        txid = b2lx(tx.GetTxid())
        for n, o in enumerate(tx.vout):
            a = oracle.classify(o.scriptPubKey)[1]
            if a and a not in first: first[a] = f"{txid}:{n}"
bad_fresh = sum(1 for o, (a, f) in fresh_edges.items() if f != (a is not None and first.get(a) == o))
n_fresh = sum(1 for a, f in fresh_edges.values() if f)
if bad_fresh or not n_fresh:
    print(f"FAIL: fresh: {bad_fresh} of {len(fresh_edges)} edges disagree with the raw chain"); fail += 1
if table:
    print(f"{len(followed)} distinct txs split by the haircut traces, {sum(1 for t in followed if t in step)} of them the thieves'")
    print("| annotation | truth step kind | true pos. | false pos. | missed | precision | recall | on other txs |")
    print("|---|---|---|---|---|---|---|---|")
    for p, kind, tp, fp, fn, prec, rec, other in rows:
        print(f"| {p} | {kind} | {tp} | {fp} | {fn} | {100*prec:.1f}% | {100*rec:.1f}% | {other} |")
    print(f"| fresh (edges) | first output paying the address, raw chain | {n_fresh} | - | - | exact | exact | {len(fresh_edges)} edges |")
sys.exit(1 if fail else 0)
