#!/usr/bin/env python3
"""xchain_craft.py WHAT ARGS: damaged or older inputs for e2e_xchain.sh, written with python3
alone (not by cointrail).

  bad-deposit-offset IN_LOGS OUT_LOGS  copy an ethereum-etl logs.csv, the first bridge Deposit
                                       event's string offset pointing outside its data
  format1-store MANIFEST               turn a Bitcoin store (format 4) into format 1 (no
                                       payload columns, 8-byte id columns, 36-byte address
                                       rows, addr.idx rebuilt, 40-byte tx rows), checksum
                                       recomputed
  format2-store MANIFEST               the same into format 2 (with the payload columns)
  format3-store MANIFEST               the same into format 3 (5-byte ids, 23-byte address
                                       rows as format 4; only the tx rows widened)
  format1-evm MANIFEST                 the same for an EVM store's MANIFEST (no events table)
"""
import csv
import hashlib
import os
import re
import struct
import sys

# Format 3's id columns: 5-byte little-endian rows, where the top 16 values of 40 bits are the
# sentinels (STORE_NONE = 2^64-1, STORE_UNRESOLVED = 2^64-2) with their upper 24 bits dropped.
ID_COLUMNS = ("in_prev", "out_spent", "out_prev_addr", "addr_last")
MASK40 = (1 << 40) - 1


def widen_ids(store_dir):
    """Rewrite the id columns with 8-byte rows, as formats 1 and 2 have them."""
    for name in ID_COLUMNS:
        path = os.path.join(store_dir, name + ".col")
        data = open(path, "rb").read()
        assert len(data) % 5 == 0, path
        out = bytearray()
        for i in range(0, len(data), 5):
            v = int.from_bytes(data[i:i + 5], "little")
            if v >= MASK40 - 15:
                v |= ((1 << 64) - 1) ^ MASK40
            out += v.to_bytes(8, "little")
        open(path, "wb").write(bytes(out))


M64 = (1 << 64) - 1

# Format 4's tx rows (src/store/store_int.h): first_in, first_out (5 bytes each), fee (8),
# block (4), vsize, size (3 each), flags (1); formats 1-3 keep store_tx_row as in memory:
# u64 first_in, first_out, i64 fee, u32 block, vsize, size, flags.
TX4 = ((0, 5), (5, 5), (10, 8), (18, 4), (22, 3), (25, 3), (28, 1))
TX3 = struct.Struct("<QQqIIII")


def widen_tx(store_dir):
    """Rewrite tx.col with the 40-byte rows of formats 1 to 3."""
    path = os.path.join(store_dir, "tx.col")
    data = open(path, "rb").read()
    assert len(data) % 29 == 0, path
    out = bytearray()
    for i in range(0, len(data), 29):
        f = [int.from_bytes(data[i + o:i + o + n], "little", signed=(o == 10)) for o, n in TX4]
        out += TX3.pack(*f)
    open(path, "wb").write(bytes(out))


def mix64(h):
    h ^= h >> 33
    h = (h * 0xff51afd7ed558ccd) & M64
    h ^= h >> 33
    h = (h * 0xc4ceb9fe1a85ec53) & M64
    return h ^ (h >> 33)


def key_hash(key):
    """store_key_hash (src/store/store_int.h)."""
    h = 0x9e3779b97f4a7c15 ^ len(key)
    padded = key + bytes(-len(key) % 8)
    for i in range(0, len(padded), 8):
        h = mix64(h ^ int.from_bytes(padded[i:i + 8], "little"))
    return h


def widen_addresses(store_dir):
    """Address rows as formats 1 and 2 have them (a whole 36-byte btc_addr: kind, witver, len,
    pad, program) from format 3's 23-byte rows and 16-byte tails, and addr.idx rebuilt over them
    (slots: fingerprint << 40 | id + 1, linear probing from hash & (cap - 1))."""
    rows = open(os.path.join(store_dir, "addr_key.col"), "rb").read()
    tail_path = os.path.join(store_dir, "addr_key_tail.col")
    tails = open(tail_path, "rb").read()
    assert len(rows) % 23 == 0
    keys = []
    for i in range(0, len(rows), 23):
        r = rows[i:i + 23]
        if r[2] <= 20:
            prog = r[3:23] + bytes(12)
        else:
            t = int.from_bytes(r[19:23], "little")
            prog = r[3:19] + tails[16 * t:16 * t + 16]
        keys.append(bytes(r[0:3]) + b"\0" + prog)
    open(os.path.join(store_dir, "addr_key.col"), "wb").write(b"".join(keys))
    os.unlink(tail_path)
    idx_path = os.path.join(store_dir, "addr.idx")
    idx = bytearray(open(idx_path, "rb").read())
    cap = int.from_bytes(idx[16:24], "little")
    slots = [0] * cap
    for aid, k in enumerate(keys):
        h = key_hash(k)
        i = h & (cap - 1)
        while slots[i]:
            i = (i + 1) & (cap - 1)
        slots[i] = (h >> 40) << 40 | (aid + 1)
    idx[32:] = b"".join(v.to_bytes(8, "little") for v in slots)
    idx[24:32] = (len(keys) + 1).to_bytes(8, "little")
    open(idx_path, "wb").write(bytes(idx))


def old_store(manifest, version):
    text = open(manifest).read()
    body = text[:text.index("checksum ")]
    assert "cointrail-store 4\n" in body, manifest
    body = body.replace("cointrail-store 4", "cointrail-store %d" % version)
    if version == 1:
        body = re.sub(r" nulldata=\d+ nulldata_bytes=\d+", "", body)
    store_dir = os.path.dirname(os.path.abspath(manifest))
    widen_tx(store_dir)
    if version < 3:
        body = re.sub(r" addr_key_tail=\d+", "", body)
        widen_ids(store_dir)
        widen_addresses(store_dir)
    open(manifest, "w").write(body + "checksum " + hashlib.sha256(body.encode()).hexdigest() + "\n")


def bad_deposit_offset(argv):
    rows = list(csv.reader(open(argv[1])))
    for r in rows[1:]:
        if r[7].startswith("0xba03e68b"):
            r[6] = r[6][:2 + 64] + "f" * 64 + r[6][2 + 128:]
            break
    csv.writer(open(argv[2], "w", newline=""), lineterminator="\n").writerows(rows)


def format1_store(argv):
    old_store(argv[1], 1)


def format2_store(argv):
    old_store(argv[1], 2)


def format3_store(argv):
    old_store(argv[1], 3)


def format1_evm(argv):
    text = open(argv[1]).read()
    body = text[:text.index("checksum ")].replace("cointrail-evm 2", "cointrail-evm 1")
    body = re.sub(r" event=\d+ event_text=\d+", "", body)
    open(argv[1], "w").write(body + "checksum " + hashlib.sha256(body.encode()).hexdigest() + "\n")


if __name__ == "__main__":
    what = {"bad-deposit-offset": bad_deposit_offset, "format1-store": format1_store,
            "format2-store": format2_store, "format3-store": format3_store,
            "format1-evm": format1_evm}
    if len(sys.argv) < 3 or sys.argv[1] not in what:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    what[sys.argv[1]](sys.argv[1:])
