#!/usr/bin/python3
"""trace_depth.py: the tests of a trace's depth (e2e_trace_depth.sh, e2e_trace.sh).

  trace_depth.py chain T
      writes T/blk/blk00000.dat, a chain serialized by python3-bitcoinlib (not by cointrail):
      block 0's coinbase pays 50 BTC to one address, then a peel chain of N = 1500 txs over
      blocks 1-5 (300 a block): tx k spends tx k-1's first output and pays a peel (10,000-19,600
      sat) and a fee; the last tx pays what is left to an address T/labels.csv labels exchange.
      T/expect.json holds what a trace must find, computed here with python integers: the seed,
      the chain's txids, the value entering each tx, the peels and fees, the heights.
  trace_depth.py check T DOC CASE [ARG]
      checks a trace document of that chain against expect.json; CASE is one of
        default           forward, no limit: the deposit reaches the exchange 1500 txs on, path
                          of 1500 txids, nothing cut, limits.hops null
        hops H            forward --hops H: the taint entering tx H+1 is beyond_hops, cut once
        budget M          forward --max-outputs M: (M-1)//2 txs split, the next one's taint
                          not_followed, cut once, partial
        min V             forward --min-value V (above every peel): the peels below_min_value
        until H           forward --until H: the first tx above height H holds beyond_until
        back              backward from the deposit, no limit: the coinbase 1501 txs back
        back-hops H       backward --hops H: the taint entering the H+1-th tx back
  trace_depth.py warn T STDERR CASE [ARG]
      the CLI's warning lines on stderr: none by default; else one naming the option and the
      amount (in BTC, 8 decimals) the limit stopped
  trace_depth.py recall T TABLE
      on the generator's laundering chain of e2e_trace.sh (T/g/truth.jsonl): per policy
      (haircut, fifo), the share of the truth's cash-out value each trace attributes to the
      right endpoints, for T/P.seedsID.json (--hops 50), T/P.defID.json (the default) and
      T/P.h10ID.json (--hops 10): the default must equal --hops 50 document for document
      (every key but limits.hops), attribute as much, and more than --hops 10; the --hops 10
      documents must report their cut (amount = beyond_hops). TABLE=1 prints the table of
      docs/tracing.md.
Exit 1 on any failure."""
import json
import os
import random
import struct
import sys

import bitcoin
from bitcoin.core import (COutPoint, CMutableTransaction, CMutableTxIn, CMutableTxOut, CBlock,
                          b2lx)
from bitcoin.core.script import CScript
from bitcoin.wallet import CBitcoinAddress

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkchain import MAGIC, solve, subsidy  # noqa: E402

bitcoin.SelectParams("mainnet")
N, PER_BLOCK = 1500, 300
fails = 0


def fail(msg):
    global fails
    print("FAIL:", msg)
    fails += 1


def p2pkh(rng):
    return CScript(bytes([0x76, 0xA9, 20]) + rng.randbytes(20) + bytes([0x88, 0xAC]))


def block(prev, height, txs, fees, rng):
    cb = CMutableTransaction(
        [CMutableTxIn(COutPoint(), CScript([height, rng.randbytes(4)]), 0xFFFFFFFF)],
        [CMutableTxOut(subsidy(height) + fees, p2pkh(rng))])
    vtx = [cb] + txs
    when, bits = 1_600_000_000 + 600 * height, 0x207FFFFF
    b = CBlock(nVersion=0x20000000, hashPrevBlock=prev, nTime=when, nBits=bits, vtx=vtx)
    merkle = b.calc_merkle_root()
    b = CBlock(nVersion=b.nVersion, hashPrevBlock=prev, hashMerkleRoot=merkle, nTime=when,
               nBits=bits, nNonce=solve(b.nVersion, prev, merkle, when, bits, 0), vtx=vtx)
    return b, cb


