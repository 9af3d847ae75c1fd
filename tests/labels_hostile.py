#!/usr/bin/env python3
"""labels_hostile.py COMMAND ARGS: hostile label text for e2e_labels_hostile.sh (review findings
12 and 18).

  write-db LABELS_DB ADDRESS   write labels.db as an older cointrail stored it (tab, LF, CR
                               and backslash escaped, the rest raw): two labels on ADDRESS
                               whose text holds ESC sequences, BEL, DEL, C1 controls and
                               bidi overrides
  no-c1-bidi FILE              the text (UTF-8) holds no C1 control (U+0080-U+009F) and no bidi
                               embedding, override or isolate; exit 0 when clean
  json-names FILE              `labels show --json`: the two names are exactly the hostile
                               text written by write-db
"""
import sys


def write_db():
    import sys
    path, a = sys.argv[1], sys.argv[2]
    ESC, BEL = "\x1b", "\x07"
    rows = [  # chain address category actor name source url programs first last updated conf
        ["btc", a, "sanctioned", "x\\rSANCTIONED? no",
         ESC + "[2J" + ESC + "[1;31mOFAC CLEARED - NOT SANCTIONED" + ESC + "[0m",
         "evil" + ESC + "]0;TITLE-HIJACK" + BEL, "", "", "", "", "", "100"],
        ["btc", a, "theft" + ESC + "[8m", "bidi\u202eevil\u2066", "c1\u009b31m\u0085",
         "fake\\nline\x7f", "", "", "", "", "", "90"],
    ]
    rows.sort(key=lambda r: (r[0], r[1], r[5], r[2]))
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("cointrail-labels\t1\t%d\n" % len(rows))
        f.write("chain\taddress\tcategory\tactor\tname\tsource\turl\tprograms\tfirst_seen\t"
                "last_seen\tupdated\tconfidence\n")
        for r in rows:
            f.write("\t".join(r) + "\n")


def no_c1_bidi():
    import sys; t = open(sys.argv[1], encoding="utf-8", errors="replace").read()
    sys.exit(any(0x80 <= ord(c) <= 0x9f or 0x202a <= ord(c) <= 0x202e or 0x2066 <= ord(c) <= 0x2069
                 for c in t))


def json_names():
    import json,sys; d = json.load(open(sys.argv[1]))
    names = sorted(l["name"] for l in d["labels"])
    sys.exit(names != ["\x1b[2J\x1b[1;31mOFAC CLEARED - NOT SANCTIONED\x1b[0m", "c1\x9b31m\x85"])


COMMANDS = {
    "write-db": write_db,
    "no-c1-bidi": no_c1_bidi,
    "json-names": json_names,
}

if __name__ == "__main__":
    import subcommand

    subcommand.run(__doc__, COMMANDS)
