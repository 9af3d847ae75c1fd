#!/usr/bin/env python3
"""follow_node.py COMMAND ARGS: a Bitcoin Core node writing its blocks directory, played from
block files made beforehand, for `cointrail import --follow` (tests/e2e_follow.sh,
bench/alert_latency.sh). Python stdlib only; nothing shared with cointrail.

  play SRC DST LOG [--per-file N] [--prealloc BYTES] [--pieces K] [--pause-ms MS]
       [--gap-ms MS] [--swap-every N] [--hold-at I --go FILE [--gap-after-hold MS]]
       [--from I] [--to J] [--xor 0]
      Read the records of SRC's blk*.dat (with SRC/xor.dat if there is one) in file order and
      write them into DST as a node does: DST/xor.dat (a fresh random key, unless DST has one;
      none with --xor 0),
      blk00000.dat, blk00001.dat, ... (a new file every N records, default: where SRC starts a
      new file), each record (magic, size, block) in K pieces (default 3: the first 5 bytes of
      the frame, then the rest of the frame and half the block, then the rest) with MS
      milliseconds between pieces, so that a reader sees half-written frames and records.
      --prealloc: files are made BYTES long with zeros first (posix_fallocate, as the node does,
      grown by BYTES when full) and cut to their used size when the next file starts.
      --swap-every N: every N records, the next two are written in swapped order (a child
      before its parent). --hold-at I: before record I, write FILE.held and wait for FILE;
      --gap-after-hold MS: the gap from then on.
      --from/--to: play records [I, J) only, continuing DST's files (state kept in DST/.play).
      LOG gets a JSON line per record: {"i", "hash", "file", "off", "t"}: t is time.time()
      after its last byte was written.
  corrupt FILE OFF merkle|pow
      Spoil the record at byte OFF of FILE (no xor): merkle flips a byte of its last tx's
      locktime (a witness byte would not change the merkle root);
      pow changes the header's nonce until the header hash misses the header's own target.
  records SRC
      Print one JSON line per record of SRC's files: {"file", "off", "size", "hash"}.
"""
import glob
import hashlib
import json
import os
import sys
import time

MAGIC = bytes.fromhex("f9beb4d9")


def block_hash(raw):
    return hashlib.sha256(hashlib.sha256(raw[:80]).digest()).digest()[::-1].hex()


def xor(data, key, off):
    """data XORed with key[(off + i) % 8] (big integers: fast for whole files)."""
    if not any(key) or not data:
        return bytes(data)
    r = off % 8
    stream = (key[r:] + key[:r]) * (len(data) // 8 + 1)
    n = len(data)
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream[:n], "little")).to_bytes(n, "little")


def xor_key(d):
    p = os.path.join(d, "xor.dat")
    return open(p, "rb").read() if os.path.exists(p) else bytes(8)


def records(src):
    """(file, offset, block bytes) of every record in src's blk files, in file order."""
    key = xor_key(src)
    for f in sorted(glob.glob(os.path.join(src, "blk*.dat"))):
        raw = open(f, "rb").read()
        data = xor(raw, key, 0)
        off = 0
        while off + 8 <= len(data):
            if data[off:off + 4] != MAGIC:
                off += 1
                continue
            n = int.from_bytes(data[off + 4:off + 8], "little")
            yield f, off, data[off + 8:off + 8 + n]
            off += 8 + n


