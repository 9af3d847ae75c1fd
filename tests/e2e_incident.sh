#!/bin/bash
# Incidents and the theft tally (issue 16). (1) A generated chain with six thefts, dated and
# attributed by the generator (--separate-rounds: no CoinJoin mixes two thefts' coins), with every
# service address labelled: its incidents.csv imports (and again, changing nothing), every
# incident is traced, and `report thefts` by actor and year, by actor, by year and in total
# equals the truth computed in Python (tests/incident_check.py): incidents, stolen, per named
# exchange, OTC, swap, bridge, mixer, unspent and fees; CSV = JSON; the HTML page is
# self-contained with its charts and shows hostile text as text. Malformed files (CSV and YAML)
# are refused whole with their file:line or YAML path, nothing written. (2) The shipped DPRK
# data (data/incidents) imports into a directory without chains: list and the tally by actor and
# year equal the CSV computed in Python; its addresses are refused by a store that lacks them.
# (3) An EVM chain: an EVM theft traced across chains: stolen ETH and USDT as the truth says, each
# followed deposit leads to the truth's outbound Bitcoin output, the amounts add up, and the
# Bitcoin legs reach what `etrace --cross-chain` (src/xtrace) reaches with the same options.
# $2: the backend of the cases, sqlite (DIR/cases.sqlite, the default) or pg (a private
# PostgreSQL server, one database per store directory, through --state).
source "$(dirname "$0")/common.sh"
source tests/pg_server.sh
case_backend "${2:-sqlite}"
export USER=tester
CK() { $PY tests/incident_check.py "$@"; }
I() { with_cases "$BIN" incident "$@"; }
REPORT() { with_cases "$BIN" report "$@"; }

# ---- (1) a generated chain against its truth ----
"$BIN" generate --out "$T/g" --seed 5 --blocks 300 --txs-per-block 100 --maturity 5 \
    --halving-interval 50 --era 2016-2024.3 --users 500 --scenarios 6 --privacy-rate 0 \
    --coinjoin-rate 0 --separate-rounds --scenario-blocks 500 --quiet >/dev/null || bad "generate"
"$BIN" import --db "$T/db" "$T/g" >/dev/null || bad "import"
CK labels "$T/g/truth.jsonl" >"$T/services.csv"
"$BIN" labels import --db "$T/db" "$T/services.csv" >/dev/null || bad "labels import"

I import --db "$T/db" "$T/g/incidents.csv" --json >"$T/imp1.json" && ok || bad "incident import"
grep -q '"added": 6' "$T/imp1.json" && ok || bad "six incidents added: $(cat "$T/imp1.json")"
snap1=$(CK snapshot "$(case_ref "$T/db")")
I import --db "$T/db" "$T/g/incidents.csv" --json >"$T/imp2.json" && ok || bad "re-import"
grep -q '"added": 0, "unchanged": 6' "$T/imp2.json" && ok || bad "re-import: $(cat "$T/imp2.json")"
snap2=$(CK snapshot "$(case_ref "$T/db")")
[ "${snap1% *}" = "${snap2% *}" ] && ok || bad "a re-import changed the incidents"

# malformed input: refused whole, with its place, nothing written (the audit log included)
cp "$T/g/incidents.csv" "$T/bad.csv"
$PY - "$T/bad.csv" <<'EOF'
import sys
p = sys.argv[1]
lines = open(p).read().split("\n")
f = lines[3].split(",")
f[1] = "2020-02-30"  # line 4: a day February does not have
lines[3] = ",".join(f)
open(p, "w").write("\n".join(lines))
EOF
I import --db "$T/db" "$T/bad.csv" 2>"$T/err" >/dev/null
[ $? -eq 1 ] && grep -q "bad.csv:4: column date" "$T/err" && ok || bad "bad date: $(cat "$T/err")"
printf 'id,date,victim,seeds\nx-1,2021,V,0000000000000000000000000000000000000000000000000000000000000000:0\n' >"$T/nf.csv"
I import --db "$T/db" "$T/nf.csv" 2>"$T/err" >/dev/null
[ $? -eq 3 ] && grep -q "nf.csv:2" "$T/err" && ok || bad "a seed not in the store: $(cat "$T/err")"
printf 'id,date,victim,colour\nx-2,2021,V,red\n' >"$T/col.csv"
I import --db "$T/db" "$T/col.csv" 2>"$T/err" >/dev/null
[ $? -eq 1 ] && grep -q "col.csv:1: column 'colour'" "$T/err" && ok || bad "unknown column: $(cat "$T/err")"
# the same id with another victim: refused, then --update replaces it
sed 's/^scenario-1,\([^,]*\),[^,]*,/scenario-1,\1,Other victim,/' "$T/g/incidents.csv" >"$T/upd.csv"
I import --db "$T/db" "$T/g/incidents.csv" "$T/upd.csv" 2>"$T/err" >/dev/null
[ $? -eq 1 ] && grep -q "given twice" "$T/err" && ok || bad "an id twice: $(cat "$T/err")"
I import --db "$T/db" "$T/upd.csv" 2>"$T/err" >/dev/null
[ $? -eq 2 ] && grep -q "upd.csv:2: incident 'scenario-1' is stored with another victim" "$T/err" &&
    ok || bad "changed content: $(cat "$T/err")"
