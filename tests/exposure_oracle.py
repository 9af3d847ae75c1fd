#!/usr/bin/python3
"""The exposure index recomputed independently (docs/exposure.md), and compared with
`cointrail exposure dump`.

  exposure_oracle.py compare BIN DB BLOCKDIR [--floor N] [--clusters] [--labels FILE]...
          [--heights H] [--screen TXIDS_FILE]
      every stored amount (output, category), every stop row and every amount not stored (per
      block, category, kind) equal what this script computes from the block files (the first H
      blocks); with --screen, `cointrail screen --direction incoming` of each tx in the file
      reads the index, its amounts per category are the sums over the tx's outputs, and the
      path given for each category is a chain of txs from the tx back to one spending an
      output of an address that stops under that category

  exposure_oracle.py pick-labels BLOCKDIR HEIGHT N OUT.csv
      labels.csv rows for N addresses (deterministic) paid below HEIGHT whose outputs are spent,
      in turn theft, sanctioned, exchange, mixer: for chains without labels (tests/mkchain.py)

  exposure_oracle.py recall BIN DB BLOCKDIR [--min-depth N] [--require-recall PCT] [--hops N]
      screening recall and precision on the generator's truth (truth.jsonl): a deposit is a tx
      paying an address the truth gives to an exchange, OTC desk, swap service or bridge, not
      spending that service's own coins; stolen if it is a step of a scenario (the thief's), else
      clean. Flagged: theft or sanctioned exposure > 0 in `cointrail screen --direction incoming
      --json`. Depth of a stolen deposit: txs from its theft along the thief's steps, shortest
      way. Prints recall by depth and precision; exits 1 if recall is below PCT.

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
    [amount, shares]}, preds {(txid, n): {cat: (txid, n)}}: for each amount, the input that
    passed its tx the most of the category, the first of equals)"""
    rec, stoprow, drops = {}, {}, defaultdict(lambda: [0, 0])
    preds = {}

    def contrib(o):
        _, v, addr = outs[o]
        s = stops.get(addr)
        if s is not None:
            return {s: v} if s not in UNTRACKED else {}
        return rec.get(o, {})

    for x in txs:
        X = defaultdict(int)
        best = {}
        unresolved = False
        sum_in = 0
        for p in x["ins"]:
            if p not in outs:
                unresolved = True
                continue
            sum_in += outs[p][1]
            for c, a in contrib(p).items():
                X[c] += a
                if a > best.get(c, (0, None))[0]:
                    best[c] = (a, p)
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
                preds[o] = {c: best[c][1] for c in got[k]}
            s = stops.get(addr)
            if s is not None and (s not in UNTRACKED or got[k]):
                stoprow[o] = s
    return rec, stoprow, drops, preds


def index_sources(x, rec, preds, outs, stops, c):
    """The index's explanation of category c of tx x, as risk_index.c gives it: the 8 outputs
    that received the most of c (ties: the lower output) each walked back along the
    predecessors to a source (a stop of c), grouped by the source's address in the order found,
    stably sorted by amount: [(address, amount, outputs, path as display txids)]."""
    got = sorted(((rec[(x["txid"], n)][c], n) for n in range(len(x["outs"]))
                  if c in rec.get((x["txid"], n), {})), key=lambda t: (-t[0], t[1]))[:8]
    srcs = []
    for amount, n in got:
        o, path = (x["txid"], n), []
        while True:
            path.append(b2lx(o[0]))
            p = preds[o][c]
            if stops.get(outs[p][2]) == c:
                break
            o = p
        addr = outs[p][2]
        hit = [s for s in srcs if s[0] == addr]
        if hit:
            hit[0][1] += amount
            hit[0][2] += 1
        else:
            srcs.append([addr, amount, 1, path])
    return sorted(srcs, key=lambda s: -s[1])  # stable: the first found first among equals


