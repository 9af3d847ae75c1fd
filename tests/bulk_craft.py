#!/usr/bin/python3
"""Chains that end in a block the importer must refuse, serialized by python3-bitcoinlib (not by
cointrail), for checking that `import --bulk` refuses exactly what the block-by-block import
refuses, with the same words (tests/e2e_bulk.sh).

  bulk_craft.py OUT.blk KIND [--blocks N] [--seed S]
      N good blocks (tests/mkchain.py's, with unresolved inputs and spends inside blocks), then
      blocks with the fault KIND:
        double     two txs of one block spend the same output
        respend    a tx spends an output an earlier block already spent
        vout       a tx spends output 99 of a tx that has fewer
        overspend  a tx pays out more than it spends
        coinbase   the coinbase claims one satoshi more than subsidy plus fees
        twofaults  a double spend, then a later block with a bad vout (the first is reported)
        bip30      not a fault: two blocks with the very same coinbase (a duplicate txid, as
                   mainnet's blocks 91812/91842), then a spend of it: the newer tx is spent
        forward    not a fault: a tx spends an output of a tx after it in the same block
                   (unresolved, as the incremental path's index cannot know it yet)
        collide    not a fault: three taproot keys that share store_key_hash (the bulk path
                   groups outputs by that hash and must tell them apart by the keys), each
                   paid several times, interleaved, then 32,000 more outputs in two blocks (so
                   that under --memory 1M the key file is larger than the budget and its keys
                   are read rather than mapped)
"""
import argparse
import random
import struct
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
import mkchain  # noqa: E402
from xchain_craft import key_hash, mix64  # noqa: E402 (store_key_hash, store_mix64)
from bitcoin.core import COutPoint, CMutableTransaction, CMutableTxIn, CMutableTxOut, CBlock  # noqa: E402
from bitcoin.core.script import CScript  # noqa: E402

BITS = 0x207FFFFF


def p2pkh(rng):
    return mkchain.make_script(rng, "p2pkh")


def block_of(rng, prev, height, txs, fees, extra=0):
    coinbase = CMutableTransaction(
        [CMutableTxIn(COutPoint(), CScript([height, rng.randbytes(4)]), 0xFFFFFFFF)],
        [CMutableTxOut(mkchain.subsidy(height) + fees + extra, p2pkh(rng))])
    vtx = [coinbase] + txs
    when = 1_600_000_000 + 600 * height
    b = CBlock(nVersion=0x20000000, hashPrevBlock=prev, nTime=when, nBits=BITS, vtx=vtx)
    merkle = b.calc_merkle_root()
    nonce = mkchain.solve(b.nVersion, prev, merkle, when, BITS, 0)
    return CBlock(nVersion=b.nVersion, hashPrevBlock=prev, hashMerkleRoot=merkle, nTime=when,
                  nBits=BITS, nNonce=nonce, vtx=vtx), coinbase


def colliding_taproot_programs(rng, n):
    """n 32-byte taproot programs whose 36-byte address keys (kind 5 = BTC_ADDR_P2TR, witver 1,
    len 32, pad 0, program) share store_key_hash: each word is folded in as h = mix(h ^ word),
    so once the states after the first three words are known, the fourth word of each key is
    chosen to bring them to the first key's state; the last 4 bytes are the same."""
    def state(key, words):
        h = 0x9e3779b97f4a7c15 ^ 36
        for i in range(words):
            h = mix64(h ^ int.from_bytes(key[8 * i:8 * i + 8], "little"))
        return h
    head = bytes([5, 1, 32, 0])
    tail = rng.randbytes(4)
    first = rng.randbytes(28) + tail
    want = state(head + first, 3) ^ int.from_bytes((head + first)[24:32], "little")
    progs = [first]
    while len(progs) < n:
        key = head + rng.randbytes(20)
        w3 = want ^ state(key, 3)
        progs.append(key[4:] + w3.to_bytes(8, "little") + tail)
    assert len({key_hash(head + p) for p in progs}) == 1 and len(set(progs)) == n
    return progs


