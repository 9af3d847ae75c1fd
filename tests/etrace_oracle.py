#!/usr/bin/python3
"""An independent forward haircut / FIFO / poison tracer over ethereum-etl CSVs (python ints),
to check `cointrail etrace --json` (docs/etrace.md).

usage: etrace_oracle.py CSV_DIR LABELS_CSV POLICY HOPS MIN_VALUE FOLLOW_MIXERS ETRACE_JSON [EPS_OUT]

EPS_OUT (optional): write the oracle's endpoints there as JSON, [[address, asset, amount,
deposits], ...] (address lowercase, asset "native" or the token's lowercase address).

It rebuilds the value moves from the CSVs alone (docs/evm.md: per tx its own value, its fee,
internal transfers in trace order, ERC-20 in log index order; block-level genesis/reward last),
keeps the balance of every address and asset from the first row, runs the policy over the whole
chain from the seeds, and compares totals, endpoints and what every address holds with the
document. The seeds are given as the document's own seed references ("0xTX:N" / "xfer:ID"),
each mapped to this script's transfer of the same tx and position. Exits 1 on any difference.
"""
import csv
import json
import sys

STOPS = ["exchange", "otc", "bridge", "swap", "mixer"]


def rows(d, name):
    with open(f"{d}/{name}.csv", newline="") as f:
        return list(csv.DictReader(f))


def openings(xs):
    """The smallest opening balance per (address, asset) that keeps every moment >= 0."""
    run, opening = {}, {}
    for x in xs:
        if x["frm"] == x["to"]:
            continue
        if x["to"]:
            run[(x["to"], x["asset"])] = run.get((x["to"], x["asset"]), 0) + x["amount"]
        if x["frm"]:
            k = (x["frm"], x["asset"])
            v = run.get(k, 0) - x["amount"]
            if v < 0:
                opening[k] = opening.get(k, 0) - v
                v = 0
            run[k] = v
    return opening


def build(d):
    """Transfers in store order: dicts with tx, pos, block, frm, to, asset, amount, kind."""
    blocks = sorted(int(b["number"]) for b in rows(d, "blocks"))
    txs = rows(d, "transactions")
    rc = {r["transaction_hash"]: r for r in rows(d, "receipts")}
    # grouped once (in file order) so that a chain of 10^4 txs is not scanned per tx
    by_block, traces_of, block_traces, tts_of = {}, {}, {}, {}
    for t in txs:
        by_block.setdefault(int(t["block_number"]), []).append(t)
    for x in rows(d, "traces"):
        if x["transaction_hash"] == "":
            block_traces.setdefault(int(x["block_number"]), []).append(x)
        else:
            traces_of.setdefault(x["transaction_hash"], []).append(x)
    for x in rows(d, "token_transfers"):
        tts_of.setdefault(x["transaction_hash"], []).append(x)
    out = []
    for bn in blocks:
        btx = sorted(by_block.get(bn, []), key=lambda t: int(t["transaction_index"]))
        for t in btx:
            h = t["hash"]
            r = rc[h]
            failed = r["status"] == "0"
            to = t["to_address"] or r["contract_address"] or None
            mine = []
            if int(t["value"]) > 0 and not failed:
                mine.append(("tx", t["from_address"], to, "native", int(t["value"])))
            price = int(r["effective_gas_price"] or t["gas_price"])
            mine.append(("fee", t["from_address"], None, "native", int(r["gas_used"]) * price))
            its = [x for x in traces_of.get(h, []) if x["trace_address"] != ""
                   and x["status"] == "1" and int(x["value"] or 0) > 0
                   and (x["trace_type"] in ("create", "suicide")
                        or (x["trace_type"] == "call" and x["call_type"] == "call"))]
            its.sort(key=lambda x: [int(v) for v in x["trace_address"].split(",")])
            for x in its:
                mine.append(("internal", x["from_address"], x["to_address"], "native",
                             int(x["value"])))
            if not failed:
                for x in sorted(tts_of.get(h, []), key=lambda x: int(x["log_index"])):
                    mine.append(("erc20", x["from_address"], x["to_address"],
                                 x["token_address"].lower(), int(x["value"])))
            for pos, (k, f, to_, a, v) in enumerate(mine):
                out.append(dict(tx=h, pos=pos, block=bn, kind=k, frm=f, to=to_, asset=a,
                                amount=v))
        for x in block_traces.get(bn, []):
            if x["trace_type"] in ("genesis", "reward") and int(x["value"] or 0) > 0:
                out.append(dict(tx=None, pos=0, block=bn, kind="reward", frm=None,
                                to=x["to_address"], asset="native", amount=int(x["value"])))
    return out


