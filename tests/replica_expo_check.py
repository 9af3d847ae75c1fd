#!/usr/bin/python3
"""Exposure of deposits on `serve --state` replicas after a label changes in the state database
(docs/state.md, "Exposure on replicas"), against tests/exposure_oracle.py's propagation (Python
integers over the blocks decoded by python3-bitcoinlib).

  replica_expo_check.py pick BLOCKDIR LABELS.csv OUTDIR
      chooses an unlabelled address X whose `sanctioned` label changes the whole-history
      exposure of at least 3 deposits (txs paying an address labels.csv gives to an exchange),
      deterministically; writes OUTDIR/extra.csv (that label, for the oracle) and
      OUTDIR/pick.json: {"address", "first_tx" (a tx paying X), "fund_tx" (the tx
      first_tx's first input spends), "deposits": [txid...] (the
      affected ones and 10 unaffected), "with": {txid: {cat: sat}}, "without": {...}}: the sums
      over each deposit's outputs per category the oracle gives with and without the label
  replica_expo_check.py screen URL KEY PICK.json with|without
      GET /v1/screen/tx/TXID?direction=incoming of every deposit: answered from the index
      ("exposure_index": "used"), amounts per category those of the oracle
  replica_expo_check.py wait URL KEY PICK.json with|without TIMEOUT
      polls the most affected deposit every 10 ms until its sanctioned amount is the oracle's;
      prints the seconds it took (exit 1 on timeout)
  replica_expo_check.py cli BIN DB PICK.json with|without [STATE_URL]
      the same screenings by `cointrail screen --db DB [--state STATE_URL] --json
      --direction incoming`

Exits 1 after printing FAIL lines if anything differs."""
import json
import os
import subprocess
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exposure_oracle  # noqa: E402
import serve_check  # noqa: E402
from bitcoin.core import b2lx  # noqa: E402

FAILS = 0


def fail(msg):
    global FAILS
    FAILS += 1
    print("FAIL:", msg)


def sums(txs_by_id, rec, ids):
    out = {}
    for t in ids:
        x = txs_by_id[t]
        s = defaultdict(int)
        for n in range(len(x["outs"])):
            for c, v in rec.get((x["txid"], n), {}).items():
                s[c] += v
        out[t] = dict(s)
    return out


