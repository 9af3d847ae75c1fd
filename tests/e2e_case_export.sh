#!/bin/bash
# `cointrail export --case ID | --incident ID` (docs/sharing.md, "Cases and incidents"). On a
# generated chain with six dated and attributed thefts and every service address labelled (two
# exchanges under hostile names: markup and a spreadsheet formula): incidents imported and traced,
# a case opened on one theft with analyst labels (hostile text too) and traced.
# (1) Every format of both exports validates against the formats' own definitions
# (tests/sharing_check.py: OASIS STIX 2.1 and the extension's schemas with python3-jsonschema,
# MISP templates, the TagPack schema, FtM); the bundle's transactions are the decoded txs
# (python3-bitcoinlib) and carry every deposit; the case's TagPacks import back into an empty
# store giving the case's labels as the case module fed them to labels.db.
# (2) --format freeze: per exchange and OTC desk, the deposits, txids, amounts, block times and
# paths against the generator's truth and the blocks decoded by python3-bitcoinlib
# (tests/freeze_check.py); the letters show the hostile names as text.
# (3) Bad input: an unknown case or incident, an existing --out, a freeze without a store or
# --out, a write that fails half-way (a file size limit): a clear error, a nonzero exit, no
# directory left behind. (4) The shipped DPRK incidents, in a directory without chains: the
# exports validate and name the incident, its attribution and its addresses.
source "$(dirname "$0")/common.sh"
export USER=tester SOURCE_DATE_EPOCH=1700000000
CHECK="$PY tests/sharing_check.py"
FZ="$PY tests/freeze_check.py"

expect() {
    local code=$1 pat=$2; shift 2
    "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ $rc -ne "$code" ]; then bad "exit $rc (want $code): $*: $(head -c 400 "$T/err")"; return 1; fi
    if [ -n "$pat" ] && ! grep -qF -- "$pat" "$T/err"; then bad "message '$(head -c 400 "$T/err")' lacks '$pat'"; return 1; fi
    ok
}

"$BIN" generate --out "$T/g" --seed 5 --blocks 300 --txs-per-block 100 --maturity 5 \
    --halving-interval 50 --era 2016-2024.3 --users 500 --scenarios 6 --privacy-rate 0 \
    --coinjoin-rate 0 --separate-rounds --scenario-blocks 500 --quiet >/dev/null || bad "generate"
"$BIN" import --db "$T/db" "$T/g" >/dev/null || bad "import"
# every service address labelled, two exchanges under hostile names
HOSTILE='Bitmarkt <script>alert(1)</script> & "Co"'
FORMULA='=HYPERLINK("http://evil.example")'
$PY tests/incident_check.py labels "$T/g/truth.jsonl" | $PY -c '
import csv, sys
r, w = csv.reader(sys.stdin), csv.writer(sys.stdout, lineterminator="\n")
for row in r:
    row[3] = {"Bitmarkt": sys.argv[1], "Coinvault": sys.argv[2]}.get(row[3], row[3])
    w.writerow(row)' "$HOSTILE" "$FORMULA" >"$T/services.csv"
"$BIN" labels import --db "$T/db" "$T/services.csv" >/dev/null || bad "labels import"
RENAME=("Bitmarkt=$HOSTILE" "Coinvault=$FORMULA")
"$BIN" incident import --db "$T/db" "$T/g/incidents.csv" >/dev/null || bad "incident import"
"$BIN" incident trace --db "$T/db" --all --hops 100 >/dev/null || bad "incident trace"

# a case on scenario 2: its theft outputs as seeds, a haircut trace, analyst labels
C() { "$BIN" case "$@" --db "$T/db" --analyst alice; }
C new --title 'Theft <b>two</b>' --date 2020-08-20 --victim 'Blockhaus "hot" wallet' --chains btc \
    --json >"$T/new.json" || bad "case new"
K=$($PY tests/jget.py '["case"]' <"$T/new.json") # the incidents' cases come first
seeds=$(grep '^scenario-2,' "$T/g/incidents.csv" | awk -F, '{print $NF}' | tr ';' ' ')
for s in $seeds; do C add-seed "$K" "$s" >/dev/null || bad "add-seed $s"; done
thief=$($PY -c 'import json,sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d["kind"] == "entity" and d.get("scenario") == 2: print(d["addresses"][0]); break' "$T/g/truth.jsonl")
C label "$K" --address "$thief" --category theft --actor 'TraderTraitor <img src=x onerror=alert(3)>' \
    --name $'thief\'s "first" address' --confidence 80 --evidence 'paid by the theft tx' >/dev/null || bad "case label"
C label "$K" --address 1AXUTu9y3H8w4wYx4BjyFWgRhZKDhmcMrn --category scam --actor '=cmd|calc' --confidence 33 >/dev/null || bad "case label 2"
C trace "$K" --policy haircut --hops 100 >/dev/null || bad "case trace"

