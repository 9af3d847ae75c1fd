#!/bin/bash
# Every real mainnet block we ship decodes to the txids, output types and addresses that an
# independent decoder (python3-bitcoinlib) finds.
set -u
BIN=$1
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
for f in tests/data/btc/* demo/blk00000.dat; do
    if "$BIN" block decode --json "$f" >"$tmp/ours.json" &&
        /usr/bin/python3 tests/oracle.py decode "$f" >"$tmp/theirs.json" &&
        /usr/bin/python3 tests/compare.py decode "$tmp/ours.json" "$tmp/theirs.json"; then
        pass=$((pass + 1))
    else
        echo "FAIL: $f"
        fail=$((fail + 1))
    fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
