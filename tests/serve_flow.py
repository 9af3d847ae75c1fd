#!/usr/bin/env python3
"""serve_flow.py COMMAND ARGS: the screening service's flow in e2e_serve.sh, over loopback HTTP:
the inputs taken from the generator's truth (T/g/truth.jsonl, T/g/labels.csv), a webhook
receiver, a poller, and the checks of the answers. Checks exit 0 when they hold, 1 when not.

  hook-receiver T              a webhook receiver on 127.0.0.1: every POST body appended to
                               T/hook.jsonl (answered 204); its port in T/hook.port
  deposit-steps T FIRST        T/steps.txt: the txids of the scenarios' deposits below height
                               FIRST
  sample-labelled T            20 labelled Bitcoin addresses of labels.csv (seeded sample)
  deposits-flagged U KEY T FIRST
                               POST /v1/screen/batch of the exchange and OTC deposits below
                               FIRST: at least 85% show theft or sanctioned exposure at risk
                               level medium or above
  watch-address T FIRST        the thieves of the scenarios that started below FIRST and spend
                               at or above it
  thief-addresses T THIEF      the addresses of entity THIEF, one a line
  tip-poller U KEY ADDR        for at most 60 s, GET /v1/health's height and tip printed (one a
                               line) with a screening of ADDR between, until height 259
  alerts T WATCH               T/alerts.json against T/expect.json (tests/serve_check.py
                               watch-expect): the address list's alerts are the chain's spends,
                               the entity list's spend only thief addresses and start at the
                               watchlist, and the webhook got every alert of the entity list
  openapi-paths U KEY ADDR TX  every path of docs/openapi.yaml is served, an undocumented one
                               is not, a watchlist is created, deleted and gone
"""
import sys


def hook_receiver():
    import http.server, sys
    T = sys.argv[1]
    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with open(f"{T}/hook.jsonl", "ab") as f:
                f.write(body + b"\n")
            self.send_response(204)
            self.end_headers()
        def log_message(self, *a):
            pass
    s = http.server.HTTPServer(("127.0.0.1", 0), H)
    open(f"{T}/hook.port.tmp", "w").write(str(s.server_port))
    import os; os.rename(f"{T}/hook.port.tmp", f"{T}/hook.port")
    s.serve_forever()


def deposit_steps():
    import json, random, sys
    T, first = sys.argv[1], int(sys.argv[2])
    steps = set()
    for l in open(f"{T}/g/truth.jsonl"):
        d = json.loads(l)
        if d.get("kind") == "scenario":
            steps |= {s["txid"] for s in d["steps"] if s["kind"].endswith("_deposit") and s["height"] < first}
    open(f"{T}/steps.txt", "w").write("\n".join(sorted(steps)) + "\n")


def sample_labelled():
    import random, re, sys
    T = sys.argv[1]
    addrs = sorted(set(re.findall(r"^btc,([^,]+),", open(f"{T}/g/labels.csv").read(), re.M)))
    random.seed(5)
    print("\n".join(random.sample(addrs, 20)))


def deposits_flagged():
    import http.client, json, sys
    u, key, T, first = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    txs = []
    for l in open(f"{T}/g/truth.jsonl"):
        d = json.loads(l)
        if d.get("kind") == "scenario":
            txs += [s["txid"] for s in d["steps"]
                    if s["kind"] in ("exchange_deposit", "otc_deposit") and s["height"] < first]
    host, port = u.split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=120)
    c.request("POST", "/v1/screen/batch", body=json.dumps({"txs": txs, "direction": "incoming"}),
              headers={"X-API-Key": key})
    res = json.loads(c.getresponse().read())["results"]
    flagged = 0
    for r in res:
        cats = {x["category"] for x in r["result"]["indirect"]["incoming"]["by_category"]}
        flagged += bool(cats & {"theft", "sanctioned"}) and \
            r["result"]["risk"]["level"] in ("medium", "high", "severe")
    print(f"truth: {flagged} of {len(txs)} deposits of stolen funds flagged")
    sys.exit(0 if txs and flagged >= 0.85 * len(txs) else 1)


def watch_address():
    import json, sys
    T, first = sys.argv[1], int(sys.argv[2])
    for l in open(f"{T}/g/truth.jsonl"):
        d = json.loads(l)
        if d.get("kind") == "scenario" and d["start_height"] < first and d["steps"][-1]["height"] >= first:
            print(d["thief"])


