#!/usr/bin/python3
"""The Bitcoin side of the tests/evm-node scenario, serialized by python3-bitcoinlib (not by
cointrail): THORChain outbounds (OP_RETURN OUT:<INBOUND HASH>, upper-case hex without 0x) paying
each swap memo's address, a Bitcoin inbound swap and its REFUND:, bridge releases naming the
deposit's nonce (BRIDGE:<destChain>:<nonce>[:0xBRIDGE]) and releases naming nothing, plus decoys:
a spoofed OUT: paying someone else, an OUT: of an unknown hash, garbage OP_RETURNs, a payment
to a bridge recipient before its deposit.

  xchain_chain.py TRUTH.json OUT.blk EXPECT.json [FORK.blk]

FORK.blk (optional): a heavier branch from before the THORChain outbounds (empty blocks), for
reorganisation tests; EXPECT.json then also gives "fork_nulldata", the OP_RETURN outputs left.

EXPECT.json lists the links a correct linker must produce (method, from, to, vouts, confidence)
and the Bitcoin txids that must appear in no link; it is derived from truth.json and from the
txs built here, never from cointrail's output."""
import hashlib
import json
import struct
import sys

import bitcoin
from bitcoin.core import (COutPoint, CMutableTransaction, CMutableTxIn, CMutableTxOut, CBlock,
                          b2lx)
from bitcoin.core.script import CScript, OP_RETURN
from bitcoin.wallet import CBitcoinAddress

bitcoin.SelectParams("mainnet")
MAGIC = bytes.fromhex("f9beb4d9")
COIN = 100_000_000
BITS = 0x207FFFFF


def solve(version, prev, merkle, when):
    """The first nonce whose header hash meets BITS' target: the importer checks proof of work
    (about 2 tries at regtest's 0x207fffff)."""
    head = struct.pack("<I", version) + prev + merkle + struct.pack("<II", when, BITS)
    target = (BITS & 0x7FFFFF) << 8 * ((BITS >> 24) - 3)
    nonce = 0
    while int.from_bytes(hashlib.sha256(hashlib.sha256(
            head + struct.pack("<I", nonce)).digest()).digest(), "little") > target:
        nonce += 1
    return nonce


CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def bech32_program(addr):
    """(witness version, program) of a segwit address, BIP 173/350 reference decoding
    (python-bitcoinlib 0.11 knows no bech32m)."""
    hrp, data = addr.lower().rsplit("1", 1)
    vals = [CHARSET.index(c) for c in data]
    gen = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3]
    chk = 1
    for v in [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + vals:
        b = chk >> 25
        chk = (chk & 0x1ffffff) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (b >> i) & 1 else 0
    ver = vals[0]
    assert chk == (1 if ver == 0 else 0x2bc830a3), addr
    acc = bits = 0
    prog = []
    for v in vals[1:-6]:
        acc = acc << 5 | v
        bits += 5
        while bits >= 8:
            bits -= 8
            prog.append(acc >> bits & 0xff)
    return ver, bytes(prog)


def spk(addr):
    if addr.lower().startswith("bc1"):
        ver, prog = bech32_program(addr)
        return CScript(bytes([ver + 0x50 if ver else 0, len(prog)]) + prog)
    return CBitcoinAddress(addr).to_scriptPubKey()


def opret(text):
    data = text if isinstance(text, bytes) else text.encode()
    return CScript([OP_RETURN, data])


def main():
    truth = json.load(open(sys.argv[1]))
    out_blk, out_expect = sys.argv[2], sys.argv[3]
    times = {s["block_number"]: s["block_timestamp"] for s in truth["steps"]}
    vault = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"  # the "vault" (never a recipient)
    user = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"  # a legacy user address (P2PKH)
    other = "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"  # someone else (P2SH)

    blocks, prev, height = [], b"\0" * 32, 0
    utxo = []  # (outpoint, value, address)
    expect = {"links": [], "no_link_txids": []}

    def block(when, txs, cb_to=vault):
        nonlocal prev, height
        cb = CMutableTransaction(
            [CMutableTxIn(COutPoint(), CScript([height, b"xchain"]), 0xFFFFFFFF)],
            [CMutableTxOut(50 * COIN, spk(cb_to))])
        vtx = [cb] + txs
        b = CBlock(nVersion=0x20000000, hashPrevBlock=prev, nTime=when, nBits=BITS, nNonce=0,
                   vtx=vtx)
        merkle = b.calc_merkle_root()
        b = CBlock(nVersion=b.nVersion, hashPrevBlock=prev, hashMerkleRoot=merkle, nTime=when,
                   nBits=BITS, nNonce=solve(b.nVersion, prev, merkle, when), vtx=vtx)
        blocks.append(b)
        prev = b.GetHash()
        height += 1
        utxo.append((COutPoint(cb.GetTxid(), 0), 50 * COIN, cb_to))

    def pay(outputs, from_addr=vault):
        """A tx spending one utxo of from_addr; outputs: list of (script, value); change back."""
        i = next(k for k, u in enumerate(utxo) if u[2] == from_addr and u[1] > 1_000_000)
        op, val, addr = utxo.pop(i)
        vout = [CMutableTxOut(v, s) for s, v in outputs]
        spent = sum(v for _, v in outputs)
        vout.append(CMutableTxOut(val - spent - 10_000, spk(addr)))
        tx = CMutableTransaction([CMutableTxIn(op, CScript(), 0xFFFFFFFF)], vout)
        txid = tx.GetTxid()
        utxo.append((COutPoint(txid, len(vout) - 1), val - spent - 10_000, addr))
        for n, (s, v) in enumerate(outputs):
            for a in (user,):
                if s == spk(a):
                    utxo.append((COutPoint(txid, n), v, a))
        return tx, b2lx(txid)

    t0 = times[1] - 100_000
    for k in range(4):  # funds for the vault
        block(t0 + 600 * k, [])

    # a payment to a bridge recipient before its deposit: outside the window, never linked
    late = next(d for d in truth["bridge_deposits"] if d["nonce"] == "4")
    tx_early, id_early = pay([(spk(late["recipient"]), 700_000)])
    tx_fund_user, _ = pay([(spk(user), 20_000_000)])
    block(t0 + 3000, [tx_early, tx_fund_user])
    expect["no_link_txids"].append(id_early)

    # a Bitcoin inbound swap to ETH from the user, and its refund
    tx_in, id_in = pay([(spk(vault), 5_000_000),
                        (opret("=:ETH.ETH:0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc"), 0)],
                       from_addr=user)
    block(times[8] + 100, [tx_in])
    tx_ref, id_ref = pay([(spk(user), 4_990_000), (opret("REFUND:" + id_in.upper()), 0)])
    block(times[8] + 400, [tx_ref])
    expect["links"].append({"method": "thorchain_memo", "from": id_in, "from_chain": "btc",
                            "to": id_ref, "vouts": [0], "confidence": 1.0, "kind": "refund"})

    # bridge releases
    txs = []
    for d in truth["bridge_deposits"]:
        if d["dest_chain"] != truth["bitcoin_chain_id"]:
            continue  # to another EVM chain: nothing on Bitcoin
        n = d["nonce"]
        if n in ("0", "1"):
            memo = f"BRIDGE:{d['dest_chain']}:{n}"
            if n == "1":
                memo += ":" + truth["contracts"]["bridge"]["address"]
            tx, txid = pay([(spk(d["recipient"]), 1_000_000 + int(n)), (opret(memo), 0)])
            txs.append(tx)
            expect["links"].append({"method": "bridge_nonce", "from": d["tx_hash"],
                                    "to": txid, "vouts": [0], "confidence": 1.0})
        elif n == "2":  # no memo: one payment to the recipient inside the window
            tx, txid = pay([(spk(d["recipient"]), 2_000_000)])
            txs.append(tx)
            expect["links"].append({"method": "bridge_value_window", "from": d["tx_hash"],
                                    "to": txid, "vouts": [0], "confidence": 1.0})
    block(times[8] + 1800, txs)

    # THORChain outbounds for every swap, a spoof, an unknown hash, garbage
    fork_at = (prev, height)
    fork_nulldata = sum(1 for b in blocks for t in b.vtx for o in t.vout
                        if len(o.scriptPubKey) and o.scriptPubKey[0] == OP_RETURN)
    txs = []
    for s in truth["swaps"]:
        h = s["tx_hash"][2:].upper()
        tx, txid = pay([(spk(s["dest_address"]), 3_000_000), (opret("OUT:" + h), 0)])
        txs.append(tx)
        expect["links"].append({"method": "thorchain_memo", "from": s["tx_hash"], "to": txid,
                                "vouts": [0], "confidence": 1.0, "kind": "swap"})
    first = truth["swaps"][0]
    tx, spoof = pay([(spk(other), 3_000_000), (opret("OUT:" + first["tx_hash"][2:].upper()), 0)])
    txs.append(tx)
    expect["links"].append({"method": "thorchain_memo", "from": first["tx_hash"], "to": spoof,
                            "vouts": [0], "confidence": 0.5, "kind": "spoof"})
    for junk in ["OUT:" + "AB" * 32, b"\x00\xff\x10binary", "OUT:XYZ", "SWAP:BTC.BTC:notanaddress",
                 "=:b:bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "REFUND:" + "0" * 63,
                 "BRIDGE:8332:99"]:
        tx, txid = pay([(opret(junk), 0)])
        txs.append(tx)
        expect["no_link_txids"].append(txid)
    block(times[12] + 600, txs)

    # the last deposit (nonce 4): two payments to its recipient inside the window, no memo
    txs = []
    for v in (4_000_000, 4_100_000):
        tx, txid = pay([(spk(late["recipient"]), v)])
        txs.append(tx)
        expect["links"].append({"method": "bridge_value_window", "from": late["tx_hash"],
                                "to": txid, "vouts": [0], "confidence": 0.5,
                                "truth": v == 4_000_000})
    block(times[12] + 3600, txs)
    block(times[12] + 4200, [])

    with open(out_blk, "wb") as f:
        for b in blocks:
            raw = b.serialize()
            f.write(MAGIC + struct.pack("<I", len(raw)) + raw)
    if len(sys.argv) > 4:
        main_len = len(blocks)
        prev, height = fork_at
        for k in range(5):  # 5 blocks replace the 3 after the fork point: more work
            block(times[12] + 7000 + 600 * k, [], cb_to=other)
        with open(sys.argv[4], "wb") as f:
            for b in blocks[main_len:]:
                raw = b.serialize()
                f.write(MAGIC + struct.pack("<I", len(raw)) + raw)
        expect["fork_nulldata"] = fork_nulldata
        expect["fork_removed_txids"] = [b2lx(t.GetTxid()) for b in blocks[fork_at[1]:main_len]
                                        for t in b.vtx[1:]]
    json.dump(expect, open(out_expect, "w"), indent=1)


if __name__ == "__main__":
    main()
