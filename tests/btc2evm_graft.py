#!/usr/bin/python3
"""btc2evm_graft.py DB BLOCKDIR LABELS.csv K: add K Bitcoin -> ETH links to DB/xchain/links.jsonl.

The generator has no Bitcoin -> ETH swaps (docs/generator.md, "Not modelled"), so the test grafts
them: each joins a Bitcoin output that the Bitcoin oracle (tests/exposure_oracle.py) says received
theft (the most stolen ones, then a stride through the partly stolen) to the EVM end of one of the
generator's THORChain refunds (a TransferOut paying a user from the router), as a thorchain_memo or
bridge_nonce link at confidence 1 or 0.5. Store ids of outputs and txs are numbered in chain order
from the decoded blocks, checked against the ids of the linker's own Bitcoin ends."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exposure_oracle  # noqa: E402
import serve_check  # noqa: E402
from bitcoin.core import b2lx  # noqa: E402

db, blockdir, labels, k = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
_, txs, outs, _ = serve_check.load_chain(blockdir)
# store ids: txs and outputs numbered in chain order
oid, tid, n = {}, {}, 0
for t, x in enumerate(txs):
    tid[b2lx(x["txid"])] = t
    for v in range(len(x["outs"])):
        oid[(b2lx(x["txid"]), v)] = n
        n += 1
path = f"{db}/xchain/links.jsonl"
lines = open(path).read().splitlines()
head, links = json.loads(lines[0]), [json.loads(l) for l in lines[1:]]
for l in links:  # the numbering checked against the linker's own ends
    if l["to"]["chain"] == "btc":
        for o in l["to"]["outputs"]:
            assert oid[(l["to"]["tx"], o["n"])] == o["id"], "output numbering"
bstops = exposure_oracle.stops_of(exposure_oracle.load_labels([labels]), None)
rec, _, _, _ = exposure_oracle.propagate(txs, outs, bstops, 1000)
cand = sorted(((d.get("theft", 0), b2lx(t), n) for (t, n), d in rec.items()
               if d.get("theft", 0) > 0 and outs[(t, n)][2] not in bstops), reverse=True)
refunds = [l for l in links if l["from"]["chain"] == "eth" and l["to"]["chain"] == "eth"
           and l["method"] == "thorchain_memo"]
assert len(cand) >= k and len(refunds) >= k, (len(cand), len(refunds))
# the most stolen outputs, and a stride through the rest (partly stolen ones)
pick = cand[:k // 2] + cand[k // 2::max(1, len(cand) // k)][:k - k // 2]
new = []
for j, ((_, txid, v), r) in enumerate(zip(pick, refunds)):
    value = next(o[1] for (t, n), o in outs.items() if n == v and b2lx(t) == txid)
    new.append({"method": "thorchain_memo" if j % 3 else "bridge_nonce",
                "from": {"chain": "btc", "tx": txid, "tx_id": tid[txid],
                         "outputs": [{"n": v, "id": oid[(txid, v)]}]},
                "to": r["to"], "amount_in": {"value": str(value), "asset": "BTC"},
                "amount_out": r["amount_out"], "confidence": 1.0 if j % 2 else 0.5,
                "candidates": 1 + j % 2, "rule": "grafted by the test: a Bitcoin -> ETH swap"})
head["links"] = len(links) + len(new)
with open(path + ".tmp", "w") as f:
    f.write(json.dumps(head) + "\n")
    for l in links + new:
        f.write(json.dumps(l) + "\n")
os.rename(path + ".tmp", path)
print(len(new))
