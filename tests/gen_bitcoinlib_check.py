#!/usr/bin/python3
"""Check generated chains with an independent decoder, Debian's python3-bitcoinlib.

usage: gen_bitcoinlib_check.py [--stats DIR=STATS.json]... DIR...

Each DIR holds blk?????.dat files (records f9beb4d9 + LE size + block, xor.dat applied when
present) and the truth.jsonl written beside them by `cointrail generate`. Every block is
deserialized by python-bitcoinlib alone and checked: it consumes exactly its record, merkle root
(GetTxid), BIP 141 witness commitment, prev-hash links from a genesis with prev = 0,
CheckTransaction, every input spending an existing unspent output once, scriptSig/witness data
hashing to what the spent script commits to (P2PKH, P2SH, P2WPKH, P2WSH), value conservation,
coinbase = subsidy + fees; then the block count, tx count and every total in the truth file, and
every txid the truth file names. With --stats, the output of `cointrail stats --json` on a store
imported from DIR must equal the truth file's totals line. Prints `N passed, M failed` last;
exits non-zero on a failure.
"""
import hashlib
import io
import json
import os
import struct
import sys

import bitcoin.core
from bitcoin.core import CBlock, CheckTransaction, b2lx
from bitcoin.core.script import CScript
from bitcoin.core.serialize import Hash160

MAGIC = bytes.fromhex("f9beb4d9")
COMMIT_HEAD = bytes.fromhex("6a24aa21a9ed")


class Checker:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            if self.failed <= 20:
                print("FAIL: %s" % what)
        return ok


def read_records(d):
    """Yield (file, offset, raw block) for every record of every blk file, in file order."""
    key = b""
    xp = os.path.join(d, "xor.dat")
    if os.path.exists(xp):
        with open(xp, "rb") as f:
            key = f.read()
        if len(key) != 8 or not any(key):
            key = b""
    n = 0
    while True:
        path = os.path.join(d, "blk%05d.dat" % n)
        if not os.path.exists(path):
            break
        with open(path, "rb") as f:
            data = f.read()
        if key:
            data = bytes(b ^ key[i & 7] for i, b in enumerate(data))
        off = 0
        while off < len(data):
            if data[off] == 0:  # zero padding at the end of a file
                off += 1
                continue
            if data[off:off + 4] != MAGIC:
                raise ValueError("%s: offset %d: bad magic %s" % (path, off, data[off:off + 4].hex()))
            size = struct.unpack("<I", data[off + 4:off + 8])[0]
            yield path, off, data[off + 8:off + 8 + size]
            off += 8 + size
        n += 1


def script_type(s):
    """Script type and address key as DESIGN.md defines them (P2PK counts as its P2PKH)."""
    n = len(s)
    if n == 25 and s[0] == 0x76 and s[1] == 0xa9 and s[2] == 20 and s[23] == 0x88 and s[24] == 0xac:
        return "p2pkh", ("p2pkh", s[3:23])
    if n == 23 and s[0] == 0xa9 and s[1] == 20 and s[22] == 0x87:
        return "p2sh", ("p2sh", s[2:22])
    if 4 <= n <= 42 and (s[0] == 0 or 0x51 <= s[0] <= 0x60) and s[1] + 2 == n:
        ver = 0 if s[0] == 0 else s[0] - 0x50
        prog = s[2:]
        if ver == 0 and len(prog) == 20:
            return "p2wpkh", ("p2wpkh", prog)
        if ver == 0 and len(prog) == 32:
            return "p2wsh", ("p2wsh", prog)
        if ver == 1 and len(prog) == 32:
            return "p2tr", ("p2tr", prog)
        if ver != 0:
            return "witness_unknown", (("wu", ver), prog) if len(prog) <= 32 else None
        return "nonstandard", None
    if n in (35, 67) and s[0] == n - 2 and s[-1] == 0xac:
        key = s[1:-1]
        if (len(key) == 33 and key[0] in (2, 3)) or (len(key) == 65 and key[0] in (4, 6, 7)):
            return "p2pk", ("p2pkh", Hash160(key))
    if n >= 1 and s[0] == 0x6a:
        try:
            if all(isinstance(op, bytes) or op <= 0x60 for op in CScript(s[1:])):
                return "nulldata", None
        except Exception:
            pass
        return "nonstandard", None
    if n >= 3 and s[-1] == 0xae and 0x51 <= s[0] <= 0x60 and 0x51 <= s[-2] <= 0x60:
        try:
            keys = list(CScript(s[1:-2]))
            if len(keys) == s[-2] - 0x50 and all(isinstance(k, bytes) and len(k) in (33, 65) for k in keys):
                return "multisig", None
        except Exception:
            pass
    return "nonstandard", None


