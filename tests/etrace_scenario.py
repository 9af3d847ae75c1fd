#!/usr/bin/env python3
"""etrace_scenario.py QUERY TRUTH ARG: values of the recorded anvil scenario's truth.json that
e2e_etrace.sh feeds back to `etrace` (printed).

  block-time TRUTH N          the block timestamp of the scenario's steps in block N
  deposit-of-amount TRUTH A   the tx of the bridge deposit of A wei
  deposit-in-block TRUTH N    the tx of the bridge deposit in block N
"""
import json
import sys


def main(query, path, arg):
    t = json.load(open(path))
    if query == "block-time":
        print([s['block_timestamp'] for s in t['steps'] if s['block_number']==int(arg)][0])
    elif query == "deposit-of-amount":
        print([x['tx_hash'] for x in t['bridge_deposits'] if x['amount']==arg][0])
    elif query == "deposit-in-block":
        print([x['tx_hash'] for x in t['bridge_deposits'] if x['block_number']==int(arg)][0])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
