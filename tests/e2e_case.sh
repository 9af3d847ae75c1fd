#!/bin/bash
# Cases: on a generated chain with a theft (no CoinJoins, so that the truth's amounts are exact),
# a case is opened, the theft's outputs are its seeds, a trace is run and recorded; the run's
# totals and endpoints by actor equal the generator's truth, and equal `cointrail trace`'s
# document for the same seeds and options (and its recorded reproduce command gives that
# document). An analyst label holding hostile text reaches labels.db, so trace and screen stop
# at it; a re-run is compared with the first run. The JSON, CSV and HTML exports agree with the
# run and the truth and show hostile text as text; the HTML prints to PDF in Chromium. The audit
# log's hash chain is recomputed in Python from the rows; UPDATE and DELETE are refused; kill -9
# of `case` processes in the middle of writing leaves the database consistent and the log
# unrewritten. $2: the backend of the cases, sqlite (DIR/cases.sqlite, the default) or pg (a
# private PostgreSQL server, one database per store directory, through --state).
source "$(dirname "$0")/common.sh"
source tests/pg_server.sh
case_backend "${2:-sqlite}"
S=$(case_state "$T/db") SE=$(case_state "$T/evm") || bad "the case databases"
C() { "$BIN" case "$@" --db "$T/db" --analyst alice $S; }
CK() { $PY tests/case_check.py "$@"; }

"$BIN" generate --out "$T/g" --seed 5 --blocks 300 --txs-per-block 100 --maturity 5 \
    --halving-interval 50 --era 2019-2024.3 --users 500 --scenarios 1 --privacy-rate 0 \
    --coinjoin-rate 0 --quiet >/dev/null || bad "generate"
"$BIN" import --db "$T/db" "$T/g" >/dev/null || bad "import"
"$BIN" labels import --db "$T/db" "$T/g/labels.csv" >/dev/null || bad "labels import"
"$BIN" cluster --db "$T/db" >/dev/null 2>&1 || bad "cluster"

# A case and its seeds: the theft's outputs, as the truth lists them.
TITLE='Hot wallet theft <script>alert(1)</script>'
C new --title "$TITLE" --date 2021-03-04 --victim '"><img src=x onerror=alert(1)>' \
    --chains btc --description $'reported\nby the exchange' >/dev/null && ok || bad "case new"
CK sources "$T/g/truth.jsonl" >"$T/sources"
while read -r s; do C add-seed 1 "$s" --note "stolen output" >/dev/null || bad "add-seed $s"; done <"$T/sources"
[ "$(C show 1 --json | $PY -c 'import json, sys; print(len(json.load(sys.stdin)["seeds"]))')" = \
    "$(wc -l <"$T/sources")" ] && ok || bad "seed count"
C add-seed 1 "$(head -1 "$T/sources")" >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "a seed twice: exit 2"
C add-seed 1 0000000000000000000000000000000000000000000000000000000000000000:0 >/dev/null 2>&1
[ $? -eq 3 ] && ok || bad "a seed not in the store: exit 3"
C add-seed 1 0xabcdef >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "an EVM seed without an EVM store: exit 2"
C show 99 >/dev/null 2>&1; [ $? -eq 3 ] && ok || bad "unknown case: exit 3"
C new >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "new without --title: exit 2"
C trace 1 --hops nine >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "a bad trace option: exit 2"

# The run, against the truth and against `cointrail trace` with the same seeds and options.
C trace 1 --policy haircut --hops 100 --json >"$T/run1.json" || bad "case trace"
CK truth "$T/run1.json" "$T/g/truth.jsonl" >/dev/null && ok || bad "run 1 against the truth"
# The text shows BTC amounts in BTC, exactly (satoshis were once printed with "BTC" beside them):
# the same run on a copy, its seeded line against the JSON's satoshis shifted by Python.
cp -a "$T/db" "$T/dbtext"
ST=
[ -n "$CASES_PG" ] && ST="--state=$(pg_db dbtext "$(case_db_name "$T/db")")" # a copy there too
"$BIN" case trace --db "$T/dbtext" $ST --analyst alice 1 --policy haircut --hops 100 >"$T/run1.txt" ||
    bad "case trace (text)"
