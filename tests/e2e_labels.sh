#!/bin/bash
# `cointrail labels` on the real TagPacks and OFAC lists and on OFAC SDN XML samples: counts
# checked against the files themselves (python3/grep), look-ups, search, bad input named by
# file, line and field with labels.db left byte for byte as it was, bad checksums reported,
# re-import idempotent, and a block import into the same directory keeping the labels.
source "$(dirname "$0")/common.sh"
L=tests/data/labels
DB="$T/db"
LDB="$DB/labels.db"
# expect EXIT_CODE PATTERN CMD... : that exit code and stderr matching PATTERN
expect() {
    local code=$1 pat=$2; shift 2
    "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ $rc -ne "$code" ]; then bad "exit $rc (want $code): $*: $(cat "$T/err")"; return; fi
    if [ -n "$pat" ] && ! grep -Eq -- "$pat" "$T/err"; then bad "message '$(cat "$T/err")' lacks /$pat/"; return; fi
    ok
}
unchanged() { cmp -s "$T/before.db" "$LDB" && ok || bad "labels.db changed: $*"; }
# one field of the last --json answer ($T/out), and a Python expression evaluated on it
jf() { $PY tests/jget.py "$1" "$T/out"; }
js() { $PY -c "import json,sys; d=json.load(open('$T/out')); print($1)"; }

# Independent counts from the files.
tags() { $PY -c "import yaml,sys; print(len(yaml.safe_load(open(sys.argv[1]))['tags']))" "$1"; }
n_laz=$(tags $L/lazarus.yaml)
[ "$n_laz" = "$(grep -c '^- address:' $L/lazarus.yaml)" ] && ok || bad "lazarus count"
n_ofac=$(tags $L/ofac.yaml)
n_bin=$(tags $L/exchange-wallets-binance.yaml)
n_xbt=$(grep -c . $L/sanctioned_addresses_XBT.txt)
n_eth=$(grep -c . $L/sanctioned_addresses_ETH.txt)

# 1. Real files, one import, per-file figures in JSON.
"$BIN" labels import --db "$DB" --json $L/lazarus.yaml $L/ofac.yaml $L/exchange-wallets-binance.yaml \
    $L/sanctioned_addresses_XBT.txt $L/sanctioned_addresses_ETH.txt $L/sdn_advanced_sample.xml \
    >"$T/out" 2>"$T/err" && ok || bad "import real files: $(cat "$T/err")"
[ "$(jf "['files'][0]['labels']")" = "$n_laz" ] && ok || bad "lazarus labels"
[ "$(js "d['files'][1]['labels'] + d['files'][1]['rejected']")" = "$n_ofac" ] && ok || bad "ofac.yaml labels"
[ "$(jf "['files'][2]['labels']")" = "$n_bin" ] && ok || bad "binance labels"
[ "$(jf "['files'][3]['labels']"),$(jf "['files'][3]['rejected']")" = "$((n_xbt - 1)),1" ] && ok || bad "XBT list"
[ "$(jf "['files'][4]['labels']")" = "$n_eth" ] && ok || bad "ETH list"
[ "$(jf "['files'][5]['format']"),$(jf "['files'][5]['labels']")" = "ofac-xml,3" ] && ok || bad "sdn sample"
# The one non-Bitcoin address OFAC lists under XBT is reported with its line, not dropped silently.
line=$(grep -n TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq $L/sanctioned_addresses_XBT.txt | cut -d: -f1)
grep -q "sanctioned_addresses_XBT.txt:$line: field address: address 'TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq'" "$T/err" && ok || bad "XBT reject not reported"
# The file's label lines agree with the total.
total=$(jf "['labels']")
[ "$(($(wc -l <"$LDB") - 2))" = "$total" ] && ok || bad "labels.db lines vs total $total"
head -1 "$LDB" | grep -q "^cointrail-labels	1	$total\$" && ok || bad "labels.db header"

# 2. Look-ups. A btc address in any spelling; 0x addresses case-insensitively.
expect 0 "" "$BIN" labels show --db "$DB" --json 3F2sZ4jbhvDKQdGbHYPC6ZxFXEau2m5Lqj
[ "$(js "[l['category'] for l in d['labels'] if l['source']=='OFAC Tagpack'][0]")" = sanctioned ] && ok || bad "show lazarus"
expect 0 "" "$BIN" labels show --db "$DB" --json BC1Q05AKTDDF9CE4P7HH3STGSF253M4VWEU7NKHTMW
[ "$(js "[l['name']+'/'+','.join(l['programs']) for l in d['labels'] if l['source'].startswith('OFAC SDN #')][0]")" = "PETROV Ivan/CYBER2,RUSSIA-EO14024" ] && ok || bad "show sdn entry"
expect 0 "" "$BIN" labels show --db "$DB" 0x098B716B8AAF21512996DC57EB0615E2383E2F96
grep -q "LAZARUS GROUP.*programs=DPRK3" "$T/out" && ok || bad "show eth: $(cat "$T/out")"
expect 3 "no labels for 1BoatSLRHtKNngkdXEeobR76b53LETtpyT" "$BIN" labels show --db "$DB" 1BoatSLRHtKNngkdXEeobR76b53LETtpyT

