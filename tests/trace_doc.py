#!/usr/bin/env python3
"""trace_doc.py CHECK ARGS: small questions about trace documents (`trace --format json`), each
a check of the document's own consistency or a value the scripts feed back to the binary
(e2e_trace.sh, e2e_trace_until.sh). Checks exit 0 when they hold, 1 when not; queries print.

  first-seed-address FILE      the address of the first seeded edge that has one
  same-seeds FILE1 FILE2       both documents have the same, non-empty, seeds
  first-endpoint-output FILE   the output of the first edge whose fate is endpoint
  backward-balanced FILE       a backward document: balanced, nothing unspent or paid as fees,
                               every followed tx's taint in + added = taint out
  has-tx FILE TXID             the document lists the tx
  check FILE EXPR              balanced and the Python expression EXPR holds (d = the
                               document, t = its totals)
  min-height FILE N            the lowest height of the document's txs, plus N
  dot-graph FILE DOT           the DOT file's edges are the document's entity graph edges
                               (from, to, value), and there is at least one
  first-output-address         (stdin: `tx --json`) the address of the tx's first output
  until FILE                   limits.until and limits.until_time
"""
import json
import re
import sys


def main(cmd, args):
    if cmd == "first-seed-address":
        d = json.load(open(args[0]))
        print(next(e['address'] for e in d['edges'] if e['from_tx'] is None and e['address']))
    elif cmd == "same-seeds":
        a, b = (json.load(open(f))['seeds'] for f in args[:2])
        return 0 if a == b and len(a) >= 1 else 1
    elif cmd == "first-endpoint-output":
        d = json.load(open(args[0]))
        e = [x for x in d['edges'] if x['fate'] == 'endpoint']
        print(e[0]['output'])
    elif cmd == "backward-balanced":
        d = json.load(open(args[0]))
        t = d['totals']
        ok = t['balanced'] and t['unspent'] == 0 and t['fees'] == 0
        for x in d['txs']:
            if x['status'] == 'followed':
                ok = ok and x['taint_in'] + x['added'] == x['taint_out']
        return 0 if ok and d['direction'] == 'backward' else 1
    elif cmd == "has-tx":
        d = json.load(open(args[0]))
        return 0 if any(x['txid'] == args[1] for x in d['txs']) else 1
    elif cmd == "check":
        d = json.load(open(args[0]))
        t = d['totals']
        return 0 if t['balanced'] and eval(args[1], {"d": d, "t": t}) else 1
    elif cmd == "min-height":
        d = json.load(open(args[0]))
        print(min(x['height'] for x in d['txs']) + int(args[1]))
    elif cmd == "dot-graph":
        g = json.load(open(args[0]))['graph']
        dot = open(args[1]).read()
        edges = re.findall(r'^  "([^"]+)" -> "([^"]+)" \[label="(\d+)', dot, re.M)
        want = sorted((e['from'], e['to'], str(e['value'])) for e in g['edges'])
        return 0 if sorted(edges) == want and len(want) > 0 else 1
    elif cmd == "first-output-address":
        print(json.load(sys.stdin)['outputs'][0]['address'])
    elif cmd == "until":
        l = json.load(open(args[0]))['limits']
        print(l['until'], l['until_time'])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
