#!/usr/bin/python3
"""scan_check.py: `stats --recompute` (store_recompute_totals) against the row-by-row
definition of every figure, computed here from the column files with Python integers.

  scan_check.py definition DB         -> JSON: the stats figures as the definition reads them
                                         from DB's columns, or {"error": WHY} where it would
                                         read past the rows
  scan_check.py corrupt DB KIND       -> damages one column of DB (a copy!) in place; prints
                                         what the MANIFEST's totals should show: "differs"
                                         (some figure no longer matches) or "error" (the
                                         definition cannot be read: the scan must fail)
  scan_check.py check DEF OURS STATS EXPECT
                                      -> OURS (`stats --recompute --json`) equals DEF in every
                                         field; with EXPECT "same" it also equals STATS (the
                                         MANIFEST's `stats --json`), with "differs" it must not

The definition is what the running totals keep (docs/formats.md): an output is unspent unless
its out_spent names an input whose in_prev points back at it; the fees are, over every tx
flagged neither coinbase nor unresolved, the values of the outputs its inputs spend minus its
outputs' values (its inputs and outputs running to the next tx's first ones); an address
counts when its list head (addr_last, past outputs a writer added skipped) is an output.
Nothing here shares code with cointrail: the layout is read from docs/formats.md's widths."""
import json
import struct
import sys
from array import array

NONE = 2**64 - 1
UNRESOLVED = 2**64 - 2
TYPES = ("nonstandard", "p2pk", "p2pkh", "p2sh", "p2wpkh", "p2wsh", "p2tr", "witness_unknown",
         "multisig", "nulldata")
# tx rows: (offset, bytes) of first_in, first_out, fee, block, vsize, size, flags; format 4
# packs them in 29 bytes, formats 1-3 hold u64 first_in, first_out, i64 fee, u32 block, vsize,
# size, flags (40 bytes)
TX_FIELDS = {4: ((0, 5), (5, 5), (10, 8), (18, 4), (22, 3), (25, 3), (28, 1)),
             3: ((0, 8), (8, 8), (16, 8), (24, 4), (28, 4), (32, 4), (36, 4))}


def tx_layout(m):
    f = TX_FIELDS[4 if m["format"] >= 4 else 3]
    return f, f[-1][0] + f[-1][1]
COINBASE, UNRES_FLAG = 1, 2


def manifest(db):
    m = {}
    for line in open(f"{db}/MANIFEST"):
        w = line.split()
        if len(w) == 2 and w[1].isdigit():
            m[w[0]] = int(w[1])
        if w and w[0] == "cointrail-store":
            m["format"] = int(w[1])
    return m


def id_width(m):
    return 5 if m["format"] >= 3 else 8


def ids(db, name, m):
    """An id column as a list of Python ints (5-byte rows: the top 16 values are sentinels)."""
    raw = open(f"{db}/{name}", "rb").read()
    w = id_width(m)
    if w == 8:
        return array("Q", raw).tolist()
    out = []
    for k in range(0, len(raw) - len(raw) % 5, 5):
        v = int.from_bytes(raw[k:k + 5], "little")
        out.append(v | (NONE ^ (2**40 - 1)) if v >= 2**40 - 16 else v)
    return out


def columns(db):
    m = manifest(db)
    c = {"m": m}
    c["value"] = array("q", open(f"{db}/out_value.col", "rb").read()).tolist()
    c["type"] = open(f"{db}/out_type.col", "rb").read()
    c["spent"] = ids(db, "out_spent.col", m)
    c["prev"] = ids(db, "in_prev.col", m)
    c["last"] = ids(db, "addr_last.col", m)
    c["prev_addr"] = ids(db, "out_prev_addr.col", m)
    raw = open(f"{db}/tx.col", "rb").read()
    f, w = tx_layout(m)
    c["tx"] = [tuple(int.from_bytes(raw[k * w + o:k * w + o + n], "little", signed=(i == 2))
                     for i, (o, n) in enumerate(f)) for k in range(m["txs"])]
    return c


def i64(x):
    return (x + 2**63) % 2**64 - 2**63


