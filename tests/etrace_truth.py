#!/usr/bin/env python3
"""etrace_truth.py CHECK TRUTH.json DOC.json: an `etrace --json` document against the recorded
scenario's truth.json (the node's own record of what the thief did), for e2e_etrace.sh. Exit 0
when the check holds.

  forward      a forward trace of the theft (not through the mixers): its endpoints are exactly
               the thief's mixer, bridge, router deposits before the mixer and the OTC desk's
               token payments, with the seeded totals, balanced; the cross-chain records name
               those bridge and router txs; each endpoint's path runs theft -> split -> deposit
  post-mixer   a poison trace through the mixers reaches at least all the thief's router swaps
               and native bridge deposits, after the mixer too
"""
import json
import sys


def forward(argv):  # argv: CHECK TRUTH.json DOC.json
    t, d = json.load(open(argv[1])), json.load(open(argv[2]))
    usdt = t["contracts"]["usdt"]["address"]
    asset = lambda tok: "native" if int(tok, 16) == 0 else tok.lower()
    want = {}
    def add(addr, a, v):
        want[(addr.lower(), a)] = want.get((addr.lower(), a), 0) + int(v)
    # before the mixer (blocks < 10) every thief deposit is stolen value, whole
    for x in t["mixer"]["deposits"]:
        if x["owner"] == "thief" and x["block_number"] < 10:
            add(x["pool"], "native", x["denomination_wei"])
    for x in t["bridge_deposits"]:
        if x["owner"] == "thief" and x["block_number"] < 10:
            add(t["contracts"]["bridge"]["address"], asset(x["token"]), x["amount"])
    for x in t["swaps"]:
        if x["owner"] == "thief" and x["block_number"] < 10:
            add(t["contracts"]["router"]["address"], asset(x["asset"]), x["amount"])
    for s in t["steps"]:
        if s.get("token_to") and t["addresses"].get(s["token_to"], {}).get("label") == "otc_desk":
            add(s["token_to"], s["token"].lower(), s["token_amount"])
    got = {(e["address"].lower(), e["asset"]): int(e["amount"]) for e in d["endpoints"]}
    ok = got == want
    tot = d["totals"]
    ok &= int(tot["native"]["seeded"]) == 320 * 10**18 and int(tot[usdt]["seeded"]) == 4200000 * 10**6
    ok &= all(v["balanced"] for v in tot.values())
    # the cross-chain hook: one record per bridge deposit and router swap of the thief before
    # the mixer, each naming its tx
    xs = {x["transfer"].split(":")[0] for x in d["cross_chain"]}
    tx = {x["tx_hash"] for x in t["bridge_deposits"] + t["swaps"]
          if x["owner"] == "thief" and x["block_number"] < 10}
    ok &= xs == tx and all(e["cross_chain_candidate"] == (e["category"] in ("bridge", "swap"))
                           for e in d["endpoints"])
    # paths: from a seed (the theft) through the thief's split to the deposit, 3 transfers
    steps = {s["tx_hash"]: s for s in t["steps"]}
    for e in d["endpoints"]:
        p = [r.split(":")[0] for r in e["path"]]
        ok &= e["path"][0] in d["seeds"] and len(p) == 3 and steps[p[1]]["label"].startswith("split")
        ok &= steps[p[2]]["from"] in t["addresses"] and steps[p[2]]["block_number"] in (7, 8, 9)
    if not ok:
        print("want", sorted(want.items()), "\ngot ", sorted(got.items()), "\n", xs ^ tx)
    return 0 if ok else 1


def post_mixer(argv):
    t, d = json.load(open(argv[1])), json.load(open(argv[2]))
    got = {e["address"].lower(): int(e["amount"]) for e in d["endpoints"] if e["asset"] == "native"}
    r = sum(int(x["amount"]) for x in t["swaps"] if x["owner"] == "thief")
    b = sum(int(x["amount"]) for x in t["bridge_deposits"] if x["owner"] == "thief" and int(x["token"], 16) == 0)
    return (0 if got[t["contracts"]["router"]["address"]] >= r and got[t["contracts"]["bridge"]["address"]] >= b else 1)


if __name__ == "__main__":
    checks = {"forward": forward, "post-mixer": post_mixer}
    if len(sys.argv) != 4 or sys.argv[1] not in checks:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(checks[sys.argv[1]](sys.argv[1:]))
