#!/usr/bin/python3
"""Checks of the screening service through real HTTP, against figures computed here from the
block files decoded by python3-bitcoinlib (tests/oracle.py) and the generator's truth.

  serve_check.py exposure  URL KEY BLOCKDIR LABELS HEIGHTS HOPS MIN ADDR_FILE
      incoming exposure of every address in ADDR_FILE, by the API, equals an independent
      backward haircut (docs/screening.md) over the first HEIGHTS blocks, stopping at labelled
      addresses (no clustering): within HOPS what the trace found, and from the exposure index
      the whole history's amounts (tests/exposure_oracle.py, floor MIN)
  serve_check.py watch-expect BLOCKDIR FROM ADDRESS...   -> JSON {address, spends: {txid:
      amount}}: the first ADDRESS with outputs spent at heights >= FROM, and those spends
  serve_check.py tips BLOCKDIR LOG  every (height, tip) the service reported while an import
      ran is a block of the chain at that height
  serve_check.py hostile HOST PORT KEY   malformed and hostile requests; the server answers or
      closes, and keeps serving

Every check prints FAIL lines and exits 1 if any failed."""
import heapq
import http.client
import json
import os
import pickle
import socket
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402
from bitcoin.core import b2lx  # noqa: E402

# docs/screening.md: the built-in category weights (an address with several labels stops under
# the heaviest; ties by name)
WEIGHTS = {"sanctioned": 100, "terrorism": 100, "theft": 100, "ransomware": 100, "darknet": 80,
           "scam": 80, "mixer": 70, "gambling": 20, "otc": 10, "bridge": 5, "swap": 5,
           "exchange": 0, "miner": 0, "defi": 0}
DEFAULT_WEIGHT = 10
FAILS = 0


def fail(msg):
    global FAILS
    FAILS += 1
    print("FAIL:", msg)


def load_chain(blockdir, heights=None):
    """Decoding is the slow part: the decoded chain is kept beside the blocks for the next
    check (the cache is the decoder's own output, so it stays independent of cointrail)."""
    cache = os.path.join(blockdir, "oracle-chain.pickle")
    if os.path.exists(cache):
        with open(cache, "rb") as f:
            full = pickle.load(f)
    else:
        full = decode_chain(blockdir)
        with open(cache + ".tmp", "wb") as f:
            pickle.dump(full, f)
        os.rename(cache + ".tmp", cache)
    hashes, txs = full
    if heights is not None:
        hashes = hashes[:heights]
        txs = [x for x in txs if x["height"] < heights]
    outs, by_addr = {}, {}
    for t, x in enumerate(txs):
        for n, (v, addr) in enumerate(x["outs"]):
            outs[(x["txid"], n)] = (t, v, addr)
            if addr:
                by_addr.setdefault(addr, []).append((x["txid"], n))
    return hashes, txs, outs, by_addr


def decode_chain(blockdir):
    chain = oracle.main_chain([blockdir])
    hashes, txs = [], []
    for h, b in enumerate(chain):
        hashes.append(b2lx(b.GetHash()))
        for tx in b.vtx:
            ins = [] if tx.is_coinbase() else [(i.prevout.hash, i.prevout.n) for i in tx.vin]
            vals = [(o.nValue, oracle.classify(o.scriptPubKey)[1]) for o in tx.vout]
            txs.append({"txid": tx.GetTxid(), "height": h, "ins": ins, "outs": vals,
                        "coinbase": tx.is_coinbase()})
    return hashes, txs


