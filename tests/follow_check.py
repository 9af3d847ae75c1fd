#!/usr/bin/env python3
"""follow_check.py COMMAND ARGS: the checks of tests/e2e_follow.sh and bench/alert_latency.sh
that take more than a line. Blocks are decoded by python3-bitcoinlib (tests/oracle.py), the
watch items come from the generator's truth.jsonl; nothing is taken from cointrail's answers.

  items TRUTH [TYPE [NAME]]  the addresses of every entity of TYPE (default thief; with NAME
                             only that entity) as a JSON list of watch items
  expect BLOCKDIR FROM ITEMS OUT
                             the movements of the watched addresses in the most-work chain of
                             BLOCKDIR at heights >= FROM, written to OUT as JSON: "chain"
                             (block hashes by height) and "alerts" [[address, txid, amount,
                             height]], one per tx and address it spends from
  prefix STATS EXPECT        the store (`stats --json` in STATS) holds a prefix of the chain:
                             its tip is the chain's block at its height
  alerts LOG EXPECT PLAYLOG FROM BOUND [SUMMARY]
                             the receiver's LOG (tests/hook_receiver.py) holds every expected
                             alert exactly once, delivered (204), under an Idempotency-Key
                             "<id>-<first 16 digits of the txid>" that agrees with the body,
                             with the expected amount, and nothing else; the latency from the
                             write of a block's last byte (PLAYLOG, tests/follow_node.py; for a
                             block, the latest write of it and its ancestors) to the arrival
                             of its first alert, for blocks at heights >= FROM, is at most
                             BOUND seconds; prints median, p99 and max (and writes them to
                             SUMMARY as JSON)
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402  (python3-bitcoinlib; shares nothing with cointrail)
from bitcoin.core import b2lx  # noqa: E402


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def cmd_items(truth, kind="thief", name=None):
    items = []
    for line in open(truth):
        d = json.loads(line)
        if d.get("kind") == "entity" and d.get("type") == kind and name in (None, d.get("name")):
            items += [{"kind": "address", "value": a} for a in d["addresses"]]
    print(json.dumps(items))


def cmd_expect(blockdir, from_height, items_file, out):
    watched = {i["value"] for i in json.load(open(items_file))}
    chain = oracle.main_chain([blockdir])
    outs, alerts = {}, []
    for h, b in enumerate(chain):
        for tx in b.vtx:
            txid = tx.GetTxid()
            spent = {}
            if not tx.is_coinbase():
                for i in tx.vin:
                    a, v = outs.get((i.prevout.hash, i.prevout.n), (None, 0))
                    if a in watched:
                        spent[a] = spent.get(a, 0) + v
            for n, o in enumerate(tx.vout):
                outs[(txid, n)] = (oracle.classify(o.scriptPubKey)[1], o.nValue)
            if h >= int(from_height):
                alerts += [[a, b2lx(txid), v, h] for a, v in sorted(spent.items())]
    json.dump({"chain": [b2lx(b.GetHash()) for b in chain], "alerts": alerts}, open(out, "w"))
    print(f"{len(alerts)} movements of {len(watched)} watched addresses at heights >= "
          f"{from_height} of {len(chain)}")


def cmd_prefix(stats, expect):
    st, chain = json.load(open(stats)), json.load(open(expect))["chain"]
    n = st["blocks"]
    if n and chain[n - 1] != st["tip_hash"]:
        fail(f"the store's tip {st['tip_hash']} is not the chain's block {n - 1}")


def percentile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else None


def cmd_alerts(log, expect, playlog, from_height, bound, summary=None):
    exp = json.load(open(expect))
    height = {h: i for i, h in enumerate(exp["chain"])}
    want = {(a, t): (v, h) for a, t, v, h in exp["alerts"]}
    got, keys = {}, {}
    for line in open(log):
        r = json.loads(line)
        k = (r["item"], r["txid"])
        if r["status"] != 204:
            fail(f"alert {r['id']} answered {r['status']}")
        if r["key"] != f"{r['id']}-{r['txid'][:16]}":
            fail(f"Idempotency-Key {r['key']} does not agree with alert {r['id']} {r['txid']}")
        if r["key"] in keys:
            fail(f"alert {r['key']} delivered twice")
        keys[r["key"]] = k
        if k in got:
            fail(f"movement {k} alerted twice (alerts {got[k]['id']} and {r['id']})")
        got[k] = r
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    if missing:
        fail(f"{len(missing)} movements never alerted, e.g. {missing[:3]}")
    if extra:
        fail(f"{len(extra)} alerts for no movement, e.g. {extra[:3]}")
    for k, r in got.items():
        if (r["amount"], r["height"]) != want[k]:
            fail(f"{k}: amount {r['amount']} at {r['height']}, want {want[k]}")
    # When each height could first be imported: its last byte and every ancestor's written.
    wrote = {}
    for line in open(playlog):
        r = json.loads(line)
        if r["hash"] in height:
            wrote[height[r["hash"]]] = r["t"]
    ready, latest = {}, 0
    for h in range(len(exp["chain"])):
        latest = max(latest, wrote.get(h, 0))
        ready[h] = latest
    first = {}
    for r in got.values():
        h = r["height"]
        first[h] = min(first.get(h, r["t"]), r["t"])
    lat = [first[h] - ready[h] for h in sorted(first) if h >= int(from_height)]
    if not lat:
        fail("no alert in the measured blocks")
    s = {"blocks": len(lat), "alerts": len(got), "median_s": percentile(lat, 0.5),
         "p99_s": percentile(lat, 0.99), "max_s": max(lat), "min_s": min(lat)}
    print(f"{len(got)} alerts, each once; write -> webhook over {s['blocks']} blocks: median "
          f"{s['median_s'] * 1000:.0f} ms, p99 {s['p99_s'] * 1000:.0f} ms, max "
          f"{s['max_s'] * 1000:.0f} ms")
    if summary:
        json.dump(s, open(summary, "w"))
    if min(lat) < 0:
        fail("an alert arrived before its block was written (the play log is wrong)")
    if max(lat) > float(bound):
        fail(f"latency {max(lat):.3f} s over the bound {bound} s")


if __name__ == "__main__":
    cmds = {"items": cmd_items, "expect": cmd_expect, "prefix": cmd_prefix, "alerts": cmd_alerts}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])
