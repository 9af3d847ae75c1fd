#!/usr/bin/python3
"""Demixing against the generator's truth (docs/tracing.md, "Demixing": measured).

For every scenario of a chain generated with --thief-truth (or --swap-returns / --thief-remix),
traces its sources forward twice: a haircut trace (the taint tracer, no hop limit) and
`trace --demix`, both at their defaults, and compares what each attributes to the thief at the
services with the truth's thief_deposit lines (every output of the thief's own txs that paid
another entity):

  found          value of the thief's own deposits at exchanges that the method attributes to
                 the thief: demix, the deposit outputs it lists (whole value); haircut, the taint
                 on those outputs (at most their value)
  recall         found / the value of the thief's own deposits at exchanges
  misattributed  value the method attributes to the thief at any service (exchange, OTC, swap,
                 bridge, mixer) on outputs the truth says are not the thief's deposits, as a
                 share of the stolen value; split into deposits of another scenario's thief
                 (thieves share CoinJoin rounds unless --separate-rounds) and innocent value

Also the rules' precision on the thief's CoinJoin outputs (thief_mix_output lines) and the swap
matches against the swap_return lines. Usage:

  demix_eval.py BIN DB TRUTH [--json OUT] [--min-recall F] [--max-misattributed F]
                [--max-innocent F] [--min-gain F] [--demix-args 'ARGS']

exits 1 when a floor given is not met, 2 on bad input. Truth comes from the generator only; the
tool's output is never used as its own reference.
"""
import json
import os
import subprocess
import sys
import tempfile


def run(args):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode:
        sys.stderr.write(p.stderr.decode())
        raise SystemExit("failed: %s" % " ".join(args))
    return json.loads(p.stdout)


