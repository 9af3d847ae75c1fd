"""Checks for tests/e2e_screen_fast.sh.

  same BIN DB PORT KEY ITEMS   every item screened by the service (risk_result_text) and by
                               `BIN screen --json` (risk_result_json, built with jansson) in three
                               modes: the same documents, key order included
  slots PORT KEY ITEMS         8 clients at once against a service with one expensive slot:
                               incoming screenings from the index are never refused (503);
                               with ?hops=2 (a trace) some are
"""
import http.client, json, subprocess, sys, threading, time


def get(port, key, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", path, headers={"X-API-Key": key})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def kind(item):
    return "tx" if len(item) == 64 and all(ch in "0123456789abcdef" for ch in item) else "address"


def same(binp, db, port, key, items_file):
    items = open(items_file).read().split()
    fails = checked = sources = 0
    modes = [("?direction=incoming", ["--direction", "incoming"]), ("", []),
             ("?hops=2&direction=incoming", ["--hops", "2", "--direction", "incoming"])]
    for q, args in modes:
        out = subprocess.run([binp, "screen", "--db", db, "--json"] + args + items,
                             capture_output=True, text=True).stdout
        docs = json.loads(out)
        for item, want in zip(items, docs):
            st, body = get(int(port), key, f"/v1/screen/{kind(item)}/{item}{q}")
            have = json.loads(body)
            # json.dumps keeps the key order of both documents
            if st != 200 or json.dumps(have) != json.dumps(want):
                fails += 1
                if fails < 4:
                    print(f"FAIL: {item}{q}: service {st} {json.dumps(have)[:400]}\n"
                          f"      CLI {json.dumps(want)[:400]}")
            checked += 1
            sources += sum(len(c.get("sources", [])) for d in have.get("indirect", {}).values()
                           for c in d.get("by_category", []))
    print(f"same: {checked} answers compared, {sources} index sources in them, {fails} differ")
    if not sources:
        print("FAIL: no answer explained by the index: the comparison proves little")
        fails += 1
    return fails == 0


def slots(port, key, items_file):
    items = open(items_file).read().split()

    def load(q, secs=3):
        seen = {}
        stop = time.time() + secs

        def client(k):
            i = k
            while time.time() < stop:
                item = items[i % len(items)]
                i += 8
                st, _ = get(int(port), key, f"/v1/screen/{kind(item)}/{item}{q}")
                seen[st] = seen.get(st, 0) + 1
        ths = [threading.Thread(target=client, args=(k,)) for k in range(8)]
        [t.start() for t in ths]
        [t.join() for t in ths]
        return seen
    fast = load("?direction=incoming")
    traced = load("?hops=2&direction=incoming")
    print(f"slots: incoming from the index {fast}; with the trace within 2 hops {traced}")
    return set(fast) == {200} and traced.get(503, 0) > 0


if __name__ == "__main__":
    what = sys.argv[1]
    ok = same(*sys.argv[2:7]) if what == "same" else slots(*sys.argv[2:5])
    sys.exit(0 if ok else 1)