def definition(db):
    c = columns(db)
    m = c["m"]
    T, I, O, A = m["txs"], m["inputs"], m["outputs"], m["addresses"]
    V, S, P, ty = c["value"], c["spent"], c["prev"], c["type"]
    by_type = [0] * len(TYPES)
    total = utxo_n = utxo_v = 0
    for o in range(O):
        if ty[o] >= len(TYPES):
            return {"error": f"out_type.col: output {o} has script type {ty[o]}"}
        by_type[ty[o]] += 1
        total += V[o]
        if not (S[o] < I and P[S[o]] == o):
            utxo_n += 1
            utxo_v += V[o]
    fees = 0
    for t in range(T):
        row = c["tx"][t]
        if row[6] & (COINBASE | UNRES_FLAG):
            continue
        nxt = c["tx"][t + 1] if t + 1 < T else (I, O)
        n_in, n_out = (nxt[0] - row[0]) % 2**32, (nxt[1] - row[1]) % 2**32
        for k in range(n_in):
            i = row[0] + k
            if i >= I or P[i] >= O:
                return {"error": f"tx.col: tx {t} input {k} reads past the rows"}
            fees += V[P[i]]
        for k in range(n_out):
            if row[1] + k >= O:
                return {"error": f"tx.col: tx {t} output {k} reads past the rows"}
            fees -= V[row[1] + k]
    addresses = 0
    for a in range(A):
        o = c["last"][a]
        while o != NONE and o >= O:
            o = c["prev_addr"][o] if o < len(c["prev_addr"]) else NONE
        addresses += o != NONE
    return {"blocks": m["blocks"], "txs": T, "inputs": I, "outputs": O,
            "total_output_value": i64(total), "total_fees": i64(fees),
            "utxo_count": utxo_n, "utxo_value": i64(utxo_v), "addresses": addresses,
            "outputs_by_type": dict(zip(TYPES, by_type)),
            "unresolved_inputs": sum(p == UNRESOLVED for p in P[:I])}


def put(db, name, offset, fmt, value):
    with open(f"{db}/{name}", "r+b") as f:
        f.seek(offset)
        f.write(struct.pack(fmt, value))


def put_tx(db, m, t, field, value):
    """Field (0 first_in, 1 first_out, 6 flags) of tx t's row."""
    f, w = tx_layout(m)
    o, n = f[field]
    with open(f"{db}/tx.col", "r+b") as fh:
        fh.seek(t * w + o)
        fh.write(value.to_bytes(n, "little"))


def put_id(db, name, m, row, value):
    w = id_width(m)  # a 5-byte row keeps the low 40 bits (the sentinels are its top values)
    with open(f"{db}/{name}", "r+b") as f:
        f.seek(row * w)
        f.write((value % 2**(8 * w)).to_bytes(w, "little"))