# 3. List and search, checked against the stored file's columns.
want=$(awk -F'\t' 'NR > 2 && $1 == "btc" && $3 == "sanctioned"' "$LDB" | wc -l)
expect 0 "" "$BIN" labels list --db "$DB" --chain btc --category sanctioned --limit 3 --json
[ "$(jf "['total']"),$(js "len(d['labels'])")" = "$want,3" ] && ok || bad "list total $want"
want=$(awk -F'\t' 'NR > 2 && $3 == "exchange"' "$LDB" | wc -l)
expect 0 "" "$BIN" labels list --db "$DB" --category exchange --limit 0
grep -q "^$want matching labels" "$T/out" && ok || bad "list exchange: $(tail -1 "$T/out")"
expect 0 "" "$BIN" labels search --db "$DB" --json dprk3
[ "$(jf "['total']")" = 2 ] && ok || bad "search dprk3"
expect 0 "" "$BIN" labels search --db "$DB" --json "binance reserve wallets BUSD"
[ "$(jf "['total']")" -ge 1 ] && ok || bad "search binance"

# 4. Re-import: nothing new, the same bytes.
cp "$LDB" "$T/before.db"
expect 0 "" "$BIN" labels import --db "$DB" $L/lazarus.yaml $L/sanctioned_addresses_XBT.txt $L/sdn_advanced_sample.xml
grep -q "labels.db: $total labels (0 new)" "$T/out" && ok || bad "re-import: $(cat "$T/out")"
unchanged re-import

# 5. Malformed files: file, line and field named; nothing saved, even for the good files
# given with them.
expect 1 "bad_syntax.yaml:8: column 1: YAML: found unexpected end of stream" "$BIN" labels import --db "$DB" $L/wasabi_collector.yaml $L/bad_syntax.yaml
unchanged bad yaml
expect 1 "bad_confidence.yaml:8: field confidence: unknown confidence 'pretty_sure'" "$BIN" labels import --db "$DB" $L/bad_confidence.yaml
unchanged bad confidence
expect 1 "bad_missing_field.csv:3: field confidence: missing" "$BIN" labels import --db "$DB" $L/bad_missing_field.csv
unchanged csv missing field
expect 1 "bad_quote.csv:2: field 4: quoted field never closed" "$BIN" labels import --db "$DB" $L/bad_quote.csv
unchanged csv quote
expect 1 "bad_unclosed.xml:97: XML: Opening and ending tag mismatch" "$BIN" labels import --db "$DB" $L/bad_unclosed.xml
unchanged bad xml
expect 1 "bad_empty_address.xml:58: field VersionDetail" "$BIN" labels import --db "$DB" $L/bad_empty_address.xml
unchanged empty address
printf '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n<Sanctions>&e;</Sanctions>\n' >"$T/xxe.xml"
expect 1 "xxe.xml: a DOCTYPE" "$BIN" labels import --db "$DB" "$T/xxe.xml"
unchanged xxe
printf 'chain,address,category,actor,source,confidence\nbtc,1AXUTu9y3H8w4wYx4BjyFWgRhZKDhmcMrn,exchange,caf\xe9,x,50\n' >"$T/latin1.csv"
expect 1 "latin1.csv:2: byte 0xe9 is not UTF-8" "$BIN" labels import --db "$DB" "$T/latin1.csv"
unchanged latin1
expect 1 "no_such.csv" "$BIN" labels import --db "$DB" $L/no_such.csv
unchanged missing file
# Bad checksums: reported with file and line; --strict fails the file.
expect 1 "bad_checksum.csv:3: field address: address '12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9i': bad base58check checksum" "$BIN" labels import --db "$DB" --strict $L/bad_checksum.csv
unchanged strict
expect 0 "bad_checksum_sdn.xml:51: field address: .*checksum" "$BIN" labels import --db "$DB" $L/bad_checksum_sdn.xml
grep -q "ofac-xml, 2 labels (0 new, 2 already present), 1 rejected" "$T/out" && ok || bad "bad checksum xml: $(cat "$T/out")"
# Usage errors.
expect 2 "usage: cointrail labels" "$BIN" labels import --db "$DB"
expect 2 "format: 'yml' is not one of" "$BIN" labels import --db "$DB" --format yml $L/lazarus.yaml
expect 2 "unknown subcommand 'frob'" "$BIN" labels frob --db "$DB"
expect 2 "--db DIR is required" "$BIN" labels list
expect 2 "cannot tell the currency" "$BIN" labels import --db "$DB" --format ofac-list $L/ofac.yaml

# 6. --format, --chain and --source: a list under another name.
cp $L/sanctioned_addresses_ETH.txt "$T/eth-list"
expect 0 "" "$BIN" labels import --db "$DB" --format ofac-list --chain ETH --source "my eth list" "$T/eth-list"
grep -q "ofac-list, $n_eth labels ($n_eth new" "$T/out" && ok || bad "forced format: $(cat "$T/out")"
expect 0 "" "$BIN" labels list --db "$DB" --json --limit 0
[ "$(js "sum(1 for l in d['labels'] if l['source']=='my eth list' and l['chain']=='eth')")" = "$n_eth" ] && ok || bad "--source"

# 7. Labels first, then blocks into the same directory: both kept.
cp "$LDB" "$T/before.db"
"$BIN" import --db "$DB" demo/blk00000.dat >/dev/null 2>"$T/err" && ok || bad "block import after labels: $(cat "$T/err")"
unchanged block import
expect 0 "" "$BIN" labels show --db "$DB" 1AXUTu9y3H8w4wYx4BjyFWgRhZKDhmcMrn

finish
