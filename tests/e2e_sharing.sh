#!/bin/bash
# `cointrail export` and the STIX/MISP import of `cointrail labels import`, on the real label
# files of tests/data/labels plus hostile-but-valid text: every export checked against the
# formats' own definitions by tests/sharing_check.py (OASIS STIX 2.1 JSON schemas and the
# cryptocurrency extension's with python3-jsonschema, MISP object templates and the core
# format's category-type table, the TagPack schema, FollowTheMoney's CryptoWallet schema);
# round trips export -> import into a fresh store giving the same labels.db byte for byte
# (TagPack: except what a TagPack cannot hold); a duplicate import changing nothing; foreign
# bundles and events giving the labels worked out by hand below; malformed files refused whole
# with the JSON pointer of the bad field and labels.db left as it was.
source "$(dirname "$0")/common.sh"
L=tests/data/labels
S=tests/data/sharing
CHECK="$PY tests/sharing_check.py"
export SOURCE_DATE_EPOCH=1700000000

# expect EXIT_CODE PATTERN CMD... : that exit code and stderr containing PATTERN (fixed string)
expect() {
    local code=$1 pat=$2; shift 2
    "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ $rc -ne "$code" ]; then bad "exit $rc (want $code): $*: $(head -c 400 "$T/err")"; return 1; fi
    if [ -n "$pat" ] && ! grep -qF -- "$pat" "$T/err"; then bad "message '$(head -c 400 "$T/err")' lacks '$pat'"; return 1; fi
    ok
}

# 0. Two label sets: a small one with every kind of label (threat and service actors,
# programs, dates that are and are not YYYY-MM-DD, URLs that are not URIs, quotes, backslashes,
# a newline, an address with a quote on a chain cointrail does not validate) for the schema
# checks, and the whole of tests/data/labels for the round trips.
cat >"$T/odd.csv" <<'EOF'
chain,address,category,actor,label,source,confidence,url,programs,first_seen,last_seen,updated
xyz,o'brien\wallet,scam,"Actor ""Quoted"" \ back","multi
line name","odd ""source"" \ name",33,not a url,"P1,P2",2019,2020-13-45,someday
btc,1AXUTu9y3H8w4wYx4BjyFWgRhZKDhmcMrn,exchange,Example Exchange,deposit,odd source 2,90,https://example.org/x?a=1&b=2,,2021-01-01,2020-12-31,2021-02-03
eth,0x098B716B8Aaf21512996dC57EB0615e2383E2f96,theft,Lazarus Group,Ronin exploiter,odd source 2,70,https://example.org/ronin,,2022-03-23,2022-04-14,2022-04-14
EOF
SMALL="$L/lazarus.yaml $L/ronin_bridge.yaml $L/sdn_advanced_sample.xml $L/sample.csv $L/wasabi_collector.yaml $L/inherit.yaml $T/odd.csv"
ALL="$SMALL $L/ofac.yaml $L/exchange-wallets-binance.yaml $L/sanctioned_addresses_XBT.txt $L/sanctioned_addresses_ETH.txt $L/lazarus2.yaml"
# shellcheck disable=SC2086
expect 0 "" "$BIN" labels import --db "$T/small" $SMALL
# shellcheck disable=SC2086
expect 0 "" "$BIN" labels import --db "$T/all" $ALL
n_small=$(($(wc -l <"$T/small/labels.db") - 2))
n_all=$(($(wc -l <"$T/all/labels.db") - 2))

# 1. Every format from the small set, checked against its definition.
for f in stix misp ftm; do
    expect 0 "" "$BIN" export --db "$T/small" --labels all --format $f --out "$T/small.$f"
