#!/usr/bin/env python3
"""trace_seed_files.py T: one seeds file T/seedsID.txt per scenario of the generator's truth
(T/g/truth.jsonl) that stole something, listing the scenario's source outputs (e2e_trace.sh)."""
import json, sys
T = sys.argv[1]
for l in open(f"{T}/g/truth.jsonl"):
    d = json.loads(l)
    if d.get("kind") == "scenario" and d["stolen"] > 0:
        with open(f"{T}/seeds{d['id']}.txt", "w") as f:
            f.write("# scenario %d\n" % d["id"] + "\n".join(d["sources"]) + "\n")
