#!/usr/bin/env python3
"""xchain_events.py BIN DB TRUTH.json: every protocol event (mixer deposits and withdrawals,
bridge deposits, router swaps) as `BIN evm-tx --json` shows it equals the recorded scenario's
truth.json record of it, and failed txs have none. Prints the mismatches and their count; exit 1
if there are any (e2e_xchain.sh)."""
import json, subprocess, sys
binary, db, truth = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))
def events(h):
    return json.loads(subprocess.run([binary, "evm-tx", "--db", db, "--json", h],
                                     capture_output=True, check=True).stdout)["events"]
fails = 0
def check(ok, what):
    global fails
    if not ok:
        print("FAIL", what)
        fails += 1
for d in truth["mixer"]["deposits"]:
    e = [e for e in events(d["tx_hash"]) if e["kind"] == "mixer_deposit"]
    check(len(e) == 1 and e[0]["commitment"] == d["commitment"] and
          int(e[0]["leaf_index"]) == d["leaf_index"] and
          e[0]["contract"].lower() == d["pool"], f"deposit {d['tx_hash']}")
for w in truth["mixer"]["withdrawals"]:
    e = [e for e in events(w["tx_hash"]) if e["kind"] == "mixer_withdrawal"]
    check(len(e) == 1 and e[0]["nullifier_hash"] == w["nullifier_hash"] and
          e[0]["to"].lower() == w["recipient"] and e[0]["relayer"].lower() == w["relayer"] and
          e[0]["fee"] == w["fee_wei"], f"withdrawal {w['tx_hash']}")
for b in truth["bridge_deposits"]:
    e = [e for e in events(b["tx_hash"]) if e["kind"] == "bridge_deposit"]
    check(len(e) == 1 and e[0]["nonce"] == b["nonce"] and e[0]["dest_chain"] == b["dest_chain"] and
          e[0]["recipient"] == b["recipient"] and e[0]["amount"] == b["amount"] and
          e[0]["token"].lower() == b["token"], f"bridge {b['tx_hash']}")
for s in truth["swaps"]:
    e = [e for e in events(s["tx_hash"]) if e["kind"] == "router_deposit"]
    check(len(e) == 1 and e[0]["memo"] == s["memo"] and e[0]["amount"] == s["amount"] and
          e[0]["to"].lower() == s["vault"] and e[0]["asset"].lower() == s["asset"],
          f"swap {s['tx_hash']}")
for f in truth["failed_txs"]:
    check(events(f["tx_hash"]) == [], f"failed tx {f['tx_hash']} has no events")
print(fails, "event mismatches")
sys.exit(1 if fails else 0)
