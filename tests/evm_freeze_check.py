#!/usr/bin/python3
"""evm_freeze_check.py FREEZE_DIR CSV_DIR LABELS_CSV ORACLE_EPS [--mark TEXT] [--seeds TX,...]
evm_freeze_check.py --bundle FREEZE_DIR STIX MISP


Checks `cointrail export --format freeze` of a case or incident traced on an EVM chain against
what was computed apart from the C (docs/sharing.md, "Freeze requests"):
  - per (deposit address, asset), the sum of traced_base and the number of deposit rows over all
    packets equal the endpoints of tests/etrace_oracle.py (ORACLE_EPS, its EPS_OUT), for every
    oracle endpoint whose label (LABELS_CSV) is exchange or otc, and no packet holds anything else;
  - every row is a transfer of the ethereum-etl CSVs (CSV_DIR): an ERC-20 row's (txid, log_index)
    in token_transfers.csv with that token, receiver and value; a native row's tx in
    transactions.csv or traces.csv with that receiver and value; block_number and block_time
    are its block's; amount and traced are the base units with the token's decimals;
  - the path starts at a seed tx (--seeds) and ends with the deposit's tx; index.csv counts each packet's rows and names its
    chain; --mark TEXT (a hostile name put in the case) shows in letter.html only escaped.
--bundle: every deposit tx of the packets is a cryptocurrency-transaction SCO of the STIX bundle
(symbol ETH, its block time; a native deposit: its receiver and amount among the outputs) and a
cryptocurrency-transaction object of the MISP event.
Exits 1 on any difference, printing each."""
import csv
import html
import json
import os
import sys
from decimal import Decimal

fails = []


def fail(m):
    fails.append(m)


def rows(p):
    with open(p, newline="") as f:
        return list(csv.DictReader(f))


def main():
    d, src, labels_csv, eps_path = sys.argv[1:5]
    mark = sys.argv[sys.argv.index("--mark") + 1] if "--mark" in sys.argv else None
    seeds = set(sys.argv[sys.argv.index("--seeds") + 1].split(",")) if "--seeds" in sys.argv else None
    cat = {r["address"].lower(): r["category"] for r in rows(labels_csv)}
    want = {}
    for a, asset, amount, deps in json.load(open(eps_path)):
        if cat.get(a.lower()) in ("exchange", "otc") and amount:
            want[(a.lower(), asset)] = [amount, deps]
    blocks = {r["number"]: r for r in rows(f"{src}/blocks.csv")}
    txs = {r["hash"]: r for r in rows(f"{src}/transactions.csv")}
    tts = {(r["transaction_hash"], r["log_index"]): r for r in rows(f"{src}/token_transfers.csv")}
    traces = {}
    for r in rows(f"{src}/traces.csv"):
        traces.setdefault(r["transaction_hash"], []).append(r)
    decimals = {}
    if os.path.exists(f"{src}/tokens.csv"):
        decimals = {r["address"].lower(): r.get("decimals", "") for r in rows(f"{src}/tokens.csv")}
    index = rows(os.path.join(d, "index.csv"))
    got = {}
    shown = False
    for ir in index:
        folder = os.path.join(d, ir["folder"])
        deps = rows(os.path.join(folder, "deposits.csv"))
        if int(ir["deposits"]) != len(deps) or ir["chain"] != "eth":
            fail(f"index row {ir} != its {len(deps)} deposits on eth")
        letter = open(os.path.join(folder, "letter.html"), encoding="utf-8").read()
        if mark and mark.split()[0] in letter:
            fail(f"{folder}: the hostile text is not escaped in the letter")
        shown = shown or (mark and mark in html.unescape(letter))
        for r in deps:
            key = (r["deposit_address"].lower(), r["asset"])
            g = got.setdefault(key, [0, 0])
            g[0] += int(r["traced_base"])
            g[1] += 1
            amt = int(r["amount_base"])
            if int(r["traced_base"]) > amt or int(r["traced_base"]) <= 0:
                fail(f"{key}: traced {r['traced_base']} outside (0, {amt}]")
            if r["asset"] == "native":
                dec = 18
                t = txs.get(r["txid"])
                ok = t and t["to_address"].lower() == key[0] and int(t["value"]) == amt
                ok = ok or any(x["to_address"].lower() == key[0] and int(x["value"] or 0) == amt
                               for x in traces.get(r["txid"], []))
                blk = t["block_number"] if t else (traces.get(r["txid"]) or [{}])[0].get("block_number")
            else:
                x = tts.get((r["txid"], r["log_index"]))
                ok = x and x["token_address"].lower() == r["asset"] and \
                    x["to_address"].lower() == key[0] and int(x["value"]) == amt
                blk = x["block_number"] if x else None
                dec = int(decimals[r["asset"]]) if decimals.get(r["asset"], "") != "" else int(r["decimals"])
            if not ok:
                fail(f"row {r['txid']}:{r['log_index']} is no such transfer in the CSVs")
            if blk is None or r["block_number"] != blk:
                fail(f"row {r['txid']}: block {r['block_number']} != {blk}")
            else:
                import datetime
                ts = datetime.datetime.fromtimestamp(int(blocks[blk]["timestamp"]), datetime.UTC)
                if r["block_time"] != ts.strftime("%Y-%m-%dT%H:%M:%SZ"):
                    fail(f"row {r['txid']}: time {r['block_time']} != {ts}")
            if int(r["decimals"]) != dec or Decimal(r["amount"]) != Decimal(amt) / 10 ** dec or \
                    Decimal(r["traced"]) != Decimal(int(r["traced_base"])) / 10 ** dec:
                fail(f"row {r['txid']}: decimal amounts {r['amount']} {r['traced']} (decimals {dec})")
            path = r["path"].split(" > ")
            if path[-1] != r["txid"] or (seeds and path[0] not in seeds) or any(not p.startswith("0x") or len(p) != 66 for p in path):
                fail(f"row {r['txid']}: path {r['path']}")
    if mark and not shown:
        fail("no letter shows the hostile text (escaped)")
    if got != want:
        fail(f"per (address, asset) [traced, deposits]: packets {got} != oracle {want}")
    for m in fails:
        print("FAIL", m)
    print(f"evm freeze: {len(index)} packet(s), {sum(v[1] for v in got.values())} deposit(s), "
          f"{'ok' if not fails else str(len(fails)) + ' differences'}")
    sys.exit(1 if fails else 0)


