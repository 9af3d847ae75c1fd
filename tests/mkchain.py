#!/usr/bin/python3
"""Write small Bitcoin chains for the importer's tests, serialized by python3-bitcoinlib (not by
cointrail): every script type, SegWit spends with witness data, spends inside a block, fees,
an input whose previous output is absent (unresolved), and branches with more or less work.
Headers carry regtest-like bits (0x207fffff, the importer's declaration of regtest rules) and a
solved proof of work; a fork with other --fork-bits breaks those rules (the importer refuses it).

  mkchain.py OUT.json --blocks N [--seed S] [--fork-at H --fork-len L --fork-bits HEX]
      [--fork-coinbase-only] [--time-jitter SECONDS]
      writes the blocks (hex) as JSON: {"main": [...], "fork": [...]}; with --time-jitter the
      main chain's block times are 600 s apart plus or minus up to SECONDS (not monotonic, as
      on mainnet), else exactly 600 s apart
  mkchain.py write OUT_FILE BLOCKS.json main|fork FROM TO [--shuffle SEED] [--pad N]
      [--xor-dir DIR]  frames blocks [FROM, TO) into a blk file (magic + size + block),
      optionally shuffled, zero padded, and xor-obfuscated with DIR/xor.dat
"""
import argparse
import hashlib
import json
import os
import random
import struct

import bitcoin
from bitcoin.core import (COutPoint, CMutableTransaction, CMutableTxIn, CMutableTxOut, CBlock,
                          CTxInWitness, CTxWitness, CScriptWitness, b2x, x)
from bitcoin.core.script import CScript

bitcoin.SelectParams("mainnet")
MAGIC = bytes.fromhex("f9beb4d9")
COIN = 100_000_000


def make_script(rng, kind):
    h20, h32 = rng.randbytes(20), rng.randbytes(32)
    if kind == "p2pk":
        key = bytes([2 + rng.randrange(2)]) + rng.randbytes(32) if rng.random() < 0.5 else b"\x04" + rng.randbytes(64)
        return CScript(bytes([len(key)]) + key + bytes([0xAC]))
    if kind == "p2pkh":
        return CScript(bytes([0x76, 0xA9, 20]) + h20 + bytes([0x88, 0xAC]))
    if kind == "p2sh":
        return CScript(bytes([0xA9, 20]) + h20 + bytes([0x87]))
    if kind == "p2wpkh":
        return CScript(bytes([0, 20]) + h20)
    if kind == "p2wsh":
        return CScript(bytes([0, 32]) + h32)
    if kind == "p2tr":
        return CScript(bytes([0x51, 32]) + h32)
    if kind == "witness_unknown":
        return CScript(bytes([0x52, 16]) + h20[:16])
    if kind == "multisig":
        keys = [bytes([2]) + rng.randbytes(32) for _ in range(3)]
        return CScript(bytes([0x52]) + b"".join(bytes([33]) + k for k in keys) + bytes([0x53, 0xAE]))
    if kind == "nulldata":
        return CScript(bytes([0x6A, 8]) + rng.randbytes(8))
    return CScript(bytes([0x51, 0x87, 0x75]) + rng.randbytes(3))  # nonstandard


KINDS = ["p2pk", "p2pkh", "p2sh", "p2wpkh", "p2wsh", "p2tr", "witness_unknown", "multisig",
         "nulldata", "nonstandard"]
SEGWIT = {"p2wpkh", "p2wsh", "p2tr", "witness_unknown"}


