#!/usr/bin/python3
"""Compare `cointrail xchain links --json` with the truth: EXPECT.json from xchain_chain.py
(swap outbounds, refunds, bridge releases built from truth.json) and truth.json's mixer
deposit <-> withdrawal map. Prints PASS/FAIL lines and a precision/recall table per method.

  xchain_check.py LINKS.json EXPECT.json TRUTH.json [--floors METHOD=P,R ...]
"""
import json
import sys


def main():
    links = json.load(open(sys.argv[1]))["links"]
    expect = json.load(open(sys.argv[2]))
    truth = json.load(open(sys.argv[3]))
    floors = {}
    for a in sys.argv[4:]:
        if a == "--floors":
            continue
        m, pr = a.split("=")
        p, r = pr.split(",")
        floors[m] = (float(p), float(r))
    fails = 0

    def check(ok, what):
        nonlocal fails
        print(("PASS " if ok else "FAIL ") + what)
        fails += not ok

    def norm(h):
        return h.lower().removeprefix("0x")

    got = {}
    for link in links:
        key = (link["method"], norm(link["from"]["tx"]), norm(link["to"]["tx"]))
        got.setdefault(key, []).append(link)

    # cross-chain: every expected link exactly, nothing else at all
    exact = [e for e in expect["links"]]
    for e in exact:
        key = (e["method"], norm(e["from"]), norm(e["to"]))
        hit = got.get(key, [])
        ok = len(hit) == 1
        if ok:
            vouts = [o["n"] for o in hit[0]["to"].get("outputs", [])]
            ok = abs(hit[0]["confidence"] - e["confidence"]) < 1e-9 and (
                e["confidence"] < 1 or vouts == e["vouts"])
        check(ok, f"{e['method']} {e.get('kind', '')} {e['from'][:12]} -> {e['to'][:12]} "
                  f"confidence {e['confidence']} outputs {e['vouts']}: got "
                  f"{[(h['confidence'], [o['n'] for o in h['to'].get('outputs', [])]) for h in hit]}")
    want = {(e["method"], norm(e["from"]), norm(e["to"])) for e in exact}
    extra = [k for k in got if not k[0].startswith("mixer_") and k not in want]
    check(not extra, f"no cross-chain link beyond the expected ones (extra: {extra[:3]})")
    bad_tx = {norm(t) for t in expect["no_link_txids"]}
    touching = [k for k in got if k[1] in bad_tx or k[2] in bad_tx]
    check(not touching, f"decoy and garbage txs in no link ({len(bad_tx)} txs)")
    swaps = {norm(s["tx_hash"]) for s in truth["swaps"]}
    linked = {k[1] for k, v in got.items()
              if k[0] == "thorchain_memo" and any(h["confidence"] == 1.0 for h in v)}
    check(swaps <= linked, f"every one of the {len(swaps)} THORChain swaps linked at confidence 1")

    # precision / recall per method. Cross-chain truth: the expected links not marked false;
    # mixer truth: truth.json's deposit <-> withdrawal pairs.
    true_pairs = {}
    for e in exact:
        if e["confidence"] == 1.0 or e.get("truth"):
            true_pairs.setdefault(e["method"], set()).add((norm(e["from"]), norm(e["to"])))
    mixer_truth = {(norm(w["deposit_tx_hash"]), norm(w["tx_hash"]))
                   for w in truth["mixer"]["withdrawals"]}
    all_methods = ["thorchain_memo", "bridge_nonce", "bridge_value_window", "mixer_same_address",
                   "mixer_linked_address", "mixer_unique_timing", "mixer_gas_price",
                   "mixer_relayer_batch"]
    methods = all_methods + sorted(({k[0] for k in got} | set(floors)) - set(all_methods)
                                   - {"mixer_any"})
    print(f"{'method':24} {'links':>5} {'correct':>7} {'precision':>9} {'recall':>6} "
          f"{'mean conf':>9}")
    for m in methods:
        pairs = [(k[1], k[2]) for k in got if k[0] == m]
        confs = [h["confidence"] for k, v in got.items() if k[0] == m for h in v]
        t = mixer_truth if m.startswith("mixer_") else true_pairs.get(m, set())
        correct = sum(p in t for p in pairs)
        prec = correct / len(pairs) if pairs else 0.0
        rec = len(set(pairs) & t) / len(t) if t else 0.0
        mc = sum(confs) / len(confs) if confs else 0.0
        print(f"{m:24} {len(pairs):5} {correct:7} {prec:9.3f} {rec:6.3f} {mc:9.3f}")
        if m in floors:
            fp, fr = floors[m]
            check(prec >= fp and rec >= fr,
                  f"{m}: precision {prec:.3f} >= {fp}, recall {rec:.3f} >= {fr}")
    allm = {(k[1], k[2]) for k in got if k[0].startswith("mixer_")}
    rec = len(allm & mixer_truth) / len(mixer_truth)
    print(f"{'mixer (any rule)':24} {len(allm):5} {len(allm & mixer_truth):7} "
          f"{len(allm & mixer_truth) / max(1, len(allm)):9.3f} {rec:6.3f}")
    if "mixer_any" in floors:
        check(rec >= floors["mixer_any"][1], f"mixer recall over all rules {rec:.3f}")
    print(f"{fails} failed")
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
