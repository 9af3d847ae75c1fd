#!/usr/bin/python3
"""Same answers from two cointrail binaries (issue 18 part 6: the label indexes must not change
any answer). Runs `tx`, `address` (pages) and `entity` in text and --json with both binaries
on one store and compares the bytes of stdout, stderr and the exit code.

  bench/open_cost_check.py DB NEW_BIN REF_BIN [N]

Picks N (default 60) txs spread over tx_hash.col and their input and output addresses, N
labelled btc addresses from labels.db, the addresses of the largest entities (cluster.state's
`largest`, via `entity --json` with REF_BIN) and pages through the address with the most
outputs among those. Nothing is written into DB."""
import random, subprocess, sys, json, os

db, new, ref = sys.argv[1:4]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 60
rnd = random.Random(18)

def run(b, args):
    p = subprocess.run([b] + args, capture_output=True)
    return p.returncode, p.stdout, p.stderr

checked = 0
diffs = []
def same(args):
    global checked
    a, b = run(new, args), run(ref, args)
    checked += 1
    if a != b:
        diffs.append(args)
        print("DIFFERS:", " ".join(args), file=sys.stderr)
    return b

txs = os.path.getsize(os.path.join(db, "tx_hash.col")) // 32
addrs = set()
with open(os.path.join(db, "tx_hash.col"), "rb") as f:
    for i in range(n):
        f.seek(32 * rnd.randrange(txs))
        txid = f.read(32)[::-1].hex()
        same(["tx", "--db", db, txid])
        rc, out, _ = same(["tx", "--db", db, "--json", txid])
        d = json.loads(out)
        for o in d.get("outputs", []) + d.get("inputs", []):
            if o.get("address"):
                addrs.add(o["address"])
same(["tx", "--db", db, "00" * 32])
same(["tx", "--db", db, "zz"])
lab = []
if os.path.exists(os.path.join(db, "labels.db")):
    with open(os.path.join(db, "labels.db"), encoding="utf-8", errors="replace") as f:
        for i, line in enumerate(f):
            if i >= 2 and line.startswith("btc\t"):
                lab.append(line.split("\t")[1])
lab = sorted(set(lab))
addrs.update(rnd.sample(lab, min(n, len(lab))))
big = []
state = os.path.join(db, "cluster.state")
if os.path.exists(state):
    for line in open(state):
        if line.startswith("largest "):
            big = [t.split(":")[0] for t in line.split()[1:]]
for e in big[:5]:
    rc, out, _ = same(["entity", "--db", db, "--json", "--limit", "20", e])
    if rc == 0:
        for a in json.loads(out).get("addresses", []):
            addrs.add(a["address"] if isinstance(a, dict) else a)
most, most_n = None, -1
for a in sorted(addrs):
    same(["address", "--db", db, a])
    rc, out, _ = same(["address", "--db", db, "--json", a])
    if rc == 0:
        c = json.loads(out).get("output_count", 0)
        if c > most_n:
            most, most_n = a, c
if most:
    for off, lim in ((0, 1), (1, 1), (5, 10), (100, 100), (most_n - 1, 5), (most_n + 3, 5)):
        same(["address", "--db", db, "--json", "--offset", str(max(off, 0)), "--limit", str(lim), most])
        same(["address", "--db", db, "--offset", str(max(off, 0)), "--limit", str(lim), most])
print("%d commands compared, %d addresses (%d labelled sampled, most outputs %s: %d), %d differ"
      % (checked, len(addrs), min(n, len(lab)), most, most_n, len(diffs)))
sys.exit(1 if diffs else 0)
