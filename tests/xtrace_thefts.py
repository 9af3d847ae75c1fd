#!/usr/bin/env python3
"""xtrace_thefts.py TRUTH: each EVM scenario of the generator's truth.jsonl, one a line: its id
and the tx of its first theft step (the seeds of e2e_xtrace.sh's cross-chain traces).
"""
import json
import sys

for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get('kind') == 'evm_scenario':
        print(d['id'], [s['tx'] for s in d['steps'] if s['kind'] == 'theft'][0])
