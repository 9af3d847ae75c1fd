#!/usr/bin/env python3
"""trace_html_check.py COMMAND ARGS: figures e2e_trace_html.sh checks the HTML report against.

  seeds TRUTH              the sources of the first scenario of the generator's truth.jsonl,
                           one a line (an @FILE for `trace --from`)
  endpoint-rows T_JSON     the number of endpoint rows the report shows: the trace document's
                           endpoints, at most 200
  entity-outputs BIN DB    (stdin: `entity --json`) the outputs paid to the entity's addresses,
                           summed from `BIN address --db DB --json` of each
  seed-count               (stdin: a trace document) its number of seeds
"""
import json
import subprocess
import sys


def main(cmd, args):
    if cmd == "seeds":
        for l in open(args[0]):
            d = json.loads(l)
            if d.get('kind') == 'scenario': print('\n'.join(d['sources'])); break
    elif cmd == "endpoint-rows":
        print(min(200, len(json.load(open(args[0]))['endpoints'])))
    elif cmd == "entity-outputs":
        bin_, db = args
        d = json.load(sys.stdin)
        print(sum(json.loads(subprocess.run([bin_, 'address', '--db', db, '--json', a['address']],
              capture_output=True, text=True).stdout)['output_count'] for a in d['addresses']))
    elif cmd == "seed-count":
        print(len(json.load(sys.stdin)['seeds']))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
