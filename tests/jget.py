#!/usr/bin/env python3
"""jget.py PATH [FILE]: print one field of a JSON document (FILE, or stdin), the shared helper
for the scripts' one-field extractions.

  PATH   a chain of subscripts, each a JSON/Python string or integer in brackets:
         '["blocks"]', '["balances"][0]["token"]', '' (the whole document)
  --each print each element of the list (or each key of the object) on its own line

The value is printed as Python's print() prints it (strings bare, integers in decimal, True /
False), so a script compares it with the text it expects. A missing field is an error (exit 1,
the path named on stderr); a malformed PATH exits 2.
"""
import ast
import json
import re
import sys

TOKEN = re.compile(r"\[\s*(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|-?\d+)\s*\]")


def parse(path):
    keys, pos = [], 0
    while pos < len(path):
        m = TOKEN.match(path, pos)
        if not m:
            raise ValueError(f"bad path at {path[pos:]!r}")
        keys.append(ast.literal_eval(m.group(1)))
        pos = m.end()
    return keys


def main(argv):
    each = "--each" in argv
    argv = [a for a in argv if a != "--each"]
    if not 1 <= len(argv) <= 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        keys = parse(argv[0])
    except (ValueError, SyntaxError) as e:
        print(f"jget: {e}", file=sys.stderr)
        return 2
    d = json.load(open(argv[1]) if len(argv) == 2 else sys.stdin)
    try:
        for k in keys:
            d = d[k]
    except (KeyError, IndexError, TypeError):
        print(f"jget: no {argv[0]} in the document", file=sys.stderr)
        return 1
    if each:
        for x in d:
            print(x)
    else:
        print(d)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
