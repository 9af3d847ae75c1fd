#!/usr/bin/env python3
"""pow_check.py COMMAND ARGS: checks of e2e_pow.sh on forged blocks and the stores they leave.

  block-hash FILE   the hash (double SHA-256 of the header, hex, byte-reversed) of the first
                    block of a block file, for the error message to name
  stats-sane N      (stdin: `stats --json`) the totals are not negative and the store holds N
                    blocks; exit 0 when so
"""
import sys


def block_hash():
    import hashlib,sys; d=open(sys.argv[1],'rb').read()[8:88]
    print(hashlib.sha256(hashlib.sha256(d).digest()).digest()[::-1].hex())


def stats_sane():
    import json,sys; d=json.load(sys.stdin)
    sys.exit(0 if d["total_output_value"] >= 0 and d["utxo_value"] >= 0 and d["blocks"] == int(sys.argv[1]) else 1)


COMMANDS = {
    "block-hash": block_hash,
    "stats-sane": stats_sane,
}

if __name__ == "__main__":
    import subcommand

    subcommand.run(__doc__, COMMANDS)