cat >"$T/bad.yaml" <<'EOF'
incidents:
  - id: y-1
    date: 2021-01-01
  - id: y-2
    date: 2021-02-31
EOF
I import --db "$T/db" "$T/bad.yaml" 2>"$T/err" >/dev/null
[ $? -eq 1 ] && grep -q "bad.yaml: incidents\[1\].date (line 5)" "$T/err" && ok || bad "YAML path: $(cat "$T/err")"
printf 'incidents:\n  - id: y-3\n    seeds: [{spec: nonsense, chain: bitcoin}]\n' >"$T/bad2.yaml"
I import --db "$T/db" "$T/bad2.yaml" 2>"$T/err" >/dev/null
[ $? -eq 1 ] && grep -q "incidents\[0\].seeds\[0\].spec" "$T/err" && ok || bad "YAML seed: $(cat "$T/err")"
[ "$(CK snapshot "$(case_ref "$T/db")")" = "$snap2" ] && ok || bad "a refused import wrote something"
I import --db "$T/db" "$T/upd.csv" --update >/dev/null && ok || bad "--update"
I show --db "$T/db" scenario-1 --json | grep -q '"victim": "Other victim"' && ok || bad "updated victim"
I import --db "$T/db" "$T/g/incidents.csv" --update >/dev/null || bad "--update back"

# trace every incident, then the tally against the truth
I trace --db "$T/db" --all --hops 100 >"$T/trace.txt" && ok || bad "incident trace --all"
grep -q "6 incident(s) traced" "$T/trace.txt" && ok || bad "$(tail -1 "$T/trace.txt")"
for by in actor,year actor year ""; do
    REPORT thefts --db "$T/db" ${by:+--by $by} --json >"$T/tally.json" || bad "report $by"
    CK tally "$T/tally.json" "$T/g/truth.jsonl" "$by" >/dev/null && ok || {
        bad "tally by '$by' against the truth"
        CK tally "$T/tally.json" "$T/g/truth.jsonl" "$by"
    }
done
REPORT thefts --db "$T/db" --by actor,year --json >"$T/tally.json"
REPORT thefts --db "$T/db" --by actor,year --csv >"$T/tally.csv" || bad "report --csv"
CK csv "$T/tally.csv" "$T/tally.json" >/dev/null && ok || bad "CSV = JSON"
REPORT thefts --db "$T/db" --by actor,year >"$T/tally.txt" || bad "report text"
grep -q "^Lazarus Group, " "$T/tally.txt" && grep -q "could still be frozen" "$T/tally.txt" && ok ||
    bad "text report"
# a run an incident trace recorded reproduces with `cointrail trace`
I show --db "$T/db" scenario-2 --json >"$T/s2.json" || bad "show"
cmd=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["trace"]["runs"][0]["trace_run"]["command"])' "$T/s2.json")
(eval "\"\$BIN\"${cmd#cointrail}") >"$T/repro.json" || bad "the reproduce command"
$PY - "$T/s2.json" "$T/repro.json" <<'EOF' && ok || bad "the recorded run = cointrail trace"
import json, sys
r = json.load(open(sys.argv[1]))["trace"]["runs"][0]["trace_run"]
t = json.load(open(sys.argv[2]))
tot = {b["bucket"]: int(b["amount"]) for b in r["totals"]}
sys.exit(not (all(tot[k] == v for k, v in t["totals"].items() if k != "balanced") and
              [e["amount"] for e in t["endpoints"]] == [int(e["amount"]) for e in r["endpoints"]]))
EOF