# ---- (1) every format validates ----
for what in "case $K" "incident scenario-1"; do
    set -- $what
    tag=$1
    for f in stix misp ftm; do
        expect 0 "" "$BIN" export --db "$T/db" --$1 $2 --format $f --out "$T/$tag.$f"
    done
    $CHECK stix "$T/$tag.stix" >"$T/check" && ok || bad "$tag STIX schemas: $(cat "$T/check")"
    $CHECK misp "$T/$tag.misp" >"$T/check" && ok || bad "$tag MISP templates: $(cat "$T/check")"
    $CHECK ftm "$T/$tag.ftm" >"$T/check" && ok || bad "$tag FtM: $(cat "$T/check")"
    expect 0 "" "$BIN" export --db "$T/db" --$1 $2 --format tagpack --out "$T/$tag-tp"
    $CHECK tagpack "$T/$tag-tp"/*.yaml >"$T/check" && ok || bad "$tag TagPack schema: $(cat "$T/check")"
done
# the incident: its attribution, its seeds as theft indicators of the attributed actor
$PY - "$T/incident.stix" "$T/g/incidents.csv" <<'EOF' && ok || bad "incident objects"
import csv, json, sys
objs = json.load(open(sys.argv[1]))["objects"]
row = next(r for r in csv.DictReader(open(sys.argv[2])) if r["id"] == "scenario-1")
ids = {o["id"]: o for o in objs}
inc = [o for o in objs if o["type"] == "incident"]
att = [o for o in objs if o["type"] == "relationship" and o["relationship_type"] == "attributed-to"]
assert len(inc) == 1 and row["victim"] in inc[0]["name"], inc
assert [ids[a["target_ref"]]["name"] for a in att] == [row["attribution"]], att
assert all(a["source_ref"] == inc[0]["id"] and a["confidence"] == int(row["confidence"]) for a in att)
txs = {o["value"] for o in objs if o["type"] == "cryptocurrency-transaction"}
assert {s.split(":")[0] for s in row["seeds"].split(";")} <= txs
theft = [o for o in objs if o["type"] == "indicator" and o["labels"] == ["theft"]]
assert len(theft) == len(row["seeds"].split(";")), len(theft)
EOF
misp_date=$($PY tests/jget.py '["Event"]["date"]' <"$T/incident.misp")
[ "$misp_date" = "$(grep '^scenario-1,' "$T/g/incidents.csv" | cut -d, -f2)" ] && ok || bad "MISP event date $misp_date"
grep -qF 'misp-galaxy:threat-actor=\"Lazarus Group\"' "$T/incident.misp" && ok || bad "MISP threat-actor tag"

# the case's TagPacks import back: its analyst labels as the case module fed them to labels.db
expect 0 "" "$BIN" labels import --db "$T/rt" "$T/case-tp"/*.yaml
$FZ labels "$T/db" "case:$K" >"$T/fed.tsv"
$FZ labels "$T/rt" "case:$K" >"$T/back.tsv"
[ -s "$T/fed.tsv" ] && [ "$(wc -l <"$T/fed.tsv")" = 2 ] && cmp -s "$T/fed.tsv" "$T/back.tsv" && ok ||
    bad "case labels round trip: $(diff "$T/fed.tsv" "$T/back.tsv")"
# the seed pack: the addresses the seeds pay, as bitcoinlib decodes them
$FZ labels "$T/rt" "case:$K seeds" | cut -f2 | sort >"$T/seedaddr"
$PY - "$T/g" $seeds <<'EOF' | sort | diff - "$T/seedaddr" >/dev/null && ok || bad "seed labels"
import sys
sys.path.insert(0, "tests")
import oracle
from bitcoin.core import b2lx
want = {tuple(s.split(":")) for s in sys.argv[2:]}
for b in oracle.main_chain([sys.argv[1]]):
    for tx in b.vtx:
        for n, o in enumerate(tx.vout):
            if (b2lx(tx.GetTxid()), str(n)) in want:
                print(oracle.classify(o.scriptPubKey)[1])
EOF
# a second export of the same case is the same bytes
"$BIN" export --db "$T/db" --case "$K" --format stix >"$T/again.stix" 2>/dev/null
cmp -s "$T/case.stix" "$T/again.stix" && ok || bad "two exports of the case differ"

# ---- (2) freeze requests against the truth and the decoded blocks ----
expect 0 "freeze packet(s)" "$BIN" export --db "$T/db" --incident scenario-1 --format freeze --out "$T/fz1"
$FZ freeze "$T/fz1" "$T/g" 1 "${RENAME[@]}" >"$T/check" && ok || bad "incident freeze: $(cat "$T/check")"
$FZ stix "$T/incident.stix" "$T/fz1" "$T/g" >"$T/check" && ok || bad "incident bundle: $(cat "$T/check")"
expect 0 "" "$BIN" export --db "$T/db" --case "$K" --format freeze --out "$T/fz2"
$FZ freeze "$T/fz2" "$T/g" 2 "${RENAME[@]}" >"$T/check" && ok || bad "case freeze: $(cat "$T/check")"
$FZ stix "$T/case.stix" "$T/fz2" "$T/g" >"$T/check" && ok || bad "case bundle: $(cat "$T/check")"
# the hostile name is text in the letter, never markup
letter=$(grep -l 'Bitmarkt' "$T"/fz1/*/letter.html | head -1)
[ -n "$letter" ] && grep -qF 'Bitmarkt &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Co&quot;' "$letter" &&
    ! grep -q '<script' "$letter" && ok || bad "hostile name in $letter"
