#!/bin/bash
# Answers by actor (issue 14): trace, screen, etrace and etrace --cross-chain group what the
# value reached by who is behind it. On a generated chain with laundering scenarios, a theft's
# forward trace is checked against tests/actor_check.py, which regroups the document's own
# per-address endpoint list and unspent edges by the actor labels.csv gives each address (the
# label's actor, else the stop label's address for endpoints reached through their entity) and
# requires the same amounts, deposits, addresses and hops; the actor amounts add up to the
# totals, and those to the seed; the truth's cash-out services are all named; unlabelled holders
# are shown as such. Hostile actor names (<script>, "><img onerror>, javascript:) show as text
# in the HTML report and as whole quoted labels in DOT, where nodes are named by actor.
# `screen --json` with several items is one JSON array; no reason has empty brackets. Then the
# EVM fixture (etrace) and a cross-chain trace (etrace --cross-chain) against the same rules.
source "$(dirname "$0")/common.sh"
CHK="$PY tests/actor_check.py"

"$BIN" generate --out "$T/g" --seed 3 --blocks 250 --txs-per-block 80 --maturity 5 \
    --era 2019-2024.3 --users 300 --scenarios 3 --quiet >/dev/null || bad "generate"
"$BIN" import --db "$T/db" "$T/g" >/dev/null &&
    "$BIN" labels import --db "$T/db" "$T/g/labels.csv" >/dev/null || bad "import"
$PY tests/trace_html_check.py seeds "$T/g/truth.jsonl" >"$T/seeds"

# ---- a theft traced forward, before any clustering ----
"$BIN" trace --db "$T/db" --from @"$T/seeds" --hops 40 --json >"$T/t1.json" || bad "trace json"
$CHK trace "$T/t1.json" "$T/g/labels.csv" && ok || bad "trace by actor (labels.csv)"
$CHK truth "$T/t1.json" "$T/g/truth.jsonl" && ok || bad "truth's services named"
"$BIN" trace --db "$T/db" --from @"$T/seeds" --hops 40 >"$T/t1.txt" || bad "trace text"
grep -q "^by actor" "$T/t1.txt" && grep -q "(unlabelled) .* holder" "$T/t1.txt" && ok ||
    bad "text: no actor section or no unlabelled holder"

# hostile actors on the largest unlabelled holders: they become endpoints named by them; one
# more holder gets a label with neither actor nor name (an "unnamed" exchange)
mapfile -t H < <($CHK pick "$T/t1.json" 4 "$T/g/labels.csv")
[ "${#H[@]}" -eq 4 ] && ok || bad "want 4 unlabelled holders, got ${#H[@]}"
S1='<script>alert(1)</script>'
S2='"><img src=x onerror=alert(1)>'
S3='javascript:alert(1)'
{
    echo 'chain,address,category,actor,source,confidence,label'
    echo "btc,${H[0]},exchange,$S1,hostile feed,90,"
    echo "btc,${H[1]},exchange,\"\"\"><img src=x onerror=alert(1)>\",hostile feed,90,"
    echo "btc,${H[2]},otc,$S3,hostile feed,90,"
    echo "btc,${H[3]},exchange,,hostile feed,90,"
} >"$T/hostile.csv"
"$BIN" labels import --db "$T/db" "$T/hostile.csv" >/dev/null || bad "hostile labels import"
"$BIN" trace --db "$T/db" --from @"$T/seeds" --hops 40 --json >"$T/t2.json" || bad "trace 2"
$CHK trace "$T/t2.json" "$T/g/labels.csv" "$T/hostile.csv" && ok || bad "trace 2 by actor"
$PY -c "
import json, sys
d = json.load(open(sys.argv[1]))
names = {r['actor'] for r in d['by_actor']}
unnamed = [r for r in d['by_actor'] if r['actor_from'] == 'unnamed' and r['category'] == 'exchange']
sys.exit(0 if {sys.argv[2], sys.argv[3], sys.argv[4]} <= names and unnamed else 1)" \
    "$T/t2.json" "$S1" "$S2" "$S3" && ok || bad "hostile and unnamed actors not in by_actor"
"$BIN" trace --db "$T/db" --from @"$T/seeds" --hops 40 --format html --graph tx >"$T/t2.html" &&
    "$BIN" trace --db "$T/db" --from @"$T/seeds" --hops 40 --format dot --graph tx >"$T/t2.dot" ||
    bad "trace html/dot"
$CHK html "$T/t2.html" "$S1" "$S2" "$S3" "(unnamed exchange)" && ok || bad "html (tx graph)"
grep -q '&lt;script&gt;alert(1)&lt;/script&gt;' "$T/t2.html" && ok || bad "html: not escaped"
$CHK dot "$T/t2.dot" "$S1" "$S2" "$S3" "(unnamed exchange)" && ok || bad "dot (tx graph)"
"$BIN" trace --db "$T/db" --from @"$T/seeds" --hops 40 >"$T/t2.txt" &&
    grep -qF "$S1" "$T/t2.txt" && grep -qF "(unnamed exchange)" "$T/t2.txt" && ok || bad "text 2"

# ---- clustered: endpoints reached through their entity are named by the entity's label ----
"$BIN" cluster --db "$T/db" >/dev/null || bad "cluster"
"$BIN" trace --db "$T/db" --from @"$T/seeds" --hops 40 --json >"$T/t3.json" || bad "trace 3"
$CHK trace "$T/t3.json" "$T/g/labels.csv" "$T/hostile.csv" && ok || bad "trace 3 (clustered)"
$PY -c "
import json, sys
d = json.load(open(sys.argv[1]))
v = [e for e in d['endpoints'] if e['via'] == 'entity']
sys.exit(0 if v and all(e['actor_from'] == 'entity' for e in v) else 1)" "$T/t3.json" && ok ||
    bad "no endpoint named through its entity"
