#!/usr/bin/env python3
"""incident_check.py CMD ARGS: the oracles of e2e_incident.sh (python3 stdlib only: json, csv,
sqlite3, hashlib, html.parser). Nothing here imports cointrail code; amounts are Python ints.

  labels TRUTH                  every address of the truth's exchanges, OTC desk, swap service,
                                bridge and mixers as a labels CSV (category = entity type, actor
                                = entity name): an investigator who knows every service address
  tally TALLY_JSON TRUTH BY     `report thefts --by BY --json` against the generator's truth: per
                                group of the truth's scenarios (actor and the year of their date,
                                as BY says) and in total: incidents, stolen, per named exchange,
                                OTC, swap, bridge, mixer (the truth's endpoints by entity type),
                                unspent (remaining), fees; nothing untraced or arrived
  csv TALLY_CSV TALLY_JSON      the CSV's rows = the JSON's amounts, group by group
  html HTML TALLY_JSON [TEXT...]  no element or attribute from the data (no script, no on*, no
                                href/src, no external URL), an inline SVG bar chart and flow chart,
                                every group key and the given hostile TEXTs shown as text
  snapshot DIR                  SHA-256 of every incident and case row (not the audit log) of
                                DIR/cases.sqlite, and the audit log's row count
  dprk-list LIST_JSON THEFTS ADDRESSES   `incident list --json` = the CSV files: ids, dates,
                                victims, chains (mapped here), USD, attributions, URLs, seeds
  dprk-tally TALLY_JSON THEFTS BY  `report thefts` over the imported file = a tally computed here
                                from the CSV: per group (first actor, year of the date) the
                                incidents and the USD they state; no stolen amounts (no seeds in
                                the store)
  evm DIR_JSON TRUTH            an EVM incident traced across chains: ETH and USDT stolen = the
                                truth's; every followed deposit's Bitcoin run is seeded with the
                                outputs of the truth's outbound leg for that deposit; each asset's
                                destinations sum to stolen + arrived; BTC arrived = the followed
                                legs' seeded value times their shares (Python ints) and at most the
                                truth's BTC scenario's stolen
  xtrace SHOW_JSON XTRACE_JSON  the incident's Bitcoin legs = `etrace --cross-chain --json`'s
                                btc_by_actor for the same seeds and options (src/xtrace)
"""
import csv
import hashlib
import html.parser
import json
import caseq
import sys
from collections import defaultdict

KINDS = ["exchange", "otc", "bridge", "swap", "mixer", "converted", "unspent", "fees", "untraced"]


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def truth_lines(path):
    for l in open(path):
        yield json.loads(l)


def cmd_labels(truth):
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(["chain", "address", "category", "actor", "source", "confidence"])
    for d in truth_lines(truth):
        if d["kind"] == "entity" and d["type"] in ("exchange", "otc", "swap", "bridge", "mixer"):
            for a in d.get("addresses", []):
                w.writerow(["btc", a, d["type"], d["name"], "truth (test)", "1.0"])


def group_of(d, by):
    return (d["actor"] if "actor" in by else None, d["date"][:4] if "year" in by else None)


def expect_from_truth(truth, by):
    """The truth's scenarios that stole, grouped: counts and amounts per kind and name."""
    exp = {}
    for d in truth_lines(truth):
        if d["kind"] != "scenario" or d["stolen"] <= 0 or d.get("evm_scenario"):
            continue
        for key in (group_of(d, by), "total"):
            g = exp.setdefault(key, {"incidents": 0, "stolen": 0, "unspent": 0, "fees": 0,
                                     "names": defaultdict(int), "kinds": defaultdict(int)})
            g["incidents"] += 1
            g["stolen"] += d["stolen"]
            g["unspent"] += d["remaining"]
            g["fees"] += d["fees"]
            for e in d["endpoints"]:
                g["kinds"][e["type"]] += e["value"]
                if e["type"] in ("exchange", "otc", "mixer"):
                    g["names"][(e["type"], e["name"])] += e["value"]
    return exp