grep -q "^\"'=HYPERLINK" "$T"/fz1/index.csv && ok || bad "formula in the index CSV not defused"

# ---- (3) bad input ----
expect 3 "case 99" "$BIN" export --db "$T/db" --case 99 --format stix --out "$T/no.stix"
[ ! -e "$T/no.stix" ] && ok || bad "a file for an unknown case"
expect 3 "no-such" "$BIN" export --db "$T/db" --incident no-such --format freeze --out "$T/nofz"
[ -z "$(ls -d "$T"/nofz* 2>/dev/null)" ] && ok || bad "a directory for an unknown incident"
expect 2 "exists" "$BIN" export --db "$T/db" --case "$K" --format freeze --out "$T/fz2"
expect 2 "needs --out" "$BIN" export --db "$T/db" --case "$K" --format freeze
expect 2 "not one of stix" "$BIN" export --db "$T/db" --labels all --format freeze --out "$T/x"
expect 2 "one of --labels, --case and --incident" "$BIN" export --db "$T/db" --case "$K" --incident scenario-1 --format stix
expect 2 "not a case id" "$BIN" export --db "$T/db" --case 1x --format stix
mkdir -p "$T/empty"
expect 3 "no case or incident here" "$BIN" export --db "$T/empty" --case 1 --format stix
# a write that fails half-way: nothing left behind (the case database's log emptied first, so
# that its audit row fits under the limit and the letters do not)
$PY -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("PRAGMA wal_checkpoint(TRUNCATE)")' "$T/db/cases.sqlite"
(trap '' XFSZ; ulimit -f 40; exec "$BIN" export --db "$T/db" --incident scenario-1 --format freeze --out "$T/half") >/dev/null 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && grep -q "File too large" "$T/err" && ok || bad "a failed write: exit $rc $(cat "$T/err")"
[ -z "$(ls -d "$T"/half* 2>/dev/null)" ] && ok || bad "a failed write left $(ls -d "$T"/half*)"

# ---- (4) the DPRK incidents without chains ----
mkdir -p "$T/dprk"
"$BIN" incident import --db "$T/dprk" data/incidents/dprk_thefts.csv data/incidents/dprk_addresses.csv >/dev/null || bad "DPRK import"
for f in stix misp; do
    expect 0 "" "$BIN" export --db "$T/dprk" --incident ronin-2022-03 --format $f --out "$T/ronin.$f"
done
$CHECK stix "$T/ronin.stix" >"$T/check" && ok || bad "ronin STIX: $(cat "$T/check")"
$CHECK misp "$T/ronin.misp" >"$T/check" && ok || bad "ronin MISP: $(cat "$T/check")"
$PY - "$T/ronin.stix" data/incidents/dprk_addresses.csv data/incidents/dprk_thefts.csv <<'EOF' && ok || bad "ronin content"
import csv, json, sys
objs = json.load(open(sys.argv[1]))["objects"]
want = {r["address"].lower() for r in csv.DictReader(open(sys.argv[2]))
        if "ronin-2022-03" in r["incident_id"].split(";")}
got = {o["value"].lower() for o in objs if o["type"] == "cryptocurrency-wallet"}
assert want and want <= got, (want - got)
row = next(r for r in csv.DictReader(open(sys.argv[3])) if r["id"] == "ronin-2022-03")
names = {o["name"] for o in objs if o["type"] == "threat-actor"}
assert row["attribution"].split(";")[0] in names, (names, row["attribution"])
inc = [o for o in objs if o["type"] == "incident"][0]
urls = {r["url"] for r in inc.get("external_references", [])}
assert row["incident_source_url"] in urls, (urls, row["incident_source_url"])
EOF
expect 2 "needs the Bitcoin or EVM store" "$BIN" export --db "$T/dprk" --incident ronin-2022-03 --format freeze --out "$T/rfz"
finish
