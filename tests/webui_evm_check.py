#!/usr/bin/python3
"""The EVM lane of the web UI's graph through its API (tests/e2e_webui_evm.sh), against numbers
computed without cointrail: the generator's truth.jsonl and the EVM CSVs replayed with Python
integers (tests/etrace_oracle.py's trace(), forward; a backward haircut walk written here).

usage: webui_evm_check.py CFG_JSON
  CFG: {"base", "keys": {"analyst", "read"}, "chain": CHAIN_DIR, "labels": [CSV...],
        "hostile": ACTOR_TEXT}
Prints "ok ..." per passed check and "FAIL ..." per failed one; exits 1 on any failure.
"""
import csv
import json
import os
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import etrace_oracle  # noqa: E402

cfg = json.load(open(sys.argv[1]))
BASE = cfg["base"]
fails = 0


def check(cond, what):
    global fails
    if cond:
        print("ok " + what)
    else:
        print("FAIL " + what)
        fails += 1


def api(path, body=None, key="analyst", want=200):
    req = urllib.request.Request(BASE + "/v1/" + path, method="POST" if body is not None else "GET",
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"X-API-Key": cfg["keys"][key],
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            code, text = r.status, r.read()
    except urllib.error.HTTPError as e:
        code, text = e.code, e.read()
    if code != want:
        raise SystemExit(f"FAIL {path}: HTTP {code}, want {want}: {text[:300]}")
    return json.loads(text)


# ---- the oracle's view of the chain
d = cfg["chain"] + "/evm"
xs = etrace_oracle.build(d)
by_ref = {f'{x["tx"]}:{x["pos"]}': i for i, x in enumerate(xs) if x["tx"]}
stop = {}
for path in cfg["labels"]:
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            if r["chain"] == "eth" and r["category"] in etrace_oracle.STOPS and \
                    r["address"].lower() not in stop:
                stop[r["address"].lower()] = r["category"]
truth = [json.loads(line) for line in open(cfg["chain"] + "/truth.jsonl")]
sc = next(t for t in truth if t["kind"] == "evm_scenario")
thief = sc["steps"][0]["to"]
victim = sc["steps"][0]["from"]
swap = next(s for s in sc["steps"] if s["kind"] == "router_swap")
link = next(t for t in truth if t["kind"] == "xchain_link" and t["inbound_tx"] == swap["tx"])


def node_of(ans, addr):
    return next((n for n in ans["nodes"] if n["id"] == "eth:" + addr.lower()), None)


def seeds_of(node, part=(1, 1)):
    return [{"xfer": t["xfer"], "taint": str(int(t["taint"]) * part[0] // part[1])}
            for t in node["transfers"]]


def forward_expect(node_seeds, policy):
    """{(receiver, ref): taint} of the hop and per asset fees, from the oracle."""
    seeds = {by_ref[t["transfer"]]: int(t["taint"]) for t in node_seeds}
    r = etrace_oracle.trace(xs, stop, policy, 1, 0, seeds)
    got = {}
    for i, t, hop, fate in r["moves"]:
        x = xs[i]
        if hop == 1 and x["to"] and fate in ("followed", "to_endpoints"):
            got[(x["to"].lower(), f'{x["tx"]}:{x["pos"]}')] = t
    # the hop's own gas: what the node's sends paid (hop 1); the receivers' later fees are the
    # next hop's (an expansion stops at its receivers: etrace_opts.frontier)
    fees = {}
    for i, t, hop, fate in r["moves"]:
        if fate == "fees" and hop == 1:
            fees[xs[i]["asset"]] = fees.get(xs[i]["asset"], 0) + t
    return got, fees


def answer_moves(ans):
    return {(n["id"].split(":", 1)[1], t["transfer"]): int(t["taint"])
            for n in ans["nodes"] if n["chain"] == "eth" for t in n["transfers"]}


def backward_expect(node_seeds):
    """{(sender, receipt ref): taint}: each seed's taint explained by its sender's earlier
    receipts of the asset, newest first, in proportion to the balance walked back (haircut)."""
    opening = etrace_oracle.openings(xs)
    out = {}
    for t in node_seeds:
        i = by_ref[t["transfer"]]
        s, a, taint = xs[i]["frm"], xs[i]["asset"], int(t["taint"])
        bal = opening.get((s, a), 0)
        for x in xs[:i]:
            if x["asset"] != a or x["frm"] == x["to"]:
                continue
            if x["to"] == s:
                bal += x["amount"]
            if x["frm"] == s:
                bal -= x["amount"]
        for j in range(i - 1, -1, -1):
            x = xs[j]
            if not taint:
                break
            if x["asset"] != a or x["frm"] == x["to"]:
                continue
            if x["to"] == s:
                q = taint if x["amount"] >= bal else taint * x["amount"] // bal
                taint -= q
                bal -= x["amount"]
                if q:
                    k = (s.lower(), f'{x["tx"]}:{x["pos"]}')
                    out[k] = out.get(k, 0) + q
            elif x["frm"] == s:
                bal += x["amount"]
    return out


# ---- a case, its graph started from the thief's address
case = api("cases", {"title": "EVM theft", "chains": "eth,btc", "victim": victim}, want=201)
cid = case["id"]
start = api("graph/start", {"from": thief, "case": cid, "policy": "haircut"})
tn = node_of(start, thief)
check(tn is not None and len(start["nodes"]) == 1, "the start is the thief's node")
recv = {f'{x["tx"]}:{x["pos"]}': x["amount"] for x in xs
        if x["to"] == thief and x["kind"] != "fee" and x["frm"] != thief}
check({t["transfer"]: int(t["taint"]) for t in tn["transfers"]} == recv,
      f"the thief's node holds its {len(recv)} receipts, whole")
check(tn.get("name") == "Lazarus Group" and tn.get("category") == "theft",
      f"the thief is named by its label's actor ({tn.get('name')})")
eth = next(a for a in tn["amounts"] if a["asset"] == "native")
check(eth["decimals"] == 18 and eth["symbol"] == "ETH" and
      int(eth["amount"]) >= int(sc["stolen_eth"]), "its ETH amount in wei, decimals 18")

# ---- forward: the thief's next hops against the oracle
fw = api("graph/expand", {"chain": "eth", "direction": "forward", "policy": "haircut",
                          "transfers": seeds_of(tn), "case": cid, "node": tn["id"]})
exp, fees = forward_expect(tn["transfers"], "haircut")
check(answer_moves(fw) == exp, f"forward hop: {len(exp)} transfers, each taint = the oracle's")
for a in fw["assets"]:
    check(int(a["fees"]) == fees.get(a["asset"], 0), f"forward hop: fees of {a['symbol']}")
edges = {}
for e in fw["edges"]:
    if e["kind"] == "transfer":
        edges[(e["from"], e["to"], e["asset"])] = edges.get((e["from"], e["to"], e["asset"]), 0) + \
            int(e["amount"])
want = {}
for (to, ref), t in exp.items():
    k = ("eth:" + thief, "eth:" + to, xs[by_ref[ref]]["asset"])
    want[k] = want.get(k, 0) + t
check(edges == want, "forward edges: per receiver and asset, the oracle's sums")
split = {s["to"] for s in sc["steps"] if s["kind"] == "split"}
check(split <= {n["id"][4:] for n in fw["nodes"]}, f"every split address of the truth ({len(split)}) "
      "is a next hop")

# ---- a node with part-tainted transfers, every policy
sn = node_of(fw, swap["from"])
for pol in ("haircut", "fifo", "poison"):
    part = seeds_of(sn, (2, 3))
    ans = api("graph/expand", {"chain": "eth", "direction": "forward", "policy": pol,
                               "transfers": part})
    exp, _ = forward_expect([dict(t, transfer=next(
        u["transfer"] for u in sn["transfers"] if u["xfer"] == t["xfer"])) for t in part], pol)
    check(answer_moves(ans) == exp and exp, f"{pol}: 2/3-tainted seeds, the hop = the oracle's")

# ---- the THORChain deposit: the Bitcoin side
cx = api("graph/expand", {"chain": "eth", "direction": "forward", "policy": "haircut",
                          "transfers": seeds_of(sn), "case": cid, "node": sn["id"]})
out = f'{link["outbound_txid"]}:{link["outbound_vout"]}'
bn = next((n for n in cx["nodes"] if n["chain"] == "btc" and
           any(o["output"] == out for o in n["outputs"])), None)
check(bn is not None, f"the router deposit brings in the truth's Bitcoin output {out[:12]}…")
ce = [e for e in cx["edges"] if e["kind"] == "cross_chain"]
check(bn and any(e["from"] == sn["id"] and e["to"] == bn["id"] and e["method"] == link["method"]
                 and e["amount"] == link["inbound_amount"] for e in ce),
      "a cross-chain edge with the link's method and amount")
router = node_of(cx, swap["to"])
check(router and router["endpoint"] and router.get("category") == "swap",
      "the router is a marked endpoint (swap)")
check(router and any("swap" in e["patterns"] for e in cx["edges"]
                     if e["kind"] == "transfer" and e["to"] == router["id"]),
      "the deposit edge is marked swap")

# ---- and back: from the Bitcoin output to the EVM sender
bs = api("graph/start", {"from": out})
bo = bs["nodes"][0]
bk = api("graph/expand", {"direction": "backward", "policy": "haircut",
                          "outputs": [{"output": o["output"], "taint": o["taint"]}
                                      for o in bo["outputs"]]})
en = node_of(bk, link["inbound_from"])
check(en is not None and any(e["kind"] == "cross_chain" and e["from"] == en["id"]
                             and e["to"] == bo["id"] for e in bk["edges"]),
      "a Bitcoin node's previous hop is the EVM sender (an address node)")
if en:
    exp = backward_expect([{"transfer": f'{swap["tx"]}:{p}', "taint": str(x["amount"])}
                           for p, x in ((xs[i]["pos"], xs[i]) for i in range(len(xs))
                                        if xs[i]["tx"] == swap["tx"] and xs[i]["kind"] != "fee"
                                        and xs[i]["frm"] == link["inbound_from"])])
    check(answer_moves({"nodes": [en]}) == exp and exp,
          "its receipts explain the deposit (haircut backward, the oracle's)")

# ---- backward from the split address: the thief, with its receipts
bw = api("graph/expand", {"chain": "eth", "direction": "backward", "policy": "haircut",
                          "transfers": seeds_of(sn), "case": cid, "node": sn["id"]})
exp = backward_expect(sn["transfers"])
check(answer_moves(bw) == exp and node_of(bw, thief), "backward hop = the oracle's walk back")

# ---- saved steps, audit rows, a read key's expansion not saved
g = api(f"cases/{cid}/graph")
ops = [(s["op"], s["node"], s["direction"]) for s in g["steps"]]
check(ops == [("start", "", ""), ("expand", tn["id"], "forward"), ("expand", sn["id"], "forward"),
              ("expand", sn["id"], "backward")], f"the case graph's steps: {ops}")
check(all(s["store_state"]["evm_chain"] == "eth" and s["store_state"]["evm_height"] > 0
          for s in g["steps"]), "each step names the EVM store's tip")
check([s["detail"].get("digest") for s in g["steps"]] ==
      [start["digest"], fw["digest"], cx["digest"], bw["digest"]] and
      all(s["detail"]["digest"].startswith("sha256:") for s in g["steps"]),
      "each saved step keeps its answer's digest")
api("graph/expand", {"chain": "eth", "direction": "forward", "transfers": seeds_of(sn),
                     "case": cid, "node": sn["id"]}, key="read")
g2 = api(f"cases/{cid}/graph")
c = api(f"cases/{cid}")
acts = [a for a in c["audit"] if a["action"] == "graph.expand"]
check(len(g2["steps"]) == 4 and len(acts) == 4 and not acts[-1]["detail"]["saved"] and
      acts[-1]["analyst"] == "reader", "a read key's expansion is audited, not saved")
check(c["audit_verified"], "the audit chain verifies")

# ---- replay: the same requests on the same store state give the same answers
r1 = api("graph/expand", {"chain": "eth", "direction": "forward", "policy": "haircut",
                          "transfers": seeds_of(tn), "digest": True})
check("digest" not in api("graph/expand", {"chain": "eth", "direction": "forward",
                                           "transfers": seeds_of(tn)}),
      "an answer outside a case has no digest unless asked")
check(json.dumps(r1, sort_keys=True) == json.dumps(fw, sort_keys=True) and
      r1["digest"] == g["steps"][1]["detail"]["digest"],
      "a replayed expansion gives the same answer (and digest)")

# ---- a label from the graph on a 0x address (hostile text), read back as it was written
hostile = cfg["hostile"]
api(f"cases/{cid}/labels", {"chain": "eth", "address": sn["address"], "category": "theft",
                            "actor": hostile, "evidence": "graph: node " + sn["id"],
                            "confidence": 80}, want=201)
api(f"cases/{cid}/notes", {"text": f"[{sn['id']}] {hostile}"}, want=201)
name = None
for _ in range(100):  # the service takes the new label set as a new snapshot
    a = api("graph/expand", {"chain": "eth", "direction": "forward", "transfers": seeds_of(tn),
                             "digest": True})
    name = (node_of(a, swap["from"]) or {}).get("name")
    if name == hostile:
        break
    time.sleep(0.1)
check(name == hostile, "the node is named by the analyst's label, its text unchanged")
check(a["digest"] != g["steps"][1]["detail"]["digest"],
      "after the label, the saved step's replay answers differently (its digest)")

# ---- an exchange's deposit address (evm-cluster) is named by its exchange
labelled = {r["address"].lower() for path in cfg["labels"] for r in csv.DictReader(open(path))
            if r["chain"] == "eth"}
dep = next(x for x in json.load(open(cfg["entities"]))["deposits"]
           if x["address"] not in labelled)
ds = api("graph/start", {"from": dep["address"]})
dn = node_of(ds, dep["address"])
check(dn and dn.get("name") == dep["exchange"] and dn["actor_from"] == "entity" and
      dn["label"]["category"] == "exchange",
      f"a deposit address is named by its exchange ({dn and dn.get('name')}, from the entity)")
dx = api("graph/expand", {"chain": "eth", "direction": "forward", "transfers": seeds_of(dn)})
check(any(n.get("actor_from") for n in dx["nodes"]), "and its next hop is answered")

# ---- bad input
for body, what in (({"chain": "eth", "direction": "forward", "transfers": [{"xfer": -1,
                                                                             "taint": "1"}]},
                    "a negative transfer id"),
                   ({"chain": "eth", "direction": "forward",
                     "transfers": [{"xfer": tn["transfers"][0]["xfer"],
                                    "taint": str(int(tn["transfers"][0]["amount"]) + 1)}]},
                    "a taint above the amount"),
                   ({"chain": "eth", "direction": "sideways", "transfers": seeds_of(tn)},
                    "a bad direction")):
    api("graph/expand", body, want=400)
    check(True, f"400 for {what}")
api("graph/expand", {"chain": "nochain", "direction": "forward", "transfers": seeds_of(tn)},
    want=404)
check(True, "404 for a chain without a store")
# ---- search: a 0x address or tx hash of the EVM store, as the CSVs have it
txs = etrace_oracle.rows(d, "transactions")
seen = {t["from_address"].lower() for t in txs} | {(t["to_address"] or "").lower() for t in txs}
t0 = txs[len(txs) // 2]
res = api("search?q=" + t0["hash"].upper().replace("0X", "0x"))["results"]
hit = [r for r in res if r["kind"] == "evm_tx"]
check(len(hit) == 1 and hit[0]["id"] == t0["hash"].lower() and
      hit[0]["block"] == int(t0["block_number"]) and hit[0]["chain"] == "eth",
      f"search finds tx {t0['hash'][:12]}… in block {t0['block_number']}")
res = api("search?q=" + t0["from_address"])["results"]
check(any(r["kind"] == "evm_address" and r["id"] == t0["from_address"].lower() for r in res),
      "search finds the tx's sender as an EVM address")
absent = next("0x%040x" % i for i in range(1, 1000) if "0x%040x" % i not in seen)
res = api("search?q=" + absent)["results"]
check(not any(r["kind"] == "evm_address" for r in res), "an address the CSVs lack is not found")
res = api("search?q=0x" + "ab" * 32)["results"]
check(not any(r["kind"] == "evm_tx" for r in res), "a tx hash the CSVs lack is not found")
print(f"{'ok' if not fails else str(fails) + ' failures'}")
sys.exit(1 if fails else 0)
