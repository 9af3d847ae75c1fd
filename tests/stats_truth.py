#!/usr/bin/env python3
"""stats_truth.py STATS_JSON TRUTH_JSONL: every total of the generator's truth file (its "totals"
line) equals the same field of `cointrail stats --json`; prints the differing fields, exit 1 if
any (e2e_kill9.sh).
"""
import json, sys
ours = json.load(open(sys.argv[1]))
truth = next(json.loads(l) for l in open(sys.argv[2]) if '"totals"' in l)
diff = [k for k in truth if k != "kind" and ours.get(k) != truth[k]]
print("differs:", diff) if diff else None
sys.exit(1 if diff else 0)
