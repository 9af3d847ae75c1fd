#!/bin/bash
# The main job on the embedded demo data: build, import Bitcoin mainnet blocks 0-438 (the
# first 439 blocks, in Bitcoin Core's blk file format) into a store, and query it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh build
db=${1:-demo-db}
rm -rf "$db"
bin=build/cointrail
echo "== cointrail import --db $db demo/blk00000.dat"
$bin import --db "$db" demo/blk00000.dat
echo
echo "== cointrail stats --db $db"
$bin stats --db "$db"
echo
echo "== the first bitcoin payment, block 170 (Satoshi to Hal Finney)"
$bin tx --db "$db" f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16
echo
echo "== the address that paid it"
$bin address --db "$db" --limit 5 12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S
echo
echo "== entities: cointrail cluster, then the entity of that address"
$bin cluster --db "$db"
$bin entity --db "$db" --limit 3 12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S
echo
echo "== labels: OFAC's sanctioned Bitcoin addresses and GraphSense's Lazarus Group TagPack"
$bin labels import --db "$db" tests/data/labels/sanctioned_addresses_XBT.txt tests/data/labels/lazarus.yaml
$bin labels search --db "$db" --limit 3 lazarus
echo
echo "== screening (as an exchange would, or over HTTP with cointrail serve): the address above"
$bin screen --db "$db" 12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S
echo
echo "== a theft, followed to the exchanges: a generated chain with a DPRK-style laundering scenario"
echo "   (docs/generator.md: split, peel chains, CoinJoin, swap, exchange and OTC cash-out)"
gen="$db-theft"
rm -rf "$gen" "$gen-db"
$bin generate --out "$gen" --seed 7 --blocks 300 --txs-per-block 100 --maturity 5 --scenarios 1 --quiet
$bin import --db "$gen-db" "$gen" >/dev/null
$bin labels import --db "$gen-db" "$gen/labels.csv" >/dev/null
$bin cluster --db "$gen-db" >/dev/null
echo "== an investigator opens a case and adds the stolen outputs the victim reported"
$bin case new --db "$gen-db" --analyst demo --title "Hot wallet theft (generated)" --chains btc
python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("kind") == "scenario":
        print("\n".join(r["sources"]))' "$gen/truth.jsonl" | while read -r seed; do
    $bin case add-seed --db "$gen-db" --analyst demo 1 "$seed" --note "reported stolen" >/dev/null
done
echo "== cointrail case trace: where did the stolen coins go, by actor (the run is recorded in the case)"
$bin case trace --db "$gen-db" --analyst demo 1 | sed -n '1,/^  endpoints/p'
$bin case export --db "$gen-db" --analyst demo 1 --format html --out "$gen-case1.html"
echo
echo "== the evidence report: $gen-case1.html (prints to PDF)"
echo "== the web UI: make a key (cointrail serve-key --owner demo --scopes read,screen,watch,admin),"
echo "   run cointrail serve --db $gen-db --api-keys KEYFILE, then open http://127.0.0.1:8080/"
