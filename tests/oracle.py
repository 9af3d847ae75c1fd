#!/usr/bin/python3
"""Independent figures for cointrail's tests, computed with Debian's python3-bitcoinlib.

  oracle.py decode FILE          -> JSON like `cointrail block decode --json`
  oracle.py stats PATH...        -> JSON like `cointrail stats --json` (most-work chain)

Nothing here shares code with cointrail: blocks are deserialized by bitcoinlib, scripts are
classified from bitcoinlib's opcode iterator, addresses encoded by bitcoinlib (bech32m, which
bitcoinlib lacks, uses its polymod with the BIP 350 constant)."""
import glob
import json
import os
import sys

import bitcoin
import bitcoin.core
import bitcoin.segwit_addr as segwit
from bitcoin.core import CBlock, b2lx
from bitcoin.core.script import CScript, OP_CHECKMULTISIG, OP_CHECKSIG, OP_RETURN
from bitcoin.wallet import CBitcoinAddress, P2PKHBitcoinAddress

bitcoin.SelectParams("mainnet")
MAGIC = bytes.fromhex("f9beb4d9")


def bech32m_encode(hrp, version, prog):
    data = [version] + segwit.convertbits(prog, 8, 5)
    values = segwit.bech32_hrp_expand(hrp) + data
    polymod = segwit.bech32_polymod(values + [0] * 6) ^ 0x2BC830A3
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(segwit.CHARSET[d] for d in data + checksum)


def pubkey_ok(k):
    return (len(k) == 33 and k[0] in (2, 3)) or (len(k) == 65 and k[0] in (4, 6, 7))


def ops(script):
    """(opcode, data) pairs, or None if a push runs past the end."""
    try:
        return [(op, data) for op, data, _ in CScript(script).raw_iter()]
    except Exception:
        return None


def classify(spk):
    """(type name, address or None), by Bitcoin Core's Solver rules."""
    s = bytes(spk)
    n = len(s)
    if n == 25 and s[0] == 0x76 and s[1] == 0xA9 and s[2] == 20 and s[23] == 0x88 and s[24] == 0xAC:
        return "p2pkh", str(CBitcoinAddress.from_scriptPubKey(CScript(s)))
    if n == 23 and s[0] == 0xA9 and s[1] == 20 and s[22] == 0x87:
        return "p2sh", str(CBitcoinAddress.from_scriptPubKey(CScript(s)))
    if 4 <= n <= 42 and (s[0] == 0 or 0x51 <= s[0] <= 0x60) and s[1] + 2 == n:
        ver = 0 if s[0] == 0 else s[0] - 0x50
        prog = s[2:]
        if ver == 0 and len(prog) == 20:
            return "p2wpkh", segwit.encode("bc", 0, prog)
        if ver == 0 and len(prog) == 32:
            return "p2wsh", segwit.encode("bc", 0, prog)
        if ver == 1 and len(prog) == 32:
            return "p2tr", bech32m_encode("bc", 1, prog)
        if ver != 0:
            return "witness_unknown", bech32m_encode("bc", ver, prog) if len(prog) <= 32 else None
        return "nonstandard", None
    o = ops(s)
    if o and len(o) == 2 and o[1][0] == OP_CHECKSIG and o[0][1] is not None and len(o[0][1]) == o[0][0] \
            and pubkey_ok(o[0][1]):
        return "p2pk", str(P2PKHBitcoinAddress.from_pubkey(o[0][1], accept_invalid=True))
    if n >= 1 and s[0] == OP_RETURN:
        rest = ops(s[1:])
        if rest is not None and all(op <= 0x60 for op, _ in rest):
            return "nulldata", None
    if o and len(o) >= 4 and o[-1][0] == OP_CHECKMULTISIG:
        m, k = o[0][0], o[-2][0]
        keys = o[1:-2]
        if 0x51 <= m <= 0x60 and 0x51 <= k <= 0x60 and m <= k and len(keys) == k - 0x50 and \
                all(op <= 0x4E and d is not None and pubkey_ok(d) for op, d in keys):
            return "multisig", None
    return "nonstandard", None


