#!/usr/bin/python3
"""freeze_check.py CMD ARGS: oracles for `cointrail export --case|--incident` (tests/e2e_case_export.sh),
independent of cointrail's code: the generator's truth.jsonl, its incidents.csv, and the blocks
decoded with Debian's python3-bitcoinlib (tests/oracle.py); amounts are Python ints.

  freeze DIR GEN SCENARIO [OLD=NEW...]   a `--format freeze` directory against scenario SCENARIO
        of GEN/truth.jsonl (exchange and OTC names renamed OLD -> NEW, as the test labelled them):
        one packet per exchange or OTC desk the truth's scenario paid; per packet the traced
        satoshis = the truth's endpoint value, the deposits = its deposit count, every deposit
        address one of that entity's (truth), every deposit tx one of the scenario's steps; each
        deposit row against the decoded blocks: the output (txid:vout) pays that address that
        many satoshis, in the block of that height with that time; amount_btc / traced_btc the
        satoshis with exactly 8 decimals; the path starts at one of the scenario's sources and
        each tx spends an output of the one before (the first: the source itself), ending at the
        deposit tx; index.csv = the packets' sums; every letter.html and index.html has no
        script, no element that fetches or links, a Content-Security-Policy, and shows the
        exchange's name, every deposit's txid, address and amount as text; a CSV cell starting
        with = + - @ starts with '
  stix BUNDLE FREEZE_DIR GEN      a case or incident bundle: every cryptocurrency-transaction's
        outputs, fee and time = the decoded tx's; every deposit tx of the freeze directory is in
        it; every deposit address has an indicator whose sighting's first_seen is the day of its
        first deposit; one incident, related to every transaction
  labels DB SOURCE A=B...        rows of DB/labels.db whose source is SOURCE: prints them as TSV
"""
import csv
import html.parser
import json
import os
import sys
from collections import defaultdict
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402  (python3-bitcoinlib)
from bitcoin.core import b2lx  # noqa: E402

failures = []


def fail(msg):
    failures.append(msg)
    if len(failures) <= 20:
        print("FAIL:", msg)


def chain(gen):
    """txid -> (height, time, outputs [(address, value)], inputs [(txid, n)]) of the main chain,
    decoded by bitcoinlib once and kept in GEN/.freeze_check.json for the next call."""
    cache = os.path.join(gen, ".freeze_check.json")
    if os.path.exists(cache):
        return {k: (h, t, [tuple(o) for o in outs], [tuple(i) for i in ins])
                for k, (h, t, outs, ins) in json.load(open(cache)).items()}
    out = {}
    for h, b in enumerate(oracle.main_chain([gen])):
        for tx in b.vtx:
            out[b2lx(tx.GetTxid())] = (
                h, b.nTime, [(oracle.classify(o.scriptPubKey)[1], o.nValue) for o in tx.vout],
                [(b2lx(i.prevout.hash), str(i.prevout.n)) for i in tx.vin])
    with open(cache, "w") as f:
        json.dump(out, f)
    return out


def iso(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def btc8(sat):
    return f"{sat // 100000000}.{sat % 100000000:08d}"


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.text, self.bad, self.csp = [], [], False

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "iframe", "object", "embed", "img", "a", "link", "base", "form",
                   "svg", "video", "audio"):
            self.bad.append(tag)
        for k, v in attrs:
            if k.startswith("on") or k in ("href", "src", "action", "srcdoc"):
                self.bad.append(f"{tag}[{k}]")
            if tag == "meta" and k == "http-equiv" and v.lower() == "content-security-policy":
                self.csp = True

    def handle_data(self, data):
        self.text.append(data)


