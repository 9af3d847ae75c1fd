#!/usr/bin/env python3
"""gen_evm_truth.py COMMAND ARGS: the parts of e2e_gen_evm.sh that read the generator's
truth.jsonl or edit its output.

  stats STATS TRUTH     `evm-stats --json` against the truth's evm_meta line: blocks, txs,
                        failed txs, full history from block 0; exit 1 (and both printed) if not
  account TRUTH ROLE    the address and wei balance of the truth's EVM account with ROLE
  shows FILE VALUE      the JSON document FILE holds the string "VALUE" somewhere
  mutate FILE EXPR      replace FILE's text s by the Python expression EXPR of s (which must
                        change it): a mutation gen_evm_check.py has to detect
"""
import sys


def stats():
    import json, sys
    st = json.load(open(sys.argv[1]))
    meta = next(json.loads(l) for l in open(sys.argv[2]) if '"evm_meta"' in l)
    ok = st["blocks"] == meta["blocks"] and st["txs"] == meta["txs"] and st["failed_txs"] == meta["failed_txs"] \
        and st["partial_history"] is False and st["first_block"] == 0
    if not ok:
        print(st, meta)
    sys.exit(0 if ok else 1)


def account():
    import json,sys
    for l in open(sys.argv[1]):
        t = json.loads(l)
        if t['kind'] == 'evm_account' and t['role'] == sys.argv[2]:
            print(t['address'], t['eth_wei']); break


def shows():
    import json,sys
    j = json.load(open(sys.argv[1]))
    s = json.dumps(j)
    sys.exit(0 if '"%s"' % sys.argv[2] in s else 1)


def mutate():
    import sys; p=sys.argv[1]; s=open(p).read(); s2=eval(sys.argv[2], {"s": s}); assert s2!=s; open(p,'w').write(s2)


COMMANDS = {
    "stats": stats,
    "account": account,
    "shows": shows,
    "mutate": mutate,
}

if __name__ == "__main__":
    import subcommand

    subcommand.run(__doc__, COMMANDS)
