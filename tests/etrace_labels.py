#!/usr/bin/env python3
"""etrace_labels.py TRUTH.json: a labels CSV (stdout) for the recorded anvil scenario, from the
node's own record of it (truth.json): the mixer pools are mixers, the bridge a bridge, the
router a swap service, the OTC desk otc, the drained hot wallet an exchange (e2e_etrace.sh)."""
import json, sys
t = json.load(open(sys.argv[1]))
c, a = t["contracts"], {v["label"]: k for k, v in t["addresses"].items()}
print("chain,address,category,actor,source,confidence")
for addr, cat, name in [(c["mixer_1eth"]["address"], "mixer", "mixer 1 ETH"),
                        (c["mixer_10eth"]["address"], "mixer", "mixer 10 ETH"),
                        (c["bridge"]["address"], "bridge", "bridge to Bitcoin"),
                        (c["router"]["address"], "swap", "THORChain-style router"),
                        (a["otc_desk"], "otc", "OTC desk"), (a["hot_wallet"], "exchange", "hot wallet")]:
    print(f"eth,{addr},{cat},{name},truth.json,90")
