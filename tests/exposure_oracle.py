#!/usr/bin/python3
"""The exposure index recomputed independently (docs/exposure.md), and compared with
`cointrail exposure dump`.

  exposure_oracle.py compare BIN DB BLOCKDIR [--floor N] [--clusters] [--labels FILE]...
      every stored amount (output, category), every stop row and every amount not stored (per
      block, category, kind) equal what this script computes from the block files

  exposure_oracle.py recall BIN DB BLOCKDIR [--min-depth N]
      screening recall and precision on the generator's truth: the scenarios' deposits (steps
      *_deposit, and peel steps paying an exchange or OTC deposit address) against every other
      tx paying a deposit address of those services; flagged = theft or sanctioned exposure > 0
      in `cointrail screen --direction incoming --json` of the tx. Depth of a stolen deposit:
      txs from the theft (the truth's sources), shortest way. Prints the table; exit 0.

The chain is decoded with python3-bitcoinlib (tests/oracle.py, tests/serve_check.py's cached
decode); labels come from the CSV files (labels.csv of the generator) read here; haircut shares
with Python integers, largest remainder, ties to the lower index, the fee last; the stop rule
and the floor as docs/exposure.md says. With --clusters the entities are `BIN cluster --dump`'s
(the clustering itself is checked against tests/cluster_oracle.py elsewhere)."""
import argparse
import json
import os
import subprocess
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_check  # noqa: E402
from bitcoin.core import b2lx  # noqa: E402

UNTRACKED = {"exchange", "otc", "bridge", "swap", "miner", "defi"}