done
expect 0 "" "$BIN" export --db "$T/small" --labels all --format tagpack --out "$T/small-tp"
$CHECK stix "$T/small.stix" >"$T/check" && ok || bad "STIX schemas: $(cat "$T/check")"
[ "$($PY tests/jget.py '["types"]["indicator"]' "$T/check")" = "$n_small" ] && ok || bad "one indicator per label"
$CHECK extdef data/sharing/stix-extension-cointrail-label.json && ok || bad "extension definition"
$CHECK misp "$T/small.misp" >"$T/check" && ok || bad "MISP templates: $(cat "$T/check")"
[ "$($PY tests/jget.py '["objects"]["coin-address"]' "$T/check")" = "$n_small" ] && ok || bad "one coin-address per label"
$CHECK tagpack "$T"/small-tp/*.yaml >"$T/check" && ok || bad "TagPack schema: $(cat "$T/check")"
[ "$($PY tests/jget.py '["tags"]' "$T/check")" = "$n_small" ] && ok || bad "one tag per label"
n_sources=$(awk -F'\t' 'NR > 2 { print $6 }' "$T/small/labels.db" | sort -u | wc -l)
[ "$(ls "$T"/small-tp/*.yaml | wc -l)" = "$n_sources" ] && ok || bad "one TagPack per source ($n_sources)"
$CHECK ftm "$T/small.ftm" >"$T/check" && ok || bad "FtM schema: $(cat "$T/check")"
n_wallets=$(awk -F'\t' 'NR > 2 { print $1 "\t" $2 }' "$T/small/labels.db" | sort -u | wc -l)
n_actors=$(awk -F'\t' 'NR > 2 && $4 != "" { print $4 }' "$T/small/labels.db" | sort -u | wc -l)
[ "$($PY tests/jget.py '["CryptoWallet"]' "$T/check"),$($PY tests/jget.py '["LegalEntity"]' "$T/check")" = "$n_wallets,$n_actors" ] && ok || bad "FtM entities: $(cat "$T/check") want $n_wallets wallets, $n_actors actors"
# The hostile text survives: the pattern escapes the quote and the backslash.
grep -qF "[cryptocurrency-wallet:value = 'o\\\\'brien\\\\\\\\wallet']" "$T/small.stix" && ok || bad "pattern escaping"

# 2. Deterministic: the same labels give the same bytes; another clock changes only times.
expect 0 "" "$BIN" export --db "$T/small" --labels all --format stix --out "$T/again.stix"
cmp -s "$T/small.stix" "$T/again.stix" && ok || bad "two exports differ"
SOURCE_DATE_EPOCH=1800000000 "$BIN" export --db "$T/small" --labels all --format stix >"$T/later.stix" && ok || bad "later export"
ids() { $PY -c "import json,sys; print('\n'.join(sorted(o['id'] for o in json.load(open(sys.argv[1]))['objects'])))" "$1"; }
[ "$(ids "$T/small.stix")" = "$(ids "$T/later.stix")" ] && ok || bad "object ids depend on the clock"
! cmp -s "$T/small.stix" "$T/later.stix" && ok || bad "the clock is not in the timestamps"

# 3. Round trips of the whole set: export, import into a fresh store, the same labels.db.
for f in stix misp; do
    expect 0 "" "$BIN" export --db "$T/all" --labels all --format $f --out "$T/all.$f"
    expect 0 "" "$BIN" labels import --db "$T/rt-$f" --json "$T/all.$f"
    [ "$($PY tests/jget.py '["files"][0]["format"]' "$T/out")" = $f ] && ok || bad "$f detected"
    cmp -s "$T/all/labels.db" "$T/rt-$f/labels.db" && ok || bad "$f round trip: $($CHECK same "$T/all/labels.db" "$T/rt-$f/labels.db")"
done
expect 0 "" "$BIN" export --db "$T/all" --labels all --format tagpack --out "$T/all-tp"
expect 0 "" "$BIN" labels import --db "$T/rt-tp" "$T"/all-tp/*.yaml
$CHECK same "$T/all/labels.db" "$T/rt-tp/labels.db" --tagpack >"$T/check" && ok || bad "TagPack round trip: $(cat "$T/check")"
# One source: one file (stdout), imported back.
"$BIN" export --db "$T/all" --labels "source=Ronin+bridge+hack" --format tagpack >"$T/ronin.yaml" && ok || bad "one-source TagPack"
expect 0 "" "$BIN" labels import --db "$T/rt-ronin" "$T/ronin.yaml"
[ "$(grep -c . "$T/rt-ronin/labels.db")" = "$(($(awk -F'\t' '$6 == "Ronin bridge hack"' "$T/all/labels.db" | wc -l) + 2))" ] && ok || bad "ronin TagPack labels"

# 4. A duplicate import changes nothing; an export imported where its labels are changes
# nothing either.
cp "$T/rt-stix/labels.db" "$T/before.db"
expect 0 "" "$BIN" labels import --db "$T/rt-stix" "$T/all.stix" "$T/all.misp"
cmp -s "$T/before.db" "$T/rt-stix/labels.db" && ok || bad "duplicate import changed labels.db"
grep -q "labels.db: $n_all labels (0 new)" "$T/out" && ok || bad "duplicate import: $(cat "$T/out")"

# 5. Queries: the labels.db rows that match, counted by awk.
want=$(awk -F'\t' 'NR > 2 && $3 == "sanctioned" && tolower($4) == "lazarus group"' "$T/all/labels.db" | wc -l)
expect 0 "" "$BIN" export --db "$T/all" --labels "category=sanctioned&actor=LAZARUS%20GROUP" --format stix --out "$T/q.stix"
[ "$($PY -c "import json; print(sum(o['type'] == 'indicator' for o in json.load(open('$T/q.stix'))['objects']))")" = "$want" ] && [ "$want" -gt 0 ] && ok || bad "query count $want"
want=$(awk -F'\t' 'NR > 2 && $1 == "eth" && index(tolower($0), "ronin")' "$T/all/labels.db" | wc -l)
expect 0 "" "$BIN" export --db "$T/all" --labels "chain=eth&text=ronin" --format ftm --out "$T/q.ftm"
[ "$($PY -c "import json; print(sum(len(json.loads(l)['properties'].get('notes', [])) for l in open('$T/q.ftm')))")" = "$want" ] && ok || bad "text query"
expect 2 "not one of chain, category" "$BIN" export --db "$T/all" --labels "colour=red" --format stix
expect 2 "two hex digits" "$BIN" export --db "$T/all" --labels "actor=%G0" --format stix
expect 3 "no label matches" "$BIN" export --db "$T/all" --labels "actor=nobody" --format misp
expect 2 "not one of stix, misp, tagpack, ftm" "$BIN" export --db "$T/all" --labels all --format csv
expect 2 "give --out DIR" "$BIN" export --db "$T/all" --labels all --format tagpack
expect 0 "" "$BIN" export --help

# 6. Foreign files: what the documented rules give, worked out by hand from the files.
expect 0 "" "$BIN" labels import --db "$T/foreign" $S/samples/foreign_bundle.json $S/samples/foreign_event.json
cat >"$T/want.tsv" <<'EOF'
btc	1AXUTu9y3H8w4wYx4BjyFWgRhZKDhmcMrn	ransomware	Lazarus Group	payment address	CIRCL			2023-01-02		2023-05-04	50
btc	1AXUTu9y3H8w4wYx4BjyFWgRhZKDhmcMrn	theft	Lazarus Group	Ronin bridge exploiter wallets	Example CTI Vendor	FBI_URL		2022-03-23	2022-04-14	2023-04-02	85
btc	3FupZp77ySr7jwoLYEJ9mwzJpvoNBXsBnE	scam	Wizard Spider	Ransomware payments 2023	CIRCL					2023-05-04	50
btc	3FupZp77ySr7jwoLYEJ9mwzJpvoNBXsBnE	unknown	Example Exchange	Example Exchange	foreign_bundle.json						50
btc	bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4	ransomware	Wizard Spider	ransom note address	CIRCL					2023-05-04	50
eth	0x098b716b8aaf21512996dc57eb0615e2383e2f96	theft	Lazarus Group	Ronin bridge exploiter wallets	Example CTI Vendor	FBI_URL		2022-03-23	2022-04-14	2023-04-02	85
eth	0xa0e1c89ef1a489c9c7de96311ed5ce5d32c20e4b	ransomware	Wizard Spider	Ransomware payments 2023	CIRCL					2023-05-04	50
eth	0xa0e1c89ef1a489c9c7de96311ed5ce5d32c20e4b	theft	Lazarus Group	Ronin bridge exploiter wallets	Example CTI Vendor	FBI_URL		2022-03-23	2022-04-14	2023-04-02	85
trx	TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq	theft	TraderTraitor	TraderTraitor	Example CTI Vendor					2023-04-01	60
EOF
fbi="https://www.fbi.gov/news/press-releases/fbi-statement-on-attribution-of-malicious-cyber-activity-posed-by-the-democratic-peoples-republic-of-korea"
sed -i "s|FBI_URL|$fbi|" "$T/want.tsv"
tail -n +3 "$T/foreign/labels.db" | diff "$T/want.tsv" - >"$T/diff" && ok || bad "foreign labels: $(cat "$T/diff")"
# The samples themselves are valid STIX and MISP.
$CHECK stix $S/samples/foreign_bundle.json --foreign >/dev/null && ok || bad "foreign bundle is not valid STIX"
$CHECK misp $S/samples/foreign_event.json --foreign >/dev/null && ok || bad "foreign event"
# The chain of an address no field names: --chain, else refused with the pointer.
$PY -c "
import json, sys
b = json.load(open('$S/samples/foreign_bundle.json'))
b['objects'] = [o for o in b['objects'] if o['type'] != 'cryptocurrency-transaction']
json.dump(b, open('$T/notx.json', 'w'))"
expect 1 "field /objects/10/value: cannot tell the chain" "$BIN" labels import --db "$T/nochain" "$T/notx.json"
expect 0 "" "$BIN" labels import --db "$T/nochain" --chain trx "$T/notx.json"
grep -q "^trx	TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq	theft	TraderTraitor" "$T/nochain/labels.db" && ok || bad "--chain for a wallet"

# 7. Malformed files are refused whole, naming the field; labels.db stays as it was, even
# with a good file given before the bad one.
expect 0 "" "$BIN" labels import --db "$T/victim" $L/lazarus.yaml
cp "$T/victim/labels.db" "$T/before.db"
$PY tests/sharing_bad.py "$T/small.stix" "$T/small.misp" "$T/bad" >"$T/cases" && ok || bad "making bad files"
while IFS=$'\t' read -r file want; do
    expect 1 "$want" "$BIN" labels import --db "$T/victim" $L/ronin_bridge.yaml "$file" &&
        grep -qF "nothing imported" "$T/err" && ok || bad "no 'nothing imported' for $file"
    cmp -s "$T/before.db" "$T/victim/labels.db" || bad "labels.db changed by $file"
done <"$T/cases"
[ "$(wc -l <"$T/cases")" -ge 20 ] && ok || bad "too few bad cases"
# An address with a bad checksum: reported with its pointer and skipped; --strict refuses.
$PY -c "
import json
b = json.load(open('$T/small.stix'))
i = next(i for i, o in enumerate(b['objects']) if o['type'] == 'indicator' and o['x_cointrail_chain'] == 'btc')
b['objects'][i]['pattern'] = \"[cryptocurrency-wallet:value = '1AXUTu9y3H8w4wYx4BjyFWgRhZKDhmcMrm']\"
json.dump(b, open('$T/badsum.json', 'w'))
print(i)" >"$T/i"
i=$(cat "$T/i")
expect 0 "field /objects/$i/pattern: address '1AXUTu9y3H8w4wYx4BjyFWgRhZKDhmcMrm': bad base58check checksum (chain btc): rejected" "$BIN" labels import --db "$T/sum" "$T/badsum.json"
expect 1 "field /objects/$i/pattern: address" "$BIN" labels import --db "$T/victim" --strict "$T/badsum.json"
cmp -s "$T/before.db" "$T/victim/labels.db" && ok || bad "--strict changed labels.db"

finish
