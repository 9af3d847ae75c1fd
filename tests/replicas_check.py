#!/usr/bin/env python3
"""replicas_check.py COMMAND ARGS: the client side of tests/e2e_replicas.sh (two `cointrail
serve` replicas behind haproxy, deploy/haproxy.cfg).

  ports N                    N free TCP ports on 127.0.0.1, one a line
  items T [incoming]         the screening mix from the generator's truth and labels
                             (T/g/truth.jsonl, T/g/labels.csv): T/paths.txt (request paths:
                             labelled and unlabelled addresses, default and incoming directions,
                             the scenarios' deposit txs) and T/mix.lua, wrk's script cycling
                             through them with the key in T/key; with "incoming" only the
                             incoming screenings (answered from the exposure index: an
                             exchange's deposit screening, never a trace)
  reference U KEY T          every path of T/paths.txt asked once of one server U directly:
                             T/ref.json {path: [status, body as JSON]}
  sampler U KEY T STOPFILE   until STOPFILE exists, every path of T/paths.txt in turn through
                             U (haproxy), each answer compared with T/ref.json; prints
                             "asked N wrong M failed F" and the first differences, exits 1
                             unless every answer equals the reference (at most 20 s after
                             STOPFILE appears; each request times out after 10 s)
  stats URL PX/SV [FIELD]    haproxy's CSV stats: FIELD (default status: UP, DOWN, ...) of
                             server SV of proxy PX (SV BACKEND: the backend's row; wretr
                             counts retries, wredis redispatches)
"""
import json, random, re, socket, sys, time, urllib.request, urllib.error


def ports():
    socks = []
    for _ in range(int(sys.argv[2])):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print("\n".join(str(s.getsockname()[1]) for s in socks))


def items():
    T = sys.argv[2]
    rnd = random.Random(5)
    labelled = sorted(set(re.findall(r"^btc,([^,]+),", open(f"{T}/g/labels.csv").read(), re.M)))
    ents, deps = [], []
    for line in open(f"{T}/g/truth.jsonl"):
        d = json.loads(line)
        if d.get("kind") == "entity":
            ents += d.get("addresses", [])[:2]
        elif d.get("kind") == "scenario":
            deps += [s["txid"] for s in d["steps"] if s["kind"].endswith("_deposit")]
    addrs = rnd.sample(labelled, 60) + rnd.sample(sorted(ents), 60)
    paths = [f"/v1/screen/address/{a}" for a in addrs]
    paths += [f"/v1/screen/address/{a}?direction=incoming" for a in addrs[::2]]
    paths += [f"/v1/screen/tx/{t}?direction=incoming" for t in sorted(set(deps))[:60]]
    rnd.shuffle(paths)
    if sys.argv[3:] == ["incoming"]:
        paths = [p for p in paths if "direction=incoming" in p]
    open(f"{T}/paths.txt", "w").write("\n".join(paths) + "\n")
    key = open(f"{T}/key").read().strip()
    with open(f"{T}/mix.lua", "w") as f:
        f.write("local paths = {" + ",".join('"%s"' % p for p in paths) + "}\n")
        f.write("local i = 0\nrequest = function()\n  i = i % #paths + 1\n"
                "  return wrk.format('GET', paths[i], {['X-API-Key'] = '" + key + "'})\nend\n")


def get(url, key):
    req = urllib.request.Request(url, headers={"X-API-Key": key})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            return e.code, json.loads(body)
        except ValueError:
            return e.code, body.decode("latin-1")


def reference():
    U, key, T = sys.argv[2:5]
    paths = open(f"{T}/paths.txt").read().split()
    ref = {p: get(U + p, key) for p in paths}
    bad = [p for p, (s, _) in ref.items() if s != 200]
    json.dump(ref, open(f"{T}/ref.json", "w"))
    if bad:
        print("reference: not 200 for", bad[:3])
        sys.exit(1)


def sampler():
    import os
    U, key, T, stop = sys.argv[2:6]
    ref = json.load(open(f"{T}/ref.json"))
    paths = open(f"{T}/paths.txt").read().split()
    asked = wrong = failed = 0
    notes = []
    i = 0
    deadline = None
    while True:
        if deadline is None and os.path.exists(stop):
            deadline = time.time() + 20
        # after the stop file: one more full pass over the paths, then stop
        if deadline is not None and (i % len(paths) == 0 or time.time() > deadline):
            break
        p = paths[i % len(paths)]
        i += 1
        asked += 1
        try:
            got = get(U + p, key)
        except Exception as e:  # a socket error through haproxy is a failed screening
            failed += 1
            notes.append(f"{p}: {e}")
            continue
        if got[0] != 200:
            failed += 1
            notes.append(f"{p}: status {got[0]}: {str(got[1])[:200]}")
        elif list(got) != ref[p]:
            wrong += 1
            notes.append(f"{p}: answer differs from the direct one")
    print(f"asked {asked} wrong {wrong} failed {failed}")
    for n in notes[:5]:
        print("  " + n)
    sys.exit(0 if wrong == 0 and failed == 0 and asked >= len(paths) else 1)


def stats():
    url, name = sys.argv[2:4]
    field = sys.argv[4] if len(sys.argv) > 4 else "status"
    rows = urllib.request.urlopen(url + "/;csv", timeout=5).read().decode().splitlines()
    head = rows[0].lstrip("# ").split(",")
    for r in rows[1:]:
        f = dict(zip(head, r.split(",")))
        if f"{f.get('pxname')}/{f.get('svname')}" == name:
            print(f[field])
            return
    print("absent")


{"ports": ports, "items": items, "reference": reference, "sampler": sampler,
 "stats": stats}[sys.argv[1]]()
