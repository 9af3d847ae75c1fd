#!/usr/bin/env python3
"""cluster_json.py QUERY ARGS: values out of the JSON answers of `cluster --json`, `stats
--json` and `entity --json` (read on stdin), for e2e_cluster.sh to compare.

  field PATH     print d PATH, the document indexed by a Python subscript such as "['mode']"
                 or "['largest'][0]['entity']"
  addresses      print the list of the addresses of an `entity --json` answer
  slice LIST A B print LIST[A:B] (LIST as `addresses` printed it; no stdin)
"""
import json
import sys


def main(cmd, args):
    if cmd == "field":
        d = json.load(sys.stdin)
        print(eval("d" + args[0], {"d": d}))
    elif cmd == "addresses":
        print([a['address'] for a in json.load(sys.stdin)['addresses']])
    elif cmd == "slice":
        print(repr(eval(args[0])[int(args[1]):int(args[2])]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
