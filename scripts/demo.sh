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