def bundle():
    d, stix, misp = sys.argv[2:5]
    b = json.load(open(stix), parse_float=Decimal)
    sco = {o["value"]: o for o in b["objects"] if o["type"] == "cryptocurrency-transaction"}
    wallet = {o["id"]: o["value"] for o in b["objects"] if o["type"] == "cryptocurrency-wallet"}
    ev = json.load(open(misp))["Event"]
    mtx = set()
    for o in ev.get("Object", []):
        if o["name"] == "cryptocurrency-transaction":
            mtx |= {a["value"] for a in o["Attribute"] if a["object_relation"] == "transaction-number"}
    n = 0
    for ir in rows(os.path.join(d, "index.csv")):
        for r in rows(os.path.join(d, ir["folder"], "deposits.csv")):
            n += 1
            o = sco.get(r["txid"])
            if not o or o.get("symbol") != "ETH":
                fail(f"{r['txid']}: no ETH cryptocurrency-transaction SCO")
                continue
            if o.get("execution_time", "")[:19] != r["block_time"][:19]:
                fail(f"{r['txid']}: SCO time {o.get('execution_time')} != {r['block_time']}")
            if r["asset"] == "native" and not any(
                    wallet.get(x.get("address_ref"), "").lower() == r["deposit_address"].lower() and
                    Decimal(str(x.get("amount", -1))) * 10 ** 18 == int(r["amount_base"])
                    for x in o.get("output", [])):
                fail(f"{r['txid']}: the SCO's outputs lack the deposit {o.get('output')}")
            if r["txid"] not in mtx:
                fail(f"{r['txid']}: no MISP cryptocurrency-transaction object")
    for m in fails:
        print("FAIL", m)
    print(f"bundle: {n} deposit tx(s), {'ok' if not fails else str(len(fails)) + ' differences'}")
    sys.exit(1 if fails else 0)


bundle() if sys.argv[1] == "--bundle" else main()
