#!/usr/bin/python3
"""Accuracy of a clustering against a generator truth file, computed here in Python.

  cluster_accuracy.py TRUTH.jsonl DUMP [--compare CLUSTER_EVAL.json]

DUMP is the output of `cointrail cluster --db DB --dump` (`a ADDRESS ENTITY` and `c TXID KIND`
lines). Prints one JSON document:

- pairwise precision and recall of the address clustering against the truth's owners (entity
  lines; only addresses whose owner the truth lists count): of the address pairs put in one
  cluster, the share that one owner holds, and of the pairs one owner holds, the share put in
  one cluster;
- the largest wrong cluster (a cluster holding addresses of two or more owners): its size
  (addresses with a known owner) and its owners, and the most owners any cluster holds;
- per detector kind: truth, detected, correct, precision, recall. Truth kinds: `coinjoin` lines
  by implementation, `whirlpool_tx0` lines, `batch` lines (kind `payout_batch`). `generic`
  counts as correct on any true CoinJoin; `any_coinjoin` is every kind that excludes the tx
  from the multi-input heuristic against every true CoinJoin.

With --compare, the figures of `cointrail cluster --evaluate --json` (its `pairwise` and
`detectors` sections) must equal these: exit 1 and say which differ otherwise. This shares no
code with cointrail."""
import json
import sys
from collections import Counter, defaultdict

NOT_EXCLUDING = {"none", "whirlpool_tx0", "payout_batch"}


def pairs(n):
    return n * (n - 1) // 2


def load_truth(path):
    owner, kinds = {}, {}
    with open(path) as f:
        for line in f:
            o = json.loads(line)
            k = o.get("kind")
            if k == "entity":
                for a in o.get("addresses", []):
                    owner[a] = o["id"]
            elif k == "coinjoin":
                kinds[o["txid"]] = o["implementation"]
            elif k == "whirlpool_tx0":
                kinds[o["txid"]] = "whirlpool_tx0"
            elif k == "batch":
                kinds[o["txid"]] = "payout_batch"
    return owner, kinds


def load_dump(path):
    ent, kinds = {}, {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if not p:
                continue
            if p[0] == "a":
                ent[p[1]] = int(p[2])
            elif p[0] == "c":
                kinds[p[1]] = p[2]
    return ent, kinds


def pairwise(owner, ent):
    cell, by_cluster, by_owner = Counter(), Counter(), Counter()
    owners_of = defaultdict(set)
    for a, e in ent.items():
        o = owner.get(a)
        if o is None:
            continue
        cell[(e, o)] += 1
        by_cluster[e] += 1
        by_owner[o] += 1
        owners_of[e].add(o)
    tp = sum(pairs(n) for n in cell.values())
    same_c = sum(pairs(n) for n in by_cluster.values())
    same_o = sum(pairs(n) for n in by_owner.values())
    wrong = [(by_cluster[e], len(owners_of[e]), e) for e in owners_of if len(owners_of[e]) > 1]
    big = max(wrong) if wrong else (0, 0, None)
    return {
        "addresses": sum(by_cluster.values()),
        "precision": tp / same_c if same_c else None,
        "recall": tp / same_o if same_o else None,
        "largest_cluster": max(by_cluster.values()) if by_cluster else 0,
        "largest_wrong_cluster": big[0],
        "largest_wrong_cluster_owners": big[1],
        "largest_wrong_cluster_entity": big[2],
        "most_owners_in_a_cluster": max((len(s) for s in owners_of.values()), default=0),
        "wrong_clusters": len(wrong),
    }


def detectors(truth, got):
    kinds = sorted((set(truth.values()) | set(got.values())) - {"none"})
    out = {}
    for k in kinds:
        t = {x for x, v in truth.items() if v == k}
        d = {x for x, v in got.items() if v == k}
        if k == "generic":
            ok = {x for x in d if truth.get(x, "none") not in NOT_EXCLUDING}
        else:
            ok = t & d
        out[k] = {"truth": len(t), "detected": len(d), "correct": len(ok),
                  "precision": len(ok) / len(d) if d else None,
                  "recall": len(t & d) / len(t) if t else None}
    t = {x for x, v in truth.items() if v not in NOT_EXCLUDING}
    d = {x for x, v in got.items() if v not in NOT_EXCLUDING}
    out["any_coinjoin"] = {"truth": len(t), "detected": len(d), "correct": len(t & d),
                           "precision": len(t & d) / len(d) if d else None,
                           "recall": len(t & d) / len(t) if t else None}
    return out


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) < 1e-9


def main():
    args = sys.argv[1:]
    cmp_path = None
    if "--compare" in args:
        i = args.index("--compare")
        cmp_path = args[i + 1]
        del args[i:i + 2]
    owner, tkinds = load_truth(args[0])
    ent, dkinds = load_dump(args[1])
    doc = {"pairwise": pairwise(owner, ent), "detectors": detectors(tkinds, dkinds)}
    print(json.dumps(doc, indent=1, sort_keys=True))
    if not cmp_path:
        return 0
    with open(cmp_path) as f:
        ev = json.load(f)
    bad = []
    pw = ev.get("pairwise", {})
    for key in ("precision", "recall"):
        if not close(pw.get(key), doc["pairwise"][key]):
            bad.append(f"pairwise {key}: cointrail {pw.get(key)}, here {doc['pairwise'][key]}")
    for key in ("largest_wrong_cluster", "largest_wrong_cluster_owners", "most_owners_in_a_cluster",
                "wrong_clusters", "largest_cluster"):
        if pw.get(key) != doc["pairwise"][key]:
            bad.append(f"pairwise {key}: cointrail {pw.get(key)}, here {doc['pairwise'][key]}")
    for k, v in doc["detectors"].items():
        e = ev.get("detectors", {}).get(k)
        if e is None:
            if v["detected"] or v["truth"]:
                bad.append(f"detector {k} missing in cointrail's document")
            continue
        for key in ("detected", "correct"):
            if e.get(key) != v[key]:
                bad.append(f"detector {k} {key}: cointrail {e.get(key)}, here {v[key]}")
        if e.get("truth", v["truth"]) != v["truth"]:
            bad.append(f"detector {k} truth: cointrail {e.get('truth')}, here {v['truth']}")
    for b in bad:
        print("DIFF " + b, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