def check_index_explanation(a, todo, by_id, rec, preds, outs, stops):
    """Screen without --hops: every indexed category explained by the index alone, its
    sources and paths those of the oracle's predecessor walks."""
    fails = checked = 0
    for i in range(0, len(todo), 200):
        out = subprocess.run([a.bin, "screen", "--db", a.db, "--direction", "incoming", "--json"]
                             + todo[i:i + 200], check=True, capture_output=True, text=True).stdout
        docs = json.loads(out)
        docs = docs if isinstance(docs, list) else [docs]
        for d in docs:
            x = by_id[d["txid"]]
            inc = d["indirect"]["incoming"]
            if "by_actor" in inc:
                print(f"FAIL: {d['txid']}: traced without --hops")
                fails += 1
            for c in inc["by_category"]:
                want = index_sources(x, rec, preds, outs, stops, c["category"])
                have = [[s["address"], s["amount"], s["outputs"], s["path"]]
                        for s in c.get("sources", [])]
                if c["path_from"] != "index" or have != [list(w) for w in want[:5]] or \
                        c["endpoints"] != len(want) or c["path"] != want[0][3] or \
                        c["counterparty"]["address"] != want[0][0] or \
                        c["hops"] != len(want[0][3]):
                    print(f"FAIL: {d['txid']} {c['category']}: index explanation {have} "
                          f"!= oracle {want[:5]}")
                    fails += 1
                checked += 1
    print(f"screen without --hops: {checked} categories explained by the index, sources and "
          f"paths as the oracle's predecessor walks")
    if not checked:
        print("FAIL: nothing explained by the index")
        fails += 1
    return fails


def check_screen(a, txs, outs, rec, stops, preds):
    fails = 0
    by_id = {b2lx(x["txid"]): x for x in txs}
    todo = [t for t in open(a.screen).read().split() if t in by_id]
    fails += check_index_explanation(a, todo, by_id, rec, preds, outs, stops)
    paths = {"trace": 0, "index": 0}
    for i in range(0, len(todo), 200):
        # two hops: most categories are then explained by the index's path
        out = subprocess.run([a.bin, "screen", "--db", a.db, "--direction", "incoming", "--json",
                              "--hops", "2"] + todo[i:i + 200], check=True, capture_output=True,
                             text=True).stdout
        docs = json.loads(out)
        docs = docs if isinstance(docs, list) else [docs]  # several items: one JSON array
        for d in docs:
            x = by_id[d["txid"]]
            inc = d["indirect"]["incoming"]
            if d["exposure_index"] != "used" or inc["source"] != "index":
                print(f"FAIL: {d['txid']}: not from the index ({d['exposure_index']})")
                fails += 1
                continue
            want = defaultdict(int)
            for n in range(len(x["outs"])):
                for c, v in rec.get((x["txid"], n), {}).items():
                    want[c] += v
            have = {c["category"]: c["amount"] for c in inc["by_category"] if c["indexed"]}
            if have != dict(want):
                print(f"FAIL: {d['txid']}: screened {have}, outputs hold {dict(want)}")
                fails += 1
            for c in inc["by_category"]:
                if not c["indexed"] or c["path_from"] == "none":
                    continue
                p = [by_id[t] for t in c["path"]]
                ok = bool(p) and p[0] is x
                for u, v in zip(p, p[1:]):
                    ok = ok and any(q[0] == v["txid"] for q in u["ins"])
                ok = ok and any(q in outs and stops.get(outs[q][2]) == c["category"]
                                for q in p[-1]["ins"]) if p else False
                paths[c["path_from"]] += 1
                if not ok:
                    print(f"FAIL: {d['txid']}: the {c['path_from']} path of {c['category']} "
                          f"does not lead to a source: {c['path']}")
                    fails += 1
    print(f"screen: {len(todo)} txs screened from the index (--hops 2); paths followed: "
          f"{paths['trace']} from the trace, {paths['index']} from the index")
    if not paths["index"]:
        print("FAIL: no path came from the index: the check proves little")
        fails += 1
    return fails


