#!/usr/bin/env python3
"""peel_check.py COMMAND ARGS: peel-chain figures for e2e_peel.sh.

  detector EV_JSON    from `cluster --evaluate --json`: the peel_chain detector's number of
                      true steps, recall and precision (0 when undefined), on one line
  at-least X MIN      exit 0 when the number X >= MIN, 1 when not
  middle-step TRUTH   the txid of the middle peel step of the first scenario with peel steps in
                      the generator's truth.jsonl
"""
import json
import sys


def main(cmd, args):
    if cmd == "detector":
        d = json.load(open(args[0]))['detectors']['peel_chain']
        print(d['truth'], d['recall'] or 0, d['precision'] or 0)
    elif cmd == "at-least":
        return 0 if float(args[0]) >= float(args[1]) else 1
    elif cmd == "middle-step":
        for l in open(args[0]):
            d = json.loads(l)
            if d.get('kind') == 'scenario':
                p = [s['txid'] for s in d['steps'] if s['kind'] == 'peel']
                if p: print(p[len(p) // 2]); break
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
