#!/usr/bin/env python3
"""trace_accuracy.py T TABLE: the accounting of every trace document T/POLICY.seedsID.json
(totals balance, each followed tx conserves taint, edges agree with the txs, endpoints and
by_category sum to to_endpoints) and, per policy, the share of the truth's endpoint value
(T/g/truth.jsonl, the generator's ground truth) attributed to the right endpoint entities, with
floors. TABLE=1 prints the accuracy table of docs/tracing.md. Exit 1 on any failure (e2e_trace.sh)."""
import glob, json, sys
from collections import defaultdict
T, table = sys.argv[1], sys.argv[2] == "1"
owner, scen = {}, {}
for l in open(f"{T}/g/truth.jsonl"):
    d = json.loads(l)
    if d.get("kind") == "entity":
        for a in d.get("addresses", []):
            owner[a] = d["id"]
    elif d.get("kind") == "scenario" and d["stolen"] > 0:
        scen[d["id"]] = d
fail = 0
def check(cond, msg):
    global fail
    if not cond:
        print("FAIL:", msg); fail += 1
BUCKETS = ["to_endpoints", "unspent", "fees", "below_min_value", "beyond_hops", "beyond_until",
           "unresolved", "coinbase", "overlap", "not_followed"]
# Floors below the measured figures (docs/tracing.md): share of the truth's endpoint value
# attributed to the right endpoint entities, and clean value flagged as a share of the stolen.
floors = {"haircut": (0.75, 0.25), "fifo": (0.75, 0.25), "poison": (0.95, None)}
rows = []
for p in ["poison", "haircut", "fifo"]:
    stolen = truth_ep = right = wrong = 0
    for sid, s in sorted(scen.items()):
        d = json.load(open(f"{T}/{p}.seeds{sid}.json"))
        t = d["totals"]
        check(t["seeded"] == s["stolen"], f"{p} {sid}: seeded {t['seeded']} != stolen {s['stolen']}")
        check(t["seeded"] + t["poison_added"] == sum(t[k] for k in BUCKETS) and t["balanced"],
              f"{p} {sid}: totals do not balance")
        if p != "poison":
            check(t["poison_added"] == 0, f"{p} {sid}: poison_added")
        ein, eout = defaultdict(int), defaultdict(int)
        for e in d["edges"]:
            if e["to_tx"]: ein[e["to_tx"]] += e["value"]
            if e["from_tx"]: eout[e["from_tx"]] += e["value"]
        for x in d["txs"]:
            check(x["taint_in"] == ein[x["txid"]], f"{p} {sid}: edges into {x['txid']}")
            if x["status"] == "followed":
                check(x["taint_in"] + x["added"] == x["taint_out"] + x["fee"],
                      f"{p} {sid}: tx {x['txid']} does not conserve")
                check(x["taint_out"] == eout[x["txid"]], f"{p} {sid}: edges out of {x['txid']}")
        check(sum(e["amount"] for e in d["endpoints"]) == t["to_endpoints"], f"{p} {sid}: endpoints sum")
        check(sum(d["by_category"].values()) == t["to_endpoints"], f"{p} {sid}: by_category sum")
        got = defaultdict(int)
        for e in d["endpoints"]:
            got[owner.get(e["address"], -1)] += e["amount"]
        true = defaultdict(int)
        for e in s["endpoints"]:
            true[e["entity"]] += e["value"]
        stolen += s["stolen"]
        truth_ep += s["endpoint_total"]
        for ent, v in got.items():
            r = min(v, true.get(ent, 0))
            right += r
            wrong += v - r
    share = right / truth_ep if truth_ep else 0
    wrong_ratio = wrong / stolen if stolen else 0
    rows.append((p, len(scen), stolen, truth_ep, right, share, wrong, wrong_ratio))
    lo_share, hi_wrong = floors[p]
    check(share >= lo_share, f"{p}: share of endpoint value attributed {share:.3f} < {lo_share}")
    if hi_wrong is not None:
        check(wrong_ratio <= hi_wrong, f"{p}: clean value flagged {wrong_ratio:.3f} of stolen > {hi_wrong}")
if table:
    print("| policy | scenarios | stolen (BTC) | truth endpoint value (BTC) | attributed to the right endpoints | share | clean value flagged (BTC) | flagged / stolen |")
    print("|---|---|---|---|---|---|---|---|")
    for p, n, st, te, r, sh, w, wr in rows:
        print(f"| {p} | {n} | {st/1e8:.2f} | {te/1e8:.2f} | {r/1e8:.2f} | {100*sh:.1f}% | {w/1e8:.2f} | {100*wr:.1f}% |")
sys.exit(1 if fail else 0)
