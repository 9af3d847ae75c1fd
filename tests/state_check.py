#!/usr/bin/env python3
"""Checks for tests/e2e_state.sh (python3 stdlib only).

  propagate KEY URL,URL,... CHECK -- CMD...
      run CMD (a change made through the state database) and, from the moment it returns,
      poll every replica until CHECK holds there; print one latency in seconds per replica
      (10 s at most: then "timeout"). CHECK: labels!=N (health's label count is not N),
      watchlist=NAME (GET /v1/watchlists lists NAME), auth=CODE (GET /v1/whoami with the key
      in $NEWKEY answers CODE), screen=ADDRESS:CATEGORY (GET /v1/screen/address/ADDRESS
      answers 200 with "CATEGORY" in its document). A URL written HOST:PORT#NAME is a load
      balancer: only answers it marks as served by replica NAME (its X-Replica header) count,
      so "LB#r1,LB#r2" times the change through the balancer on each replica behind it.
  deliveries LOG ALERTS_JSON STATE_JSON MAXDUP
      the receiver's LOG against a replica's GET /v1/alerts answer and `cointrail state
      deliveries`: every alert's idempotency key reached the receiver, every delivery row is
      "delivered", and at most MAXDUP keys arrived twice (kill -9 with posts in flight);
      prints "alerts N repeats R by A:n B:m"
"""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request


def get(url, key, path):
    url, _, via = url.partition("#")
    req = urllib.request.Request(f"http://{url}{path}", headers={"X-API-Key": key})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            if via and r.headers.get("X-Replica") != via:
                return -1, None  # answered by another replica behind the balancer
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, None
    except (urllib.error.URLError, OSError, ValueError):
        return 0, None


def holds(url, key, check):
    what, _, val = check.partition("=")
    if what == "screen":
        addr, _, cat = val.partition(":")
        s, d = get(url, key, f"/v1/screen/address/{addr}")
        return s == 200 and f'"{cat}"' in json.dumps(d)
    if what == "labels!":
        s, d = get(url, key, "/v1/health")
        return s == 200 and str(d["labels"]) != val
    if what == "watchlist":
        s, d = get(url, key, "/v1/watchlists")
        return s == 200 and any(w["name"] == val for w in d["watchlists"])
    if what == "auth":
        s, _ = get(url, os.environ["NEWKEY"], "/v1/whoami")
        return str(s) == val
    raise SystemExit(f"unknown check {check}")


def propagate():
    key, urls, check = sys.argv[2], sys.argv[3].split(","), sys.argv[4]
    cmd = sys.argv[sys.argv.index("--") + 1:]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode:
        raise SystemExit(f"{cmd}: {r.stderr}")
    t0 = time.monotonic()
    lat = {}
    while len(lat) < len(urls) and time.monotonic() - t0 < 10:
        for u in urls:
            if u not in lat and holds(u, key, check):
                lat[u] = time.monotonic() - t0
        time.sleep(0.01)
    print(" ".join(f"{lat[u]:.3f}" if u in lat else "timeout" for u in urls))


def deliveries():
    log, alerts, state, maxdup = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    got = {}
    for line in open(log):
        k = json.loads(line)["key"]
        got[k] = got.get(k, 0) + 1
    al = json.load(open(alerts))["alerts"]
    keys = [a["webhook"]["idempotency_key"] for a in al if "webhook" in a]
    rows = json.load(open(state))
    problems = []
    missing = [k for k in keys if k not in got]
    if missing:
        problems.append(f"{len(missing)} alerts never reached the receiver: {missing[:3]}")
    if not keys:
        problems.append("no alerts")
    notdone = [r for r in rows if r["state"] != "delivered"]
    if notdone:
        problems.append(f"{len(notdone)} delivery rows not delivered: {notdone[:2]}")
    if len(rows) != len(keys):
        problems.append(f"{len(rows)} delivery rows for {len(keys)} alerts")
    rep = sum(1 for k in keys if got.get(k, 0) > 1)
    if rep > maxdup or any(v > 2 for v in got.values()):
        problems.append(f"{rep} alerts delivered twice (at most {maxdup} may be)")
    by = {}
    for r in rows:
        by[r["delivered_by"]] = by.get(r["delivered_by"], 0) + 1
    print(f"alerts {len(keys)} repeats {rep} by " + " ".join(f"{k}:{v}" for k, v in sorted(by.items())))
    if problems:
        print("\n".join(problems))
        sys.exit(1)


{"propagate": propagate, "deliveries": deliveries}[sys.argv[1]]()