"$BIN" trace --db "$T/db" --from @"$T/seeds" --hops 40 --format html >"$T/t3.html" &&
    "$BIN" trace --db "$T/db" --from @"$T/seeds" --hops 40 --format dot >"$T/t3.dot" ||
    bad "entity html/dot"
! grep -Eq '>e[0-9]+<' "$T/t3.html" && ok || bad "html: a node shows a bare entity number"
$CHK html "$T/t3.html" --nodes "Instant swap service" "Cross-chain bridge" "OTC broker" && ok ||
    bad "html (entity graph): nodes not named by actor"
$CHK dot "$T/t3.dot" "$S1" "$S2" "$S3" "Instant swap service" "(unlabelled)" && ok ||
    bad "dot (entity graph): nodes not named by actor"

# ---- screening ----
src=$("$BIN" tx --db "$T/db" --json "$(head -1 "$T/seeds" | cut -d: -f1)" |
    $PY tests/jget.py '["outputs"][0]["address"]')
dep=$(grep ',exchange,Coinvault,test deposits' "$T/g/labels.csv" | head -1 | cut -d, -f2)
tx=$(head -1 "$T/seeds" | cut -d: -f1)
"$BIN" screen --db "$T/db" --json "$src" "$dep" "$tx" >"$T/s3.json" || bad "screen 3 items"
$CHK screen-array "$T/s3.json" 3 && ok || bad "screen --json: not one array of 3"
$CHK reasons "$T/s3.json" "$T/g/labels.csv" "$T/hostile.csv" && ok || bad "screen reasons"
$CHK schema "$T/s3.json" Screening --each && ok || bad "screenings against openapi.yaml"
$CHK schema "$T/t3.json" Actor && ok || bad "trace by_actor against openapi.yaml"
"$BIN" screen --db "$T/db" --json "$dep" | $PY -c "import json,sys; sys.exit(0 if isinstance(json.load(sys.stdin), dict) else 1)" &&
    ok || bad "screen --json of one item: not one object"
"$BIN" screen --db "$T/db" "$src" "$dep" "$tx" >"$T/s3.txt" || bad "screen text"
! grep -qF '()' "$T/s3.txt" && grep -q "Coinvault" "$T/s3.txt" && ok || bad "screen text: () or no actor"
$PY -c "
import json, sys
d = json.load(open(sys.argv[1]))
rows = [r for x in d for s in x['indirect'].values() for r in s.get('by_actor', [])]
cats = [c for x in d for s in x['indirect'].values() for c in s['by_category']]
ok = rows and sum(r['amount'] for r in rows) == sum(c['amount'] for c in cats)
sys.exit(0 if ok else 1)" "$T/s3.json" && ok || bad "screen: actors do not add up to the categories"
"$BIN" screen --db "$T/db" --json "$dep" bogus >"$T/s2.json" 2>/dev/null
[ $? -eq 2 ] && $PY -c "
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if len(d) == 2 and d[1]['item'] == 'bogus' and d[1]['error']['code'] == 2 else 1)" "$T/s2.json" &&
    ok || bad "screen: a bad item is not an error entry in the array"

# ---- EVM: the recorded anvil scenario ----
D=tests/data/evm-etrace
"$BIN" evm-import --db "$T/evm" "$D"/*.csv >/dev/null || bad "evm import"
$PY tests/etrace_labels.py "$D/truth.json" >"$T/elabels.csv"
"$BIN" labels import --db "$T/evm" "$T/elabels.csv" >/dev/null || bad "evm labels"
for p in haircut fifo poison; do
    "$BIN" etrace --db "$T/evm" --from 0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc:5-5 --policy $p \
        --json >"$T/e_$p.json" || bad "etrace $p"
    $CHK etrace "$T/e_$p.json" "$T/elabels.csv" && ok || bad "etrace $p by actor"
done
"$BIN" etrace --db "$T/evm" --from 0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc:5-5 >"$T/e.txt" &&
    grep -q "^by actor" "$T/e.txt" && grep -q "THORChain-style router" "$T/e.txt" && ok ||
    bad "etrace text by actor"

# ---- across chains (not clustered: every Bitcoin endpoint is named by its own label) ----
"$BIN" generate --quiet --out "$T/x" --blocks 240 --txs-per-block 60 --users 400 --maturity 5 \
    --halving-interval 60 --era 2019.5-2024.3 --privacy-rate 0.25 --evm --seed 11 \
    --evm-scenarios 2 >/dev/null 2>&1 || bad "generate --evm"
"$BIN" import --db "$T/xdb" --quiet "$T/x" >/dev/null && "$BIN" evm-import --db "$T/xdb" "$T/x/evm" >/dev/null &&
    "$BIN" labels import --db "$T/xdb" "$T/x/labels.csv" >/dev/null && "$BIN" xchain links --db "$T/xdb" >/dev/null || bad "cross-chain store"
theft=$($PY tests/xtrace_thefts.py "$T/x/truth.jsonl" | awk 'NR == 1 {print $2}')
"$BIN" etrace --db "$T/xdb" --from "$theft" --hops 60 --through-mixers --cross-chain --btc-hops 30 \
    --json >"$T/x.json" || bad "etrace --cross-chain"
$CHK xtrace "$T/x.json" "$T/x/labels.csv" && ok || bad "cross-chain by actor"
"$BIN" etrace --db "$T/xdb" --from "$theft" --hops 60 --through-mixers --cross-chain --btc-hops 30 \
    >"$T/x.txt" && grep -q "Bitcoin endpoints by actor" "$T/x.txt" && ok || bad "cross-chain text"
finish