def corrupt(db, kind):
    """Damage one column; returns "differs" or "error" (what the check must then see)."""
    c = columns(db)
    m = c["m"]
    T, I, O = m["txs"], m["inputs"], m["outputs"]
    V, S, P, tx = c["value"], c["spent"], c["prev"], c["tx"]
    flag = lambda t: tx[t][6] & (COINBASE | UNRES_FLAG)
    tx_of_in = {}
    for t in range(T):
        end = tx[t + 1][0] if t + 1 < T else I
        for i in range(tx[t][0], end):
            tx_of_in[i] = t
    # inputs of unflagged txs with a confirmed link, in order
    linked = [i for i in range(I) if P[i] < O and S[P[i]] == i and not flag(tx_of_in[i])]
    i1 = linked[len(linked) // 3]
    i2 = next(i for i in linked[len(linked) // 2:] if tx_of_in[i] != tx_of_in[i1]
              and V[P[i]] != V[P[i1]])
    unspent = next(o for o in range(O) if S[o] == NONE and V[o] > 0)
    if kind == "value_spent":  # the fee and the total move, not the utxo value
        put(db, "out_value.col", P[i1] * 8, "<q", V[P[i1]] + 1000)
    elif kind == "value_unspent":
        put(db, "out_value.col", unspent * 8, "<q", V[unspent] + 7)
    elif kind == "spent_none":  # an output looks unspent: M and R differ in size
        put_id(db, "out_spent.col", m, P[i1], NONE)
    elif kind == "spent_other":  # its mark names an input that spends another output
        put_id(db, "out_spent.col", m, P[i1], i2)
    elif kind == "prev_other":  # an input spends an unspent output without its mark
        put_id(db, "in_prev.col", m, i1, unspent)
    elif kind == "prev_swap":  # two inputs swap what they spend: both marks unconfirmed
        put_id(db, "in_prev.col", m, i1, P[i2])
        put_id(db, "in_prev.col", m, i2, P[i1])
    elif kind == "prev_unresolved":  # an unflagged tx spends what is not stored
        put_id(db, "in_prev.col", m, i1, UNRESOLVED)
        return "error"
    elif kind == "relink":
        # Consistent links, swapped between an unflagged tx's input and an input of an
        # unresolved tx (mkchain chains have them): marks and in_prev agree, so the scan keeps
        # its sequential sums, and the fee moves by the values' difference.
        j = next(i for i in range(I) if P[i] < O and S[P[i]] == i and flag(tx_of_in[i])
                 and V[P[i]] != V[P[i1]])
        o1, o2 = P[i1], P[j]
        put_id(db, "in_prev.col", m, i1, o2)
        put_id(db, "in_prev.col", m, j, o1)
        put_id(db, "out_spent.col", m, o1, j)
        put_id(db, "out_spent.col", m, o2, i1)
    elif kind == "type_other":
        o = next(o for o in range(O) if c["type"][o] == 2)
        put(db, "out_type.col", o, "<B", 3)
    elif kind == "type_past":
        put(db, "out_type.col", O // 2, "<B", 200)
        return "error"
    elif kind == "coinbase_flag":  # a coinbase counted: its input spends no output
        t = next(t for t in range(1, T) if tx[t][6] & COINBASE)
        put_tx(db, m, t, 6, tx[t][6] & ~COINBASE)
        return "error"
    elif kind == "unresolved_flag":  # an ordinary tx left out of the fees
        t = tx_of_in[i1]
        put_tx(db, m, t, 6, tx[t][6] | UNRES_FLAG)
    elif kind == "first_in":  # a coinbase's run takes the next tx's first input
        t = next(t for t in range(1, T) if tx[t - 1][6] & COINBASE and not flag(t)
                 and (tx[t + 1][0] if t + 1 < T else I) - tx[t][0] > 1)
        put_tx(db, m, t, 0, tx[t][0] + 1)
    elif kind == "first_out":  # the tx after a coinbase takes its last output
        t = next(t for t in range(1, T) if tx[t - 1][6] & COINBASE and not flag(t)
                 and tx[t][1] > tx[t - 1][1] and V[tx[t][1] - 1] > 0)
        put_tx(db, m, t, 1, tx[t][1] - 1)
    elif kind == "addr_none":
        put_id(db, "addr_last.col", m, m["addresses"] // 2, NONE)
    else:
        sys.exit(f"unknown kind {kind}")
    return "differs"


FIELDS = ("blocks", "txs", "inputs", "outputs", "total_output_value", "total_fees", "utxo_count",
          "utxo_value", "addresses", "outputs_by_type", "unresolved_inputs")


def check(def_path, ours_path, stats_path, expect):
    d, ours, st = (json.load(open(p)) for p in (def_path, ours_path, stats_path))
    bad = [k for k in FIELDS if ours.get(k) != d.get(k)]
    if bad:
        print("recompute differs from the definition in", bad,
              {k: (ours.get(k), d.get(k)) for k in bad})
        return 1
    moved = [k for k in FIELDS if st.get(k) != ours.get(k)]
    if (expect == "same") != (not moved):
        print(f"expected {expect}, the MANIFEST's figures differ in {moved}")
        return 1
    return 0


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "definition":
        print(json.dumps(definition(sys.argv[2])))
    elif cmd == "corrupt":
        print(corrupt(sys.argv[2], sys.argv[3]))
    elif cmd == "check":
        sys.exit(check(*sys.argv[2:6]))
    else:
        sys.exit(__doc__)
