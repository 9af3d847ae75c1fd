#!/usr/bin/env python3
"""xtrace_truth.py T: the cross-chain traces T/xSID.json (`etrace --cross-chain --json`, one per
EVM scenario) against the generator's truth T/g/truth.jsonl, with Python integers: no partial
EVM trace, every deposit's taint within its amount, each deposit of a truth leg linked exactly
(confidence 1) by the leg's method to the leg's Bitcoin payout (a value-window leg among the
candidates), the Bitcoin side seeded with the leg's amount scaled by taint / amount, at least
80% of each scenario's legs and a Bitcoin exchange reached, more than 10 legs followed. Prints
each failure; exit 1 on any (e2e_xtrace.sh).
"""
import glob, json, sys
T = sys.argv[1]
legs, scen_thief, services = {}, {}, {}
for l in open(f"{T}/g/truth.jsonl"):
    d = json.loads(l)
    if d.get("kind") == "xchain_link" and d.get("outbound_chain") == "btc":
        legs[d["inbound_tx"]] = d
    elif d.get("kind") == "evm_scenario":
        scen_thief[d["id"]] = d
fails = checked = 0
def check(c, m):
    global fails
    if not c:
        print("FAIL:", m); fails += 1
for sid, sc in scen_thief.items():
    d = json.load(open(f"{T}/x{sid}.json"))
    check(d["evm"]["partial"] is False, f"scenario {sid}: partial EVM trace")
    reached = set()
    for h in d["hops"]:
        dep = h["deposit"]
        tx = dep["transfer"].split(":")[0].lower()
        amount, taint = int(dep["amount"]), int(dep["taint"])
        check(0 < taint <= amount, f"{tx}: taint {taint} of {amount}")
        leg = legs.get(tx)
        if not leg:
            continue  # a refund or a leg that is not paid yet
        reached.add(tx)
        exact = [l for l in h["links"] if l["confidence"] == 1.0 and l["to"]["chain"] == "btc"]
        want_method = {"thorchain_memo": "thorchain_memo", "bridge_id": "bridge_nonce"}.get(leg["method"])
        if want_method:
            ok = [l for l in exact if l["method"] == want_method and
                  l["to"]["tx"] == leg["outbound_txid"] and
                  leg["outbound_vout"] in [o["n"] for o in l["to"]["outputs"]]]
            check(len(ok) == 1, f"{tx}: {leg['method']} leg to {leg['outbound_txid']} not linked exactly")
        else:  # bridge_value: among the candidates
            check(any(l["to"]["tx"] == leg["outbound_txid"] for l in h["links"]),
                  f"{tx}: value-window leg {leg['outbound_txid']} not among the candidates")
        for l in h["links"]:
            if not l.get("followed"):
                continue
            b = l["btc"]
            if l["to"]["tx"] == leg["outbound_txid"]:
                check(b["seeded_outputs_value"] == leg["outbound_amount"],
                      f"{tx}: Bitcoin leg seeded with {b['seeded_outputs_value']}, truth {leg['outbound_amount']}")
            num = amount if d["evm"]["policy"] == "poison" else taint
            check(b["seeded"] == b["seeded_outputs_value"] * num // amount, f"{tx}: seeded scaling")
            bycat = {}
            for e in b["by_category"]:
                check(e["amount"] == e["amount_of_linked_outputs"] * num // amount,
                      f"{tx}: {e['category']} scaling")
                check(len(e["path"]) == e["hops"] and e["nearest"]["address"],
                      f"{tx}: {e['category']} evidence")
                bycat[e["category"]] = bycat.get(e["category"], 0) + e["amount"]
            check(bycat == b["totals_by_category"], f"{tx}: totals_by_category")
            checked += 1
    mine = {t for t, leg in legs.items() if leg.get("scenario") == sid}
    share = len(reached & mine) / len(mine) if mine else 0
    print(f"scenario {sid}: {len(reached & mine)} of {len(mine)} Bitcoin legs reached, "
          f"{len(reached - mine)} of other scenarios or users; Bitcoin endpoints {d['btc_by_category']}")
    check(share >= 0.8, f"scenario {sid}: only {share:.0%} of its legs reached")
    check(d["btc_by_category"].get("exchange", 0) > 0, f"scenario {sid}: no Bitcoin exchange reached")
print(f"{checked} Bitcoin legs followed and checked")
check(checked > 10, "too few legs followed")
sys.exit(1 if fails else 0)
