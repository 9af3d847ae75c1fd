#!/usr/bin/env python3
"""case_check.py CMD ARGS: the oracles of e2e_case.sh (python3 stdlib only: json, csv, sqlite3,
hashlib, html.parser).

  sources TRUTH                 the theft's source outputs, one per line
  truth RUN_JSON TRUTH          a case run's totals and endpoints by actor = the truth's scenario
                                (a chain without CoinJoins: haircut through the thief's own txs
                                is exact): seeded = stolen, to_endpoints = endpoint_total, fees,
                                and per named entity the amount it received
  same EXPORT_JSON RUN TRACE_JSON   run RUN of the export = `cointrail trace`'s document for the
                                same seeds and options: every totals bucket, every endpoint
                                (address, amount, category), in order
  same-evm EXPORT_JSON RUN ETRACE_JSON   the same for an EVM run and `cointrail etrace`'s
                                document: totals per asset and bucket, endpoints per asset
  csv EXPORT_CSV EXPORT_JSON    the CSV's rows = the export's endpoints of every run; per run they
                                sum to to_endpoints
  html REPORT EXPORT_JSON TRUTH  the HTML report: no element, attribute or URL from the data (no
                                script, no on* attribute, no href/src), the hostile strings shown
                                as text, run 1's actor table = the truth, every run's reproduce
                                command, every audit row of the export
  db DIR                        DIR/cases.sqlite: integrity_check ok, the audit hash chain
                                recomputed here from the rows, every note and label with exactly
                                one audit row (a change and its audit row are one transaction)
  prefix DIR N                  the hashes of the first N audit rows (to compare before/after)
  append-only DIR               UPDATE and DELETE of audit rows and notes are refused
"""
import csv
import hashlib
import html.parser
import json
import caseq
import sys


def scenario(truth):
    for l in open(truth):
        d = json.loads(l)
        if d.get("kind") == "scenario" and d["stolen"] > 0:
            return d
    sys.exit("no scenario stole anything")


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def by_actor(endpoints):
    agg = {}
    for e in endpoints:
        agg[e["actor"]] = agg.get(e["actor"], 0) + int(e["amount"])
    return agg


def cmd_sources(truth):
    print("\n".join(scenario(truth)["sources"]))


def cmd_truth(run_json, truth):
    r = json.load(open(run_json))
    sc = scenario(truth)
    tot = {t["bucket"]: int(t["amount"]) for t in r["totals"]}
    if tot["seeded"] != sc["stolen"]:
        fail(f"seeded {tot['seeded']} != stolen {sc['stolen']}")
    if tot["to_endpoints"] != sc["endpoint_total"]:
        fail(f"to_endpoints {tot['to_endpoints']} != truth {sc['endpoint_total']}")
    if tot["fees"] != sc["fees"] or tot["unspent"] != sc["remaining"]:
        fail(f"fees/unspent {tot['fees']}/{tot['unspent']} != {sc['fees']}/{sc['remaining']}")
    agg = by_actor(r["endpoints"])
    for e in sc["endpoints"]:
        if agg.get(e["name"], 0) != e["value"]:
            fail(f"{e['name']}: {agg.get(e['name'], 0)} != truth {e['value']}")
    if sum(agg.values()) != sc["endpoint_total"]:
        fail("endpoints outside the truth's entities")
    print(len(sc["endpoints"]), "actors")


def cmd_same(export_json, run, trace_json):
    x = json.load(open(export_json))
    run = int(run)
    r = [r for r in x["runs"] if r["id"] == run][0]
    t = json.load(open(trace_json))
    tot = {b["bucket"]: int(b["amount"]) for b in r["totals"]}
    for k, v in t["totals"].items():
        if k != "balanced" and tot.get(k) != v:
            fail(f"bucket {k}: case {tot.get(k)} != trace {v}")
    if len(tot) != len(t["totals"]) - 1:
        fail("bucket count")
    a = [(e["address"], int(e["amount"]), e["category"]) for e in r["endpoints"]]
    b = [(e["address"], e["amount"], e["category"]) for e in t["endpoints"]]
    if a != b:
        fail(f"endpoints differ: {len(a)} vs {len(b)}, first {a[:1]} vs {b[:1]}")
    # the stored document is the trace module's, less edges/txs/graph
    if r["result"]["totals"] != t["totals"] or r["result"]["endpoints"] != t["endpoints"]:
        fail("the stored result document differs from the trace's")
    if r["result"].get("limits") != t.get("limits") or r["result"]["seeds"] != t["seeds"]:
        fail("the stored options or seeds differ")
    print(len(a), "endpoints")


