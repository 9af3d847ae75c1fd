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
import argparse
import csv
import io
import json
import os
import random
import subprocess
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402
from bitcoin.core import b2lx  # noqa: E402

WP_DENOM = [100000, 1000000, 5000000, 50000000]
WP_FEE = [5000, 50000, 175000, 1750000]
NO_ADDR = 0xFFFFFFFF
IN_VBYTES = {"p2pk": 114, "p2pkh": 148, "p2wpkh": 68, "p2wsh": 105, "p2tr": 58}
NULL_WIDTHS = (-5, -2, 2, 5)


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


def binom_tail(t, p, q):
    """P(X >= p), X binomial(t, q), in the same float steps as the C code."""
    if p == 0:
        return 1.0
    if p > t:
        return 0.0
    pmf, below = 1.0, 0.0
    for _ in range(t):
        pmf *= 1.0 - q
    for i in range(p):
        below += pmf
        pmf = pmf * float(t - i) / float(i + 1) * q / (1.0 - q)
    return 0.0 if below >= 1.0 else 1.0 - below


class Groups:
    """Groups of inputs paying one equal output (and a change): docs/clustering.md's rule."""

    def __init__(self, vals, addrs, lo, per_vbyte, max_vb):
        order = sorted(range(len(vals)), key=lambda i: (vals[i], addrs[i]))
        self.v = [vals[i] for i in order]
        self.a = [addrs[i] for i in order]
        self.m = len(vals)
        self.lo, self.per_vbyte, self.max_vb = lo, per_vbyte, max_vb

    def hi(self, size):
        return int(self.per_vbyte * (size * self.max_vb + 97)) + 1000

    def nearest(self, used, want, lo, hi, start):
        best, best_d = -1, None
        for i in range(start, self.m):
            if self.v[i] < want + lo:
                continue
            if self.v[i] > want + hi:
                break
            if used[i]:
                continue
            d = abs(self.v[i] - want)
            if best < 0 or d < best_d:
                best, best_d = i, d
        return best, best_d

    def search(self, used, size, depth, start, acc, target, lo, hi, cur, best):
        if depth == size - 1:
            j, d = self.nearest(used, target - acc, lo, hi, start)
            if j >= 0 and (best[1] is None or d < best[1]):
                best[0], best[1] = cur[:depth] + [j], d
            return
        i = start
        while i < self.m and acc + self.v[i] <= target + hi:
            if not used[i]:
                cur[depth] = i
                self.search(used, size, depth + 1, i + 1, acc + self.v[i], target, lo, hi, cur,
                            best)
            i += 1

    def find(self, used, target, lo):
        top = 4 if self.m <= 12 else 3 if self.m <= 20 else 2
        for size in range(1, top + 1):
            best = [None, None]
            self.search(used, size, 0, 0, 0, target, lo, self.hi(size), [0] * 4, best)
            if best[1] is not None:
                return best[0], sum(self.v[i] for i in best[0]) - target
        return None, None

    def participants(self, change, v, k):
        used = [False] * self.m
        claimed, found, counted, earning, with_change = [], 0, 0, 0, 0
        for t in range(len(change) + k):
            if found >= k:
                break
            target = v + change[t] if t < len(change) else v
            pick, diff = self.find(used, target, self.lo if t < len(change) else 1)
            if pick is None:
                if t >= len(change):
                    break
                continue
            found += 1
            same = False
            for i in pick:
                used[i] = True
                same |= self.a[i] in claimed
            if same:
                continue
            for i in pick:
                if len(claimed) < 256:
                    claimed.append(self.a[i])
            counted += 1
            earning += diff < 0
            with_change += t < len(change)
        return counted, earning, with_change