def cmd_pick(blockdir, labels_csv, outdir):
    _, txs, outs, _ = serve_check.load_chain(blockdir)
    labels = exposure_oracle.load_labels([labels_csv])
    exch = {a for a, cs in labels.items() if "exchange" in cs}
    base_stops = exposure_oracle.stops_of(labels, None)
    deposits = [b2lx(x["txid"]) for x in txs
                if not x["coinbase"] and any(a in exch for _, a in x["outs"])]
    by_id = {b2lx(x["txid"]): x for x in txs}
    rec0 = exposure_oracle.propagate(txs, outs, base_stops, 1000)[0]
    without = sums(by_id, rec0, deposits)
    spent = {p for x in txs for p in x["ins"]}
    last = txs[-1]["height"]
    cands, seen = [], set()
    for x in txs:
        if x["height"] > last * 6 // 10:
            break
        if x["coinbase"]:
            continue
        for n, (_, a) in enumerate(x["outs"]):
            if a and a not in labels and a not in seen and (x["txid"], n) in spent:
                seen.add(a)
                cands.append((a, b2lx(x["txid"])))
    for a, first in cands[::max(1, len(cands) // 60)]:
        stops = dict(base_stops)
        stops[a] = "sanctioned"
        rec = exposure_oracle.propagate(txs, outs, stops, 1000)[0]
        wth = sums(by_id, rec, deposits)
        hit = [t for t in deposits if wth[t] != without[t]]
        if len(hit) < 3:
            continue
        hit.sort(key=lambda t: -wth[t].get("sanctioned", 0))
        ctrl = [t for t in deposits if t not in hit][:10]
        pick = hit[:40] + ctrl
        with open(os.path.join(outdir, "extra.csv"), "w") as f:
            f.write("chain,address,category,actor,source,confidence\n")
            f.write(f"btc,{a},sanctioned,test,analyst,0.5\n")
        fund = b2lx(next(x["ins"][0][0] for x in txs if b2lx(x["txid"]) == first))
        with open(os.path.join(outdir, "pick.json"), "w") as f:
            json.dump({"address": a, "first_tx": first, "fund_tx": fund, "deposits": pick,
                       "with": {t: wth[t] for t in pick},
                       "without": {t: without[t] for t in pick}}, f)
        print(f"picked {a}: {len(hit)} of {len(deposits)} deposits change, "
              f"{sum(wth[t].get('sanctioned', 0) for t in hit)} sat sanctioned")
        return
    fail("no address changes 3 deposits")


def compare(doc, t, want, where):
    inc = doc.get("indirect", {}).get("incoming", {})
    if doc.get("exposure_index") != "used" or inc.get("source") != "index":
        fail(f"{where} {t}: not from the index ({doc.get('exposure_index')})")
        return
    have = {c["category"]: c["amount"] for c in inc["by_category"] if c["indexed"]}
    if have != want:
        fail(f"{where} {t}: screened {have}, oracle {want}")


def cmd_screen(url, key, pick, which):
    p = json.load(open(pick))
    for t in p["deposits"]:
        st, doc = serve_check.get(url, key, f"/v1/screen/tx/{t}?direction=incoming")
        if st != 200:
            fail(f"{url} {t}: HTTP {st}")
            continue
        compare(doc, t, p[which][t], url)
    changed = sum(p["with"][t] != p["without"][t] for t in p["deposits"])
    print(f"{url}: {len(p['deposits'])} deposits screened ({changed} the label changes) equal "
          f"the oracle {which} the label" if not FAILS else f"{url}: {FAILS} differences")


def cmd_stale(url, key, pick):
    """Between a label change and the index's update: every deposit screened says the index is
    stale (it traces) rather than answer the amounts of the labels before."""
    p = json.load(open(pick))
    for t in p["deposits"]:
        st, doc = serve_check.get(url, key, f"/v1/screen/tx/{t}?direction=incoming")
        if st != 200 or doc.get("exposure_index") != "stale":
            fail(f"{url} {t}: HTTP {st}, exposure_index {doc.get('exposure_index')}, not stale")
    print(f"{url}: {len(p['deposits'])} deposits screened as stale" if not FAILS else
          f"{url}: {FAILS} differences")


def cmd_wait(url, key, pick, which, timeout):
    p = json.load(open(pick))
    t = p["deposits"][0]
    want = p[which][t].get("sanctioned", 0)
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            st, doc = serve_check.get(url, key, f"/v1/screen/tx/{t}?direction=incoming")
        except OSError:
            st = 0
        if st == 200 and doc.get("exposure_index") == "used":
            have = {c["category"]: c["amount"]
                    for c in doc["indirect"]["incoming"]["by_category"] if c["indexed"]}
            if have.get("sanctioned", 0) == want:
                print(f"{time.time() - t0:.3f}")
                return
        time.sleep(0.01)
    print("timeout")
    sys.exit(1)


def cmd_cli(binary, db, pick, which, state):
    p = json.load(open(pick))
    cmd = [binary, "screen", "--db", db, "--direction", "incoming", "--json"]
    if state:
        cmd += ["--state", state]
    docs = json.loads(subprocess.run(cmd + p["deposits"], check=True, capture_output=True,
                                     text=True).stdout)
    for t, d in zip(p["deposits"], docs):
        compare(d, t, p[which][t], "cli " + db)


def main():
    a = sys.argv[1:]
    if a and a[0] == "pick":
        cmd_pick(*a[1:4])
    elif a and a[0] == "screen":
        cmd_screen(*a[1:5])
    elif a and a[0] == "stale":
        cmd_stale(*a[1:4])
    elif a and a[0] == "wait":
        cmd_wait(a[1], a[2], a[3], a[4], float(a[5]))
    elif a and a[0] == "cli":
        cmd_cli(a[1], a[2], a[3], a[4], a[5] if len(a) > 5 else None)
    else:
        print(__doc__)
        sys.exit(2)
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
