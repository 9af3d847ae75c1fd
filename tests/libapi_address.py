#!/usr/bin/env python3
"""libapi_address.py (stdin: `cointrail address --json`): the address summary line that
examples/trace_output prints, written from the CLI's JSON for e2e_libapi.sh to compare.
"""
import json,sys; d=json.load(sys.stdin)
print("address %s type %s received %d sent %d balance %d tx_count %d output_count %d labels %d" % (
    d["address"], d["type"], d["received"], d["sent"], d["balance"], d["tx_count"],
    d["output_count"], len(d["labels"])))