def check_group(key, g, e):
    if g["incidents"] != e["incidents"] or g["traced"] != e["incidents"]:
        fail(f"{key}: {g['incidents']} incidents ({g['traced']} traced), truth {e['incidents']}")
    assets = [a for a in g["assets"] if a["chain"] == "btc"]
    if len(assets) != 1 or len(g["assets"]) != 1:
        fail(f"{key}: assets {[a['symbol'] for a in g['assets']]}")
    a = assets[0]
    d = a["destinations"]
    got = {"stolen": int(a["stolen"]), "arrived": int(a["arrived"]),
           "unspent": int(d["unspent"]), "fees": int(d["fees"]), "untraced": int(d["untraced"]),
           "converted": int(d["converted"])}
    want = {"stolen": e["stolen"], "arrived": 0, "unspent": e["unspent"], "fees": e["fees"],
            "untraced": 0, "converted": 0}
    if got != want:
        fail(f"{key}: {got} != truth {want}")
    for k in ("exchange", "otc", "bridge", "swap", "mixer"):
        if int(d[k]["total"]) != e["kinds"].get(k, 0):
            fail(f"{key}: {k} {d[k]['total']} != truth {e['kinds'].get(k, 0)}")
    for k in ("exchange", "otc", "mixer"):
        names = {n: int(v) for n, v in d[k]["by_name"].items()}
        want = {n: v for (kk, n), v in e["names"].items() if kk == k}
        if names != want:
            fail(f"{key}: {k} by name {names} != truth {want}")
    # bridges and swaps on the Bitcoin side lead nowhere known
    for k in ("bridge", "swap"):
        if set(d[k]["by_chain"]) - {"unknown"}:
            fail(f"{key}: {k} to {list(d[k]['by_chain'])}")
    # the partition: stolen = the destinations' sum
    total = sum(int(d[k]["total"]) if isinstance(d[k], dict) else int(d[k]) for k in KINDS)
    if total != got["stolen"] + got["arrived"]:
        fail(f"{key}: destinations sum {total} != stolen {got['stolen']}")


def cmd_tally(tally_json, truth, by):
    by = [b for b in by.split(",") if b]
    t = json.load(open(tally_json))
    exp = expect_from_truth(truth, by)
    seen = set()
    for g in t["groups"]:
        key = (g.get("actor") if "actor" in by else None, g.get("year") if "year" in by else None)
        if key not in exp:
            fail(f"group {key} not in the truth")
        check_group(key, g, exp[key])
        seen.add(key)
    if not by:  # the total only
        exp.pop((None, None), None)
    if seen != set(exp) - {"total"}:
        fail(f"groups {sorted(map(str, seen))} != truth {sorted(map(str, set(exp) - {'total'}))}")
    check_group("total", t["total"], exp["total"])
    # the year/actor series of the chart adds up to the total
    s = sum(int(a["stolen"]) for g in t["by_year_and_actor"] for a in g["assets"])
    if s != exp["total"]["stolen"]:
        fail(f"by_year_and_actor stolen {s} != {exp['total']['stolen']}")
    print(len(seen), "groups,", exp["total"]["incidents"], "incidents match the truth")


def cmd_csv(tally_csv, tally_json):
    t = json.load(open(tally_json))
    rows = list(csv.DictReader(open(tally_csv, newline="")))
    got = defaultdict(int)
    for r in rows:
        key = (r["actor"], r["year"], r["chain"], r["symbol"], r["kind"], r["name"])
        got[key] += int(r["amount"])
        if r["name"][:1] in ("=", "+", "-", "@"):
            fail(f"formula in the CSV: {r['name']}")
    want = defaultdict(int)
    groups = [(g, False) for g in t["groups"]] + [(t["total"], True)]
    for g, total in groups:
        k0 = ("(total)",) * 3 if total else (g.get("actor", ""), g.get("year", ""), g.get("chain", ""))
        for a in g["assets"]:
            want[k0 + (a["symbol"], "stolen", "")] += int(a["stolen"])
            want[k0 + (a["symbol"], "arrived", "")] += int(a["arrived"])
            for k in KINDS:
                v = a["destinations"][k]
                if isinstance(v, dict):
                    for n, x in v.get("by_name", v.get("by_chain", {})).items():
                        want[k0 + (a["symbol"], k, "" if n == "unknown" else n)] += int(x)
                elif int(v):
                    want[k0 + (a["symbol"], k, "")] += int(v)
    got = {k: v for k, v in got.items() if v}
    want = {k: v for k, v in want.items() if v}
    if got != want:
        fail(f"CSV differs: {sorted(set(got.items()) ^ set(want.items()))[:4]}")
    print(len(rows), "rows")


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.text, self.tags, self.bad = [], defaultdict(int), []

    def handle_starttag(self, tag, attrs):
        self.tags[tag] += 1
        if tag in ("script", "iframe", "object", "embed", "img", "a", "link", "base", "form"):
            self.bad.append(tag)
        for k, v in attrs:
            if k.startswith("on") or k in ("href", "src", "xlink:href", "action"):
                self.bad.append(f"{tag}[{k}]")
            if v and ("javascript:" in v or "http" in v and k != "xmlns"):
                self.bad.append(f"{tag}[{k}={v[:40]}]")

    def handle_data(self, data):
        self.text.append(data)