def spend(rng, outpoints, value_out, n_out=1):
    vin = [CMutableTxIn(o, CScript(rng.randbytes(3)), 0xFFFFFFFF) for o in outpoints]
    vout = [CMutableTxOut(value_out // n_out, p2pkh(rng)) for _ in range(n_out)]
    return CMutableTransaction(vin, vout, nLockTime=0, nVersion=2)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("kind")
    p.add_argument("--blocks", type=int, default=30)
    p.add_argument("--seed", type=int, default=5)
    a = p.parse_args()
    rng = random.Random(a.seed)
    utxo, reuse, blocks = [], [], []
    prev = b"\0" * 32
    for h in range(a.blocks):
        b = mkchain.make_block(rng, prev, h, BITS, utxo, reuse, 1_600_000_000 + 600 * h, h > 2)
        blocks.append(b)
        prev = b.GetHash()
    h = a.blocks
    # mature, resolvable outputs to spend (not nulldata, not from unresolved-input txs' fees)
    pool = [u for u in utxo if u[2] != "nulldata" and u[1] > 1000]
    rng.shuffle(pool)
    k = a.kind
    if k in ("double", "twofaults"):
        u = pool.pop()
        t1 = spend(rng, [u[0]], u[1] - 100)
        t2 = spend(rng, [u[0]], u[1] - 200, 2)
        b, _ = block_of(rng, prev, h, [t1, t2], 300)
        blocks.append(b)
        prev = b.GetHash()
        h += 1
        if k == "twofaults":
            v = pool.pop()
            t3 = spend(rng, [COutPoint(v[0].hash, 99)], 1000)
            b, _ = block_of(rng, prev, h, [t3], 0)
            blocks.append(b)
    elif k == "respend":
        u = pool.pop()
        t1 = spend(rng, [u[0]], u[1] - 100)
        b, _ = block_of(rng, prev, h, [t1], 100)
        blocks.append(b)
        prev = b.GetHash()
        t2 = spend(rng, [u[0]], u[1] - 100)
        b, _ = block_of(rng, prev, h + 1, [t2], 100)
        blocks.append(b)
    elif k == "vout":
        u = pool.pop()
        t1 = spend(rng, [COutPoint(u[0].hash, 99)], 1000)
        b, _ = block_of(rng, prev, h, [t1], 0)
        blocks.append(b)
    elif k == "overspend":
        u = pool.pop()
        t1 = spend(rng, [u[0]], u[1] + 1)
        b, _ = block_of(rng, prev, h, [t1], 0)
        blocks.append(b)
    elif k == "coinbase":
        u = pool.pop()
        t1 = spend(rng, [u[0]], u[1] - 500)
        b, _ = block_of(rng, prev, h, [t1], 500, extra=1)
        blocks.append(b)
    elif k == "bip30":
        cb = CMutableTransaction(
            [CMutableTxIn(COutPoint(), CScript(b"\x03dup"), 0xFFFFFFFF)],
            [CMutableTxOut(mkchain.subsidy(h), p2pkh(rng))])
        for hh in (h, h + 1):
            when = 1_600_000_000 + 600 * hh
            b = CBlock(nVersion=0x20000000, hashPrevBlock=prev, nTime=when, nBits=BITS, vtx=[cb])
            merkle = b.calc_merkle_root()
            nonce = mkchain.solve(b.nVersion, prev, merkle, when, BITS, 0)
            b = CBlock(nVersion=b.nVersion, hashPrevBlock=prev, hashMerkleRoot=merkle, nTime=when,
                       nBits=BITS, nNonce=nonce, vtx=[cb])
            blocks.append(b)
            prev = b.GetHash()
        t1 = spend(rng, [COutPoint(cb.GetTxid(), 0)], mkchain.subsidy(h) - 100)
        b, _ = block_of(rng, prev, h + 2, [t1], 100)
        blocks.append(b)
    elif k == "forward":
        u = pool.pop()
        t2 = spend(rng, [u[0]], u[1] - 100, 2)
        t1 = spend(rng, [COutPoint(t2.GetTxid(), 0)], (u[1] - 100) // 2 - 100)
        b, _ = block_of(rng, prev, h, [t1, t2], 100)  # the fee of t1 is unknown: not counted
        blocks.append(b)
    elif k == "collide":
        keys = [CScript([1, p]) for p in colliding_taproot_programs(rng, 3)]
        order = [[0, 1, 0], [2, 1], [0, 2, 2, 1]]  # each key in several txs and blocks
        for pays in order:
            u = pool.pop()
            value = (u[1] - 100) // len(pays)
            t = CMutableTransaction([CMutableTxIn(u[0], CScript(rng.randbytes(3)), 0xFFFFFFFF)],
                                    [CMutableTxOut(value, keys[i]) for i in pays])
            b, _ = block_of(rng, prev, h, [t], u[1] - value * len(pays))
            blocks.append(b)
            prev = b.GetHash()
            h += 1
        for _ in range(2):
            u = pool.pop()
            n = 16000
            t = CMutableTransaction([CMutableTxIn(u[0], CScript(rng.randbytes(3)), 0xFFFFFFFF)],
                                    [CMutableTxOut(u[1] // (2 * n), p2pkh(rng)) for _ in range(n)])
            b, _ = block_of(rng, prev, h, [t], u[1] - u[1] // (2 * n) * n)
            blocks.append(b)
            prev = b.GetHash()
            h += 1
    else:
        sys.exit(f"unknown kind {k}")
    data = b"".join(mkchain.MAGIC + struct.pack("<I", len(r)) + r
                    for r in (b.serialize() for b in blocks))
    open(a.out, "wb").write(data)


if __name__ == "__main__":
    main()