want=$($PY -c 'import json,sys
t = [x for x in json.load(open(sys.argv[1]))["totals"] if x["bucket"] == "seeded"][0]
v = int(t["amount"]); print("%s seeded %d.%08d" % (t["asset"], v // 10**8, v % 10**8))' "$T/run1.json")
got=$(awk '$2 == "seeded" {print $1, $2, $3}' "$T/run1.txt")
[ -n "$want" ] && [ "$got" = "$want" ] && ok || bad "text seeded line: '$got', want '$want'"
rm -rf "$T/dbtext"
from=$(sed 's/^/--from /' "$T/sources" | tr '\n' ' ')
# shellcheck disable=SC2086
"$BIN" trace --db "$T/db" $from --policy haircut --hops 100 --format json >"$T/trace.json" || bad "trace"
C export 1 --format json >"$T/e1.json" || bad "export json"
CK same "$T/e1.json" 1 "$T/trace.json" >/dev/null && ok || bad "run 1 = cointrail trace"
# the recorded reproduce command, run as recorded, gives the same document
cmd=$($PY tests/jget.py '["command"]' <"$T/run1.json")
case "$cmd" in "cointrail trace --db $T/db "*) ok ;; *) bad "reproduce command: $cmd" ;; esac
(eval "\"\$BIN\"${cmd#cointrail}") >"$T/repro.json" || bad "running the reproduce command"
CK same "$T/e1.json" 1 "$T/repro.json" >/dev/null && ok || bad "the reproduce command's document"

# A re-run on the same state: identical.
C trace 1 --rerun 1 --json >"$T/run2.json" || bad "rerun"
$PY - "$T/run2.json" <<'EOF' && ok || bad "a re-run on the same state is identical"
import json, sys
c = json.load(open(sys.argv[1]))["compared_with_run"]
sys.exit(not (c["same_tips"] and c["same_labels"] and c["totals_differ"] == 0 and
              c["endpoints_only_before"] == c["endpoints_only_now"] == c["endpoints_changed"] == 0))
EOF

# An analyst label on an address the taint went through (a followed, unlabelled output of a hop
# after the seeds): it reaches labels.db as source case:1, so trace and screen stop at it.
addr=$($PY - "$T/trace.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
eps = {e["address"] for e in d["endpoints"]}
for e in d["edges"]:
    if e["fate"] == "followed" and e.get("address") and e["address"] not in eps and e.get("from_tx") is not None:
        print(e["address"]); break
EOF
)
[ -n "$addr" ] && ok || bad "no followed address to label"
ACTOR='"><img src=x onerror=alert(1)> javascript:alert(1)'
C label 1 --address "$addr" --category exchange --actor "$ACTOR" --name '=HYPERLINK("http://x")' \
    --confidence 70 --evidence $'the desk\'s reply\t(PDF)' >/dev/null && ok || bad "case label"
"$BIN" labels show --db "$T/db" --json "$addr" >"$T/lab.json" || bad "labels show"
grep -q '"source": "case:1"' "$T/lab.json" && ok || bad "the label is in labels.db as case:1"
# shellcheck disable=SC2086
"$BIN" trace --db "$T/db" $from --policy haircut --hops 100 --format json >"$T/trace2.json" || bad "trace 2"
$PY -c 'import json, sys; sys.exit(sys.argv[2] not in [e["address"] for e in json.load(open(sys.argv[1]))["endpoints"]])' \
    "$T/trace2.json" "$addr" && ok || bad "trace stops at the analyst's label"
"$BIN" screen --db "$T/db" --json "$addr" | grep -q '"exchange"' && ok || bad "screen sees the analyst's label"
C trace 1 --rerun 1 --json >"$T/run3.json" || bad "rerun after the label"
$PY - "$T/run3.json" <<'EOF' && ok || bad "a re-run after the label: the label set differs, an endpoint is new"
import json, sys
c = json.load(open(sys.argv[1]))["compared_with_run"]
sys.exit(not (c["same_tips"] and not c["same_labels"] and c["endpoints_only_now"] >= 1))
EOF

C note 1 --text 'Exchange confirmed <b>freeze</b>; see "><script>alert(2)</script>' >/dev/null && ok || bad "note"
echo "from stdin" | C note 1 --text - >/dev/null && ok || bad "note from stdin"

# Exports.
C export 1 --format json >"$T/e.json" && C export 1 --format csv >"$T/e.csv" &&
    C export 1 --format html --out "$T/report.html" 2>/dev/null || bad "exports"
CK same "$T/e.json" 1 "$T/trace.json" >/dev/null && ok || bad "export json, run 1"
CK same "$T/e.json" 3 "$T/trace2.json" >/dev/null && ok || bad "export json, run 3 = trace after the label"
CK csv "$T/e.csv" "$T/e.json" >/dev/null && ok || bad "export csv"
CK html "$T/report.html" "$T/e.json" "$T/g/truth.jsonl" >/dev/null && ok || bad "export html"
$PY - "$T/e.json" <<'EOF' && ok || bad "the audit log lists every command in order"
import json, sys
x = json.load(open(sys.argv[1]))
acts = [a["action"] for a in x["audit"]]
want = ["case.new"] + ["seed.add"] * 2 + ["case.read", "trace.run", "case.read", "run.read",
        "trace.run", "label.add", "run.read", "trace.run", "note.add", "note.add", "case.read"]
ok = acts[:1] == want[:1] and acts.count("seed.add") >= 1 and [a for a in acts if a != "seed.add"] == [w for w in want if w != "seed.add"]
ok = ok and x["audit_verified"] and all(a["analyst"] == "alice" for a in x["audit"])
ok = ok and all(a["store_state"]["btc_height"] == 299 for a in x["audit"])
ok = ok and x["audit"][0]["command"].startswith("cointrail case new --title ")
sys.exit(not ok)
EOF
if command -v chromium >/dev/null; then
    timeout 60 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$T/chr" \
        --print-to-pdf="$T/report.pdf" "file://$T/report.html" >/dev/null 2>&1
    head -c 4 "$T/report.pdf" 2>/dev/null | grep -q '%PDF' && ok || bad "the report does not print to PDF"
else
    bad "chromium (Debian) is not installed: scripts/install-deps.sh"
fi

# EVM seeds: a case on the recorded anvil scenario (tests/data/evm-etrace) traced by etrace.
E=$T/evm
"$BIN" evm-import --db "$E" tests/data/evm-etrace/*.csv >/dev/null || bad "evm-import"
$PY tests/etrace_labels.py tests/data/evm-etrace/truth.json >"$T/evl.csv"
"$BIN" labels import --db "$E" "$T/evl.csv" >/dev/null || bad "evm labels"
THIEF=0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc
"$BIN" case new --db "$E" $SE --analyst bob --title "bridge drain" --chains eth >/dev/null &&
    "$BIN" case add-seed --db "$E" $SE --analyst bob 1 "$THIEF:5-5" >/dev/null &&
    "$BIN" case trace --db "$E" $SE --analyst bob 1 --policy fifo --json >"$T/erun.json" && ok || bad "EVM case"
"$BIN" etrace --db "$E" --from "$THIEF:5-5" --policy fifo --json >"$T/etrace.json" || bad "etrace"
"$BIN" case export --db "$E" $SE --analyst bob 1 --format json >"$T/ee.json" || bad "EVM export"
CK same-evm "$T/ee.json" 1 "$T/etrace.json" >/dev/null && ok || bad "the EVM run = cointrail etrace"
cmd=$($PY tests/jget.py '["command"]' <"$T/erun.json")
(eval "\"\$BIN\"${cmd#cointrail}") >"$T/erepro.json" && CK same-evm "$T/ee.json" 1 "$T/erepro.json" >/dev/null &&
    ok || bad "the EVM reproduce command: $cmd"
$PY tests/jget.py '["runs"][0]["store_state"]["evm_height"]' "$T/ee.json" | grep -qx 12 && ok ||
    bad "the EVM run's store state"

# Append-only, from outside the program.
R=$(case_ref "$T/db")
CK db "$R" >/dev/null && ok || bad "database and audit chain"
CK append-only "$R" >/dev/null && ok || bad "UPDATE/DELETE refused"

# kill -9 in the middle of writing: notes, labels and a trace, killed at random moments within
# a note's measured life (open, check, one write transaction: how long depends on the machine
# and its load, so a fixed window would kill too few on a fast one or only late on a slow one).
life=1
for i in 1 2 3; do
    t0=$(date +%s%N)
    C note 1 --text "timing $i" >/dev/null || bad "note before the kills"
    ms=$((($(date +%s%N) - t0) / 1000000))
    [ "$ms" -gt "$life" ] && life=$ms
done
[ "$life" -gt 999 ] && life=999
CK prefix "$R" 1000 >"$T/before"
nb=$(wc -l <"$T/before")
killed=0 done=0
for i in $(seq 1 40); do
    # the binary itself in the background (not a shell function: $! must be its pid)
    case $((i % 8)) in
    0) "$BIN" case label --db "$T/db" $S --analyst k 1 --address "$addr" --category otc --actor "k$i" \
        >/dev/null 2>&1 & ;;
    1) "$BIN" case trace --db "$T/db" $S --analyst k 1 --hops 100 >/dev/null 2>&1 & ;;
    *) "$BIN" case note --db "$T/db" $S --analyst k 1 --text "kill test $i" >/dev/null 2>&1 & ;;
    esac
    pid=$!
    sleep "$(printf '0.%03d' $((RANDOM % life)))"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    [ $? -eq 137 ] && killed=$((killed + 1)) && echo "$i" >>"$T/killed" || done=$((done + 1))
done
# killed notes whose transaction had committed: the kill came after the write
late=$(CK notes-matching "$R" "$T/killed")
echo "kill -9 within ${life} ms: $killed killed ($late of them after their note was committed), $done finished first"
[ "$killed" -gt 5 ] && ok || bad "too few processes killed mid-run ($killed)"
CK db "$R" >/dev/null && ok || bad "after kill -9: database or audit chain"
CK prefix "$R" "$nb" | cmp -s - "$T/before" && ok || bad "after kill -9: the audit log was rewritten"
C note 1 --text "after the kills" >/dev/null && C show 1 | grep -q "hash chain verified" && ok ||
    bad "after kill -9: the case still takes notes and verifies"
"$BIN" labels list --db "$T/db" --limit 1 >/dev/null && ok || bad "after kill -9: labels.db reads"

# a note longer than the audit log keeps of an argument (512 bytes), its 400th byte inside a
# two-byte character: the note is kept whole, the command recorded cut before that character
# (the cut used to keep its lead byte, and the database refused the command as not UTF-8)
C note 1 --text "$($PY -c 'print("a" * 399 + "é" + "b" * 200)')" >/dev/null 2>"$T/err" && ok ||
    bad "a long note cut inside a character: $(cat "$T/err")"
C show 1 --json | $PY -c 'import json, re, sys
d = json.load(sys.stdin)
text = "a" * 399 + "é" + "b" * 200
cut = [a["command"] for a in d["audit"] if re.search(r"[^a]a{399}\x27?\.\.\.\(601 bytes\)", a["command"])]
sys.exit(not (text in [n["text"] for n in d["notes"]] and len(cut) == 1))' && ok ||
    bad "the long note or its cut command is not in the case"
finish