def page(path):
    p = Page()
    p.feed(open(path, encoding="utf-8").read())
    if p.bad:
        fail(f"{path}: markup that runs or fetches: {p.bad[:5]}")
    if not p.csp:
        fail(f"{path}: no Content-Security-Policy")
    return "".join(p.text)


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def unformula(cell):
    """A cell as written: a leading ' before = + - @ removed (and required)."""
    if cell[:1] == "'" and cell[1:2] in ("=", "+", "-", "@", "\t", "\r"):
        return cell[1:]
    if cell[:1] in ("=", "+", "-", "@"):
        fail(f"CSV cell {cell!r} would run as a formula")
    return cell


def cmd_freeze(d, gen, scenario, *renames):
    rename = dict(r.split("=", 1) for r in renames)
    truth = [json.loads(line) for line in open(os.path.join(gen, "truth.jsonl"))]
    sc = next(x for x in truth if x["kind"] == "scenario" and str(x["id"]) == scenario)
    steps = {s["txid"] for s in sc["steps"]}
    sources = set(sc["sources"])
    ent_addrs = {x["name"]: set(x.get("addresses", [])) for x in truth if x["kind"] == "entity"}
    want = {}
    for e in sc["endpoints"]:
        if e["type"] in ("exchange", "otc"):
            want[rename.get(e["name"], e["name"])] = (e["name"], e["type"], e["value"], e["deposits"])
    txs = chain(gen)
    index = read_csv(os.path.join(d, "index.csv"))
    got = {}
    for r in index:
        name = unformula(r["exchange"])
        got[name] = r
    if set(got) != set(want):
        fail(f"packets {sorted(got)} != the truth's exchanges and OTC desks {sorted(want)}")
    idx_text = page(os.path.join(d, "index.html"))
    n_deps = 0
    for name, r in got.items():
        if name not in want:
            continue
        tname, ttype, tvalue, tdeps = want[name]
        folder = os.path.join(d, r["folder"])
        rows = read_csv(os.path.join(folder, "deposits.csv"))
        n_deps += len(rows)
        traced = sum(int(x["traced_sat"]) for x in rows)
        value = sum(int(x["amount_sat"]) for x in rows)
        if traced != tvalue:
            fail(f"{name}: traced {traced} sat != truth {tvalue}")
        if len(rows) != tdeps:
            fail(f"{name}: {len(rows)} deposits != truth {tdeps}")
        if (int(r["deposits"]), int(r["amount_sat"]), int(r["traced_sat"])) != (len(rows), value, traced) \
                or r["amount_btc"] != btc8(value) or r["traced_btc"] != btc8(traced) \
                or r["category"] != ttype:
            fail(f"{name}: index row {r} != its deposits ({len(rows)}, {value}, {traced})")
        text = page(os.path.join(folder, "letter.html"))
        if name not in text or name not in idx_text:
            fail(f"{name}: the letter or the index does not show the name as text")
        for x in rows:
            if unformula(x["exchange"]) != name or x["category"] != ttype:
                fail(f"{name}: row names {x['exchange']!r} {x['category']}")
            txid, vout, sat = x["txid"], int(x["vout"]), int(x["amount_sat"])
            if txid not in steps:
                fail(f"{name}: deposit tx {txid} is not a step of scenario {scenario}")
            if x["deposit_address"] not in ent_addrs[tname]:
                fail(f"{name}: {x['deposit_address']} is not an address of {tname}")
            if txid not in txs:
                fail(f"{name}: {txid} not in the chain")
                continue
            h, t, outs, _ = txs[txid]
            addr, val = outs[vout]
            if (addr, val, h, iso(t)) != \
                    (x["deposit_address"], sat, int(x["block_height"]), x["block_time"]):
                fail(f"{name}: {txid}:{vout} is {addr} {val} at {h} {iso(t)}, "
                     f"the row says {x['deposit_address']} {sat} {x['block_height']} {x['block_time']}")
            if x["amount_btc"] != btc8(sat) or x["traced_btc"] != btc8(int(x["traced_sat"])):
                fail(f"{name}: BTC amounts {x['amount_btc']} {x['traced_btc']}")
            if not 0 < int(x["traced_sat"]) <= sat:
                fail(f"{name}: traced {x['traced_sat']} of {sat}")
            path = x["path"].split(" > ")
            if path[0] not in sources:
                fail(f"{name}: path starts at {path[0]}, not a source of the scenario")
            if path[-1] != txid and not (len(path) == 1 and path[0].startswith(txid + ":")):
                fail(f"{name}: path ends at {path[-1]}, not {txid}")
            prev = [tuple(path[0].split(":"))]
            for p in path[1:]:
                if p not in txs or not set(txs[p][3]) & set(prev):
                    fail(f"{name}: {p} spends nothing of {prev[0][0]}")
                    break
                prev = [(p, str(k)) for k in range(len(txs[p][2]))]
            for k in ("txid", "deposit_address", "amount_btc"):
                if x[k] not in text:
                    fail(f"{name}: the letter lacks {x[k]}")
    print(json.dumps({"packets": len(got), "deposits": n_deps}))