def haircut(x, w, d):
    sh = [x * wk // d for wk in w]
    rem = sorted(range(len(w)), key=lambda k: (-(x * w[k] % d), k))
    for k in rem[:x - sum(sh)]:
        sh[k] += 1
    return sh


def load_labels(files):
    cats = defaultdict(set)
    for f in files:
        for line in open(f).read().splitlines()[1:]:
            chain, addr, cat = line.split(",")[:3]
            if chain == "btc":
                cats[addr].add(cat)
    return cats


def rank_key(c):
    return (-serve_check.WEIGHTS.get(c, serve_check.DEFAULT_WEIGHT), c)


def stops_of(labels, entities):
    """address -> stop category: its own heaviest label, else its entity's heaviest."""
    own = {a: min(cs, key=rank_key) for a, cs in labels.items()}
    if not entities:
        return own
    best = {}
    for a, c in own.items():
        e = entities.get(a)
        if e is not None and (e not in best or rank_key(c) < rank_key(best[e])):
            best[e] = c
    stops = {}
    for a, e in entities.items():
        if e in best:
            stops[a] = best[e]
    stops.update(own)
    return stops


def propagate(txs, outs, stops, floor):
    """(rows {(txid, n): {cat: amount}}, stop rows {(txid, n): cat}, drops {(h, cat, kind):
    [amount, shares]})"""
    rec, stoprow, drops = {}, {}, defaultdict(lambda: [0, 0])

    def contrib(o):
        _, v, addr = outs[o]
        s = stops.get(addr)
        if s is not None:
            return {s: v} if s not in UNTRACKED else {}
        return rec.get(o, {})

    for x in txs:
        X = defaultdict(int)
        unresolved = False
        sum_in = 0
        for p in x["ins"]:
            if p not in outs:
                unresolved = True
                continue
            sum_in += outs[p][1]
            for c, a in contrib(p).items():
                X[c] += a
        got = [dict() for _ in x["outs"]]
        if X and unresolved:
            for c, a in X.items():
                if a:
                    d = drops[(x["height"], c, "unresolved")]
                    d[0] += a
                    d[1] += 1
        elif X:
            w = [v for v, _ in x["outs"]]
            w.append(sum_in - sum(w))
            for c, a in X.items():
                if not a:
                    continue
                for k, s in enumerate(haircut(a, w, sum(w))[:-1]):
                    if not s:
                        continue
                    if s >= floor:
                        got[k][c] = s
                    else:
                        d = drops[(x["height"], c, "below")]
                        d[0] += s
                        d[1] += 1
        for k, (v, addr) in enumerate(x["outs"]):
            o = (x["txid"], k)
            if got[k]:
                rec[o] = got[k]
            s = stops.get(addr)
            if s is not None and (s not in UNTRACKED or got[k]):
                stoprow[o] = s
    return rec, stoprow, drops


def cmd_compare(a):
    _, txs, outs, _ = serve_check.load_chain(a.blockdir)
    entities = None
    if a.clusters:
        dump = subprocess.run([a.bin, "cluster", "--db", a.db, "--dump"], check=True,
                              capture_output=True, text=True).stdout
        entities = {f[1]: f[2] for f in (l.split() for l in dump.splitlines()) if f[0] == "a"}
    stops = stops_of(load_labels(a.labels), entities)
    rec, stoprow, drops = propagate(txs, outs, stops, a.floor)
    want_rows = {(b2lx(t) + f":{n}", c): v for (t, n), d in rec.items() for c, v in d.items()}
    want_stops = {b2lx(t) + f":{n}": c for (t, n), c in stoprow.items()}
    want_drops = {(str(h), c, k): tuple(v) for (h, c, k), v in drops.items()}
    dump = subprocess.run([a.bin, "exposure", "dump", "--db", a.db], check=True,
                          capture_output=True, text=True).stdout
    got_rows, got_stops, got_drops = {}, {}, {}
    for line in dump.splitlines():
        f = line.split()
        if f[0] == "drop":
            got_drops[(f[1], f[2], f[3])] = (int(f[4]), int(f[5]))
        elif f[1] == "stop":
            got_stops[f[0]] = f[2]
        else:
            got_rows[(f[0], f[1])] = int(f[2])
    fails = 0

    def diff(name, want, got):
        nonlocal fails
        if want == got:
            return
        fails += 1
        missing = [k for k in want if k not in got][:5]
        extra = [k for k in got if k not in want][:5]
        wrong = [(k, want[k], got[k]) for k in want if k in got and want[k] != got[k]][:5]
        print(f"FAIL: {name}: {len(want)} expected, {len(got)} stored; missing {missing}, "
              f"extra {extra}, different {wrong}")

    diff("amounts", want_rows, got_rows)
    diff("stop rows", want_stops, got_stops)
    diff("amounts not stored", want_drops, got_drops)
    by_cat = defaultdict(int)
    for (_, c), v in want_rows.items():
        by_cat[c] += v
    print(f"exposure: {len(txs)} txs, {len(want_rows)} amounts on "
          f"{len({o for o, _ in want_rows})} outputs, {len(want_stops)} stop rows, "
          f"{len(want_drops)} block drops compared; received by category "
          f"{dict(sorted(by_cat.items()))}")
    if not want_rows:
        print("FAIL: nothing exposed: the comparison proves little")
        fails += 1
    sys.exit(1 if fails else 0)


def cmd_recall(a):
    _, txs, outs, _ = serve_check.load_chain(a.blockdir)
    truth = [json.loads(l) for l in open(os.path.join(a.blockdir, "truth.jsonl"))]
    ents = {d["id"]: d for d in truth if d.get("kind") == "entity"}
    owner = {addr: e["type"] for e in ents.values() for addr in e.get("addresses", [])}
    scen = [d for d in truth if d.get("kind") == "scenario" and d.get("stolen")]
    # depth: txs from a theft source, over the chain's spends (shortest)
    index = {x["txid"]: x for x in txs}
    by_hex = {b2lx(x["txid"]): x for x in txs}
    depth = {}
    frontier = []
    for s in scen:
        for src in s["sources"]:
            t, n = src.split(":")
            depth[b2lx(index[by_hex[t]["txid"]]["txid"])] = 0
            frontier.append(t)
    spenders = defaultdict(list)
    for x in txs:
        for p in x["ins"]:
            spenders[b2lx(p[0])].append(b2lx(x["txid"]))
    stolen_steps = set()
    for s in scen:
        for st in s["steps"]:
            if st["kind"].endswith("_deposit"):
                stolen_steps.add(st["txid"])
    # breadth-first from the theft txs along the stolen steps only (the thief's own txs)
    steps_all = {st["txid"] for s in scen for st in s["steps"]}
    q = list(frontier)
    while q:
        t = q.pop(0)
        for u in spenders.get(t, []):
            if u in steps_all and u not in depth:
                depth[u] = depth[t] + 1
                q.append(u)
    services = {"exchange", "otc", "swap", "bridge"}
    deposits = []
    for x in txs:
        th = b2lx(x["txid"])
        if x["coinbase"]:
            continue
        paid = [owner.get(addr) for _, addr in x["outs"]]
        payer = {owner.get(outs[p][2]) for p in x["ins"] if p in outs}
        if any(p in services for p in paid) and not (payer & services):
            deposits.append(th)
    deposits = sorted(set(deposits) | stolen_steps)
    flagged = {}
    for i in range(0, len(deposits), 200):
        out = subprocess.run([a.bin, "screen", "--db", a.db, "--direction", "incoming", "--json"]
                             + deposits[i:i + 200], check=True, capture_output=True,
                             text=True).stdout
        docs = json.loads(out)
        docs = docs if isinstance(docs, list) else [docs]
        for d in docs:
            cats = {c["category"]: c["amount"] for c in d["indirect"]["incoming"]["by_category"]}
            flagged[d["txid"]] = cats.get("theft", 0) + cats.get("sanctioned", 0) > 0
    rows = []
    for lo, hi in ((0, 10), (10, 20), (20, 10 ** 9), (a.min_depth, 10 ** 9)):
        st = [t for t in stolen_steps if lo <= depth.get(t, -1) < hi]
        tp = sum(flagged[t] for t in st)
        rows.append((f"depth {lo}..{hi - 1 if hi < 10 ** 9 else ''}", len(st), tp))
    clean = [t for t in deposits if t not in stolen_steps]
    fp = sum(flagged[t] for t in clean)
    tp_all = sum(flagged[t] for t in stolen_steps)
    for name, n, tp in rows:
        print(f"{name}: {tp} of {n} stolen deposits flagged "
              f"({100 * tp / n if n else 0:.1f}% recall)")
    print(f"all: {tp_all} of {len(stolen_steps)} stolen, {fp} of {len(clean)} clean deposits "
          f"flagged: recall {100 * tp_all / max(1, len(stolen_steps)):.1f}%, precision "
          f"{100 * tp_all / max(1, tp_all + fp):.1f}%; deepest {max(depth.values(), default=0)}")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compare")
    c.add_argument("bin")
    c.add_argument("db")
    c.add_argument("blockdir")
    c.add_argument("--floor", type=int, default=1000)
    c.add_argument("--clusters", action="store_true")
    c.add_argument("--labels", action="append", default=[])
    r = sub.add_parser("recall")
    r.add_argument("bin")
    r.add_argument("db")
    r.add_argument("blockdir")
    r.add_argument("--min-depth", type=int, default=20)
    a = p.parse_args()
    {"compare": cmd_compare, "recall": cmd_recall}[a.cmd](a)


if __name__ == "__main__":
    main()
