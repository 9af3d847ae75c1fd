#!/usr/bin/env python3
"""trace_until_cases.py T: from the raw blocks of T/c.json (tests/mkchain.py, parsed by
python3-bitcoinlib), the --until cases as an independent linear scan of the running maximum of
block times gives them: T/cases has lines TIME FORWARD_HEIGHT BACKWARD_HEIGHT (-1: no such
block); T/seed_early and T/seed_late hold an output of a tx in block 3 and in block 36
(e2e_trace_until.sh)."""
import json, sys
from bitcoin.core import CBlock, b2lx, x
T = sys.argv[1]
blocks = [CBlock.deserialize(x(h)) for h in json.load(open(f"{T}/c.json"))["main"]]
times = [b.nTime for b in blocks]
assert any(times[i] < max(times[:i]) for i in range(1, len(times))), "times are monotonic"
runmax, m = [], 0
for t in times:
    m = max(m, t)
    runmax.append(m)
def fwd(t):
    hs = [h for h, r in enumerate(runmax) if r <= t]
    return hs[-1] if hs else -1
def back(t):
    hs = [h for h, r in enumerate(runmax) if r >= t]
    return hs[0] if hs else -1
ts = sorted({t + d for t in times for d in (-1, 0, 1)} | {times[0] - 86400, max(times) + 86400})
with open(f"{T}/cases", "w") as f:
    for t in ts:
        f.write(f"{t} {fwd(t)} {back(t)}\n")
def seed(h):
    tx = next(t for t in blocks[h].vtx if not t.is_coinbase())
    return f"{b2lx(tx.GetTxid())}:0"
open(f"{T}/seed_early", "w").write(seed(3))
open(f"{T}/seed_late", "w").write(seed(36))
