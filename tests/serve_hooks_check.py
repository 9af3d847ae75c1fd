#!/usr/bin/env python3
"""serve_hooks_check.py COMMAND ARGS: webhooks of the screening service (e2e_serve_hooks.sh):
watch items, watchlist bodies, and the checks of what the receivers (tests/hook_receiver.py,
their logs T/NAME.log) got. Checks exit 0 when they hold, 1 when not.

  exchange-items T          the watch items: the addresses of the generator's exchange
                            "Blockhaus" in T/g/truth.jsonl (a JSON list)
  list-json NAME URL ITEMS  a POST /v1/watchlists body
  first-items FILE N        the first N items of the list in FILE (JSON)
  all-delivered FILE        (a GET /v1/alerts answer) every alert of the lists ok, flaky and
                            down is delivered
  at-least-once T           T/alerts.json against the receivers' logs: every alert of ok, flaky
                            and down accepted under its idempotency key (some twice), the key
                            and the body's id agree, no Authorization header, flaky retried,
                            the redirect rejected with 307, localhost refused as private, the
                            rebind path never reached
  jsonl-readable FILE       every line of FILE is JSON
  label-latency U L0        seconds until GET http://U/v1/health shows a labels count other
                            than L0 (at most 10)
  below X LIMIT             the number X < LIMIT
  owner-files DB            write watchlists.json with a list "x" of no owner and one of
                            "alice", and append an alert of alice's to alerts.jsonl
  alice-kept FILE           watchlists.json holds one list, alice's
"""
import sys


def exchange_items():
    import json, sys
    for l in open(f"{sys.argv[1]}/g/truth.jsonl"):
        d = json.loads(l)
        if d.get("kind") == "entity" and d.get("name") == "Blockhaus":
            print(json.dumps([{"kind": "address", "value": a} for a in d["addresses"]]))


def list_json():
    import json,sys; print(json.dumps({"name": sys.argv[1], "webhook": sys.argv[2],
        "items": json.loads(sys.argv[3])}))


def first_items():
    import json,sys; print(json.dumps(json.load(open(sys.argv[1]))[:int(sys.argv[2])]))


def all_delivered():
    import json, sys
    d = json.load(open(sys.argv[1]))
    sys.exit(any(a["list"] in ("ok", "flaky", "down") and a["webhook"]["state"] != "delivered"
                 for a in d["alerts"]))


def at_least_once():
    import json, sys
    T = sys.argv[1]
    d = json.load(open(f"{T}/alerts.json"))
    fail = 0
    def check(c, m):
        nonlocal fail
        if not c:
            print("FAIL:", m); fail = 1
    by = {}
    for a in d["alerts"]:
        by.setdefault(a["list"], []).append(a)
    report = []
    for name, path in (("ok", "/hook/a"), ("flaky", "/f"), ("down", "/d")):
        want = {a["webhook"]["idempotency_key"]: a["id"] for a in by[name]}
        check(all(a["webhook"]["state"] == "delivered" for a in by[name]), f"{name}: not all delivered")
        got = [json.loads(l) for l in open(f"{T}/{name}.log")]
        keys = [g["key"] for g in got if g["path"] == path and g["status"] == 204]
        check(set(keys) == set(want), f"{name}: keys accepted {len(set(keys))} != alerts {len(want)}")
        check(all(want.get(g["key"]) == g["id"] for g in got), f"{name}: key and body id disagree")
        check(all(g["auth"] is None for g in got), f"{name}: an Authorization header was sent")
        report.append(f"{name}: {len(want)} alerts, {len(got)} posts, {len(keys)} accepted, "
                      f"{len(keys) - len(set(keys))} accepted twice")
    check(max(a["webhook"]["attempts"] for a in by["flaky"]) >= 2, "flaky: the 500s were not retried")
    check(all(a["webhook"]["state"] == "rejected" and a["webhook"]["status"] == 307
              for a in by["redir"]), "redirect: not rejected with 307")
    check(all("private" in a["webhook"].get("error", "") for a in by["rebind"]
              if a["webhook"]["attempts"]), "localhost: not refused as a private address")
    check(not [l for l in open(f"{T}/ok.log") if "rebind" in l], "the rebind path was reached")
    print("; ".join(report))
    sys.exit(fail)


def jsonl_readable():
    import json,sys; [json.loads(l) for l in open(sys.argv[1])]


def label_latency():
    import json, sys, time, urllib.request
    t0 = time.monotonic()
    while time.monotonic() - t0 < 10:
        d = json.load(urllib.request.urlopen(f"http://{sys.argv[1]}/v1/health", timeout=10))
        if str(d["labels"]) != sys.argv[2]:
            break
        time.sleep(0.02)
    print(f"{time.monotonic() - t0:.3f}")


def below():
    import sys; sys.exit(not float(sys.argv[1]) < float(sys.argv[2]))


def owner_files():
    import json, sys
    db = sys.argv[1]
    item = [{"kind": "address", "value": "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"}]
    json.dump({"version": 1, "watchlists": [{"name": "x", "items": item},
                                            {"name": "x", "owner": "alice", "items": item}]},
              open(f"{db}/watchlists.json", "w"))
    last = json.loads(open(f"{db}/alerts.jsonl").readlines()[-1])
    last.update(id=last["id"] + 1, owner="alice", list="x")
    open(f"{db}/alerts.jsonl", "a").write(json.dumps(last) + "\n")


def alice_kept():
    import json,sys; w=json.load(open(sys.argv[1]))["watchlists"]; sys.exit(not (len(w) == 1 and w[0]["owner"] == "alice"))


COMMANDS = {
    "exchange-items": exchange_items,
    "list-json": list_json,
    "first-items": first_items,
    "all-delivered": all_delivered,
    "at-least-once": at_least_once,
    "jsonl-readable": jsonl_readable,
    "label-latency": label_latency,
    "below": below,
    "owner-files": owner_files,
    "alice-kept": alice_kept,
}

if __name__ == "__main__":
    import subcommand

    subcommand.run(__doc__, COMMANDS)