def cmd_html(page, tally_json, *hostile):
    t = json.load(open(tally_json))
    p = Page()
    p.feed(open(page, encoding="utf-8").read())
    if p.bad:
        fail(f"markup from the data or a fetch: {p.bad[:5]}")
    if p.tags["svg"] < 2 or p.tags["rect"] < 2 or p.tags["path"] < 1:
        fail(f"charts missing: {dict(p.tags)}")
    text = "".join(p.text)
    for g in t["groups"]:
        for k in ("actor", "year", "chain"):
            if k in g and g[k] not in text:
                fail(f"group key {g[k]!r} not shown")
    for h in hostile:
        if h not in text:
            fail(f"hostile text {h!r} not shown as text")
    print("html ok:", dict((k, p.tags[k]) for k in ("svg", "rect", "path", "table")))


def cmd_snapshot(d):
    """D: a store directory or a postgresql:// URI (caseq.py)."""
    db = caseq.connect(d, ro=True)
    h = hashlib.sha256()
    for table in ("incidents", "incident_attributions", "incident_urls", "incident_seeds",
                  "incident_amounts", "incident_traces", "incident_trace_runs",
                  "incident_deposits", "cases", "case_seeds", "trace_runs"):
        for row in db.execute(f"SELECT * FROM {table} ORDER BY 1, 2"):
            h.update(repr((table, row)).encode())
    n = db.execute("SELECT COUNT(*) FROM audit_log")[0][0]
    print(h.hexdigest(), n)


CHAIN = {"bitcoin": "btc", "ethereum": "eth", "tron": "trx", "litecoin": "ltc",
         "stellar": "xlm", "solana": "sol", "avalanche": "avax"}


def chains_of(s):
    out = []
    for c in s.split(";"):
        c = c.strip()
        if c:
            c = CHAIN.get(c, c)
            if c not in out:
                out.append(c)
    return out


def usd_of(fiat):
    for p in fiat.split(";"):
        p = p.strip()
        if p.endswith(" USD"):
            return p[:-4]
    return ""


