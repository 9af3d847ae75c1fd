#!/usr/bin/python3
"""Compare cointrail's JSON with the oracle's: compare.py decode|stats OURS THEIRS.
Prints the first differences and exits 1 if there are any."""
import json
import sys


def pick_decode(doc):
    blocks = doc if isinstance(doc, list) else [doc]
    return [{"hash": b["hash"], "tx_count": b["tx_count"],
             "txs": [{"txid": t["txid"], "input_count": t["input_count"],
                      "outputs": [{"value": o["value"], "type": o["type"], "address": o["address"]}
                                  for o in t["outputs"]]} for t in b["txs"]]} for b in blocks]


def diff(a, b, path, out):
    if len(out) >= 10:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}.{k}: missing on one side")
            else:
                diff(a[k], b[k], f"{path}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: length {len(a)} != {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, f"{path}[{i}]", out)
    elif a != b:
        out.append(f"{path}: ours {a!r} != oracle {b!r}")


def main():
    mode, ours_path, theirs_path = sys.argv[1:4]
    ours, theirs = json.load(open(ours_path)), json.load(open(theirs_path))
    out = []
    if mode == "decode":
        blocks = theirs if isinstance(theirs, list) else [theirs]
        if not all(b["merkle_ok"] for b in blocks):
            out.append("oracle: merkle root mismatch")
        diff(pick_decode(ours), pick_decode(theirs), "", out)
    else:
        diff({k: ours.get(k) for k in theirs}, theirs, "", out)
    for line in out:
        print(line)
    sys.exit(1 if out else 0)


if __name__ == "__main__":
    main()
