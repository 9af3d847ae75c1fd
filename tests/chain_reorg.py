#!/usr/bin/env python3
"""chain_reorg.py COMMAND ARGS: the reorganisation parts of e2e_chain.sh that take more than a line.

  corrupt FILE        flip a byte (0x5a) inside the first block's first tx in a block file, so
                      that its merkle root no longer matches
  under-reader BIN DBR BLOCKS REF
                      import BLOCKS into the store DBR (a reorganisation) while a reader holds
                      DBR/READERS: no column file may shrink under it, though the same import
                      into REF shortens some; after the reader is gone, a second import cuts
                      the files back to REF's sizes. Exit 0 when all holds
  txids CHAIN_JSON    the coinbase txids of main block 50 and fork block 2 of a mkchain.py
                      chain, decoded by python3-bitcoinlib (one gone, one there after the reorg)
"""
import sys


def corrupt():
    import sys; p = sys.argv[1]; d = bytearray(open(p, 'rb').read()); d[8 + 80 + 50] ^= 0x5a
    open(p, 'wb').write(bytes(d))


def under_reader():
    import fcntl, glob, os, subprocess, sys
    bin_, dbr, blocks, ref = sys.argv[1:]
    size = lambda d: {os.path.basename(p): os.path.getsize(p) for p in glob.glob(f"{d}/*.col")}
    before = size(dbr)
    r = open(f"{dbr}/READERS")
    fcntl.flock(r, fcntl.LOCK_SH)
    subprocess.run([bin_, "import", "--db", dbr, blocks], check=True, capture_output=True)
    during = size(dbr)
    shrunk = [f for f in before if during[f] < before[f]]
    would = [f for f in before if size(ref)[f] < before[f]]
    r.close()
    subprocess.run([bin_, "import", "--db", dbr, blocks], check=True, capture_output=True)
    after, want = size(dbr), size(ref)
    ok = not shrunk and would and after == want
    if not ok:
        print("FAIL: shrunk under the reader:", shrunk, "files the reorg shortens:", would,
              "after:", {f: (after[f], want[f]) for f in after if after[f] != want[f]})
    sys.exit(0 if ok else 1)


def txids():
    import json,sys; sys.path.insert(0,'tests'); import oracle
    from bitcoin.core import CBlock, x, b2lx
    d=json.load(open(sys.argv[1]))
    print(b2lx(CBlock.deserialize(x(d['main'][50])).vtx[0].GetTxid()), b2lx(CBlock.deserialize(x(d['fork'][2])).vtx[0].GetTxid()))


COMMANDS = {
    "corrupt": corrupt,
    "under-reader": under_reader,
    "txids": txids,
}

if __name__ == "__main__":
    import subcommand

    subcommand.run(__doc__, COMMANDS)