def cmd_dprk_list(list_json, thefts, addresses):
    got = {i["id"]: i for i in json.load(open(list_json))}
    rows = list(csv.DictReader(open(thefts, newline="", encoding="utf-8")))
    seeds = defaultdict(set)
    for r in csv.DictReader(open(addresses, newline="", encoding="utf-8")):
        for i in r["incident_id"].split(";"):
            seeds[i.strip()].add((CHAIN.get(r["chain"], r["chain"]), r["address"]))
    if set(got) != {r["id"] for r in rows}:
        fail(f"ids differ: {sorted(set(got) ^ {r['id'] for r in rows})}")
    for r in rows:
        g = got[r["id"]]
        if g["date"] != r["date"] or g["victim"] != r["victim"].strip():
            fail(f"{r['id']}: date/victim {g['date']}/{g['victim']}")
        if g["chains"] != chains_of(r["chains"]):
            fail(f"{r['id']}: chains {g['chains']} != {chains_of(r['chains'])}")
        if g["usd"] != usd_of(r["amount_fiat"]) or g["amount_fiat"] != r["amount_fiat"]:
            fail(f"{r['id']}: usd {g['usd']!r} != {usd_of(r['amount_fiat'])!r}")
        if g["amount_native"] != r["amount_native"]:
            fail(f"{r['id']}: amount_native {g['amount_native']!r}")
        actors = [a.strip() for a in r["attribution"].split(";") if a.strip()]
        if [a["actor"] for a in g["attribution"]] != actors:
            fail(f"{r['id']}: actors {[a['actor'] for a in g['attribution']]} != {actors}")
        for a in g["attribution"]:
            if a["attributed_by"] != r["attributed_by"] or a["kind"] != r["attribution_kind"]:
                fail(f"{r['id']}: attributed_by/kind {a['attributed_by']!r}/{a['kind']!r}")
            if a["confidence"] is not None:
                fail(f"{r['id']}: a confidence no source gave")
        urls = {u["url"] for u in g["sources"]}
        want = {u for k in ("incident_source_url", "attribution_source_url", "official_url")
                for u in [r[k]] if u} | set(r["other_source_urls"].split())
        if urls != want:
            fail(f"{r['id']}: urls {sorted(urls ^ want)}")
        if {(s["chain"], s["spec"]) for s in g["seeds"]} != seeds[r["id"]]:
            fail(f"{r['id']}: seeds {len(g['seeds'])} != {len(seeds[r['id']])}")
        if g["stolen"]:
            fail(f"{r['id']}: stolen amounts without a store: {g['stolen']}")
    print(len(rows), "incidents,", sum(len(v) for v in seeds.values()), "seeds as in the files")


def cmd_dprk_tally(tally_json, thefts, by):
    by = [b for b in by.split(",") if b]
    t = json.load(open(tally_json))
    want = defaultdict(lambda: [0, 0, 0])  # incidents, usd cents, with usd
    for r in csv.DictReader(open(thefts, newline="", encoding="utf-8")):
        actor = r["attribution"].split(";")[0].strip()
        key = (actor if "actor" in by else None, r["date"][:4] if "year" in by else None)
        for k in (key, "total"):
            want[k][0] += 1
            u = usd_of(r["amount_fiat"])
            if u:
                whole, _, frac = u.partition(".")
                want[k][1] += int(whole) * 100 + int((frac + "00")[:2])
                want[k][2] += 1
    got = {}
    for g in t["groups"] + [dict(t["total"], total=True)]:
        key = "total" if g.get("total") else (g.get("actor"), g.get("year"))
        cents = 0
        if g["usd"] is not None:
            whole, _, frac = g["usd"].partition(".")
            cents = int(whole) * 100 + int(frac)
        got[key] = [g["incidents"], cents, g["usd_incidents"]]
        if g["assets"] or g["traced"]:
            fail(f"{key}: amounts or traces without seeds in a store")
    if got != dict(want):
        fail(f"tally differs: {sorted(set(map(str, got.items())) ^ set(map(str, want.items())))[:4]}")
    print(len(got) - 1, "groups match the CSV")