def haircut(x, w, d):
    sh = [x * wk // d for wk in w]
    rem = sorted(range(len(w)), key=lambda k: (-(x * w[k] % d), k))
    for k in rem[:x - sum(sh)]:
        sh[k] += 1
    return sh


def backward_exposure(txs, outs, by_addr, stops, address, hops, min_value):
    """{category: [amount, nearest hops]} and the seeded total."""
    taint, depth, heap = {}, {}, []
    visited, endpoints, first_depth = set(), {}, {}

    def route(o, amt, from_tx, seed):
        if not amt:
            return
        if o in visited:
            return
        visited.add(o)
        t, _, addr = outs[o]
        d = 0 if from_tx is None else depth[from_tx]
        if not seed:
            if addr in stops:
                endpoints[addr] = endpoints.get(addr, 0) + amt
                first_depth.setdefault(addr, d)
                return
            if amt < min_value:
                return
        if t not in taint:
            taint[t] = 0
            depth[t] = d + 1
            heapq.heappush(heap, -t)
        taint[t] += amt
        depth[t] = min(depth[t], d + 1)

    seeds = sorted(by_addr.get(address, []), key=lambda o: (outs[o][0], o[1]), reverse=True)
    seeded = 0
    for o in seeds:
        seeded += outs[o][1]
        route(o, outs[o][1], None, True)
    while heap:
        t = -heapq.heappop(heap)
        x = txs[t]
        if depth[t] > hops or x["coinbase"]:
            continue
        a = [outs[p][1] for p in x["ins"]]
        sh = haircut(taint[t], a, sum(a))
        for p, s in zip(x["ins"], sh):
            route(p, s, t, False)
    cats = {}
    for addr, amt in endpoints.items():
        c = stops[addr]
        e = cats.setdefault(c, [0, 1 << 30])
        e[0] += amt
        e[1] = min(e[1], first_depth[addr])
    return cats, seeded


def load_stops(labels_csv):
    labels = {}
    for line in open(labels_csv).read().splitlines()[1:]:
        chain, addr, cat = line.split(",")[:3]
        if chain == "btc":
            labels.setdefault(addr, set()).add(cat)
    return {a: sorted(cs, key=lambda c: (-WEIGHTS.get(c, DEFAULT_WEIGHT), c))[0]
            for a, cs in labels.items()}


def get(url, key, path):
    host, port = url.split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=30)
    c.request("GET", path, headers={"X-API-Key": key})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, json.loads(body)


def cmd_exposure(url, key, blockdir, labels_csv, heights, hops, min_value, addr_file):
    _, txs, outs, by_addr = load_chain(blockdir, int(heights))
    stops = load_stops(labels_csv)
    # the whole history's exposure, output by output (docs/exposure.md), for the index's amounts
    import exposure_oracle
    rec, _, _, _ = exposure_oracle.propagate(txs, outs, stops, int(min_value))
    addrs = [a for a in open(addr_file).read().split() if a]
    flagged = indexed = 0
    for a in addrs:
        want, seeded = backward_exposure(txs, outs, by_addr, stops, a, int(hops), int(min_value))
        st, doc = get(url, key, f"/v1/screen/address/{a}?hops={hops}&direction=incoming")
        if st != 200:
            fail(f"{a}: HTTP {st}")
            continue
        inc = doc["indirect"]["incoming"]
        if inc["partial"]:
            fail(f"{a}: partial result (raise the caps in the test)")
        if inc["seeded"] != seeded:
            fail(f"{a}: seeded {inc['seeded']} != {seeded}")
        # within the hops: what the trace found (the explanation when the index gives amounts)
        got = {c["category"]: [c.get("within_hops", c["amount"]), c["hops"]]
               for c in inc["by_category"] if c.get("within_hops", c["amount"])}
        if got != want:
            fail(f"{a}: incoming exposure within {hops} hops {got} != oracle {want}")
        if inc["source"] == "index":
            indexed += 1
            full = defaultdict(int)
            for o in by_addr.get(a, []):
                for c, v in rec.get(o, {}).items():
                    full[c] += v
            have = {c["category"]: c["amount"] for c in inc["by_category"] if c["indexed"]}
            if have != dict(full):
                fail(f"{a}: incoming exposure through the whole history {have} != {dict(full)}")
        for c in inc["by_category"]:
            if abs(c["share"] - c["amount"] / seeded) > 1e-9:
                fail(f"{a}: share of {c['category']}")
            if len(c["path"]) != c["hops"]:
                fail(f"{a}: path of {c['category']} has {len(c['path'])} txs, hops {c['hops']}")
        if any(WEIGHTS.get(c, DEFAULT_WEIGHT) >= 70 for c in want):
            flagged += 1
            if doc["risk"]["level"] in ("none", "low") and any(
                    v[0] / seeded >= 0.1 and v[1] == 1 and WEIGHTS.get(c, 10) == 100
                    for c, v in want.items()):
                fail(f"{a}: 10%+ one hop from a 100-weight category but level "
                     f"{doc['risk']['level']}")
    print(f"exposure: {len(addrs)} addresses compared ({indexed} from the exposure index), "
          f"{flagged} exposed to high-weight categories")
    if not flagged:
        fail("no screened address was exposed to theft/sanctioned/mixer: the test proves little")


