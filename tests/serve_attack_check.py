#!/usr/bin/env python3
"""serve_attack_check.py COMMAND ARGS: the service under attack (e2e_serve_attack.sh), over
loopback HTTP with python3's http.client and raw sockets. Each check prints what it saw and
exits 0 when it holds, 1 when not.

  legacy-key          a 600-character key for a legacy key file line (printed)
  keys PORT ADMIN READ SCREEN WATCH LEGACY T
                      scopes of each key; the legacy key whole, not split; bearer in any case,
                      wrong keys; HTTP framing (two Content-Length, Content-Length with
                      chunked, no Host, %00 in the path or a query); cost limits; health under
                      four expensive traces at once; the audit log T/db/audit.jsonl
  expensive PORT KEY T
                      concurrent traces beyond the one expensive slot get 503 with
                      Retry-After: 1
  per-ip PORT KEY     20 silent connections from 127.0.0.5 with a per-client limit of 8: 12
                      closed at once, 127.0.0.1 still served
  slowloris FILE      tests/slowloris.py's report: no probe failed, at least 20 probes, each
                      under 1 s, at least 480 connections closed by the server
"""
import sys


def legacy_key():
    import secrets; print(secrets.token_urlsafe(450)[:600])


def keys():
    import http.client, json, os, re, socket, stat, sys, threading, time
    port, admin, read, screen, watch, legacy, T = sys.argv[1:]
    port = int(port)
    fails = []
    def check(what, cond):
        if not cond:
            fails.append(what)
            print("FAIL:", what)
    def call(method, path, key=None, body=None, headers=None, timeout=30):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        h = dict(headers or {})
        if key:
            h["X-API-Key"] = key
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        d = r.read()
        c.close()
        return r.status, d, r
    def raw(data, timeout=5):
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        s.sendall(data)
        out = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                out += d
        except socket.timeout:
            pass
        s.close()
        try:
            return int(out.split(b" ")[1])
        except (IndexError, ValueError):
            return None

    addr = sorted(set(re.findall(r"^btc,([^,]+),", open(f"{T}/g/labels.csv").read(), re.M)))
    a0 = addr[0]
    wl = json.dumps({"name": "teamA-case", "items": [{"kind": "address", "value": a0}]})

    # scopes
    st, d, _ = call("POST", "/v1/trace", read, json.dumps({"from": [a0]}))
    check(f"read key traces: {st}", st == 403 and b"'screen' scope" in d)
    st, d, _ = call("POST", "/v1/watchlists", read, wl)
    check(f"read key creates a watchlist: {st}", st == 403 and b"'watch' scope" in d)
    st, d, _ = call("POST", "/v1/watchlists", screen, wl)
    check(f"screen key creates a watchlist: {st}", st == 403)
    st, d, _ = call("GET", "/v1/watchlists", admin)
    check(f"a refused creation changed the lists: {d[:200]!r}", st == 200 and b"teamA-case" not in d)
    st, d, _ = call("GET", "/v1/rules", watch)
    check(f"watch key reads rules: {st}", st == 403 and b"'read' scope" in d)
    st, d, _ = call("GET", f"/v1/screen/address/{a0}?hops=2", watch)
    check(f"watch key screens: {st}", st == 403)
    check("read key reads rules", call("GET", "/v1/rules", read)[0] == 200)
    check("read key reads metrics", call("GET", "/v1/metrics", read)[0] == 200)
    check("screen key screens", call("GET", f"/v1/screen/address/{a0}?hops=2", screen)[0] == 200)
    check("admin screens", call("GET", f"/v1/screen/address/{a0}?hops=2", admin)[0] == 200)
    st, d, _ = call("POST", "/v1/watchlists", watch, wl)
    check(f"watch key creates a watchlist: {st} {d[:200]!r}", st == 201)
    st, d, _ = call("DELETE", "/v1/watchlists/teamA-case", read)
    check(f"read key deletes a watchlist: {st}", st == 403)
    check("list survived", b"teamA-case" in call("GET", "/v1/watchlists", admin)[1])
    st, d, _ = call("DELETE", "/v1/watchlists/teamA-case", watch)
    check(f"watch key deletes its watchlist: {st}", st == 200)
    # keys: the legacy line whole, not split; bearer in any case; wrong keys
    check("legacy 600-char key", call("GET", "/v1/rules", legacy)[0] == 200)
    check("legacy key's first 511 chars refused", call("GET", "/v1/rules", legacy[:511])[0] == 401)
    check("legacy key's tail refused", call("GET", "/v1/rules", legacy[511:])[0] == 401)
    check("bearer lower case", call("GET", "/v1/rules", headers={"Authorization": f"bearer {read}"})[0] == 200)
    check("BEARER upper case", call("GET", "/v1/rules", headers={"Authorization": f"BEARER {read}"})[0] == 200)
    check("wrong key", call("GET", "/v1/rules", read[:-1] + ("A" if read[-1] != "A" else "B"))[0] == 401)
    st, d, _ = call("GET", "/v1/health")
    check(f"health open: {st}", st == 200 and json.loads(d)["status"] == "ok")
    # framing
    auth = f"X-API-Key: {screen}\r\n".encode()
    body = json.dumps({"addresses": [a0], "hops": 1}).encode()
    st = raw(b"POST /v1/screen/batch HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Length: %d\r\n"
             b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (len(body), len(body) + 5) + body)
    check(f"two Content-Length: {st}", st == 400)
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    st = raw(b"POST /v1/screen/batch HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Length: %d\r\n"
             b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" % len(chunked) + chunked)
    check(f"Content-Length with Transfer-Encoding: {st}", st == 400)
    st = raw(b"GET /v1/rules HTTP/1.1\r\nX-API-Key: " + read.encode() + b"\r\nConnection: close\r\n\r\n")
    check(f"HTTP/1.1 without Host: {st}", st == 400)
    st = raw(b"GET /v1/screen/address/" + a0.encode() + b"%00junk HTTP/1.1\r\nHost: x\r\n" + auth +
             b"Connection: close\r\n\r\n")
    check(f"%00 in the path: {st}", st == 400)
    st = raw(b"GET /v1/labels?q=a%00b HTTP/1.1\r\nHost: x\r\n" + f"X-API-Key: {read}\r\n".encode() +
             b"Connection: close\r\n\r\n")
    check(f"%00 in a query argument: {st}", st == 400)
    # cost limits
    st, d, _ = call("POST", "/v1/trace", screen, json.dumps({"from": addr[:300], "hops": 3}))
    check(f"too many seeds: {st} {d[:200]!r}", st == 422 and b"--max-seeds" in d)
    c0 = len(call("GET", f"/v1/labels?limit=1000", read)[1])
    check("labels page is large enough for the answer test", c0 > 20000)

    # health under four expensive traces at once (3 slots: at least one is refused with 503)
    heavy = json.dumps({"from": addr[:100], "hops": 100, "policy": "fifo"})
    statuses, lat = [], []
    stop = time.time() + 4
    def tracer():
        while time.time() < stop:
            st, d, r = call("POST", "/v1/trace", screen, heavy, timeout=60)
            statuses.append((st, r.getheader("Retry-After")))
    ths = [threading.Thread(target=tracer) for _ in range(4)]
    for t in ths:
        t.start()
    time.sleep(0.5)
    while time.time() < stop - 0.3:
        t0 = time.time()
        st, d, _ = call("GET", "/v1/health", timeout=5)
        lat.append(time.time() - t0)
        check("health under load", st == 200)
        time.sleep(0.05)
    for t in ths:
        t.join()
    lat.sort()
    print(f"health under 4 traces: {len(lat)} probes, p50 {lat[len(lat)//2]*1000:.1f} ms, "
          f"max {lat[-1]*1000:.1f} ms; traces: {sorted(set(statuses))}")
    check(f"health slow under traces: max {lat[-1]:.3f} s", lat[-1] < 0.25)
    check("no trace computed", any(s in (200, 422) for s, _ in statuses))
    st, d, _ = call("GET", "/v1/metrics", read)
    m = json.loads(d)["limits"]
    check(f"metrics limits {m}", m["expensive_max"] == 3 and m["expensive_running"] == 0)

    # the audit log
    path = f"{T}/db/audit.jsonl"
    check("audit log mode", stat.S_IMODE(os.stat(path).st_mode) == 0o600)
    text = open(path).read()
    lines = [json.loads(l) for l in text.splitlines()]
    for k in (admin, read, screen, watch, legacy):
        check("a key in the audit log", k not in text)
    def has(method, path, status, owner):
        return any(l["method"] == method and l["path"] == path and l["status"] == status and
                   l["owner"] == owner and len(l["key_id"]) == 16 and l["client"] == "127.0.0.1"
                   for l in lines)
    check("audit: creation", has("POST", "/v1/watchlists", 201, "teamA"))
    check("audit: deletion", has("DELETE", "/v1/watchlists/teamA-case", 200, "teamA"))
    check("audit: refused deletion", has("DELETE", "/v1/watchlists/teamA-case", 403, "auditor"))
    check("audit: refused GET", has("GET", "/v1/rules", 403, "teamA"))
    check("audit: 401", any(l["status"] == 401 and l["key_id"] == "" for l in lines))
    check("audit: no plain GET 200", not any(l["method"] == "GET" and l["status"] == 200 for l in lines))
    sys.exit(1 if fails else 0)


def expensive():
    import http.client, json, re, sys, threading, time
    port, key, T = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    addr = sorted(set(re.findall(r"^btc,([^,]+),", open(f"{T}/g/labels.csv").read(), re.M)))
    body = json.dumps({"from": addr[:100], "hops": 100, "policy": "fifo"})
    seen, stop = set(), time.time() + 5
    def tracer():
        while time.time() < stop and (503, "1") not in seen:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            c.request("POST", "/v1/trace", body, {"X-API-Key": key})
            r = c.getresponse()
            r.read()
            seen.add((r.status, r.getheader("Retry-After")))
            c.close()
    ths = [threading.Thread(target=tracer) for _ in range(3)]
    [t.start() for t in ths]
    [t.join() for t in ths]
    print("traces over one slot:", sorted(seen))
    sys.exit(0 if (503, "1") in seen else 1)


def per_ip():
    import socket, sys, time, urllib.request
    port, key = int(sys.argv[1]), sys.argv[2]
    socks = []
    for _ in range(20):
        s = socket.socket()
        s.bind(("127.0.0.5", 0))
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /v1/rules HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    time.sleep(1)
    closed = 0
    for s in socks:
        s.settimeout(0.2)
        try:
            closed += s.recv(1) == b""
        except ConnectionResetError:
            closed += 1
        except socket.timeout:
            pass
    r = urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/v1/rules",
                                                      headers={"X-API-Key": key}), timeout=2)
    print(f"per-IP limit 8: {closed} of 20 closed at once, other client {r.status}")
    sys.exit(0 if closed == 12 and r.status == 200 else 1)


def slowloris():
    import json, sys
    d = json.load(open(sys.argv[1]))
    ok = d["probe_failed"] == 0 and d["probe_ok"] >= 20 and d["probe_max_s"] < 1.0 \
        and d["closed_by_server"] >= 480
    sys.exit(0 if ok else 1)


COMMANDS = {
    "legacy-key": legacy_key,
    "keys": keys,
    "expensive": expensive,
    "per-ip": per_ip,
    "slowloris": slowloris,
}

if __name__ == "__main__":
    import subcommand

    subcommand.run(__doc__, COMMANDS)