# hostile text from an incident file: escaped in HTML, never raw on a terminal
cat >"$T/hostile.yaml" <<'EOF'
- id: hostile-2024-01
  date: 2024-01
  victim: '"><img src=x onerror=alert(1)>'
  chains: [bitcoin]
  amount_fiat: 1000.5 USD
  attribution:
    - actor: <script>alert(1)</script>
      attributed_by: "javascript:alert(2)"
      kind: press
      confidence: 40
  sources: [https://example.org/report]
  notes: |
    two
    lines
EOF
I import --db "$T/db" "$T/hostile.yaml" >/dev/null && ok || bad "YAML import"
REPORT thefts --db "$T/db" --by actor,year --html "$T/tally.html" 2>/dev/null || bad "--html"
REPORT thefts --db "$T/db" --by actor,year --json >"$T/tally2.json"
CK html "$T/tally.html" "$T/tally2.json" '<script>alert(1)</script>' >/dev/null && ok ||
    bad "HTML: $(CK html "$T/tally.html" "$T/tally2.json" '<script>alert(1)</script>')"
I show --db "$T/db" hostile-2024-01 >"$T/h.txt" || bad "show hostile"
$PY -c 'import sys; d=open(sys.argv[1],"rb").read(); sys.exit(any(b < 32 and b not in (9, 10) for b in d))' "$T/h.txt" &&
    grep -q 'two\\x0alines' "$T/h.txt" && ok || bad "terminal text not escaped"
I show --db "$T/db" hostile-2024-01 --json | grep -q '"usd": "1000.5"' && ok || bad "USD as stated"

# ---- (2) the shipped DPRK data ----
mkdir -p "$T/dprk"
I import --db "$T/dprk" data/incidents/dprk_thefts.csv data/incidents/dprk_addresses.csv --json \
    >"$T/d.json" && ok || bad "import the DPRK files"
# a seed row names one incident or several (';'): one seed of each, once (an address two TagPacks
# carry is listed twice), none checked (no chain here)
n_seeds=$($PY -c 'import csv, sys; print(len({(i, r["chain"], r["address"]) for r in csv.DictReader(open(sys.argv[1])) for i in r["incident_id"].split(";")}))' data/incidents/dprk_addresses.csv)
grep -q '"added": 22' "$T/d.json" && grep -q "\"seeds_added\": $n_seeds, \"seeds_unchecked\": $n_seeds" \
    "$T/d.json" && ok || bad "DPRK import: $(cat "$T/d.json"), $n_seeds seeds"
I list --db "$T/dprk" --json >"$T/dl.json" || bad "list"
CK dprk-list "$T/dl.json" data/incidents/dprk_thefts.csv data/incidents/dprk_addresses.csv \
    >/dev/null && ok || bad "$(CK dprk-list "$T/dl.json" data/incidents/dprk_thefts.csv data/incidents/dprk_addresses.csv)"
for by in actor,year year actor; do
    REPORT thefts --db "$T/dprk" --by $by --json >"$T/dt.json" || bad "report $by"
    CK dprk-tally "$T/dt.json" data/incidents/dprk_thefts.csv $by >/dev/null && ok ||
        bad "DPRK tally by $by: $(CK dprk-tally "$T/dt.json" data/incidents/dprk_thefts.csv $by)"
done
I show --db "$T/dprk" ronin-2022-03 >"$T/ronin.txt" && grep -q "attribution (primary): Lazarus Group" \
    "$T/ronin.txt" && grep -q "seeds: 6" "$T/ronin.txt" && ok || bad "show ronin"
I trace --db "$T/dprk" ronin-2022-03 2>"$T/err" >/dev/null
[ $? -eq 2 ] && grep -q "no seed can be traced here" "$T/err" && ok || bad "trace without a store: $(cat "$T/err")"
# into the generated store the addresses are checked, and none of them is there
before=$(CK snapshot "$(case_ref "$T/db")")
I import --db "$T/db" data/incidents/dprk_thefts.csv data/incidents/dprk_addresses.csv 2>"$T/err" >/dev/null
[ $? -eq 3 ] && grep -q "dprk_addresses.csv:2" "$T/err" && ok || bad "addresses not in the store: $(cat "$T/err")"
[ "$(CK snapshot "$(case_ref "$T/db")")" = "$before" ] && ok || bad "a refused import wrote something"
I import --db "$T/db" data/incidents/dprk_thefts.csv >/dev/null && ok || bad "thefts alone"

# ---- (3) an EVM theft across chains ----
"$BIN" generate --quiet --out "$T/ge" --blocks 240 --txs-per-block 60 --users 400 --maturity 5 \
    --halving-interval 60 --era 2019.5-2024.3 --privacy-rate 0.25 --evm --seed 11 \
    --evm-scenarios 2 >/dev/null 2>"$T/err" || bad "generate --evm: $(cat "$T/err")"
"$BIN" import --db "$T/dbe" --quiet "$T/ge" >/dev/null || bad "import"
"$BIN" evm-import --db "$T/dbe" "$T/ge/evm" >/dev/null || bad "evm-import"
"$BIN" labels import --db "$T/dbe" "$T/ge/labels.csv" >/dev/null || bad "labels"
"$BIN" xchain links --db "$T/dbe" >/dev/null || bad "xchain links"
I import --db "$T/dbe" "$T/ge/incidents.csv" >/dev/null && ok || bad "import EVM incidents"
for id in scenario-2 scenario-3; do
    I trace --db "$T/dbe" $id --hops 60 >/dev/null && ok || bad "trace $id"
    I show --db "$T/dbe" $id --json >"$T/$id.json" || bad "show $id"
    CK evm "$T/$id.json" "$T/ge/truth.jsonl" >/dev/null && ok ||
        bad "$id across chains: $(CK evm "$T/$id.json" "$T/ge/truth.jsonl")"
done
# the same legs as src/xtrace follows them (`etrace --cross-chain`, the same options)
from=$(grep '^scenario-2,' "$T/ge/incidents.csv" | awk -F, '{print $NF}' | tr ';' '\n' | sed 's/^/--from /' | tr '\n' ' ')
# shellcheck disable=SC2086
"$BIN" etrace --db "$T/dbe" $from --hops 60 --cross-chain --btc-hops 60 --btc-min-value 0 --json \
    >"$T/x2.json" || bad "etrace --cross-chain"
CK xtrace "$T/scenario-2.json" "$T/x2.json" >/dev/null && ok ||
    bad "legs against etrace --cross-chain: $(CK xtrace "$T/scenario-2.json" "$T/x2.json")"
finish