def cmd_watch_expect(blockdir, from_height, *addresses):
    """For the first of addresses spent at or after from_height: {address, spends: {txid:
    amount}}."""
    _, txs, outs, _ = load_chain(blockdir)
    for address in addresses:
        want = {}
        for x in txs:
            if x["height"] < int(from_height):
                continue
            amt = sum(outs[p][1] for p in x["ins"] if outs[p][2] == address)
            if amt:
                want[b2lx(x["txid"])] = amt
        if want:
            print(json.dumps({"address": address, "spends": want}))
            return
    print(json.dumps({"address": None, "spends": {}}))


def cmd_tips(blockdir, log):
    hashes = load_chain(blockdir)[0]
    seen = set()
    for line in open(log):
        h, tip = line.split()
        h = int(h)
        if h >= len(hashes) or hashes[h] != tip:
            fail(f"the service reported tip {tip} at height {h}: not the chain's block")
        seen.add(h)
    print(f"tips: {len(seen)} distinct heights seen during the import, all consistent")


def raw(host, port, data, read=True, timeout=5):
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(data)
        if not read:
            return s
        out = b""
        while True:
            try:
                b = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not b:
                break
            out += b
            if b"\r\n\r\n" in out and b"Content-Length" in out:
                head, _, body = out.partition(b"\r\n\r\n")
                cl = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")]
                if cl and len(body) >= int(cl[0].split(b":")[1]):
                    break
        s.close()
        return out
    except (BrokenPipeError, ConnectionResetError):
        s.close()
        return b""


def status_of(resp):
    try:
        return int(resp.split(b" ")[1])
    except (IndexError, ValueError):
        return None