def read_blocks(path):
    """Raw blocks of a file: framed records (with xor.dat beside it) or one raw block.
    Padding is zeros on disk (Bitcoin Core preallocates), or zeros after the xor."""
    raw = open(path, "rb").read()
    data = raw
    key_path = os.path.join(os.path.dirname(path) or ".", "xor.dat")
    if os.path.basename(path).startswith("blk") and os.path.exists(key_path):
        key = open(key_path, "rb").read()
        if any(key):
            data = bytes(b ^ key[i % 8] for i, b in enumerate(raw))
    if not data.startswith(MAGIC):
        return [data]
    out, off = [], 0
    while off < len(data):
        if data[off:off + 4] == MAGIC:
            size = int.from_bytes(data[off + 4:off + 8], "little")
            out.append(data[off + 8:off + 8 + size])
            off += 8 + size
        elif raw[off] == 0 or data[off] == 0:
            off += 1
        else:
            raise ValueError(f"{path}: offset {off}: not a block record")
    return out


def decode(path):
    docs = []
    for raw in read_blocks(path):
        blk = CBlock.deserialize(raw)
        txs = []
        for tx in blk.vtx:
            txs.append({
                "txid": b2lx(tx.GetTxid()),
                "input_count": len(tx.vin),
                "outputs": [dict(zip(("type", "address"), classify(o.scriptPubKey)), value=o.nValue)
                            for o in tx.vout],
            })
        docs.append({"hash": b2lx(blk.GetHash()), "tx_count": len(blk.vtx),
                     "merkle_ok": blk.calc_merkle_root() == blk.hashMerkleRoot, "txs": txs})
    return docs[0] if len(docs) == 1 else docs


def work(bits):
    exp, mant = bits >> 24, bits & 0x7FFFFF
    target = mant >> 8 * (3 - exp) if exp <= 3 else mant << 8 * (exp - 3)
    return 0 if target == 0 else 2**256 // (target + 1)


def main_chain(paths):
    files = []
    for p in paths:
        files += sorted(glob.glob(os.path.join(p, "blk*.dat"))) if os.path.isdir(p) else [p]
    blocks = {}
    for f in files:
        for raw in read_blocks(f):
            b = CBlock.deserialize(raw)
            blocks.setdefault(b.GetHash(), b)
    # Cumulative work of every block that reaches a genesis (prev = zeros), else None.
    total = {b"\0" * 32: 0}
    for h in blocks:
        path = []
        while h not in total and h in blocks:
            path.append(h)
            h = blocks[h].hashPrevBlock
        base = total.get(h)
        for x in reversed(path):
            base = None if base is None else base + work(blocks[x].nBits)
            total[x] = base
    best, best_work = None, -1
    for h in blocks:  # first seen wins a tie, as in the importer
        if total[h] is not None and total[h] > best_work:
            best, best_work = h, total[h]
    chain = []
    while best is not None and best != b"\0" * 32:
        chain.append(blocks[best])
        best = blocks[best].hashPrevBlock
    return chain[::-1]


def stats(paths):
    chain = main_chain(paths)
    utxo, addrs = {}, set()
    st = {k: 0 for k in ("txs", "inputs", "outputs", "total_output_value", "total_fees",
                         "unresolved_inputs")}
    by_type = {t: 0 for t in ("nonstandard", "p2pk", "p2pkh", "p2sh", "p2wpkh", "p2wsh", "p2tr",
                              "witness_unknown", "multisig", "nulldata")}
    for b in chain:
        for tx in b.vtx:
            txid = tx.GetTxid()
            st["txs"] += 1
            st["inputs"] += len(tx.vin)
            in_value, resolved = 0, True
            if not tx.is_coinbase():
                for i in tx.vin:
                    key = (i.prevout.hash, i.prevout.n)
                    if key in utxo:
                        in_value += utxo.pop(key)
                    else:
                        st["unresolved_inputs"] += 1
                        resolved = False
            out_value = 0
            for n, o in enumerate(tx.vout):
                kind, addr = classify(o.scriptPubKey)
                by_type[kind] += 1
                if addr:
                    addrs.add(addr)
                utxo[(txid, n)] = o.nValue
                out_value += o.nValue
            st["outputs"] += len(tx.vout)
            st["total_output_value"] += out_value
            if not tx.is_coinbase() and resolved:
                st["total_fees"] += in_value - out_value
    st.update(blocks=len(chain), tip_hash=b2lx(chain[-1].GetHash()) if chain else None,
              utxo_count=len(utxo), utxo_value=sum(utxo.values()), addresses=len(addrs),
              outputs_by_type=by_type)
    return st


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "decode":
        print(json.dumps(decode(sys.argv[2])))
    elif cmd == "stats":
        print(json.dumps(stats(sys.argv[2:])))
    else:
        sys.exit("usage: oracle.py decode FILE | stats PATH...")