def spend_matches(spk, txin, wit):
    """Does the spending data hash to what the spent scriptPubKey commits to?"""
    n = len(spk)
    stack = list(wit.scriptWitness.stack) if wit is not None else []
    pushes = [op for op in CScript(txin.scriptSig)] if txin.scriptSig else []
    if n == 25 and spk[:3] == b"\x76\xa9\x14":
        return len(pushes) == 2 and Hash160(pushes[1]) == spk[3:23]
    if n == 23 and spk[:2] == b"\xa9\x14":
        return len(pushes) >= 1 and isinstance(pushes[-1], bytes) and Hash160(pushes[-1]) == spk[2:22]
    if n == 22 and spk[:2] == b"\x00\x14":
        return len(stack) == 2 and Hash160(stack[1]) == spk[2:]
    if n == 34 and spk[:2] == b"\x00\x20":
        return len(stack) >= 1 and hashlib.sha256(stack[-1]).digest() == spk[2:]
    if n == 34 and spk[:2] == b"\x51\x20":
        return len(stack) == 1 and len(stack[0]) in (64, 65)
    if n in (35, 67) and spk[-1] == 0xac:
        return len(pushes) == 1
    return False


def subsidy(height, interval):
    halvings = height // interval if interval else 0
    return 0 if halvings >= 64 else (50 * 100000000) >> halvings


