#!/usr/bin/python3
"""An independent clustering to compare with `cointrail cluster` / `cointrail entity`.

  cluster_oracle.py BIN DB PATH...

Reads the block files in PATH... with python3-bitcoinlib (framing, xor.dat and script
classification from tests/oracle.py, which shares no code with cointrail), follows the
most-work chain, detects CoinJoins with the rules of docs/clustering.md written again here in
Python, and runs its own union-find over addresses (multi-input heuristic, CoinJoin inputs not
joined). Then it runs `BIN cluster --db DB`, `BIN cluster --db DB --dump` and `BIN entity` and
checks: the same txs flagged with the same kinds; the same partition of addresses; entity id =
smallest address id (first-seen order) of the cluster; `entity` of the largest clusters gives
their size, their addresses, received and sent. Prints one line per check and `N passed, M
failed`; exits 1 on any failure."""
import json
import os
import subprocess
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402
from bitcoin.core import b2lx  # noqa: E402

WP_DENOM = [100000, 1000000, 5000000, 50000000]
WP_FEE = [5000, 50000, 175000, 1750000]


def ww2_denom(v):
    if v < 5000:
        return False
    if v & (v - 1) == 0:
        return True
    t = v // 2 if v % 2 == 0 else v
    while t % 3 == 0:
        t //= 3
    if t == 1:
        return True
    t = v
    while t % 10 == 0:
        t //= 10
    return t in (1, 2, 5)