def cmd_evm(show_json, truth):
    inc = json.load(open(show_json))
    lines = list(truth_lines(truth))
    sid = int(inc["id"].split("-")[1])
    scen = [d for d in lines if d["kind"] == "scenario" and d["id"] == sid][0]
    ev = [d for d in lines if d["kind"] == "evm_scenario" and d["id"] == scen["evm_scenario"]][0]
    stolen = {s["symbol"]: int(s["amount"]) for s in inc["stolen"]}
    if stolen.get("ETH") != int(ev["stolen_eth"]) or stolen.get("USDT", 0) != int(ev["stolen_usdt"]):
        fail(f"stolen {stolen} != truth {ev['stolen_eth']} ETH, {ev['stolen_usdt']} USDT")
    # the truth's outbound Bitcoin leg of every inbound deposit
    legs = {}
    for d in lines:
        if d["kind"] == "xchain_link" and d.get("outbound_chain") == "btc":
            legs[d["inbound_tx"].lower()] = f"{d['outbound_txid']}:{d['outbound_vout']}"
    tr = inc["trace"]
    runs = {r["run"]: r for r in tr["runs"]}
    arrived = 0
    followed = 0
    for r in tr["runs"]:
        if r["leg"] != "cross_chain":
            continue
        dep = tr["deposits"][r["deposit"]]
        want = legs.get(dep["tx"].lower())
        seeds = r["trace_run"]["command"]
        if not want or f"--from {want}" not in seeds:
            fail(f"deposit {dep['tx']}: followed to {seeds}, truth {want}")
        seeded = [int(b["amount"]) for b in r["trace_run"]["totals"] if b["bucket"] == "seeded"][0]
        arrived += seeded * int(r["share_num"]) // int(r["share_den"])
        followed += 1
    if followed == 0:
        fail("no deposit followed")
    where = inc["where"]
    btc = [a for a in where["assets"] if a["symbol"] == "BTC"]
    # per leg the tally floors each scaled amount: within one satoshi per leg
    if not btc or abs(int(btc[0]["arrived"]) - arrived) > followed:
        fail(f"BTC arrived {btc[0]['arrived'] if btc else None} != legs {arrived}")
    if arrived > scen["stolen"]:
        fail(f"arrived {arrived} > the truth's Bitcoin inflow {scen['stolen']}")
    for a in where["assets"]:
        d = a["destinations"]
        total = sum(int(d[k]["total"]) if isinstance(d[k], dict) else int(d[k]) for k in KINDS)
        if abs(total - int(a["stolen"]) - int(a["arrived"])) > followed:
            fail(f"{a['symbol']}: destinations {total} != stolen + arrived")
    eth = [a for a in where["assets"] if a["symbol"] == "ETH"][0]["destinations"]
    to_btc = sum(int(eth[k]["by_chain"].get("btc", 0)) for k in ("bridge", "swap"))
    want_btc = sum(int(d["taint"]) for d in tr["deposits"] if d["to_chain"] == "btc"
                   and not d["why_not"] and d["asset"] == "native")
    if to_btc != want_btc:
        fail(f"ETH to btc {to_btc} != the followed deposits' taint {want_btc}")
    print(f"{followed} legs followed, {arrived} sat arrived of the truth's {scen['stolen']}")


def cmd_xtrace(show_json, xtrace_json):
    """The Bitcoin legs of an incident trace against `etrace --cross-chain` (src/xtrace, which
    propagates with trace_exposure_run, not trace_compute) with the same options: the amount per
    exchange, desk and mixer actor, and per bridge and swap, within a satoshi per endpoint of
    each leg (both round each leg's scaled amounts down, at other granularities)."""
    inc = json.load(open(show_json))
    x = json.load(open(xtrace_json))
    rows = defaultdict(int)
    for r in inc["trace"]["runs"]:
        # only a leg with a share below 1 is scaled, hence rounded
        if r["leg"] == "cross_chain" and r["share_num"] != r["share_den"]:
            for e in r["trace_run"]["endpoints"]:
                key = e["category"] if e["category"] in ("bridge", "swap") else (e["actor"] or e["name"])
                rows[key] += 1
    btc = [a for a in inc["where"]["assets"] if a["symbol"] == "BTC"][0]["destinations"]
    mine = {}
    for k in ("exchange", "otc", "mixer"):
        for n, v in btc[k]["by_name"].items():
            mine[n] = mine.get(n, 0) + int(v)
    for k in ("bridge", "swap"):
        mine[k] = int(btc[k]["total"])
    theirs = defaultdict(int)
    for a in x["btc_by_actor"]:
        theirs[a["category"] if a["category"] in ("bridge", "swap") else a["actor"]] += a["amount"]
    for k in set(mine) | set(theirs):
        if abs(mine.get(k, 0) - theirs.get(k, 0)) > rows[k] + 1:
            fail(f"{k}: incident legs {mine.get(k, 0)} != etrace --cross-chain {theirs.get(k, 0)}")
    if not theirs:
        fail("etrace --cross-chain reached nothing")
    print(len(theirs), "actors and services agree with etrace --cross-chain")


if __name__ == "__main__":
    cmds = {"labels": cmd_labels, "tally": cmd_tally, "csv": cmd_csv, "html": cmd_html,
            "snapshot": cmd_snapshot, "dprk-list": cmd_dprk_list, "dprk-tally": cmd_dprk_tally,
            "evm": cmd_evm, "xtrace": cmd_xtrace}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])
