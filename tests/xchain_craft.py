#!/usr/bin/env python3
"""xchain_craft.py WHAT ARGS: damaged or older inputs for e2e_xchain.sh, written with python3
alone (not by cointrail).

  bad-deposit-offset IN_LOGS OUT_LOGS  copy an ethereum-etl logs.csv, the first bridge Deposit
                                       event's string offset pointing outside its data
  format1-store MANIFEST               turn a Bitcoin store's MANIFEST into format 1 (no
                                       payload columns), checksum recomputed
  format1-evm MANIFEST                 the same for an EVM store's MANIFEST (no events table)
"""
import csv
import hashlib
import re
import sys


def bad_deposit_offset(argv):
    rows = list(csv.reader(open(argv[1])))
    for r in rows[1:]:
        if r[7].startswith("0xba03e68b"):
            r[6] = r[6][:2 + 64] + "f" * 64 + r[6][2 + 128:]
            break
    csv.writer(open(argv[2], "w", newline=""), lineterminator="\n").writerows(rows)


def format1_store(argv):
    text = open(argv[1]).read()
    body = text[:text.index("checksum ")]
    body = body.replace("cointrail-store 2", "cointrail-store 1")
    body = re.sub(r" nulldata=\d+ nulldata_bytes=\d+", "", body)
    open(argv[1], "w").write(body + "checksum " + hashlib.sha256(body.encode()).hexdigest() + "\n")


def format1_evm(argv):
    text = open(argv[1]).read()
    body = text[:text.index("checksum ")].replace("cointrail-evm 2", "cointrail-evm 1")
    body = re.sub(r" event=\d+ event_text=\d+", "", body)
    open(argv[1], "w").write(body + "checksum " + hashlib.sha256(body.encode()).hexdigest() + "\n")


if __name__ == "__main__":
    what = {"bad-deposit-offset": bad_deposit_offset, "format1-store": format1_store,
            "format1-evm": format1_evm}
    if len(sys.argv) < 3 or sys.argv[1] not in what:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    what[sys.argv[1]](sys.argv[1:])