def cmd_same_evm(export_json, run, etrace_json):
    x = json.load(open(export_json))
    r = [r for r in x["runs"] if r["id"] == int(run)][0]
    t = json.load(open(etrace_json))
    got = {(b["asset"], b["bucket"]): b["amount"] for b in r["totals"]}
    want = {(a, k): v for a, b in t["totals"].items() for k, v in b.items() if k != "balanced"}
    if got != want:
        fail(f"totals differ: {sorted(set(got.items()) ^ set(want.items()))[:3]}")
    a = [(e["address"], e["asset"], e["amount"], e["category"]) for e in r["endpoints"]]
    b = [(e["address"], e["asset"], e["amount"], e["category"]) for e in t["endpoints"]]
    if a != b:
        fail(f"endpoints differ: {a[:2]} vs {b[:2]}")
    if r["result"]["totals"] != t["totals"] or r["result"]["endpoints"] != t["endpoints"]:
        fail("the stored result document differs from etrace's")
    print(len(a), "endpoints")


def cmd_csv(export_csv, export_json):
    x = json.load(open(export_json))
    rows = list(csv.DictReader(open(export_csv, newline="")))
    want = []
    for r in x["runs"]:
        for e in r["endpoints"]:
            want.append((str(r["id"]), e["address"], e["amount"], e["actor"]))
    got = [(w["run"], w["address"], w["amount"], w["actor"].lstrip("'")) for w in rows]
    if got != want:
        fail(f"CSV rows differ from the export: {len(got)} vs {len(want)}")
    for r in x["runs"]:
        s = sum(int(w["amount"]) for w in rows if w["run"] == str(r["id"]))
        to = [int(t["amount"]) for t in r["totals"] if t["bucket"] == "to_endpoints"][0]
        if s != to:
            fail(f"run {r['id']}: CSV sum {s} != to_endpoints {to}")
    for w in rows:
        for k in ("actor", "name"):
            if w[k][:1] in ("=", "+", "-", "@"):
                fail(f"formula in the CSV: {w[k]}")
    print(len(rows), "rows")


