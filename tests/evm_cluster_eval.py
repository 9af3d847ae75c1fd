#!/usr/bin/env python3
"""evm_cluster_eval.py COMMAND ARGS: e2e_evm_cluster.sh's checks of `evm-cluster` against the
EVM generator's truth.jsonl (roles exchange_deposit / exchange_hot_wallet and account names) and
the raw ethereum-etl CSVs it wrote; nothing here reads cointrail's own answers as truth.

  score ENT TRUTH MIN_P MIN_R   precision and recall of the deposit-address -> exchange
                                assignments in the entities document ENT (an assignment is right
                                when the truth's role is exchange_deposit and its exchange's name
                                matches); exit 1 below MIN_P or MIN_R (percent)
  provenance ENT TRUTH EVMDIR   every assignment's tx moves its asset from the deposit address to
                                its hot_wallet (transactions.csv or token_transfers.csv), and the
                                hot wallet is the truth's exchange_hot_wallet
  deposit TRUTH                 an unlabelled (not in labels.csv next to TRUTH) exchange_deposit
                                address, the hash and block of a tx that paid it ETH: ADDRESS
                                TXHASH BLOCK
  services ENT TRUTH [MIN_P MIN_R]
                                deposit address -> service, labelled exchanges and the
                                unlabelled ones of --evm-services alike: an assignment is right
                                when the truth names the same service for the deposit address
                                and the hot wallet it was assigned to; prints precision and
                                recall (all, unlabelled services only), the false positives by
                                truth role and a JSON line of the counts; exit 1 below MIN_P or
                                MIN_R
  pick TRUTH ENT                a deposit address of an unlabelled exchange (truth) that ENT
                                assigned, and its service's hot wallet (truth): ADDRESS HOT
  entity TRUTH ADDRESS TOTAL PAGE...
                                `entity --json` pages of ADDRESS's entity: each names the truth's
                                hot wallet of ADDRESS's service, the pages together hold TOTAL
                                distinct members in address order, every one the truth's deposit
                                address of that service, at least 90% of that service's deposit
                                addresses that were ever paid
  actor DOC ADDRESS NAME        etrace's document DOC has a holder actor NAME, from "entity",
                                whose addresses include ADDRESS
"""
import csv
import json
import os
import sys


def truth_accounts(path):
    acc = {}
    for l in open(path):
        t = json.loads(l)
        if t["kind"] == "evm_account":
            acc[t["address"].lower()] = t
    return acc


def exchange_of(t):
    # "Coinvault (deposit of user 7)" / "Coinvault (ETH hot wallet)": the generator's names
    return t["name"].split(" (")[0]


def score():
    ent = json.load(open(sys.argv[1]))
    acc = truth_accounts(sys.argv[2])
    min_p, min_r = float(sys.argv[3]), float(sys.argv[4])
    truth = {a: exchange_of(t) for a, t in acc.items() if t["role"] == "exchange_deposit"}
    # a deposit address that never received anything cannot be found: it is not on the chain
    right = wrong = 0
    for d in ent["deposits"]:
        a = d["address"].lower()
        if truth.get(a) == d["exchange"]:
            right += 1
        else:
            wrong += 1
            print("wrong:", a, d["exchange"], acc.get(a, {}).get("role"))
    got = right + wrong
    p = 100.0 * right / got if got else 0.0
    r = 100.0 * right / len(truth) if truth else 0.0
    print("deposit addresses: truth %d, assigned %d, right %d, wrong %d: precision %.2f%%, "
          "recall %.2f%%" % (len(truth), got, right, wrong, p, r))
    sys.exit(0 if p >= min_p and r >= min_r and truth else 1)


def provenance():
    ent = json.load(open(sys.argv[1]))
    acc = truth_accounts(sys.argv[2])
    d = sys.argv[3]
    hots = {a for a, t in acc.items() if t["role"] == "exchange_hot_wallet"}
    eth = {}
    for row in csv.DictReader(open(os.path.join(d, "transactions.csv"))):
        eth[row["hash"]] = (row["from_address"].lower(), row["to_address"].lower(), int(row["value"]))
    tok = {}
    for row in csv.DictReader(open(os.path.join(d, "token_transfers.csv"))):
        tok.setdefault(row["transaction_hash"], []).append(
            (row["token_address"].lower(), row["from_address"].lower(), row["to_address"].lower()))
    bad = 0
    for e in ent["deposits"]:
        a, h, tx, asset = e["address"].lower(), e["hot_wallet"].lower(), e["tx"], e["asset"]
        ok = h in hots and e["rule"] in ("deposit-forward", "deposit-forward-unlabelled")
        if asset == "ETH":
            ok = ok and tx in eth and eth[tx][0] == a and eth[tx][1] == h and eth[tx][2] > 0
        else:
            ok = ok and (asset.lower(), a, h) in tok.get(tx, [])
        ok = ok and int(e["forwarded"]) * 100 >= int(e["received"]) * ent["params"]["min_share"]
        # every forwarding tx kept as provenance moves the asset from it to the hot wallet
        for f in e.get("forward_txs", []):
            if asset == "ETH":
                ok = ok and f in eth and eth[f][0] == a and eth[f][1] == h and eth[f][2] > 0
            else:
                ok = ok and (asset.lower(), a, h) in tok.get(f, [])
        ok = ok and 0 < len(e["forward_txs"]) <= e["forwards"]
        if not ok:
            bad += 1
            print("bad provenance:", e)
    print("provenance: %d assignments, %d bad" % (len(ent["deposits"]), bad))
    sys.exit(0 if ent["deposits"] and not bad else 1)


