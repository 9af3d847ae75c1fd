#!/bin/bash
# e2e: chains made by `cointrail generate` read back by an independent decoder
# (python3-bitcoinlib): txids, merkle roots, witness commitments, prevouts, totals and the
# txids named in truth.jsonl; and `cointrail import` + `stats --json` equal to the truth
# totals. A modern chain (SegWit, Taproot, CoinJoins, xor.dat, several blk files) and an
# early one (P2PK coinbases, uncompressed keys).
# usage: tests/e2e_gen_bitcoinlib.sh path/to/cointrail
set -u
bin=${1:?usage: e2e_gen_bitcoinlib.sh path/to/cointrail}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/e2e_gen.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

if ! /usr/bin/python3 -c 'import bitcoin.core' 2>/dev/null; then
    echo "python3-bitcoinlib is missing: apt-get install python3-bitcoinlib"
    echo "0 passed, 1 failed"
    exit 1
fi

gen() {
    if ! "$bin" generate --quiet "$@" > "$tmp/out.txt" 2> "$tmp/err.txt"; then
        echo "cointrail generate $* failed:"
        cat "$tmp/err.txt"
        echo "0 passed, 1 failed"
        exit 1
    fi
    cat "$tmp/out.txt"
}

gen --out "$tmp/modern" --seed 42 --blocks 160 --txs-per-block 50 --users 300 --maturity 5 \
    --halving-interval 60 --era 2019.5-2024.3 --privacy-rate 0.25 --scenarios 2 --xor \
    --file-size 1
gen --out "$tmp/early" --seed 43 --blocks 80 --txs-per-block 30 --users 100 --maturity 3 \
    --era 2009-2014

# The importer must compute the same totals (skipped only while the binary has no import).
stats=()
for chain in modern early; do
    if "$bin" import --db "$tmp/db-$chain" --quiet "$tmp/$chain" > /dev/null 2> "$tmp/ierr" &&
        "$bin" stats --db "$tmp/db-$chain" --json > "$tmp/stats-$chain.json" 2>> "$tmp/ierr"; then
        stats+=(--stats "$tmp/$chain=$tmp/stats-$chain.json")
    elif grep -q "unknown command" "$tmp/ierr"; then
        echo "cointrail import/stats not available: import comparison skipped"
    else
        echo "cointrail import or stats failed on the $chain chain:"
        cat "$tmp/ierr"
        echo "0 passed, 1 failed"
        exit 1
    fi
done

/usr/bin/python3 "$here/gen_bitcoinlib_check.py" "${stats[@]}" "$tmp/modern" "$tmp/early"
