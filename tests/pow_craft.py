#!/usr/bin/python3
"""Forged block files for the proof-of-work and amount checks (tests/e2e_pow.sh), written byte by
byte with python3 integers (not by cointrail).

  pow_craft.py fork DEMO_BLK OUT_DIR
      blocks forking the real mainnet chain of DEMO_BLK after height 100:
      heavy.dat    bits 0x14100000 (claims about 2^76 work), hash nowhere near its target
      regtest.dat  bits 0x207fffff with a solved regtest proof of work (easier than mainnet's limit)
      maxwork.dat  bits 0x03000001 (target 1: the maximal work claim)
  pow_craft.py amounts OUT_DIR
      regtest-like chains (bits 0x207fffff, proof of work solved):
      overflow.dat  genesis, then a coinbase of 4400 outputs x 21M BTC (its sum overflows int64)
      greedy.dat    genesis, two coinbases of 4000 x 21M BTC each, then a tx spending all 8000
                    (the sum of its inputs overflows int64)
      rich.dat      genesis, then a coinbase paying 50 BTC + 1 sat with no fees in its block
      spendsum.dat  genesis, a coinbase of 50 BTC, a tx splitting it, a tx spending both halves
                    plus an unresolved input (fees unknown: no coinbase check for that block)
  pow_craft.py undeclared OUT_FILE
      a regtest-like genesis (bits 0x1f7fffff) that declares no network's rules
"""
import hashlib
import os
import struct
import sys

MAGIC = bytes.fromhex("f9beb4d9")
COIN = 100_000_000
MAX_MONEY = 21_000_000 * COIN
P2PKH = bytes([0x76, 0xA9, 20]) + bytes(range(20)) + bytes([0x88, 0xAC])


def sha256d(b):
    return hashlib.sha256(hashlib.sha256(b).digest()).digest()


def varint(n):
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + struct.pack("<H", n)
    return b"\xfe" + struct.pack("<I", n)


def target(bits):
    exp, mant = bits >> 24, bits & 0x7FFFFF
    return mant >> 8 * (3 - exp) if exp <= 3 else mant << 8 * (exp - 3)


def tx(ins, outs):
    """ins: (prev_txid, vout, script); outs: (value, script). Legacy serialization."""
    b = struct.pack("<i", 1) + varint(len(ins))
    for prev, n, script in ins:
        b += prev + struct.pack("<I", n) + varint(len(script)) + script + b"\xff\xff\xff\xff"
    b += varint(len(outs))
    for v, script in outs:
        b += struct.pack("<q", v) + varint(len(script)) + script
    return b + b"\0\0\0\0"


def coinbase(height, outs):
    script = bytes([1, height & 0xFF]) + b"craft"
    return tx([(b"\0" * 32, 0xFFFFFFFF, script)], outs)


def merkle(txids):
    level = list(txids)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def block(prev, when, bits, txs, solve):
    """A block; with solve the nonce is searched until the hash meets the target of bits, else
    the nonce is chosen so that the hash does NOT meet it."""
    head = struct.pack("<i", 0x20000000) + prev + merkle([sha256d(t) for t in txs]) + \
        struct.pack("<II", when, bits)
    nonce = 0
    while True:
        h = sha256d(head + struct.pack("<I", nonce))
        if (int.from_bytes(h, "little") <= target(bits)) == solve:
            break
        nonce += 1
    return head + struct.pack("<I", nonce) + varint(len(txs)) + b"".join(txs), h


def write(path, blocks):
    with open(path, "wb") as f:
        for raw in blocks:
            f.write(MAGIC + struct.pack("<I", len(raw)) + raw)


def read_chain(path):
    """The blocks of a mainnet blk file in chain order: [(hash, time, raw)]."""
    data = open(path, "rb").read()
    by_prev, off = {}, 0
    while off + 8 <= len(data) and data[off:off + 4] == MAGIC:
        size = struct.unpack_from("<I", data, off + 4)[0]
        raw = data[off + 8:off + 8 + size]
        by_prev[raw[4:36]] = (sha256d(raw[:80]), struct.unpack_from("<I", raw, 68)[0], raw)
        off += 8 + size
    chain, prev = [], b"\0" * 32
    while prev in by_prev:
        chain.append(by_prev[prev])
        prev = chain[-1][0]
    return chain


def fork(demo, out):
    chain = read_chain(demo)
    parent_hash, parent_time, _ = chain[100]
    when = parent_time + 600
    cb = [coinbase(101, [(50 * COIN, P2PKH)])]
    heavy, _ = block(parent_hash, when, 0x14100000, cb, solve=False)
    write(os.path.join(out, "heavy.dat"), [heavy])
    easy, _ = block(parent_hash, when, 0x207FFFFF, cb, solve=True)
    write(os.path.join(out, "regtest.dat"), [easy])
    maxw, _ = block(parent_hash, when, 0x03000001, cb, solve=False)
    write(os.path.join(out, "maxwork.dat"), [maxw])


def amounts(out):
    bits, t0 = 0x207FFFFF, 1_600_000_000

    def genesis():
        return block(b"\0" * 32, t0, bits, [coinbase(0, [(50 * COIN, P2PKH)])], True)

    g, gh = genesis()
    b1, _ = block(gh, t0 + 600, bits, [coinbase(1, [(MAX_MONEY, P2PKH)] * 4400)], True)
    write(os.path.join(out, "overflow.dat"), [g, b1])

    cb1 = coinbase(1, [(MAX_MONEY, P2PKH)] * 4000)
    b1, h1 = block(gh, t0 + 600, bits, [cb1], True)
    cb2 = coinbase(2, [(MAX_MONEY, P2PKH)] * 4000)
    b2, h2 = block(h1, t0 + 1200, bits, [cb2], True)
    spend = tx([(sha256d(c), n, b"") for c in (cb1, cb2) for n in range(4000)], [(1000, P2PKH)])
    b3, _ = block(h2, t0 + 1800, bits, [coinbase(3, [(50 * COIN, P2PKH)]), spend], True)
    write(os.path.join(out, "greedy.dat"), [g, b1, b2, b3])

    b1, _ = block(gh, t0 + 600, bits, [coinbase(1, [(50 * COIN + 1, P2PKH)])], True)
    write(os.path.join(out, "rich.dat"), [g, b1])

    cb1 = coinbase(1, [(50 * COIN, P2PKH)])
    b1, h1 = block(gh, t0 + 600, bits, [cb1], True)
    split = tx([(sha256d(cb1), 0, b"")], [(25 * COIN, P2PKH), (25 * COIN - 500, P2PKH)])
    join = tx([(sha256d(split), 0, b""), (sha256d(split), 1, b""), (b"\x42" * 32, 7, b"")],
              [(50 * COIN - 1000, P2PKH)])
    # fees of this block: 500 (split) + unknown (join spends an output not in the chain)
    b2, _ = block(h1, t0 + 1200, bits,
                  [coinbase(2, [(50 * COIN + 5000, P2PKH)]), split, join], True)
    write(os.path.join(out, "spendsum.dat"), [g, b1, b2])


def undeclared(path):
    """A regtest-like genesis (bits 0x1f7fffff) that declares no network's rules."""
    g, _ = block(b"\0" * 32, 1_600_000_000, 0x1f7fffff, [coinbase(0, [(50 * COIN, P2PKH)])], True)
    write(path, [g])


if __name__ == "__main__":
    if sys.argv[1] == "fork":
        fork(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "undeclared":
        undeclared(sys.argv[2])
    else:
        amounts(sys.argv[2])