def deposit():
    acc = truth_accounts(sys.argv[1])
    labelled = set()
    for row in csv.DictReader(open(os.path.join(os.path.dirname(sys.argv[1]), "labels.csv"))):
        labelled.add(row["address"].lower())
    deps = {a for a, t in acc.items() if t["role"] == "exchange_deposit" and a not in labelled}
    d = os.path.join(os.path.dirname(sys.argv[1]), "evm", "transactions.csv")
    for row in csv.DictReader(open(d)):
        to = row["to_address"].lower()
        if to in deps and int(row["value"]) > 10**17 and acc.get(row["from_address"].lower(), {}).get("role") == "user":
            print(to, row["hash"], row["block_number"])
            return
    sys.exit(1)


def actor():
    doc = json.load(open(sys.argv[1]))
    a, name = sys.argv[2].lower(), sys.argv[3]
    for g in doc.get("by_actor", []):
        if g["role"] == "holder" and g["actor"] == name and g["actor_from"] == "entity" and \
                any(x["address"].lower() == a for x in g["addresses"]):
            sys.exit(0)
    print(json.dumps(doc.get("by_actor", []))[:2000])
    sys.exit(1)


def services():
    ent = json.load(open(sys.argv[1]))
    acc = truth_accounts(sys.argv[2])
    min_p = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    min_r = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    svc = lambda a: exchange_of(acc[a]) if a in acc else None
    truth = {a: svc(a) for a, t in acc.items() if t["role"] == "exchange_deposit"}
    unl = {a for a, s in truth.items() if s.startswith("Unlabelled exchange")}
    right = wrong = right_u = got_u = 0
    fp = {}
    for d in ent["deposits"]:
        a, h = d["address"].lower(), d["hot_wallet"].lower()
        hot_ok = acc.get(h, {}).get("role") == "exchange_hot_wallet"
        ok = a in truth and hot_ok and svc(h) == truth[a]
        u = d["rule"] == "deposit-forward-unlabelled"
        got_u += u
        if ok:
            right += 1
            right_u += a in unl
        else:
            wrong += 1
            role = acc.get(a, {}).get("role", "?")
            fp[role] = fp.get(role, 0) + 1
            print("wrong:", a, role, "->", h, acc.get(h, {}).get("role"))
    got = right + wrong
    p = 100.0 * right / got if got else 0.0
    r = 100.0 * right / len(truth) if truth else 0.0
    ru = 100.0 * right_u / len(unl) if unl else 0.0
    print("deposit addresses: truth %d (unlabelled services %d), assigned %d, right %d, wrong %d:"
          " precision %.2f%%, recall %.2f%% (unlabelled services: %.2f%%); false positives by "
          "role: %s" % (len(truth), len(unl), got, right, wrong, p, r, ru, json.dumps(fp)))
    print(json.dumps({"truth": len(truth), "truth_unlabelled": len(unl), "assigned": got,
                      "assigned_unlabelled_rule": got_u, "right": right,
                      "right_unlabelled": right_u, "wrong": wrong, "fp": fp}))
    sys.exit(0 if p >= min_p and r >= min_r and truth else 1)


def pick():
    acc = truth_accounts(sys.argv[1])
    ent = json.load(open(sys.argv[2]))
    got = {d["address"].lower() for d in ent["deposits"]}
    hots = {exchange_of(t): a for a, t in acc.items() if t["role"] == "exchange_hot_wallet"}
    for a in sorted(acc):
        t = acc[a]
        if t["role"] == "exchange_deposit" and t["name"].startswith("Unlabelled") and a in got:
            print(a, hots[exchange_of(t)])
            return
    sys.exit(1)


def entity():
    acc = truth_accounts(sys.argv[1])
    a, total = sys.argv[2].lower(), int(sys.argv[3])
    svc = exchange_of(acc[a])
    hot = [x for x, t in acc.items() if t["role"] == "exchange_hot_wallet" and exchange_of(t) == svc]
    members, bad = [], 0
    for f in sys.argv[4:]:
        d = json.load(open(f))
        if d["entity"] != hot[0] or d["total"] != total or d["formed"]["hot_wallet"]["address"] != hot[0]:
            print("page %s: entity %s total %s, truth %s %d" % (f, d["entity"], d["total"], hot, total))
            bad += 1
        members += [m["address"] for m in d["members"]]
    for m in members:
        t = acc.get(m, {})
        if t.get("role") != "exchange_deposit" or exchange_of(t) != svc:
            print("member %s is %s" % (m, t.get("name")))
            bad += 1
    paid = {l for l in acc if acc[l]["role"] == "exchange_deposit" and exchange_of(acc[l]) == svc}
    if members != sorted(set(members)) or len(members) != total or a not in members:
        print("pages: %d members, %d distinct, total %d" % (len(members), len(set(members)), total))
        bad += 1
    if total * 10 < len(paid) * 9:
        print("entity holds %d of %d deposit addresses of %s" % (total, len(paid), svc))
        bad += 1
    print("entity of %s: %s, %d members over %d pages, %d bad" % (a, svc, len(members),
                                                                   len(sys.argv) - 4, bad))
    sys.exit(1 if bad else 0)


COMMANDS = {"score": score, "services": services, "pick": pick, "entity": entity, "provenance": provenance, "deposit": deposit, "actor": actor}

if __name__ == "__main__":
    import subcommand

    subcommand.run(__doc__, COMMANDS)