def chain(T):
    rng = random.Random(14)
    b0, cb0 = block(b"\0" * 32, 0, [], 0, rng)
    blocks, prev = [b0], b0.GetHash()
    seed = COutPoint(cb0.GetTxid(), 0)
    v = [cb0.vout[0].nValue]  # v[k]: the value tx k+1 spends (tx k's first output)
    peels, fees, txids, heights = [], [], [], []
    exch = p2pkh(rng)
    for b in range(1, N // PER_BLOCK + 1):
        txs, bfees = [], 0
        for k in range((b - 1) * PER_BLOCK + 1, b * PER_BLOCK + 1):
            fee = 1000 + k % 13
            ins = [CMutableTxIn(seed, CScript(rng.randbytes(8)), 0xFFFFFFFF)]
            if k < N:
                peel = 10_000 + (k % 97) * 100
                outs = [CMutableTxOut(v[-1] - peel - fee, p2pkh(rng)), CMutableTxOut(peel, p2pkh(rng))]
                peels.append(peel)
            else:
                outs = [CMutableTxOut(v[-1] - fee, exch)]
            tx = CMutableTransaction(ins, outs, nLockTime=0, nVersion=2)
            txs.append(tx)
            fees.append(fee)
            bfees += fee
            txids.append(b2lx(tx.GetTxid()))
            heights.append(b)
            seed = COutPoint(tx.GetTxid(), 0)
            v.append(outs[0].nValue)
        blk, _ = block(prev, b, txs, bfees, rng)
        blocks.append(blk)
        prev = blk.GetHash()
    os.makedirs(f"{T}/blk", exist_ok=True)
    with open(f"{T}/blk/blk00000.dat", "wb") as f:
        for blk in blocks:
            raw = blk.serialize()
            f.write(MAGIC + struct.pack("<I", len(raw)) + raw)
    with open(f"{T}/labels.csv", "w") as f:
        f.write("chain,address,category,actor,source,confidence\n")
        f.write(f"btc,{CBitcoinAddress.from_scriptPubKey(exch)},exchange,Deep Exchange,deep chain,1\n")
    json.dump({"seed": f"{b2lx(cb0.GetTxid())}:0", "txids": txids, "v": v, "peels": peels,
               "fees": fees, "heights": heights, "deposit": v[-1],
               "deposit_output": f"{txids[-1]}:0"}, open(f"{T}/expect.json", "w"))


def want_totals(d, **want):
    """Every bucket of d's totals is 0 but those in want, which have those values."""
    t = d["totals"]
    for k, val in t.items():
        if k == "balanced":
            continue
        if val != want.get(k, 0):
            fail(f"totals.{k} = {val}, want {want.get(k, 0)}")
    if t["balanced"] is not True:
        fail("totals not balanced")


def want_cut(d, limit, bucket, amount, unit, count):
    cut = d.get("cut")
    want = [{"limit": limit, "bucket": bucket, "amount": amount, unit: count}]
    got = [{k: c[k] for k in ("limit", "bucket", "amount", unit) if k in c} for c in cut or []]
    if got != want:
        fail(f"cut {cut}, want {want}")
    if cut and not cut[0].get("lift"):
        fail("the cut names no way to lift it")
    # every cut's amount is its bucket's total (the document's own accounting)
    for c in cut or []:
        if c["amount"] != d["totals"][c["bucket"]]:
            fail(f"cut {c['limit']}: {c['amount']} != totals.{c['bucket']}")


def check(T, doc, case, arg):
    e = json.load(open(f"{T}/expect.json"))
    d = json.load(open(doc))
    v, peels, fees, txids = e["v"], e["peels"], e["fees"], e["txids"]
    n = len(txids)
    split = [x for x in d["txs"] if x["status"] == "followed"]
    if case == "default":
        if d["limits"]["hops"] is not None:
            fail(f"limits.hops {d['limits']['hops']}, want null (no hop limit)")
        want_totals(d, seeded=v[0], to_endpoints=e["deposit"], unspent=sum(peels), fees=sum(fees))
        if d.get("cut") != []:
            fail(f"cut {d['cut']}, want []")
        eps = d["endpoints"]
        if len(eps) != 1 or eps[0]["amount"] != e["deposit"] or eps[0]["path"] != txids:
            fail(f"endpoint: {[(x['amount'], len(x['path'])) for x in eps]}, want one of "
                 f"{e['deposit']} with the chain's {n} txids as its path")
        if len(split) != n or max(x["depth"] for x in split) != n:
            fail(f"{len(split)} txs split, deepest {max(x['depth'] for x in split)}; want {n}")
    elif case == "hops":
        h = int(arg)
        if d["limits"]["hops"] != h:
            fail(f"limits.hops {d['limits']['hops']}")
        want_totals(d, seeded=v[0], beyond_hops=v[h], unspent=sum(peels[:h]), fees=sum(fees[:h]))
        want_cut(d, "hops", "beyond_hops", v[h], "txs", 1)
        if len(split) != h:
            fail(f"{len(split)} txs split, want {h}")
    elif case == "budget":
        k = (int(arg) - 1) // 2  # the seed, then 2 outputs a tx: tx k fits if 1 + 2k <= M
        want_totals(d, seeded=v[0], not_followed=v[k], unspent=sum(peels[:k]), fees=sum(fees[:k]))
        want_cut(d, "max_outputs", "not_followed", v[k], "txs", 1)
        if d["partial"] is not True or d["outputs_visited"] != 1 + 2 * k:
            fail(f"partial {d['partial']}, outputs_visited {d['outputs_visited']}")
    elif case == "min":
        if min(peels) < 0 or max(peels) >= int(arg):
            fail("the minimum is not above every peel")
        want_totals(d, seeded=v[0], to_endpoints=e["deposit"], below_min_value=sum(peels),
                    fees=sum(fees))
        want_cut(d, "min_value", "below_min_value", sum(peels), "outputs", len(peels))
    elif case == "until":
        k = sum(1 for h in e["heights"] if h <= int(arg))
        want_totals(d, seeded=v[0], beyond_until=v[k], unspent=sum(peels[:k]), fees=sum(fees[:k]))
        want_cut(d, "until", "beyond_until", v[k], "txs", 1)
    elif case == "back":
        want_totals(d, seeded=e["deposit"], coinbase=e["deposit"])
        if d.get("cut") != []:
            fail(f"cut {d['cut']}, want []")
        deepest = max(x["depth"] for x in d["txs"])
        if deepest != n + 1 or len(split) != n:
            fail(f"backward: {len(split)} txs split, deepest {deepest}; want {n} and {n + 1}")
    elif case == "back-hops":
        h = int(arg)
        want_totals(d, seeded=e["deposit"], beyond_hops=e["deposit"])
        want_cut(d, "hops", "beyond_hops", e["deposit"], "txs", 1)
    else:
        fail(f"unknown case {case}")


def btc(sat):
    return f"{sat // 100_000_000}.{sat % 100_000_000:08d} BTC"


def warn(T, path, case, arg):
    e = json.load(open(f"{T}/expect.json"))
    lines = [l for l in open(path).read().splitlines() if l.strip()]
    v, peels = e["v"], e["peels"]
    if case == "none":
        if lines:
            fail(f"warnings where nothing was cut: {lines}")
        return
    if case == "hops":
        want = (f"--hops {arg}", btc(v[int(arg)]), "leave --hops out")
    elif case == "budget":
        want = (f"the budget of {arg} visited outputs (--max-outputs)",
                btc(v[(int(arg) - 1) // 2]), "raise --max-outputs")
    else:
        want = (f"--min-value {arg}", btc(sum(peels)), "lower --min-value")
    if len(lines) != 1 or not lines[0].startswith("cointrail: warning: trace cut by ") or \
            not all(w in lines[0] for w in want):
        fail(f"stderr {lines}, want one warning with {want}")


def recall(T, table):
    """The share of the truth's cash-out value attributed to the right endpoint entities."""
    owner, scen = {}, {}
    for line in open(f"{T}/g/truth.jsonl"):
        d = json.loads(line)
        if d.get("kind") == "entity":
            for a in d.get("addresses", []):
                owner[a] = d["id"]
        elif d.get("kind") == "scenario" and d["stolen"] > 0:
            scen[d["id"]] = d
    rows = []
    for p in ("haircut", "fifo"):
        share, depth, cut10 = {}, {}, 0
        for tag in ("seeds", "def", "h10"):
            right = total = 0
            deepest = 0
            for sid, s in sorted(scen.items()):
                d = json.load(open(f"{T}/{p}.{tag}{sid}.json"))
                got = {}
                for ep in d["endpoints"]:
                    o = owner.get(ep["address"], -1)
                    got[o] = got.get(o, 0) + ep["amount"]
                true = {}
                for ep in s["endpoints"]:
                    true[ep["entity"]] = true.get(ep["entity"], 0) + ep["value"]
                right += sum(min(val, true.get(o, 0)) for o, val in got.items())
                total += s["endpoint_total"]
                deepest = max([deepest] + [x["depth"] for x in d["txs"] if x["status"] == "followed"])
                if tag == "def":
                    h50 = json.load(open(f"{T}/{p}.seeds{sid}.json"))
                    if d["limits"]["hops"] is not None or d["cut"] or d["totals"]["beyond_hops"]:
                        fail(f"{p} scenario {sid}: the default has a hop limit or a cut: "
                             f"{d['limits']} {d['cut']}")
                    del d["limits"]["hops"], h50["limits"]["hops"]
                    d.pop("cut"), h50.pop("cut")
                    if d != h50:
                        fail(f"{p} scenario {sid}: the default's document differs from --hops 50's")
                if tag == "h10":
                    bh = d["totals"]["beyond_hops"]
                    cut = [c for c in d["cut"] if c["limit"] == "hops"]
                    if bh and (len(cut) != 1 or cut[0]["amount"] != bh):
                        fail(f"{p} scenario {sid}: --hops 10 left {bh} sat beyond, cut {d['cut']}")
                    cut10 += bh
            share[tag], depth[tag] = right / total, deepest
        rows.append((p, len(scen), share["h10"], share["seeds"], share["def"], depth["def"], cut10))
        if share["def"] != share["seeds"]:
            fail(f"{p}: the default attributes {share['def']:.4f}, --hops 50 {share['seeds']:.4f}")
        # the default must reach where 10 hops do not (measured: +8.9 and +9.3 points)
        if share["def"] < share["h10"] + 0.05:
            fail(f"{p}: the default attributes {share['def']:.4f}, --hops 10 {share['h10']:.4f}")
    if table:
        print("| policy | scenarios | `--hops 10` | `--hops 50` | default (no hop limit) | "
              "deepest tx split by the default | cut at `--hops 10` (BTC) |")
        print("|---|---|---|---|---|---|---|")
        for p, n, s10, s50, sd, dd, c10 in rows:
            print(f"| {p} | {n} | {100 * s10:.1f}% | {100 * s50:.1f}% | {100 * sd:.1f}% | {dd} | "
                  f"{c10 / 1e8:.2f} |")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "chain":
        chain(sys.argv[2])
    elif cmd == "check":
        check(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] if len(sys.argv) > 5 else None)
    elif cmd == "warn":
        warn(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] if len(sys.argv) > 5 else None)
    elif cmd == "recall":
        recall(sys.argv[2], sys.argv[3] == "1")
    else:
        fail(f"unknown command {cmd}")
    sys.exit(1 if fails else 0)
