#!/usr/bin/env python3
"""bad_input_files.py DIR: from the demo chain's first real blocks (demo/blk00000.dat), write
DIR/first100.dat (blocks 0-99) and rest.dat (the others), and damaged copies of rest.dat that
cointrail must refuse naming file and offset (e2e_bad_input.sh): truncated.dat (cut inside
block 150), badmagic.dat, badsize.dat (a size running past the end), garbage.dat (a flipped
byte of block 101's coinbase script), hugecount.dat (an output count of 10^9). DIR/offsets gets
the offset of block 101 in rest.dat."""
import sys
t = sys.argv[1]
data = open("demo/blk00000.dat", "rb").read()
off, recs = 0, []
while off < len(data):
    size = int.from_bytes(data[off + 4:off + 8], "little")
    recs.append(data[off:off + 8 + size]); off += 8 + size
open(f"{t}/first100.dat", "wb").write(b"".join(recs[:100]))
rest = b"".join(recs[100:])
open(f"{t}/rest.dat", "wb").write(rest)
# Offsets of block 100 (start of rest.dat) and block 101.
b101 = len(recs[100])
open(f"{t}/offsets", "w").write(f"{b101}\n")
# truncated: cut inside block 150
cut = sum(len(r) for r in recs[100:150]) + 50
open(f"{t}/truncated.dat", "wb").write(rest[:cut])
# wrong magic on the second record
wm = bytearray(rest); wm[b101:b101 + 4] = b"\xde\xad\xbe\xef"
open(f"{t}/badmagic.dat", "wb").write(bytes(wm))
# size field that runs past the end of the file
sz = bytearray(rest); sz[b101 + 4:b101 + 8] = (len(rest)).to_bytes(4, "little")
open(f"{t}/badsize.dat", "wb").write(bytes(sz))
# garbage inside a tx of block 101 (a byte of its coinbase output script)
g = bytearray(rest); g[b101 + 8 + 80 + 60] ^= 0x55
open(f"{t}/garbage.dat", "wb").write(bytes(g))
# a tx whose output count claims far more outputs than the block holds
h = bytearray(rest)
i = b101 + 8 + 81 + 4 + 1 + 36 + 1 + 7 + 4  # version, 1 input, outpoint, script len 7, seq
h[i] = 0xfe; h[i+1:i+5] = (10**9).to_bytes(4, "little")
open(f"{t}/hugecount.dat", "wb").write(bytes(h))