def cmd_compare(a):
    _, txs, outs, _ = serve_check.load_chain(a.blockdir, a.heights)
    entities = None
    if a.clusters:
        dump = subprocess.run([a.bin, "cluster", "--db", a.db, "--dump"], check=True,
                              capture_output=True, text=True).stdout
        entities = {f[1]: f[2] for f in (l.split() for l in dump.splitlines()) if f[0] == "a"}
    stops = stops_of(load_labels(a.labels), entities)
    rec, stoprow, drops, preds = propagate(txs, outs, stops, a.floor)
    want_rows = {(b2lx(t) + f":{n}", c): v for (t, n), d in rec.items() for c, v in d.items()}
    want_preds = {(b2lx(t) + f":{n}", c): b2lx(p[0]) + f":{p[1]}" for (t, n), d in preds.items()
                  for c, p in d.items()}
    want_stops = {b2lx(t) + f":{n}": c for (t, n), c in stoprow.items()}
    want_drops = {(str(h), c, k): tuple(v) for (h, c, k), v in drops.items()}
    dump = subprocess.run([a.bin, "exposure", "dump", "--db", a.db], check=True,
                          capture_output=True, text=True).stdout
    got_rows, got_stops, got_drops, got_preds = {}, {}, {}, {}
    for line in dump.splitlines():
        f = line.split()
        if f[0] == "drop":
            got_drops[(f[1], f[2], f[3])] = (int(f[4]), int(f[5]))
        elif f[1] == "stop":
            got_stops[f[0]] = f[2]
        else:
            got_rows[(f[0], f[1])] = int(f[2])
            got_preds[(f[0], f[1])] = f[3]
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
    diff("predecessors", want_preds, got_preds)
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
    if a.screen:
        fails += check_screen(a, txs, outs, rec, stops, preds)
    sys.exit(1 if fails else 0)