def main():
    argv = sys.argv[1:]
    if len(argv) < 3:
        sys.exit(__doc__)
    binp, db, truth = argv[:3]
    opts = {}
    i = 3
    while i < len(argv):
        if i + 1 >= len(argv):
            sys.exit("%s needs a value" % argv[i])
        opts[argv[i]] = argv[i + 1]
        i += 2
    scen, deps, mixouts, swaps = [], {}, set(), {}
    has_truth = False
    for n, line in enumerate(open(truth), 1):
        x = json.loads(line)
        k = x["kind"]
        if k == "meta":
            has_truth = bool(x.get("thief_truth"))
        elif k == "scenario" and x["stolen"] > 0:
            scen.append(x)
        elif k == "thief_deposit":
            deps.setdefault(x["scenario"], {})[x["output"]] = (x["value"], x["type"])
        elif k == "thief_mix_output":
            mixouts.add(x["output"])
        elif k == "swap_return":
            swaps[x["deposit"]] = x["payout"]
    if not has_truth:
        sys.exit("%s: no thief truth (generate with --thief-truth)" % truth)
    tot = {"stolen": 0, "truth_exchange": 0, "truth_services": 0}
    for m in ("haircut", "demix"):
        tot[m] = {"found": 0, "found_services": 0, "misattributed": 0, "other_thief": 0}
    rules = {}
    sw = {"truth": len(swaps), "matched": 0, "right": 0, "followed": 0, "followed_right": 0}
    per = []
    any_dep = {o for d in deps.values() for o in d}
    with tempfile.TemporaryDirectory() as tmp:
        for s in scen:
            sid = s["id"]
            seeds = os.path.join(tmp, "s%d.txt" % sid)
            with open(seeds, "w") as f:
                f.write("\n".join(s["sources"]) + "\n")
            truth_dep = deps.get(sid, {})
            t_ex = sum(v for v, t in truth_dep.values() if t == "exchange")
            t_all = sum(v for v, t in truth_dep.values())
            tot["stolen"] += s["stolen"]
            tot["truth_exchange"] += t_ex
            tot["truth_services"] += t_all
            row = {"scenario": sid, "stolen": s["stolen"], "truth_exchange": t_ex}
            # haircut: the taint on endpoint outputs
            h = run([binp, "trace", "--db", db, "--from", "@" + seeds, "--policy", "haircut",
                     "--format", "json"])
            found = found_all = mis = other = 0
            for e in h["edges"]:
                if e["fate"] != "endpoint":
                    continue
                o, v = e["output"], e["value"]
                if o in truth_dep:
                    tv, tt = truth_dep[o]
                    found_all += min(v, tv)
                    if tt == "exchange":
                        found += min(v, tv)
                    mis += max(0, v - tv)
                else:
                    mis += v
                    other += v if o in any_dep else 0
            tot["haircut"]["other_thief"] += other
            tot["haircut"]["found"] += found
            tot["haircut"]["found_services"] += found_all
            tot["haircut"]["misattributed"] += mis
            row["haircut"] = {"found": found, "misattributed": mis}
            # demix: whole deposit outputs
            d = run([binp, "trace", "--db", db, "--from", "@" + seeds, "--demix", "--format",
                     "json"] + opts.get("--demix-args", "").split())
            found = found_all = mis = other = 0
            for e in d["deposits"]:
                o, v = e["output"], e["amount"]
                if o in truth_dep:
                    found_all += v
                    if truth_dep[o][1] == "exchange":
                        found += v
                else:
                    mis += v
                    other += v if o in any_dep else 0
            tot["demix"]["other_thief"] += other
            tot["demix"]["found"] += found
            tot["demix"]["found_services"] += found_all
            tot["demix"]["misattributed"] += mis
            row["demix"] = {"found": found, "misattributed": mis}
            per.append(row)
            for l in d["links"]:
                if not l["followed"] or l["round"] is None:
                    continue
                r = rules.setdefault(l["rule"], {"links": 0, "right": 0})
                r["links"] += 1
                r["right"] += l["output"] in mixouts
            for x in d["swaps"]:
                if x["payout"] is None:
                    continue
                sw["matched"] += 1
                ok = swaps.get(x["deposit"]) == x["payout"]
                sw["right"] += ok
                sw["followed"] += x["followed"]
                sw["followed_right"] += ok and x["followed"]
    res = {"scenarios": len(scen), "totals": tot, "per_scenario": per, "postmix_rules": rules,
           "swaps": sw}
    for m in ("haircut", "demix"):
        t = tot[m]
        t["recall"] = t["found"] / tot["truth_exchange"] if tot["truth_exchange"] else None
        t["recall_services"] = (t["found_services"] / tot["truth_services"]
                                if tot["truth_services"] else None)
        t["misattributed_share"] = t["misattributed"] / tot["stolen"] if tot["stolen"] else None
        t["innocent"] = t["misattributed"] - t["other_thief"]
        t["innocent_share"] = t["innocent"] / tot["stolen"] if tot["stolen"] else None
    if "--json" in opts:
        with open(opts["--json"], "w") as f:
            json.dump(res, f, indent=1)
    print("scenarios %d, stolen %.8f BTC, the thieves' own exchange deposits %.8f BTC"
          % (len(scen), tot["stolen"] / 1e8, tot["truth_exchange"] / 1e8))
    for m in ("haircut", "demix"):
        t = tot[m]
        print("%-8s found %.8f BTC = %.1f%% of the exchange deposits (%.1f%% of all services'),"
              " misattributed %.8f BTC = %.2f%% of the theft (innocent %.2f%%, another thief's"
              " %.2f%%)"
              % (m, t["found"] / 1e8, 100 * (t["recall"] or 0), 100 * (t["recall_services"] or 0),
                 t["misattributed"] / 1e8, 100 * (t["misattributed_share"] or 0),
                 100 * (t["innocent_share"] or 0),
                 100 * (t["misattributed_share"] or 0) - 100 * (t["innocent_share"] or 0)))
    for k, r in sorted(rules.items()):
        print("rule %-24s %5d links out of rounds, %5d the thief's (%.1f%%)"
              % (k, r["links"], r["right"], 100.0 * r["right"] / r["links"] if r["links"] else 0))
    print("swaps: %d returns in the truth, %d matched (%d right), %d followed (%d right)"
          % (sw["truth"], sw["matched"], sw["right"], sw["followed"], sw["followed_right"]))
    bad = []
    d = tot["demix"]
    if "--min-recall" in opts and (d["recall"] or 0) < float(opts["--min-recall"]):
        bad.append("demix recall %.4f < %s" % (d["recall"] or 0, opts["--min-recall"]))
    if "--max-misattributed" in opts and (d["misattributed_share"] or 0) > float(
            opts["--max-misattributed"]):
        bad.append("demix misattributed %.4f > %s"
                   % (d["misattributed_share"], opts["--max-misattributed"]))
    if "--max-innocent" in opts and (d["innocent_share"] or 0) > float(opts["--max-innocent"]):
        bad.append("demix innocent value %.4f > %s" % (d["innocent_share"], opts["--max-innocent"]))
    if "--min-gain" in opts and (d["recall"] or 0) - (tot["haircut"]["recall"] or 0) < float(
            opts["--min-gain"]):
        bad.append("demix recall gain over haircut below %s" % opts["--min-gain"])
    for b in bad:
        print("FAIL:", b)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