def detect(n_in, ins, outs, fee, vsize, unresolved):
    """Kind of a non-coinbase tx from its inputs [(value, type, address id)], outputs
    [(value, type, address id or None)], fee and vsize (docs/clustering.md, rules version 2)."""
    if len(outs) < 2:
        return "none"
    vals = sorted(v for v, t, _ in outs if t != "nulldata")
    n = len(vals)
    n_null = sum(1 for _, t, _ in outs if t == "nulldata")
    n_wpkh = sum(1 for _, t, _ in outs if t == "p2wpkh")
    n_tr = sum(1 for _, t, _ in outs if t == "p2tr")
    if n < 2:
        return "none"
    cnt = Counter(vals)
    best_k = max(cnt.values())
    best_v = max(v for v, c in cnt.items() if c == best_k)
    if n_in == 5 and len(outs) == 5 and best_k == 5 and n_wpkh == 5 and best_v in WP_DENOM:
        return "whirlpool"
    if n_null == 1:
        for d, fee_p in zip(WP_DENOM, WP_FEE):
            top = d + max(d // 10, 50000)
            rng = {v: c for v, c in cnt.items() if d < v <= top}
            premix = max(rng.values(), default=0)
            if not premix or sum(rng.values()) - premix > 1:
                continue
            if fee_p in cnt:
                return "whirlpool_tx0"
            if any(v < fee_p and v * 10 >= fee_p and v * 100 % fee_p == 0 for v in cnt) \
                    and n - premix <= 2:
                return "whirlpool_tx0"
    if n_in >= 20 and n >= 20 and n_wpkh + n_tr == len(outs) and best_k >= 2:
        if sum(ww2_denom(v) for v in vals) * 10 >= n * 7:
            return "wasabi2"
    if n_wpkh == len(outs) and n_in >= 5:
        for v, c in cnt.items():
            if c < 2 or not 9500000 <= v <= 10600000 or n_in < c:
                continue
            lv = [cnt.get(v << k, 0) for k in range(1, 5)]
            lv = [x for x in lv if x >= 2]
            if (c >= 10 and n_in >= 10) or (lv and c + sum(lv) >= 5):
                return "wasabi1"
    if best_k < 2 or unresolved or n - best_k > best_k + 1:
        return "none"
    change = [v for v, t, _ in outs if t != "nulldata" and v != best_v]
    eq = [a for v, t, a in outs if t != "nulldata" and v == best_v]
    if None in eq or len(set(eq)) != len(eq):
        return "none"
    in_vals = [v for v, _, _ in ins]
    in_addrs = [NO_ADDR if a is None else a for _, _, a in ins]
    max_vb = max([58] + [IN_VBYTES.get(t, 300) for _, t, _ in ins])
    if n_in > 1000 or n_in * (len(change) + best_k) > 200000:
        return "none"
    if all(a == in_addrs[0] for a in in_addrs):
        return "payout_batch" if best_k >= 3 else "none"
    g = Groups(in_vals, in_addrs, -(best_v // 3000 + 1000), 1.5 * fee / (vsize or 1), max_vb)
    p, earning, with_change = g.participants(change, best_v, best_k)
    width = g.hi(2) - g.lo
    by_chance = 0
    for w in NULL_WIDTHS:
        nv = best_v + width * w
        by_chance += g.participants(change, nv, best_k)[0] if nv > 0 else 0
    targets = len(change) + best_k
    tail = binom_tail(targets, p, (by_chance + 0.5) / (4.0 * targets))
    need = max(2, (best_k + 3) // 4)
    if p >= need and tail < 0.05 and (best_k > 2 or with_change >= 2):
        if best_k >= 3 and n - best_k <= best_k and earning >= 2:
            return "joinmarket"
        return "generic"
    if best_k >= 3 and (p < 2 or tail >= 0.2):
        return "payout_batch"
    return "none"


def excludes(kind):
    return kind not in ("none", "whirlpool_tx0", "payout_batch")


SERVICES = {"exchange", "mixer", "bridge", "swap", "otc", "gambling", "defi", "miner", "darknet"}
MULTI = ("<several>", True)


class Clustering:
    """Union-find keeping the smaller root, with the collapse guards of docs/clustering.md."""

    def __init__(self, guard, established, evidence, labels):
        self.p, self.size, self.label = {}, {}, {}
        self.guard, self.established, self.evidence = guard, established, evidence
        self.labels = labels  # address -> identity (actor, service) or MULTI
        self.refusals, self.links = [], []

    def add(self, x, addr):
        self.p[x], self.size[x] = x, 1
        if addr in self.labels:
            self.label[x] = self.labels[addr]

    def find(self, x):
        while self.p[x] != x:
            self.p[x] = self.p[self.p[x]]
            x = self.p[x]
        return x

    def rule(self, ra, rb):
        sa, sb = self.size[ra], self.size[rb]
        if sa >= self.guard and sb >= self.guard:
            return "size"
        la, lb = self.label.get(ra), self.label.get(rb)
        sva, svb = la is not None and la[1], lb is not None and lb[1]
        if la is not None and lb is not None and (la != lb or la == MULTI) and (sva or svb):
            return "labels"
        if (sva and lb is None and sb >= self.established) or \
                (svb and la is None and sa >= self.established):
            return "service"
        return None

    def merge(self, a, b, tx, heuristic):
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        rule = self.rule(ra, rb)
        on_evidence = False
        if rule:
            txs = {r[2] for r in self.refusals if {self.find(r[0]), self.find(r[1])} == {ra, rb}}
            if tx in txs:
                return
            if len(txs) + 1 < self.evidence:
                self.refusals.append((a, b, tx, heuristic, rule, self.size[ra], self.size[rb]))
                return
            on_evidence = True
        self.links.append((a, b, tx, heuristic, on_evidence))
        keep, gone = min(ra, rb), max(ra, rb)
        self.p[gone] = keep
        self.size[keep] += self.size.pop(gone)
        lg = self.label.pop(gone, None)
        if lg is not None:
            lk = self.label.get(keep)
            self.label[keep] = lg if lk is None or lk == lg else MULTI


def vsize_of(tx):
    base = io.BytesIO()
    tx.stream_serialize(base, include_witness=False)
    total = len(tx.serialize())
    return (len(base.getvalue()) * 3 + total + 3) // 4


def oracle_clusters(paths, guard, established, evidence, labels):
    utxo = {}
    order = {}  # address -> first-seen index (the store's address id)
    cl = Clustering(guard, established, evidence, labels)
    kinds, txins, txhex = {}, {}, []
    recv, sent = Counter(), Counter()
    ntx = 0
    for b in oracle.main_chain(paths):
        for tx in b.vtx:
            txid = tx.GetTxid()
            h = b2lx(txid)
            outs = []
            for n, o in enumerate(tx.vout):
                t, a = oracle.classify(o.scriptPubKey)
                outs.append((o.nValue, t, a))
            ins, unresolved = [], False
            if not tx.is_coinbase():
                for i in tx.vin:
                    prev = utxo.pop((i.prevout.hash, i.prevout.n), None)
                    if prev is None:
                        unresolved = True
                        ins.append((0, "nonstandard", None))
                        continue
                    ins.append((prev[0], prev[1], prev[2]))
                    if prev[2]:
                        sent[prev[2]] += prev[0]
                for _, _, a in outs:  # the tx's new addresses get their ids first
                    if a and a not in order:
                        order[a] = len(order)
                        cl.add(order[a], a)
                id_ins = [(v, t, order.get(a) if a else None) for v, t, a in ins]
                id_outs = [(v, t, order.get(a) if a else None) for v, t, a in outs]
                fee = sum(v for v, _, _ in ins) - sum(v for v, _, _ in outs)
                kind = detect(len(tx.vin), id_ins, id_outs, fee, vsize_of(tx), unresolved)
                if kind != "none":
                    kinds[h] = kind
                in_addrs = [a for _, _, a in ins if a]
                txins[h] = set(in_addrs)
                if not excludes(kind):
                    for a in in_addrs[1:]:
                        cl.merge(order[in_addrs[0]], order[a], ntx, "multi_input")
            txhex.append(h)
            for n, (v, t, a) in enumerate(outs):
                utxo[(txid, n)] = (v, t, a)
                if a:
                    if a not in order:
                        order[a] = len(order)
                        cl.add(order[a], a)
                    recv[a] += v
            ntx += 1
    return cl, order, kinds, recv, sent, txins, txhex


def load_labels(path):
    """address -> identity (actor, service) from a generator labels.csv (btc rows)."""
    by = {}
    with open(path) as f:
        rows = csv.DictReader(f)
        for r in rows:
            if r["chain"] != "btc":
                continue
            by.setdefault(r["address"], set()).add((r["actor"], r["category"] in SERVICES))
    return {a: next(iter(s)) if len(s) == 1 else MULTI for a, s in by.items()}


def forest_path(links, a, b):
    """The path from a to b (address ids) in the forest of links: [(from, to, tx)]."""
    adj = {}
    for x, y, tx, _, _ in links:
        adj.setdefault(x, []).append((y, tx))
        adj.setdefault(y, []).append((x, tx))
    via, queue = {a: None}, [a]
    while queue and b not in via:
        x = queue.pop(0)
        for y, tx in adj.get(x, []):
            if y not in via:
                via[y] = (x, tx)
                queue.append(y)
    if b not in via:
        return None
    path, x = [], b
    while via[x] is not None:
        y, tx = via[x]
        path.append((y, x, tx))
        x = y
    return path[::-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("db")
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--labels", help="the labels.csv imported into DB (else --no-labels)")
    ap.add_argument("--guard", type=int, default=1000)
    ap.add_argument("--established", type=int, default=10)
    ap.add_argument("--evidence", type=int, default=2)
    ap.add_argument("--why", type=int, default=6, help="address pairs to check `entity why` on")
    args = ap.parse_args()
    binary, db = args.binary, args.db
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        print(("ok   " if ok else "FAIL ") + what)
        passed, failed = passed + bool(ok), failed + (not ok)

    labels = load_labels(args.labels) if args.labels else {}
    cl, order, kinds, recv, sent, txins, txhex = oracle_clusters(
        args.paths, args.guard, args.established, args.evidence, labels)
    copts = ["--guard", str(args.guard), "--established", str(args.established), "--evidence",
             str(args.evidence)] + ([] if args.labels else ["--no-labels"])
    summary = json.loads(subprocess.run([binary, "cluster", "--db", db, "--json"] + copts,
                                        check=True, capture_output=True, text=True).stdout)
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
    check(our_kinds == kinds, f"same flagged txs and kinds ({len(kinds)}: "
          f"{dict(Counter(kinds.values()))})")
    diff = [t for t in set(kinds) | set(our_kinds) if kinds.get(t) != our_kinds.get(t)]
    for t in diff[:5]:
        print(f"     {t}: oracle {kinds.get(t)}, cointrail {our_kinds.get(t)}")
    # Same partition: the pairing (our entity, oracle root) is a bijection.
    by_id = {i: a for a, i in order.items()}
    roots = {a: cl.find(order[a]) for a in order}
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
    # The guards: the same merges refused (by rule) and made (by heuristic, on evidence).
    rules = Counter(r[4] for r in cl.refusals)
    check(summary["refused_merges"] == len(cl.refusals) and
          all(summary["refused_by_rule"][k] == rules.get(k, 0) for k in ("size", "labels",
                                                                         "service")),
          f"same refused merges ({len(cl.refusals)}: {dict(rules)})")
    made = summary["merged"]
    check(made["multi_input"] == len(cl.links) and
          made["on_evidence"] == sum(1 for x in cl.links if x[4]),
          f"same merges made ({len(cl.links)}, {sum(1 for x in cl.links if x[4])} on evidence)")
    # `entity` on the largest clusters (and one singleton) agrees; formed by size - 1 links.
    big = sorted(members.values(), key=len, reverse=True)[:3]
    big += [m for m in members.values() if len(m) == 1][:1]
    for m in big:
        doc = json.loads(subprocess.run(
            [binary, "entity", "--db", db, "--json", "--limit", "1000000", m[-1]], check=True,
            capture_output=True, text=True).stdout)
        got = {a["address"] for a in doc["addresses"]}
        ids = {order[a] for a in m}
        own_refused = sum(1 for r in cl.refusals if roots[by_id[r[0]]] == roots[m[0]] or
                          roots[by_id[r[1]]] == roots[m[0]])
        fm = doc["formation"]
        ok = (doc["size"] == len(m) and got == set(m) and doc["entity"] == order[m[0]]
              and doc["received"] == sum(recv[a] for a in m)
              and doc["sent"] == sum(sent[a] for a in m)
              and fm["multi_input"] + fm["change"] == len(m) - 1
              and fm["on_evidence"] == sum(1 for x in cl.links if x[4] and x[0] in ids)
              and fm["refused_apart"] + fm["refused_joined_later"] == own_refused)
        check(ok, f"entity of {m[-1]}: size {len(m)}, addresses, received, sent, formation")
    # `entity why`: the chain of links between two addresses of a cluster is the oracle's path
    # in its own forest of merges, each step a tx spending both (inputs of one tx); two
    # addresses of different clusters are not joined.
    rng = random.Random(7)
    multi = [m for m in members.values() if len(m) >= 3]
    for _ in range(args.why if multi else 0):
        m = rng.choice(multi)
        a, b = rng.sample(m, 2)
        doc = json.loads(subprocess.run([binary, "entity", "why", "--db", db, "--json", a, b],
                                        check=True, capture_output=True, text=True).stdout)
        want = forest_path(cl.links, order[a], order[b])
        steps = [(s_["from"], s_["to"], s_["txid"]) for s_ in doc["steps"]]
        exp = [(by_id[x], by_id[y], t) for x, y, t in want]
        ok = doc["joined"] and len(steps) == len(exp) and \
            all(st[0] == e[0] and st[1] == e[1] and st[2] == txhex[e[2]] and
                st[0] in txins.get(st[2], ()) and
                st[1] in txins.get(st[2], ()) for st, e in zip(steps, exp)) and \
            (not steps or (steps[0][0] == a and steps[-1][1] == b))
        check(ok, f"entity why {a} {b}: {len(exp)} steps, each tx spends both")
    if len(members) >= 2:
        m1, m2 = rng.sample(list(members.values()), 2)
        doc = json.loads(subprocess.run([binary, "entity", "why", "--db", db, "--json", m1[0],
                                         m2[0]], check=True, capture_output=True,
                                        text=True).stdout)
        r1, r2 = roots[m1[0]], roots[m2[0]]
        n_ref = sum(1 for r in cl.refusals if {roots[by_id[r[0]]], roots[by_id[r[1]]]} == {r1, r2})
        check(not doc["joined"] and not doc["steps"] and doc["refused_merges"] == n_ref,
              "entity why of two entities: not joined, their refused merges")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