def check_dir(d, c):
    truth = [json.loads(line) for line in open(os.path.join(d, "truth.jsonl"))]
    meta = next(t for t in truth if t["kind"] == "meta")
    totals = next(t for t in truth if t["kind"] == "totals")
    interval = meta["halving_interval"]
    utxo = {}  # (txid, n) -> (value, scriptPubKey)
    txids = set()
    addresses = set()
    by_type = dict.fromkeys(["nonstandard", "p2pk", "p2pkh", "p2sh", "p2wpkh", "p2wsh", "p2tr",
                             "witness_unknown", "multisig", "nulldata"], 0)
    blocks = txs = inputs = outputs = 0
    total_out = total_fees = 0
    prev = b"\x00" * 32
    bad = {"consume": 0, "merkle": 0, "commit": 0, "link": 0, "checktx": 0, "prevout": 0,
           "hashes": 0, "value": 0, "coinbase": 0}
    for path, off, raw in read_records(d):
        f = io.BytesIO(raw)
        blk = CBlock.stream_deserialize(f)
        height = blocks
        if f.tell() != len(raw):
            bad["consume"] += 1
        if blk.calc_merkle_root() != blk.hashMerkleRoot:
            bad["merkle"] += 1
        if blk.hashPrevBlock != prev:
            bad["link"] += 1
        prev = blk.GetHash()
        cb = blk.vtx[0]
        if any(tx.has_witness() for tx in blk.vtx):
            ok = False
            try:
                i = blk.get_witness_commitment_index()
                reserved = cb.wit.vtxinwit[0].scriptWitness.stack[0]
                commit = bitcoin.core.Hash(blk.calc_witness_merkle_root() + reserved)
                ok = cb.vout[i].scriptPubKey[6:38] == commit
            except Exception:
                ok = False
            if not ok:
                bad["commit"] += 1
        fees = 0
        for ti, tx in enumerate(blk.vtx):
            txid = tx.GetTxid()
            txids.add(b2lx(txid))
            try:
                CheckTransaction(tx)
            except Exception as e:
                bad["checktx"] += 1
                if bad["checktx"] == 1:
                    print("block %d tx %d: %s" % (height, ti, e))
            vin = 0
            if ti == 0:
                if not tx.is_coinbase():
                    bad["coinbase"] += 1
            else:
                for k, txin in enumerate(tx.vin):
                    key = (txin.prevout.hash, txin.prevout.n)
                    prevout = utxo.pop(key, None)
                    if prevout is None:
                        bad["prevout"] += 1
                        continue
                    vin += prevout[0]
                    wit = tx.wit.vtxinwit[k] if tx.has_witness() else None
                    if not spend_matches(prevout[1], txin, wit):
                        bad["hashes"] += 1
            vout = 0
            for n, out in enumerate(tx.vout):
                spk = bytes(out.scriptPubKey)
                utxo[(txid, n)] = (out.nValue, spk)
                vout += out.nValue
                t, addr = script_type(spk)
                by_type[t] += 1
                if addr is not None:
                    addresses.add(addr)
            inputs += len(tx.vin)
            outputs += len(tx.vout)
            total_out += vout
            if ti > 0:
                if vin < vout:
                    bad["value"] += 1
                fees += vin - vout
        if sum(o.nValue for o in cb.vout) != subsidy(height, interval) + fees:
            bad["coinbase"] += 1
        total_fees += fees
        txs += len(blk.vtx)
        blocks += 1
    for k, v in bad.items():
        c.check(v == 0, "%s: %d blocks or inputs failed the %s check" % (d, v, k))
    c.check(blocks == totals["blocks"], "%s: %d blocks, truth says %d" % (d, blocks, totals["blocks"]))
    c.check(txs == totals["txs"], "%s: %d txs, truth says %d" % (d, txs, totals["txs"]))
    mine = {"inputs": inputs, "outputs": outputs, "total_output_value": total_out,
            "total_fees": total_fees, "utxo_count": len(utxo),
            "utxo_value": sum(v for v, _ in utxo.values()), "addresses": len(addresses),
            "tip_hash": b2lx(prev)}
    for k, v in mine.items():
        c.check(v == totals[k], "%s: %s %s, truth says %s" % (d, k, v, totals[k]))
    for k, v in by_type.items():
        c.check(v == totals["outputs_by_type"][k],
                "%s: %s outputs %d, truth says %d" % (d, k, v, totals["outputs_by_type"][k]))
    # Every txid the truth file names must be a tx python-bitcoinlib computed.
    named = 0
    missing = 0
    for t in truth:
        ids = []
        if t["kind"] in ("coinjoin", "whirlpool_tx0"):
            ids.append(t["txid"])
        elif t["kind"] == "scenario":
            ids += [s["txid"] for s in t["steps"]]
            ids += [s.split(":")[0] for s in t["sources"]]
        for i in ids:
            named += 1
            missing += i not in txids
    c.check(named > 0, "%s: the truth file names no txids" % d)
    c.check(missing == 0, "%s: %d txids in the truth file are not in the chain" % (d, missing))
    print("%s: %d blocks, %d txs, %d txids from the truth file found" % (d, blocks, txs, named))


def check_stats(d, stats_file, c):
    """`cointrail stats --json` after importing DIR must equal the truth file's totals."""
    totals = next(json.loads(line) for line in open(os.path.join(d, "truth.jsonl"))
                  if '"kind":"totals"' in line)
    stats = json.load(open(stats_file))
    for k, v in totals.items():
        if k != "kind":
            c.check(stats.get(k) == v, "%s: imported %s is %s, truth says %s" % (d, k, stats.get(k), v))
    print("%s: cointrail import + stats agree with the truth totals" % d)


def main():
    args = sys.argv[1:]
    if not args:
        print("usage: gen_bitcoinlib_check.py [--stats DIR=STATS.json]... DIR...", file=sys.stderr)
        return 2
    c = Checker()
    dirs, stats = [], []
    while args:
        a = args.pop(0)
        if a == "--stats" and args:
            stats.append(args.pop(0).split("=", 1))
        else:
            dirs.append(a)
    for d in dirs:
        try:
            check_dir(d, c)
        except Exception as e:  # a decoder error is a failure, not a crash
            c.check(False, "%s: %s: %s" % (d, type(e).__name__, e))
    for d, f in stats:
        try:
            check_stats(d, f, c)
        except Exception as e:
            c.check(False, "%s: %s: %s" % (f, type(e).__name__, e))
    print("%d passed, %d failed" % (c.passed, c.failed))
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