def cmd_pick_labels(a):
    _, txs, outs, _ = serve_check.load_chain(a.blockdir)
    spent = {p for x in txs for p in x["ins"]}
    addrs = []
    for x in txs:
        if x["height"] >= a.height:
            break
        for n, (_, addr) in enumerate(x["outs"]):
            if addr and (x["txid"], n) in spent and addr not in addrs:
                addrs.append(addr)
    cats = ["theft", "sanctioned", "exchange", "mixer"]
    step = max(1, len(addrs) // max(1, a.n))
    with open(a.out, "w") as f:
        f.write("chain,address,category,actor,source,confidence\n")
        for i, addr in enumerate(addrs[::step][:a.n]):
            f.write(f"btc,{addr},{cats[i % 4]},test,exposure_oracle,0.9\n")


def cmd_recall(a):
    _, txs, outs, _ = serve_check.load_chain(a.blockdir)
    truth = [json.loads(l) for l in open(os.path.join(a.blockdir, "truth.jsonl"))]
    services = {"exchange", "otc", "swap", "bridge"}
    owner = {}
    for d in truth:
        if d.get("kind") == "entity":
            for addr in d.get("addresses", []):
                owner[addr] = d["type"]
    scen = [d for d in truth if d.get("kind") == "scenario" and d.get("stolen")]
    steps = {st["txid"] for s in scen for st in s["steps"]}
    # depth: txs from the theft, the shortest way along the thief's own txs
    depth = {}
    spenders = defaultdict(set)
    for x in txs:
        for p in x["ins"]:
            spenders[b2lx(p[0])].add(b2lx(x["txid"]))
    q = []
    for s in scen:
        for src in s["sources"]:
            t = src.split(":")[0]
            depth[t] = 0
            q.append(t)
    for t in q:
        for u in sorted(spenders.get(t, ())):
            if u in steps and u not in depth:
                depth[u] = depth[t] + 1
                q.append(u)
    # deposits: txs paying a service's address, not moving a service's own coins
    stolen, clean = [], []
    for x in txs:
        if x["coinbase"]:
            continue
        th = b2lx(x["txid"])
        pays = any(owner.get(addr) in services for _, addr in x["outs"])
        from_service = any(owner.get(outs[p][2]) in services for p in x["ins"] if p in outs)
        if not pays or from_service:
            continue
        (stolen if th in steps else clean).append(th)
    flagged, share = {}, {}
    todo = stolen + clean
    for i in range(0, len(todo), 500):
        out = subprocess.run([a.bin, "screen", "--db", a.db, "--direction", "incoming", "--json"]
                             + (["--hops", str(a.hops)] if a.hops else []) + todo[i:i + 500],
                             check=True, capture_output=True, text=True).stdout
        dec = json.JSONDecoder()
        pos = 0
        while pos < len(out):
            while pos < len(out) and out[pos].isspace():
                pos += 1
            if pos >= len(out):
                break
            d, pos = dec.raw_decode(out, pos)
            for r in d if isinstance(d, list) else [d]:
                inc = r["indirect"]["incoming"]
                cats = {c["category"]: c["amount"] for c in inc["by_category"]}
                bad = cats.get("theft", 0) + cats.get("sanctioned", 0)
                share[r["txid"]] = bad / inc["seeded"] if inc["seeded"] else 0
                flagged[r["txid"]] = bad > 0
    idx = json.loads(subprocess.run([a.bin, "screen", "--db", a.db, "--json", todo[0]], check=True,
                                    capture_output=True, text=True).stdout)["exposure_index"]
    print(f"screening from the exposure index: {idx}")
    fp = sum(flagged[t] for t in clean)
    bands = [(0, 10), (10, 20), (a.min_depth, 10 ** 9)]
    for lo, hi in bands:
        st = [t for t in stolen if lo <= depth.get(t, -1) < hi]
        tp = sum(flagged[t] for t in st)
        name = f"depth {lo}-{hi - 1}" if hi < 10 ** 9 else f"depth {lo}+"
        print(f"{name}: {tp} of {len(st)} stolen deposits flagged "
              f"(recall {100 * tp / len(st) if st else 0:.1f}%)")
    tp = sum(flagged[t] for t in stolen)
    missed = [t for t in stolen if not flagged[t]][:5]
    print(f"all: {tp} of {len(stolen)} stolen deposits flagged (recall "
          f"{100 * tp / max(1, len(stolen)):.1f}%), {fp} of {len(clean)} clean deposits flagged "
          f"(precision {100 * tp / max(1, tp + fp):.1f}%); deepest stolen deposit "
          f"{max((depth.get(t, 0) for t in stolen), default=0)} txs from its theft; missed "
          f"{missed}")
    for th in (0.001, 0.01, 0.1, 0.5):
        tp2 = sum(share[t] >= th for t in stolen)
        fp2 = sum(share[t] >= th for t in clean)
        print(f"  share >= {100 * th:g}%: recall {100 * tp2 / max(1, len(stolen)):.1f}%, "
              f"precision {100 * tp2 / max(1, tp2 + fp2):.1f}% ({fp2} clean flagged)")
    if a.show_clean:
        for t in sorted(clean, key=lambda t: -share[t])[:a.show_clean]:
            print(f"  clean {t}: {100 * share[t]:.1f}%")
    if a.require_recall is not None and 100 * tp < a.require_recall * max(1, len(stolen)):
        sys.exit(1)


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
    c.add_argument("--heights", type=int)
    c.add_argument("--screen")
    k = sub.add_parser("pick-labels")
    k.add_argument("blockdir")
    k.add_argument("height", type=int)
    k.add_argument("n", type=int)
    k.add_argument("out")
    r = sub.add_parser("recall")
    r.add_argument("bin")
    r.add_argument("db")
    r.add_argument("blockdir")
    r.add_argument("--min-depth", type=int, default=20)
    r.add_argument("--require-recall", type=float)
    r.add_argument("--show-clean", type=int, default=0)
    r.add_argument("--hops", type=int, default=0)
    a = p.parse_args()
    {"compare": cmd_compare, "pick-labels": cmd_pick_labels, "recall": cmd_recall}[a.cmd](a)


if __name__ == "__main__":
    main()