def trace(xs, stop, policy, hops, min_value, seeds):
    """Run the policy forward over the transfers xs from seeds ({index: taint}, taint None for
    the whole amount). Returns totals T, endpoints eps, per (address, asset) tin, tout, tfees,
    taint (held) and bal, and moves: (index, taint, hop, fate) of every tainted non-seed
    transfer (fate "followed" when it went on)."""
    moves = []
    opening = openings(xs)
    bal = dict(opening)
    taint, queue, depth = {}, {}, {}
    tin, tout, tfees = {}, {}, {}
    T = {}

    def tot(asset, b, v):
        if v:
            T.setdefault(asset, {}).setdefault(b, 0)
            T[asset][b] += v

    eps = {}
    i = 0
    while i < len(xs):
        j = i + 1
        while j < len(xs) and xs[i]["tx"] and xs[j]["tx"] == xs[i]["tx"]:
            j += 1
        g = xs[i:j]
        share = {}
        for n, x in enumerate(g):
            k = (x["frm"], x["asset"])
            t = 0
            if x["frm"] and x["frm"] != x["to"] and k in taint:
                if policy == "poison":
                    t = x["amount"] if taint.get(k, 0) > 0 else 0
                elif policy == "haircut":
                    if taint[k] == 0:
                        share[n] = 0
                    if n not in share:
                        run_ = []
                        for m in range(n, len(g)):
                            y = g[m]
                            if y["asset"] != x["asset"]:
                                continue
                            if y["to"] == x["frm"]:
                                break
                            if y["frm"] == x["frm"]:
                                run_.append(m)
                        B, Tt = bal[k], taint[k]
                        rest = B - sum(g[m]["amount"] for m in run_)
                        amts = [g[m]["amount"] for m in run_] + [rest]
                        q = [Tt * a // B for a in amts]
                        r = [Tt * a % B for a in amts]
                        left = Tt - sum(q)
                        order = sorted(range(len(amts)), key=lambda b: (-r[b], b))
                        for b in order[:left]:
                            q[b] += 1
                        for idx, m in enumerate(run_):
                            share[m] = q[idx]
                    t = share[n]
                else:
                    need, t = x["amount"], 0
                    qq = queue[k]
                    while need:
                        a, tn = qq[0]
                        take = min(a, need)
                        if tn:
                            t += take
                        need -= take
                        if take == a:
                            qq.pop(0)
                        else:
                            qq[0] = (a - take, tn)
                taint[k] -= t
                if x["kind"] == "fee":
                    tfees[k] = tfees.get(k, 0) + t
                else:
                    tout[k] = tout.get(k, 0) + t
            if x["frm"] and x["frm"] != x["to"]:
                bal[k] = bal.get(k, 0) - x["amount"]
                assert bal[k] >= 0
            hop = depth.get(x["frm"], 0) + 1
            seed = (i + n) in seeds
            if seed:
                tot(x["asset"], "overlap", t)
                t = x["amount"] if seeds[i + n] is None else seeds[i + n]
                tot(x["asset"], "seeded", t)
                hop = 0
            if x["frm"] == x["to"] and not seed:
                continue
            rk = (x["to"], x["asset"])
            if x["to"]:
                bal[rk] = bal.get(rk, 0) + x["amount"]
            fate = None
            if t == 0:
                pass
            elif x["to"] is None:
                fate = "fees" if x["kind"] == "fee" else "held"
            elif not seed and hop > hops:
                fate = "beyond_hops"
            elif not seed and x["to"] in stop:
                fate = "to_endpoints"
                e = eps.setdefault((x["to"], x["asset"]), [0, 0])
                e[0] += t
                e[1] += 1
            elif not seed and t < min_value:
                fate = "below_min_value"
            if t and not seed:
                moves.append((i + n, t, hop, fate or "followed"))
            if t == 0 or fate:
                if fate:
                    tot(x["asset"], fate, t)
                if rk in taint and x["to"]:
                    if policy == "fifo":
                        queue[rk].append((x["amount"], False))
                    if policy == "poison" and taint[rk] > 0:
                        taint[rk] += x["amount"]
                        tin[rk] += x["amount"]
                        tot(x["asset"], "poison_added", x["amount"])
                continue
            if rk not in taint:
                before = bal[rk] - x["amount"]
                taint[rk], tin[rk] = 0, 0
                queue[rk] = [(before, False)] if before else []
            if policy == "poison":
                added = (bal[rk] - x["amount"] - taint[rk]) + (x["amount"] - t)
                tot(x["asset"], "poison_added", added)
                tin[rk] += added
                taint[rk] = bal[rk]
            else:
                taint[rk] += t
                if policy == "fifo":
                    queue[rk] += [(t, True)] + ([(x["amount"] - t, False)] if x["amount"] > t
                                                else [])
            tin[rk] += t
            depth[x["to"]] = min(depth.get(x["to"], hop), hop)
        i = j
    for k, v in taint.items():
        tot(k[1], "held", v)

    return dict(T=T, eps=eps, tin=tin, tout=tout, tfees=tfees, taint=taint, bal=bal,
                moves=moves)


def main():
    d, labels_csv, policy, hops, min_value, follow_mixers, doc_json = sys.argv[1:8]
    hops, min_value, follow_mixers = int(hops), int(min_value), follow_mixers == "1"
    xs = build(d)
    stop = {}
    with open(labels_csv, newline="") as f:
        for r in csv.DictReader(f):
            if r["chain"] == "eth" and r["category"] in STOPS and r["address"].lower() not in stop:
                if follow_mixers and r["category"] == "mixer":
                    continue
                stop[r["address"].lower()] = r["category"]
    doc = json.load(open(doc_json))
    refs = doc["seeds"]
    by_ref = {}
    for i, x in enumerate(xs):
        if x["tx"]:
            by_ref[f'{x["tx"]}:{x["pos"]}'] = i
    for i, x in enumerate(xs):
        if not x["tx"]:  # block-level: the store's id, which is the position in this order too
            by_ref[f"xfer:{i}"] = i
    seeds = set(by_ref[r] for r in refs)

    r = trace(xs, stop, policy, hops, min_value, {k: None for k in seeds})
    T, eps, tin, tout, tfees, taint, bal = (r[k] for k in ("T", "eps", "tin", "tout", "tfees",
                                                            "taint", "bal"))
    fails = 0

    def check(what, ours, theirs):
        nonlocal fails
        if ours != theirs:
            print(f"FAIL {policy}: {what}: oracle {ours} != cointrail {theirs}")
            fails += 1

    for asset, t in doc["totals"].items():
        for b, v in t.items():
            if b != "balanced":
                check(f"totals[{asset}].{b}", T.get(asset, {}).get(b, 0), int(v))
    check("assets with totals", sorted(T), sorted(doc["totals"]))
    got = {(e["address"].lower(), e["asset"]): [int(e["amount"]), e["deposits"]]
           for e in doc["endpoints"]}
    check("endpoints", dict(sorted(eps.items())), dict(sorted(got.items())))
    if len(sys.argv) > 8:  # the oracle's endpoints, for checks of what is built on a trace
        with open(sys.argv[8], "w") as f:
            json.dump([[a, asset, v[0], v[1]] for (a, asset), v in sorted(eps.items())], f)
    held = {}
    for a in doc["addresses"]:
        for asset, v in a["assets"].items():
            held[(a["address"].lower(), asset)] = (int(v["taint_in"]), int(v["taint_out"]),
                                                   int(v["fees"]), int(v["held"]),
                                                   int(v["balance"]))
    mine = {k: (tin[k], tout.get(k, 0), tfees.get(k, 0), taint[k], bal[k]) for k in taint}
    check("per address (taint_in, taint_out, fees, held, balance)", dict(sorted(mine.items())),
          dict(sorted(held.items())))
    print(f"oracle {policy}: {len(xs)} transfers, {len(eps)} endpoints, "
          f"{'ok' if not fails else str(fails) + ' differences'}")
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