class Report(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.bad, self.text, self.pres = [], [], [], []
        self.rows, self.row, self.cell, self.in_pre = [], None, None, False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag in ("script", "img", "iframe", "object", "embed", "a", "link", "base", "form"):
            self.bad.append(tag)
        for k, v in attrs:
            if k.startswith("on") or k in ("href", "src", "action", "formaction"):
                self.bad.append(f"{tag}[{k}]")
        if tag == "tr":
            self.row = []
        if tag in ("td", "th"):
            self.cell = ""
        if tag == "pre":
            self.in_pre, self.pre = True, ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.row is not None and self.cell is not None:
            self.row.append(self.cell.strip())
            self.cell = None
        if tag == "tr" and self.row is not None:
            self.rows.append(self.row)
            self.row = None
        if tag == "pre":
            self.in_pre = False
            self.pres.append(self.pre)

    def handle_data(self, data):
        self.text.append(data)
        if self.cell is not None:
            self.cell += data
        if self.in_pre:
            self.pre += data


def cmd_html(report, export_json, truth):
    p = Report()
    p.feed(open(report, encoding="utf-8").read())
    x = json.load(open(export_json))
    if p.bad:
        fail(f"markup from the data: {p.bad}")
    text = "".join(p.text)
    hostile = [x["case"]["title"]] + [l["actor"] for l in x["labels"]] + [n["text"] for n in x["notes"]]
    for h in hostile:
        if h not in text:
            fail(f"not shown as text: {h!r}")
    for r in x["runs"]:
        if r["command"] not in p.pres:
            fail(f"run {r['id']}: reproduce command missing")
    # run 1's actor table: rows whose first cell is an actor (7 cells, a share in the 4th)
    sc = scenario(truth)
    names = {e["name"]: e["value"] for e in sc["endpoints"]}
    seen = {}
    run1 = len(by_actor(x["runs"][0]["endpoints"]))
    for row in p.rows:
        if len(row) == 7 and row[0] in names and row[3].endswith("%") and row[0] not in seen:
            seen[row[0]] = int(row[2].split()[0])
        if len(seen) == run1:
            break
    for n, v in names.items():
        if seen.get(n) != v:
            fail(f"HTML actor {n}: {seen.get(n)} != truth {v}")
    audit_ids = {str(a["id"]) for a in x["audit"]}
    shown = {row[0] for row in p.rows if len(row) == 7 and row[0] in audit_ids and row[1][:2] == "20"}
    if shown != audit_ids:
        fail(f"audit rows shown {len(shown)} of {len(audit_ids)}")
    if "Hash chain verified" not in text:
        fail("the report does not say the audit chain is verified")
    print(len(seen), "actors,", len(shown), "audit rows")


def field(h, s):
    b = s.encode()
    h.update(f"{len(b)}:".encode() + b)


def chain_check(db):
    prev = "0" * 64
    n = 0
    for row in db.execute(
        "SELECT id, COALESCE(case_id, 0), created_at, analyst, action, command, detail, btc_tip,"
        " btc_height, evm_chain, evm_tip, evm_height, prev_hash, hash FROM audit_log ORDER BY id"
    ):
        h = hashlib.sha256()
        field(h, prev)
        for i, v in enumerate(row[:12]):
            field(h, str(v))
        if row[12] != prev or row[13] != h.hexdigest():
            fail(f"audit row {row[0]}: hash chain broken")
        if int(row[0]) != n + 1:
            fail(f"audit ids not contiguous at {row[0]}")
        prev, n = row[13], int(row[0])
    return n


def one(db, sql, params=()):
    return int(db.execute(sql, params)[0][0])


def cmd_db(d):
    """D: a store directory (DIR/cases.sqlite) or a postgresql:// URI (caseq.py)."""
    db = caseq.connect(d)
    if not caseq.is_pg(d):  # PostgreSQL checks foreign keys at every write, SQLite on request
        ic = db.execute("PRAGMA integrity_check")
        if ic != [("ok",)]:
            fail(f"integrity_check: {ic}")
        if db.execute("PRAGMA foreign_key_check"):
            fail("foreign keys")
    n = chain_check(db)
    notes = one(db, "SELECT COUNT(*) FROM case_notes")
    na = one(db, "SELECT COUNT(*) FROM audit_log WHERE action = 'note.add'")
    labels = one(db, "SELECT COUNT(*) FROM case_labels")
    la = one(db, "SELECT COUNT(*) FROM audit_log WHERE action = 'label.add'")
    if notes != na or labels != la:
        fail(f"notes {notes} / note.add {na}, labels {labels} / label.add {la}")
    for (nid,) in db.execute("SELECT id FROM case_notes"):
        k = one(db, "SELECT COUNT(*) FROM audit_log WHERE action = 'note.add' AND detail = ?",
                (json.dumps({"note": int(nid)}),))
        if k != 1:
            fail(f"note {nid}: {k} audit rows")
    print(n, "audit rows,", notes, "notes")


def cmd_prefix(d, n):
    db = caseq.connect(d)
    for (h,) in db.execute("SELECT hash FROM audit_log ORDER BY id LIMIT ?", (int(n),)):
        print(h)


def cmd_append_only(d):
    db = caseq.connect(d)
    sqls = ["UPDATE audit_log SET analyst = 'mallory'", "DELETE FROM audit_log",
            "UPDATE case_notes SET body = 'x'", "DELETE FROM case_notes",
            "UPDATE trace_runs SET result = '{}'", "DELETE FROM case_labels"]
    if caseq.is_pg(d):  # TRUNCATE, which no row trigger sees, has its own there
        sqls += ["TRUNCATE audit_log", "TRUNCATE case_notes CASCADE"]
    before = one(db, "SELECT COUNT(*) FROM audit_log")
    for sql in sqls:
        try:
            db.execute(sql)
            fail(f"accepted: {sql}")
        except caseq.Refused as e:
            if "append-only" not in str(e):
                fail(f"{sql}: {e}")
    if one(db, "SELECT COUNT(*) FROM audit_log") != before or not before:
        fail("the audit log changed")
    print("refused")


def cmd_notes_matching(d, killed):
    """How many notes "kill test I" exist for the I listed in the file KILLED."""
    db = caseq.connect(d)
    k = [x.strip() for x in open(killed)]
    print(sum(one(db, "SELECT COUNT(*) FROM case_notes WHERE body = ?", (f"kill test {i}",))
              for i in k))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"sources": cmd_sources, "truth": cmd_truth, "same": cmd_same, "same-evm": cmd_same_evm,
     "csv": cmd_csv,
     "html": cmd_html, "db": cmd_db, "prefix": cmd_prefix,
     "append-only": cmd_append_only, "notes-matching": cmd_notes_matching}[cmd](*args)
