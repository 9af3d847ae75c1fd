#!/usr/bin/python3
"""Checks of the generator's thief truth (--thief-truth, --swap-returns, --thief-remix), from the
truth file alone: every scenario balances (stolen = endpoint_total + fees + remaining), what the
thief_deposit lines put at each entity is what the scenario's endpoints say (the swap service
less what it paid back, mixers aside: their fees are paid inside CoinJoins), each swap_return's
payout is at most its deposit and comes later, thief_mix_output lines name outputs of the
scenario's coinjoin/tx0 steps. Prints "N passed, M failed"; usage: demix_truth.py TRUTH"""
import collections
import json
import sys

lines = [json.loads(l) for l in open(sys.argv[1])]
ok = bad = 0


def check(c, msg):
    global ok, bad
    if c:
        ok += 1
    else:
        bad += 1
        print("FAIL:", msg)


kinds = {x["id"]: x["type"] for x in lines if x["kind"] == "entity"}
dep = collections.defaultdict(collections.Counter)
mix = collections.defaultdict(list)
ret = collections.Counter()
for x in lines:
    if x["kind"] == "thief_deposit":
        dep[x["scenario"]][x["entity"]] += x["value"]
        check(kinds[x["entity"]] == x["type"], "deposit type %s" % x["output"])
    elif x["kind"] == "thief_mix_output":
        mix[x["scenario"]].append(x)
    elif x["kind"] == "swap_return":
        ret[x["scenario"]] += x["payout_value"]
        check(0 < x["payout_value"] <= x["deposit_value"], "payout value %s" % x["payout"])
        check(x["payout_height"] > x["deposit_height"], "payout height %s" % x["payout"])
meta = lines[0]
check(meta.get("thief_truth") is True, "meta says thief_truth")
for s in (x for x in lines if x["kind"] == "scenario"):
    sid = s["id"]
    check(s["stolen"] == s["endpoint_total"] + s["fees"] + s["remaining"], "scenario %d balance" % sid)
    ends = {e["entity"]: e["value"] for e in s["endpoints"]}
    for ent, v in dep[sid].items():
        want = v - (ret[sid] if kinds[ent] == "swap" else 0)
        check(ends.get(ent, 0) == want, "scenario %d entity %d: endpoints %s, deposits %d"
              % (sid, ent, ends.get(ent), want))
    steps = {st["txid"] for st in s["steps"] if st["kind"] in ("coinjoin", "tx0")}
    for m in mix[sid]:
        check(m["output"].split(":")[0] in steps, "mix output %s in a step" % m["output"])
    if s["stolen"]:
        check(sum(1 for st in s["steps"] if st["kind"] == "swap_return") ==
              sum(1 for x in lines if x["kind"] == "swap_return" and x["scenario"] == sid),
              "scenario %d: swap_return steps and lines agree" % sid)
print("%d passed, %d failed" % (ok, bad))
sys.exit(1 if bad else 0)