def cmd_hostile(host, port, key):
    port = int(port)
    auth = f"X-API-Key: {key}\r\n".encode()

    def req(method, path, body=b"", extra=b""):
        return raw(host, port, f"{method} {path} HTTP/1.1\r\nHost: x\r\n".encode() + auth + extra +
                   f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)

    def alive(what):
        r = req("GET", "/v1/health")
        if status_of(r) != 200:
            fail(f"after {what}: health is {status_of(r)}")

    def expect(what, resp, codes):
        st = status_of(resp)
        if st not in codes:
            fail(f"{what}: status {st}, expected one of {codes}: {resp[:200]!r}")
        elif st and st >= 400 and b"application/json" in resp:
            body = resp.partition(b"\r\n\r\n")[2]
            try:
                json.loads(body)["error"]["message"]
            except Exception:
                fail(f"{what}: error body is not {{\"error\": {{...}}}}: {body[:200]!r}")
        alive(what)

    batch = "/v1/screen/batch"
    expect("no key", raw(host, port, b"GET /v1/screen/address/1BoatSLRHtKNngkdXEeobR76b53LETtpyT "
                         b"HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), [401])
    expect("wrong key", raw(host, port, b"GET /v1/rules HTTP/1.1\r\nHost: x\r\nX-API-Key: "
                            b"nope-nope-nope-nope\r\nConnection: close\r\n\r\n"), [401])
    expect("bad address", req("GET", "/v1/screen/address/1BoatSLRHtKNngkdXEeobR76b53LETtpyU"), [400])
    expect("non-UTF-8 address", req("GET", "/v1/screen/address/%ff%fe%00abc"), [400, 404])
    expect("bad txid", req("GET", "/v1/screen/tx/xyz"), [400])
    expect("unknown txid", req("GET", "/v1/screen/tx/" + "ab" * 32), [404])
    expect("bad hops", req("GET", "/v1/screen/address/1BoatSLRHtKNngkdXEeobR76b53LETtpyT?hops=-1"),
           [400])
    expect("huge hops", req("GET", "/v1/screen/address/1BoatSLRHtKNngkdXEeobR76b53LETtpyT?hops="
                            "99999999999999999999999"), [400])
    expect("unknown endpoint", req("GET", "/v1/nothing"), [404])
    expect("wrong method", req("DELETE", "/v1/health"), [405])
    # Over the limit by Content-Length: answered at once, before any body is sent.
    expect("body too large", raw(host, port, b"POST " + batch.encode() + b" HTTP/1.1\r\n"
                                 b"Host: x\r\n" + auth + b"Content-Length: 2097152\r\n\r\n"),
           [413])
    # Over the limit in chunks (no length known in advance): read, dropped, then refused.
    chunk = b"[" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(32)) + b"0\r\n\r\n"
    expect("chunked body too large", raw(host, port, b"POST " + batch.encode() + b" HTTP/1.1\r\n"
                                         b"Host: x\r\n" + auth +
                                         b"Transfer-Encoding: chunked\r\nConnection: close\r\n"
                                         b"\r\n" + body), [413])
    expect("deep nesting", req("POST", batch, b"[" * 100000 + b"]" * 100000), [400])
    expect("deep objects", req("POST", batch, b'{"a":' * 50000 + b"1" + b"}" * 50000), [400])
    expect("invalid UTF-8", req("POST", batch, b'{"addresses": ["\xff\xfe"]}'), [400])
    expect("not an object", req("POST", batch, b"[1,2,3]"), [400])
    expect("wrong field type", req("POST", batch, b'{"addresses": "x"}'), [400])
    expect("unknown field", req("POST", batch, b'{"adresses": []}'), [400])
    expect("too many items", req("POST", batch, json.dumps(
        {"addresses": ["1BoatSLRHtKNngkdXEeobR76b53LETtpyT"] * 5000}).encode()), [413])
    expect("trace reads no files", req("POST", "/v1/trace", b'{"from": ["@/etc/passwd"]}'), [400])
    expect("trace bad policy", req("POST", "/v1/trace",
                                   b'{"from": ["1BoatSLRHtKNngkdXEeobR76b53LETtpyT"], "policy": 7}'),
           [400])
    expect("watchlist bad item", req("POST", "/v1/watchlists",
                                     b'{"name": "x", "items": [{"kind": "address", "value": "1"}]}'),
           [400])
    expect("watchlist webhook not allowed", req(
        "POST", "/v1/watchlists", b'{"name": "x", "items": [{"kind": "address", "value": '
        b'"1BoatSLRHtKNngkdXEeobR76b53LETtpyT"}], "webhook": "http://169.254.169.254/"}'), [400])
    expect("huge header", raw(host, port, b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " +
                              b"a" * 200000 + b"\r\nConnection: close\r\n\r\n"),
           [400, 413, 431, None])
    expect("many headers", raw(host, port, b"GET /v1/health HTTP/1.1\r\nHost: x\r\n" +
                               b"".join(b"X-%d: y\r\n" % i for i in range(20000)) +
                               b"Connection: close\r\n\r\n"), [400, 413, 431, None])
    expect("garbage request line", raw(host, port, b"\x00\x01\x02 garbage\r\n\r\n"),
           [400, 505, None])
    expect("bad HTTP version", raw(host, port, b"GET /v1/health HTTP/9.9\r\nHost: x\r\n\r\n"),
           [400, 505, None])
    expect("negative content length", raw(host, port, b"POST /v1/screen/batch HTTP/1.1\r\n"
                                          b"Host: x\r\n" + auth + b"Content-Length: -5\r\n\r\n"),
           [400, 413, None])
    # Slowloris: many connections that never finish their headers. Others are still served,
    # and the server drops the stalled ones after its idle timeout. (Fewer than the service's
    # 64 connections per client address, which would refuse the check itself: the attack from
    # many connections is tests/e2e_serve_attack.sh.)
    slow = []
    for _ in range(48):
        s = raw(host, port, b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ", read=False,
                timeout=20)
        slow.append(s)
    t0 = time.time()
    alive("48 stalled connections")
    if time.time() - t0 > 2:
        fail("a request waited behind stalled connections")
    closed = 0
    for s in slow:
        try:
            s.settimeout(15)
            closed += s.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            closed += 1
        s.close()
    if closed != len(slow):
        fail(f"only {closed} of {len(slow)} stalled connections were closed by the server")
    alive("slowloris")
    print("hostile: done")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"exposure": cmd_exposure, "watch-expect": cmd_watch_expect, "tips": cmd_tips,
     "hostile": cmd_hostile}[cmd](*args)
    sys.exit(1 if FAILS else 0)