def cmd_stix(bundle_path, fdir, gen):
    txs = chain(gen)
    objs = json.load(open(bundle_path))["objects"]
    incidents = [o for o in objs if o["type"] == "incident"]
    if len(incidents) != 1:
        fail(f"{len(incidents)} incident objects")
    wallets = {o["id"]: o["value"] for o in objs if o["type"] == "cryptocurrency-wallet"}
    rel = {(o["source_ref"], o["target_ref"]) for o in objs if o["type"] == "relationship"}
    sco = {}
    for o in objs:
        if o["type"] != "cryptocurrency-transaction":
            continue
        sco[o["value"]] = o
        if o["value"] not in txs:
            fail(f"tx {o['value']} not in the chain")
            continue
        h, t, outs, _ = txs[o["value"]]
        got = [(wallets[m["address_ref"]], round(float(m["amount"]) * 1e8)) for m in o.get("output", [])]
        if got != [x for x in outs if x[0]]:
            fail(f"tx {o['value']}: outputs {got[:3]} != decoded {outs[:3]}")
        if o.get("execution_time") != iso(t):
            fail(f"tx {o['value']}: time {o.get('execution_time')} != {iso(t)}")
        if incidents and (incidents[0]["id"], o["id"]) not in rel:
            fail(f"tx {o['value']} not related to the incident")
    first = {}
    for name in os.listdir(fdir):
        p = os.path.join(fdir, name, "deposits.csv")
        if not os.path.exists(p):
            continue
        for x in read_csv(p):
            if x["txid"] not in sco:
                fail(f"deposit tx {x['txid']} not in the bundle")
            a = x["deposit_address"]
            first[a] = min(first.get(a, "9"), x["block_time"][:10])
    ind = {o["id"]: o for o in objs if o["type"] == "indicator"}
    seen = {}
    for o in objs:
        if o["type"] == "sighting":
            i = ind[o["sighting_of_ref"]]
            a = i["pattern"].split("'")[1]
            seen[(a, i["x_cointrail_chain"], i["labels"][0])] = o["first_seen"][:10]
    for a, day in first.items():
        days = [v for (aa, c, cat), v in seen.items() if aa == a and cat in ("exchange", "otc")]
        if days != [day]:
            fail(f"deposit address {a}: sighting first_seen {days}, first deposit {day}")
    print(json.dumps({"transactions": len(sco), "deposit_addresses": len(first)}))


def cmd_labels(db, source):
    with open(os.path.join(db, "labels.db"), encoding="utf-8") as f:
        for line in f.read().split("\n")[2:]:
            if line and line.split("\t")[5] == source:
                print(line)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {"freeze": cmd_freeze, "stix": cmd_stix, "labels": cmd_labels}[cmd](*args)
    if failures:
        print(f"{len(failures)} failures")
        sys.exit(1)


if __name__ == "__main__":
    main()
