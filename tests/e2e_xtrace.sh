#!/bin/bash
# Tracing across chains (issue 7): on a generated chain with an EVM side (`generate --evm`), a
# forward trace from each EVM theft (`etrace --cross-chain`) follows the tainted router and
# bridge deposits over the links of `xchain links` into the Bitcoin chain. Checked against the
# generator's truth: every swap or bridge leg the trace reaches is linked to the truth's
# outbound Bitcoin tx and output; the Bitcoin leg is seeded with exactly that output's value;
# amounts reaching Bitcoin endpoints are the Bitcoin trace's scaled by the deposit's tainted share
# (recomputed here with Python integers); a theft traced through the mixers reaches most of its
# scenario's legs; and the Bitcoin side reaches the cash-out services of the truth.
source "$(dirname "$0")/common.sh"

"$BIN" generate --quiet --out "$T/g" --blocks 240 --txs-per-block 60 --users 400 --maturity 5 \
    --halving-interval 60 --era 2019.5-2024.3 --privacy-rate 0.25 --evm --seed 11 \
    --evm-scenarios 2 >/dev/null 2>"$T/err" || bad "generate --evm: $(cat "$T/err")"
"$BIN" import --db "$T/db" --quiet "$T/g" >/dev/null || bad "import"
"$BIN" evm-import --db "$T/db" "$T/g/evm" >/dev/null || bad "evm-import"
"$BIN" labels import --db "$T/db" "$T/g/labels.csv" >/dev/null || bad "labels"
"$BIN" cluster --db "$T/db" >/dev/null || bad "cluster"

# Before the links exist the cross-chain trace says how to make them.
THEFTS=$($PY -c "
import json
for l in open('$T/g/truth.jsonl'):
    d = json.loads(l)
    if d.get('kind') == 'evm_scenario':
        print(d['id'], [s['tx'] for s in d['steps'] if s['kind'] == 'theft'][0])")
first=$(echo "$THEFTS" | head -1 | awk '{print $2}')
"$BIN" etrace --db "$T/db" --from "$first" --cross-chain 2>"$T/err" >/dev/null
[ $? -eq 3 ] && grep -q "xchain links" "$T/err" && ok || bad "no links: $(cat "$T/err")"
"$BIN" xchain links --db "$T/db" >/dev/null || bad "xchain links"

echo "$THEFTS" | while read -r sid tx; do
    "$BIN" etrace --db "$T/db" --from "$tx" --hops 60 --through-mixers --cross-chain \
        --btc-hops 30 --json >"$T/x$sid.json" || echo "etrace $sid failed" >>"$T/fails"
    "$BIN" etrace --db "$T/db" --from "$tx" --hops 60 --through-mixers --cross-chain \
        >"$T/x$sid.txt" || echo "etrace text $sid failed" >>"$T/fails"
done
[ -s "$T/fails" ] && bad "$(cat "$T/fails")" || ok
grep -q "cross-chain:" "$T/x1.txt" && ok || bad "text output"

$PY - "$T" <<'PYEOF' && ok || bad "cross-chain trace against the truth"
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
PYEOF
# Bad use: a backward cross-chain trace, hops out of range.
"$BIN" etrace --db "$T/db" --from "$first" --cross-chain --direction backward 2>"$T/err" >/dev/null
[ $? -eq 2 ] && grep -q "forward" "$T/err" && ok || bad "backward cross-chain: $(cat "$T/err")"
"$BIN" etrace --db "$T/db" --from "$first" --cross-chain --btc-hops 0 2>/dev/null >/dev/null
[ $? -eq 2 ] && ok || bad "--btc-hops 0 accepted"
"$BIN" etrace --db "$T/db" --from "$first" --cross-chain --min-confidence 2 2>/dev/null >/dev/null
[ $? -eq 2 ] && ok || bad "--min-confidence 2 accepted"
finish
