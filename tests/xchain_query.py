#!/usr/bin/env python3
"""xchain_query.py QUERY ARGS: values out of cointrail's and the scenario's JSON that
e2e_xchain.sh compares with what it expects (printed).

  show-summary FILE        `xchain show --json`: the count, the first link's method and
                           confidence
  outbound-of FILE PREFIX  the expectation file (tests/xchain_check.py): the Bitcoin tx the
                           link from the EVM tx starting with PREFIX goes to
  payload FILE             `tx --json`: the OP_RETURN output's payload_text and its payload_hex
                           decoded by Python
  line-of FILE NEEDLE      the number of FILE's first line holding NEEDLE
  after-reorg LINKS EXPECT `xchain links --json` after the reorganisation: the links touching a
                           tx the expectation file says the fork removed, and the THORChain
                           memo links
"""
import json
import sys


def main(query, args):
    if query == "show-summary":
        d = json.load(open(args[0])); print(d['count'], d['links'][0]['method'], d['links'][0]['confidence'])
    elif query == "outbound-of":
        e = json.load(open(args[0])); print([l['to'] for l in e['links'] if l['from'].startswith(args[1])][0])
    elif query == "payload":
        d = json.load(open(args[0])); o=[o for o in d['outputs'] if o['type']=='nulldata'][0]; print(o['payload_text'], bytes.fromhex(o['payload_hex']).decode())
    elif query == "line-of":
        print(next(i for i, l in enumerate(open(args[0]), 1) if args[1] in l))
    elif query == "after-reorg":
        links = json.load(open(args[0]))['links']
        gone = set(json.load(open(args[1]))['fork_removed_txids'])
        print(sum(l['to']['tx'] in gone or l['from']['tx'] in gone for l in links),
              sum(l['method'] == 'thorchain_memo' for l in links))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