class Node:
    def __init__(self, dst, per_file, prealloc, obfuscate=True):
        self.dst, self.per_file, self.prealloc = dst, per_file, prealloc
        os.makedirs(dst, exist_ok=True)
        kp = os.path.join(dst, "xor.dat")
        if not obfuscate and not os.path.exists(kp):
            self.key = bytes(8)
        elif not os.path.exists(kp):
            with open(kp + ".tmp", "wb") as f:
                f.write(os.urandom(8))
            os.rename(kp + ".tmp", kp)
        if os.path.exists(kp):
            self.key = open(kp, "rb").read()
        st = os.path.join(dst, ".play")
        s = json.load(open(st)) if os.path.exists(st) else {"file": -1, "used": 0, "count": 0}
        self.file, self.used, self.count = s["file"], s["used"], s["count"]
        self.fd, self.size = None, 0
        if self.file >= 0:
            self.fd = os.open(self.path(self.file), os.O_WRONLY)
            self.size = os.fstat(self.fd).st_size

    def path(self, n):
        return os.path.join(self.dst, "blk%05d.dat" % n)

    def save(self):
        with open(os.path.join(self.dst, ".play"), "w") as f:
            json.dump({"file": self.file, "used": self.used, "count": self.count}, f)

    def next_file(self):
        if self.fd is not None:
            if self.prealloc:
                os.ftruncate(self.fd, self.used)  # the node's finalisation cuts the zeros
            os.close(self.fd)
        self.file += 1
        self.used = self.count = 0
        self.fd = os.open(self.path(self.file), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self.size = 0

    def room(self, n):
        if self.prealloc:
            while self.used + n > self.size:
                self.size += self.prealloc
                os.posix_fallocate(self.fd, 0, self.size)

    def write(self, data, pieces, pause):
        """Write one record in pieces; return its offset."""
        off = self.used
        self.room(len(data))
        cuts = [0, 5, 8 + (len(data) - 8) // 2, len(data)] if pieces == 3 else \
            [len(data) * k // pieces for k in range(pieces + 1)]
        for a, b in zip(cuts, cuts[1:]):
            if a == b:
                continue
            chunk = xor(data[a:b], self.key, off + a)
            os.pwrite(self.fd, chunk, off + a)
            if b < len(data) and pause:
                time.sleep(pause)
        self.used += len(data)
        self.count += 1
        return off


def play(args):
    src, dst, log = args[:3]
    opt = dict(zip(args[3::2], args[4::2]))
    per_file = int(opt.get("--per-file", 0))
    node = Node(dst, per_file, int(opt.get("--prealloc", 0)), opt.get("--xor", "1") != "0")
    pieces, pause = int(opt.get("--pieces", 3)), int(opt.get("--pause-ms", 20)) / 1000
    gap, swap = int(opt.get("--gap-ms", 30)) / 1000, int(opt.get("--swap-every", 0))
    hold, go = int(opt.get("--hold-at", -1)), opt.get("--go")
    lo, hi = int(opt.get("--from", 0)), int(opt.get("--to", 1 << 60))
    recs = list(records(src))
    order = list(range(len(recs)))
    if swap:
        for i in range(swap, len(order) - 1, swap):
            if i + 1 != hold:
                order[i], order[i + 1] = order[i + 1], order[i]
    out = open(log, "a")
    last_src = None
    for pos, i in enumerate(order):
        f, _, blk = recs[i]
        if pos < lo or pos >= hi:
            last_src = f
            continue
        if pos == hold:
            open(go + ".held", "w").close()
            while not os.path.exists(go):
                time.sleep(0.02)
            gap = int(opt.get("--gap-after-hold", gap * 1000)) / 1000
        new = node.fd is None or (node.count >= per_file if per_file else f != last_src)
        if new:
            node.next_file()
        last_src = f
        data = MAGIC + len(blk).to_bytes(4, "little") + blk
        off = node.write(data, pieces, pause)
        node.save()
        out.write(json.dumps({"i": i, "hash": block_hash(blk), "file": node.file, "off": off,
                              "t": time.time()}) + "\n")
        out.flush()
        if gap:
            time.sleep(gap)
    if node.fd is not None:
        os.close(node.fd)


def corrupt(path, off, how):
    off = int(off)
    d = bytearray(open(path, "rb").read())
    n = int.from_bytes(d[off + 4:off + 8], "little")
    blk = off + 8
    if how == "merkle":
        d[blk + n - 2] ^= 0x5A  # the last tx's locktime: in its txid, so in the merkle root
    else:
        bits = int.from_bytes(d[blk + 72:blk + 76], "little")
        target = (bits & 0x7FFFFF) << 8 * ((bits >> 24) - 3)
        nonce = int.from_bytes(d[blk + 76:blk + 80], "little")
        while True:
            nonce = (nonce + 1) & 0xFFFFFFFF
            d[blk + 76:blk + 80] = nonce.to_bytes(4, "little")
            h = hashlib.sha256(hashlib.sha256(bytes(d[blk:blk + 80])).digest()).digest()
            if int.from_bytes(h, "little") > target:
                break
    open(path, "wb").write(bytes(d))


def list_records(src):
    for f, off, blk in records(src):
        print(json.dumps({"file": os.path.basename(f), "off": off, "size": len(blk),
                          "hash": block_hash(blk)}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "play":
        play(sys.argv[2:])
    elif cmd == "corrupt":
        corrupt(*sys.argv[2:5])
    elif cmd == "records":
        list_records(sys.argv[2])
    else:
        sys.exit(__doc__)