def subsidy(height):
    return (50 * COIN) >> (height // 150)


def target(bits):
    """The target of compact bits (Bitcoin Core's SetCompact; valid bits only)."""
    exp, mant = bits >> 24, bits & 0x7FFFFF
    return mant >> 8 * (3 - exp) if exp <= 3 else mant << 8 * (exp - 3)


def solve(version, prev, merkle, when, bits, nonce):
    """The first nonce from nonce on whose header hash meets the target of bits: the importer
    checks proof of work (about 2 tries at regtest's 0x207fffff)."""
    head = struct.pack("<I", version) + prev + merkle + struct.pack("<II", when, bits)
    while True:
        h = hashlib.sha256(hashlib.sha256(head + struct.pack("<I", nonce)).digest()).digest()
        if int.from_bytes(h, "little") <= target(bits):
            return nonce
        nonce = (nonce + 1) & 0xFFFFFFFF


def make_block(rng, prev_hash, height, bits, utxo, reuse, when, unresolved_ok, txs_ok=True):
    """One block spending from utxo (a list of (outpoint, value, kind)), updating it."""
    txs, fees = [], 0
    spendable = [u for u in utxo if u[2] != "nulldata"]
    rng.shuffle(spendable)
    n_tx = rng.randrange(0, 6) if spendable and txs_ok else 0
    created = []
    for _ in range(n_tx):
        if not spendable:
            break
        ins = [spendable.pop() for _ in range(min(len(spendable), rng.randrange(1, 4)))]
        for u in ins:
            utxo.remove(u)
        total = sum(v for _, v, _ in ins)
        fee = rng.randrange(0, min(total, 50_000) + 1)
        n_out = rng.randrange(1, 4)
        values, left = [], total - fee
        for k in range(n_out - 1):
            v = rng.randrange(0, left + 1) // 2
            values.append(v)
            left -= v
        values.append(left)
        vin = [CMutableTxIn(u[0], CScript(rng.randbytes(rng.randrange(0, 10))), 0xFFFFFFFF) for u in ins]
        if unresolved_ok and rng.random() < 0.05:
            vin.append(CMutableTxIn(COutPoint(rng.randbytes(32), 0)))  # previous output not in the chain
            fee = None
        vout = []
        for v in values:
            kind = "nulldata" if v == 0 else rng.choice(KINDS)
            if reuse and rng.random() < 0.3:
                spk, kind = rng.choice(reuse)
            else:
                spk = make_script(rng, kind)
                reuse.append((spk, kind))
            vout.append(CMutableTxOut(v, spk))
        tx = CMutableTransaction(vin, vout, nLockTime=0, nVersion=2)
        if any(u[2] in SEGWIT for u in ins):
            tx.wit = CTxWitness([CTxInWitness(CScriptWitness([rng.randbytes(71), rng.randbytes(33)]))
                                 if i < len(ins) and ins[i][2] in SEGWIT else CTxInWitness()
                                 for i in range(len(vin))])
        if fee is not None:
            fees += fee
        txid = tx.GetTxid()
        for n, o in enumerate(vout):
            kind = next(k for s, k in reuse if s == o.scriptPubKey) if reuse else "p2pkh"
            entry = (COutPoint(txid, n), o.nValue, kind)
            created.append(entry)
            if rng.random() < 0.3:
                spendable.append(entry)  # may be spent later in this very block
                utxo.append(entry)
                created.pop()
        txs.append(tx)
    utxo.extend(created)
    cb_kind = rng.choice(["p2pk", "p2pkh", "p2wpkh"])
    coinbase = CMutableTransaction(
        [CMutableTxIn(COutPoint(), CScript([height, rng.randbytes(4)]), 0xFFFFFFFF)],
        [CMutableTxOut(subsidy(height) + fees, make_script(rng, cb_kind))])
    vtx = [coinbase] + txs
    blk = CBlock(nVersion=0x20000000, hashPrevBlock=prev_hash, nTime=when, nBits=bits,
                 nNonce=rng.randrange(2**32), vtx=vtx)
    merkle = blk.calc_merkle_root()
    blk = CBlock(nVersion=blk.nVersion, hashPrevBlock=prev_hash, hashMerkleRoot=merkle,
                 nTime=when, nBits=bits, nNonce=solve(blk.nVersion, prev_hash, merkle, when, bits,
                                                      blk.nNonce), vtx=vtx)
    utxo.append((COutPoint(coinbase.GetTxid(), 0), subsidy(height) + fees, cb_kind))
    return blk


def build(args):
    rng = random.Random(args.seed)
    utxo, reuse, main = [], [], []
    prev, bits = b"\0" * 32, 0x207FFFFF
    snapshot = None
    jrng = random.Random(args.seed + 99)  # its own stream: chains without jitter are unchanged
    for h in range(args.blocks):
        if h == args.fork_at:
            snapshot = (list(utxo), list(reuse), prev)
        jitter = jrng.randint(-args.time_jitter, args.time_jitter) if args.time_jitter else 0
        b = make_block(rng, prev, h, bits, utxo, reuse, 1_600_000_000 + 600 * h + jitter, h > 2)
        main.append(b)
        prev = b.GetHash()
    fork = []
    if snapshot:
        utxo, reuse, prev = snapshot
        frng = random.Random(args.seed + 1)
        for k in range(args.fork_len):
            h = args.fork_at + k
            b = make_block(frng, prev, h, int(args.fork_bits, 16), utxo, reuse,
                           1_600_000_000 + 600 * h + 1, True, not args.fork_coinbase_only)
            fork.append(b)
            prev = b.GetHash()
    return {"main": [b2x(b.serialize()) for b in main], "fork": [b2x(b.serialize()) for b in fork]}


def write(args):
    blocks = json.load(open(args.blocks))[args.branch][args.start:args.end]
    raw = [x(b) for b in blocks]
    if args.shuffle is not None:
        random.Random(args.shuffle).shuffle(raw)
    data = b"".join(MAGIC + struct.pack("<I", len(r)) + r for r in raw)
    if args.xor_dir:
        key = open(os.path.join(args.xor_dir, "xor.dat"), "rb").read()
        data = bytes(c ^ key[i % 8] for i, c in enumerate(data))
    # Padding as Bitcoin Core leaves it: preallocated raw zeros, never obfuscated.
    open(args.out, "wb").write(data + b"\0" * args.pad)


if __name__ == "__main__":
    import sys
    if len(sys.argv) > 1 and sys.argv[1] == "write":
        p = argparse.ArgumentParser()
        p.add_argument("cmd")
        p.add_argument("out")
        p.add_argument("blocks")
        p.add_argument("branch")
        p.add_argument("start", type=int)
        p.add_argument("end", type=int)
        p.add_argument("--shuffle", type=int)
        p.add_argument("--pad", type=int, default=0)
        p.add_argument("--xor-dir")
        write(p.parse_args())
    else:
        p = argparse.ArgumentParser()
        p.add_argument("out")
        p.add_argument("--blocks", type=int, default=40)
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--fork-at", type=int, default=-1)
        p.add_argument("--fork-len", type=int, default=0)
        p.add_argument("--fork-bits", default="207fffff")
        p.add_argument("--fork-coinbase-only", action="store_true")
        p.add_argument("--time-jitter", type=int, default=0)
        a = p.parse_args()
        json.dump(build(a), open(a.out, "w"))