def detect(n_in, in_addrs, outs):
    """Kind of a non-coinbase tx from its input count, input addresses (None: no address or
    unresolved) and outputs [(value, type, addr)]."""
    if len(outs) < 2:
        return "none"
    vals = [v for v, t, _ in outs if t != "nulldata"]
    n_null = sum(1 for _, t, _ in outs if t == "nulldata")
    n_wpkh = sum(1 for _, t, _ in outs if t == "p2wpkh")
    n_tr = sum(1 for _, t, _ in outs if t == "p2tr")
    if len(vals) < 2:
        return "none"
    cnt = Counter(vals)
    best_k = max(cnt.values())
    best_v = max(v for v, c in cnt.items() if c == best_k)
    if n_in == 5 and len(outs) == 5 and best_k == 5 and n_wpkh == 5 and best_v in WP_DENOM:
        return "whirlpool"
    if n_null == 1:
        for d, fee in zip(WP_DENOM, WP_FEE):
            premix = {v for v in vals if d < v <= d + d // 10}
            if fee in vals and len(premix) == 1:
                return "whirlpool_tx0"
    if n_in >= 20 and len(vals) >= 20 and n_wpkh + n_tr == len(outs) and best_k >= 2:
        if sum(ww2_denom(v) for v in vals) * 10 >= len(vals) * 7:
            return "wasabi2"
    if n_wpkh == len(outs) and n_in >= 10:
        for v, c in cnt.items():
            if c >= 10 and 9500000 <= v <= 10600000 and n_in >= c:
                return "wasabi1"
    if best_k >= 2 and n_in >= best_k and len(vals) - best_k <= best_k and best_v % 100000:
        eq = [(t, a) for v, t, a in outs if v == best_v and t != "nulldata"]
        if len({t for t, _ in eq}) == 1 and len({a for _, a in eq}) == len(eq) \
                and len({a for a in in_addrs if a}) >= best_k:
            if best_k >= 3:
                return "joinmarket"
            if len(vals) > best_k:
                return "generic"
    return "none"


def excludes(kind):
    return kind not in ("none", "whirlpool_tx0")


class UF:
    def __init__(self):
        self.p = {}

    def add(self, x):
        self.p.setdefault(x, x)

    def find(self, x):
        while self.p[x] != x:
            self.p[x] = self.p[self.p[x]]
            x = self.p[x]
        return x

    def union(self, a, b):
        a, b = self.find(a), self.find(b)
        if a != b:
            self.p[a] = b


def oracle_clusters(paths):
    utxo = {}
    uf = UF()
    order = {}  # address -> first-seen index (the store's address id)
    kinds = {}
    recv = Counter()
    sent = Counter()
    for b in oracle.main_chain(paths):
        for tx in b.vtx:
            txid = tx.GetTxid()
            outs = []
            for n, o in enumerate(tx.vout):
                t, a = oracle.classify(o.scriptPubKey)
                outs.append((o.nValue, t, a))
            in_addrs = []
            if not tx.is_coinbase():
                for i in tx.vin:
                    prev = utxo.pop((i.prevout.hash, i.prevout.n), None)
                    in_addrs.append(prev[2] if prev else None)
                    if prev and prev[2]:
                        sent[prev[2]] += prev[0]
                kind = detect(len(tx.vin), in_addrs, outs)
                in_addrs = [a for a in in_addrs if a]
                if kind != "none":
                    kinds[b2lx(txid)] = kind
                if not excludes(kind):
                    for a in in_addrs[1:]:
                        uf.union(in_addrs[0], a)
            for n, (v, t, a) in enumerate(outs):
                utxo[(txid, n)] = (v, t, a)
                if a:
                    if a not in order:
                        order[a] = len(order)
                        uf.add(a)
                    recv[a] += v
    return uf, order, kinds, recv, sent


def main():
    binary, db, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        print(("ok   " if ok else "FAIL ") + what)
        passed, failed = passed + bool(ok), failed + (not ok)

    uf, order, kinds, recv, sent = oracle_clusters(paths)
    subprocess.run([binary, "cluster", "--db", db, "--json"], check=True, stdout=subprocess.DEVNULL)
    dump = subprocess.run([binary, "cluster", "--db", db, "--dump"], check=True,
                          capture_output=True, text=True).stdout.split("\n")
    ours, our_kinds = {}, {}
    for line in dump:
        f = line.split()
        if not f:
            continue
        if f[0] == "a":
            ours[f[1]] = int(f[2])
        elif f[0] == "c":
            our_kinds[f[1]] = f[2]
    check(set(ours) == set(order), f"same {len(order)} addresses")
    check(our_kinds == kinds, f"same CoinJoin/Tx0 txs and kinds ({len(kinds)}: "
          f"{dict(Counter(kinds.values()))})")
    diff = [t for t in set(kinds) | set(our_kinds) if kinds.get(t) != our_kinds.get(t)]
    for t in diff[:5]:
        print(f"     {t}: oracle {kinds.get(t)}, cointrail {our_kinds.get(t)}")
    # Same partition: the pairing (our entity, oracle root) is a bijection.
    roots = {a: uf.find(a) for a in order}
    pairs = {(ours.get(a), roots[a]) for a in order}
    n_ours, n_theirs = len({p[0] for p in pairs}), len({p[1] for p in pairs})
    check(len(pairs) == n_ours == n_theirs, f"same partition ({n_theirs} oracle clusters, "
          f"{n_ours} entities)")
    # Entity id = smallest first-seen index in the cluster.
    members = {}
    for a in order:
        members.setdefault(roots[a], []).append(a)
    bad = [r for r, m in members.items() if ours.get(m[0]) != min(order[a] for a in m)]
    check(not bad, "entity id is the smallest address id of every cluster")
    # `entity` on the largest clusters (and one singleton) agrees.
    big = sorted(members.values(), key=len, reverse=True)[:3]
    big += [m for m in members.values() if len(m) == 1][:1]
    for m in big:
        doc = json.loads(subprocess.run(
            [binary, "entity", "--db", db, "--json", "--limit", "1000000", m[-1]], check=True,
            capture_output=True, text=True).stdout)
        got = {a["address"] for a in doc["addresses"]}
        ok = (doc["size"] == len(m) and got == set(m) and doc["entity"] == order[m[0]]
              and doc["received"] == sum(recv[a] for a in m)
              and doc["sent"] == sum(sent[a] for a in m))
        check(ok, f"entity of {m[-1]}: size {len(m)}, addresses, received, sent")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