def thief_addresses():
    import json, sys
    T, thief = sys.argv[1], int(sys.argv[2])
    for l in open(f"{T}/g/truth.jsonl"):
        d = json.loads(l)
        if d.get("kind") == "entity" and d["id"] == thief:
            print("\n".join(d["addresses"]))


def tip_poller():
    import http.client, json, sys, time
    u, key, addr = sys.argv[1:4]
    host, port = u.split(":")
    end = time.time() + 60
    while time.time() < end:
        c = http.client.HTTPConnection(host, int(port), timeout=10)
        c.request("GET", "/v1/health")
        d = json.loads(c.getresponse().read())
        print(d["height"], d["tip"], flush=True)
        c.request("GET", f"/v1/screen/address/{addr}", headers={"X-API-Key": key})
        r = c.getresponse(); r.read()
        if r.status != 200:
            print("screen status", r.status, file=sys.stderr)
        c.close()
        if d["height"] == 259:
            break


def alerts():
    import json, sys
    T, watch = sys.argv[1], sys.argv[2]
    d = json.load(open(f"{T}/alerts.json"))
    want = json.load(open(f"{T}/expect.json"))["spends"]
    thief = set(open(f"{T}/thief_addrs.txt").read().split())
    fails = 0
    def check(c, m):
        nonlocal fails
        if not c:
            print("FAIL:", m); fails += 1
    if d["scanned_height"] != 260:
        check(False, f"scanned_height {d['scanned_height']}")
    by_list = {}
    for a in d["alerts"]:
        by_list.setdefault(a["list"], {})[a["txid"]] = a
    got = {t: a["amount"] for t, a in by_list.get("thief-addr", {}).items()}
    check(got == want, f"address alerts {got} != chain spends {want}")
    ent = by_list.get("thief-entity", {})
    check(set(want) <= set(ent), "the entity list misses spends of its own address")
    for t, a in ent.items():
        ins = {i["address"] for i in a["inputs"]}
        check(ins <= thief, f"entity alert {t} spends non-thief addresses {ins - thief}")
        check(a["amount"] == sum(i["value"] for i in a["inputs"]), f"alert {t} amount")
        check(a["height"] >= 180, f"alert {t} at height {a['height']} predates the watchlist")
    hook = [json.loads(l) for l in open(f"{T}/hook.jsonl")] if ent else []
    check(sorted(h["id"] for h in hook) == sorted(a["id"] for a in ent.values()),
          f"webhook got {len(hook)} alerts, the entity list has {len(ent)}")
    print(f"alerts: {len(got)} for the address, {len(ent)} for the entity, {len(hook)} webhook calls")
    sys.exit(1 if fails else 0)


def openapi_paths():
    import http.client, json, sys, yaml
    u, key, addr, tx = sys.argv[1:]
    spec = yaml.safe_load(open("docs/openapi.yaml"))
    host, port = u.split(":")
    fails = 0
    def call(method, path, body=None):
        c = http.client.HTTPConnection(host, int(port), timeout=30)
        c.request(method, path, body=body, headers={"X-API-Key": key})
        r = c.getresponse()
        return r.status, r.read()
    for path, ops in spec["paths"].items():
        p = (path.replace("{address}", addr).replace("{txid}", tx).replace("{id}", addr)
             .replace("{name}", "thief-addr"))
        for method in ops:
            body = b"{}" if method in ("post",) else None
            if method == "delete":
                continue  # a DELETE of a real list is exercised by hand below
            st, out = call(method.upper(), p, body)
            if st == 404 and b"no such endpoint" in out:
                print("FAIL: documented but not served:", method.upper(), path); fails += 1
    st, out = call("GET", "/v1/undocumented")
    fails += not (st == 404 and b"no such endpoint" in out)
    st, _ = call("POST", "/v1/watchlists", json.dumps({"name": "tmp", "items": [
        {"kind": "address", "value": addr}]}).encode())
    st2, _ = call("DELETE", "/v1/watchlists/tmp")
    st3, _ = call("GET", "/v1/watchlists/tmp")
    fails += (st, st2, st3) != (201, 200, 404)
    sys.exit(1 if fails else 0)


COMMANDS = {
    "hook-receiver": hook_receiver,
    "deposit-steps": deposit_steps,
    "sample-labelled": sample_labelled,
    "deposits-flagged": deposits_flagged,
    "watch-address": watch_address,
    "thief-addresses": thief_addresses,
    "tip-poller": tip_poller,
    "alerts": alerts,
    "openapi-paths": openapi_paths,
}

if __name__ == "__main__":
    import subcommand

    subcommand.run(__doc__, COMMANDS)
