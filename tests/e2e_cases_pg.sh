#!/bin/bash
# Cases shared by two `cointrail serve --state postgresql://...` replicas (docs/state.md), each
# over its own copy of one store, a private PostgreSQL server (tests/pg_server.sh), all on
# loopback and started and stopped here:
#  - six processes opening a new database at once run each migration once;
#  - a case opened, a note and a label added through replica A are in the case read through
#    replica B at once (no wait), and a note through B in A's; the CLI with --state sees them;
#  - the audit log's hash chain, recomputed in Python from the rows PostgreSQL holds
#    (tests/case_check.py), verifies, and the program says so too;
#  - PostgreSQL itself refuses UPDATE, DELETE and TRUNCATE of the audit log and the evidence;
#  - the database going away: a case write fails with 503 naming the unreachable database,
#    screening keeps answering from the store, and once the server is back the next write
#    succeeds without a restart (the replica reconnects by itself), the chain still verifying.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/pg_server.sh"
command -v curl >/dev/null || { echo "curl is not installed"; exit 77; }
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; pg_cleanup; [ -n "${KEEP_T:-}" ] || rm -rf "$T"' EXIT
CK() { $PY tests/case_check.py "$@"; }

"$BIN" generate --out "$T/g" --seed 7 --blocks 120 --txs-per-block 40 --maturity 5 --users 200 \
    --scenarios 1 --quiet >/dev/null || bad "generate"
"$BIN" import --db "$T/a" --quiet "$T/g" >/dev/null || bad "import"
"$BIN" labels import --db "$T/a" "$T/g/labels.csv" >/dev/null || bad "labels import"
cp -a "$T/a" "$T/b"
pg_start || bad "PostgreSQL did not start"
[ -n "$PG_URL" ] || { finish; exit; }
KEY=$("$BIN" state key-add --state "$PG_URL" --owner ann --role analyst 2>"$T/key.err")
[ -n "$KEY" ] && ok || bad "state key-add: $(cat "$T/key.err")"

# Migrations on a new database, from six processes starting together: each runs once.
U6=$(pg_db race) || bad "CREATE DATABASE race"
for i in 1 2 3 4 5 6; do "$BIN" case list --db "$T/a" --state "$U6" --analyst r$i >/dev/null 2>>"$T/race.err" & done
wait
n=$(psql -X -q -t -A "$U6" -c "SELECT COUNT(*) || ' ' || MAX(version) FROM case_schema_version" 2>&1)
[ "$n" = "3 3" ] && [ ! -s "$T/race.err" ] && ok || bad "six racing opens: versions '$n', errors: $(head -3 "$T/race.err")"

mapfile -t P < <($PY tests/replicas_check.py ports 2)
A=http://127.0.0.1:${P[0]} B=http://127.0.0.1:${P[1]}
start() { # NAME PORT
    "$BIN" serve --db "$T/$1" --listen "127.0.0.1:$2" --state "$PG_URL" --replica-id "$1" \
        --threads 2 2>>"$T/$1.log" &
    pids+=($!)
    for _ in $(seq 150); do curl -sf "http://127.0.0.1:$2/v1/health" >/dev/null && return 0; sleep 0.1; done
    return 1
}
start a "${P[0]}" && start b "${P[1]}" && ok || bad "replicas did not start: $(tail -3 "$T"/?.log)"
req() { # METHOD URL [JSON] -> the body in $T/body, prints the status
    curl -s -o "$T/body" -w '%{http_code}' --max-time 20 -H "X-API-Key: $KEY" -X "$1" \
        ${3:+-H 'Content-Type: application/json' -d "$3"} "$2"
}
j() { $PY tests/jget.py "$1" <"$T/body"; }

[ "$(req POST "$A/v1/cases" '{"title": "shared theft", "chains": "btc"}')" = 201 ] && ok ||
    bad "POST /v1/cases on A: $(cat "$T/body")"
ID=$(j '["id"]')
[ "$(req POST "$A/v1/cases/$ID/notes" '{"text": "written on A"}')" = 201 ] && ok || bad "note on A: $(cat "$T/body")"
ADDR=$(awk -F, 'NR > 1 && $1 == "btc" {print $2; exit}' "$T/g/labels.csv")
[ "$(req POST "$A/v1/cases/$ID/labels" "{\"address\": \"$ADDR\", \"category\": \"exchange\", \"actor\": \"Desk\"}")" = 201 ] &&
    ok || bad "label on A: $(cat "$T/body")"
# the case label is shared: in the state's labels (author: the key's owner), and B follows it
$PY -c 'import json,sys; sys.exit(json.load(open(sys.argv[1])).get("shared") is not True)' "$T/body" &&
    ok || bad "the case label was not shared: $(cat "$T/body")"
"$BIN" labels history --state "$PG_URL" --json "$ADDR" >"$T/hist.json" 2>&1
$PY - "$T/hist.json" "$ID" <<'EOF' && ok || bad "labels history lacks the case label: $(head -c 400 "$T/hist.json")"
import json, sys
ev = json.load(open(sys.argv[1]))["events"]
sys.exit(not any(e["source"] == "case:" + sys.argv[2] and e["category"] == "exchange" and
                 e["author"] == "ann" and e["event"] == "add" for e in ev))
EOF
seen=0
for _ in $(seq 100); do
    req GET "$B/v1/address/$ADDR" >/dev/null
    grep -q "\"case:$ID\"" "$T/body" && { seen=1; break; }
    sleep 0.2
done
[ $seen = 1 ] && ok || bad "B does not show the case label within 20 s: $(head -c 400 "$T/body")"
# read at once through B: no propagation delay, it is one database
[ "$(req GET "$B/v1/cases/$ID")" = 200 ] && ok || bad "GET the case on B: $(cat "$T/body")"
$PY - "$T/body" "$ADDR" <<'EOF' && ok || bad "B does not show A's note and label: $(head -c 400 "$T/body")"
import json, sys
c = json.load(open(sys.argv[1]))
notes = [n["text"] for n in c["notes"]]
labels = [(l["address"], l["category"], l["actor"]) for l in c["labels"]]
sys.exit(not (c["case"]["title"] == "shared theft" and notes == ["written on A"] and
              labels == [(sys.argv[2], "exchange", "Desk")] and c["audit_verified"]))
EOF
[ "$(req POST "$B/v1/cases/$ID/notes" '{"text": "written on B"}')" = 201 ] && ok || bad "note on B"
req GET "$A/v1/cases/$ID" >/dev/null
$PY -c 'import json,sys; c = json.load(open(sys.argv[1]))
sys.exit([n["text"] for n in c["notes"]] != ["written on A", "written on B"] or not c["audit_verified"])' \
    "$T/body" && ok || bad "A does not show B's note"
# the CLI on a third store directory, same database
mkdir -p "$T/cli"
"$BIN" case show --db "$T/cli" --state "$PG_URL" --analyst carol "$ID" >"$T/show.txt" && grep -q "written on B" "$T/show.txt" &&
    grep -q "hash chain verified" "$T/show.txt" && ok || bad "case show --state: $(head -5 "$T/show.txt")"
# the audit rows: who, on which replica's command
CK db "$PG_URL" >"$T/db.out" && ok || bad "the audit chain from PostgreSQL's rows: $(cat "$T/db.out")"
CK append-only "$PG_URL" >/dev/null && ok || bad "PostgreSQL accepted an UPDATE/DELETE/TRUNCATE of evidence"

# The database goes away.
SCREEN="$A/v1/screen/address/$ADDR"
pg_kill
st=$(req POST "$A/v1/cases/$ID/notes" '{"text": "while away"}')
[ "$st" = 503 ] && grep -q "unreachable" "$T/body" && ok || bad "a write with the database away: $st $(cat "$T/body")"
[ "$(req GET "$SCREEN")" = 200 ] && ok || bad "screening with the database away: $(cat "$T/body")"
st=$(req GET "$B/v1/cases/$ID")
[ "$st" = 503 ] && ok || bad "a read on B with the database away: $st"
pg_resume || bad "PostgreSQL did not start again"
[ "$(req POST "$A/v1/cases/$ID/notes" '{"text": "after the return"}')" = 201 ] && ok ||
    bad "A did not reconnect: $(cat "$T/body")"
[ "$(req POST "$B/v1/cases/$ID/notes" '{"text": "B after the return"}')" = 201 ] && ok ||
    bad "B did not reconnect: $(cat "$T/body")"
req GET "$B/v1/cases/$ID" >/dev/null
$PY -c 'import json,sys; c = json.load(open(sys.argv[1]))
sys.exit([n["text"] for n in c["notes"]] != ["written on A", "written on B", "after the return", "B after the return"] or not c["audit_verified"])' \
    "$T/body" && ok || bad "the notes after the return: $(head -c 300 "$T/body")"
CK db "$PG_URL" >/dev/null && ok || bad "the audit chain after the return"
grep -h "AddressSanitizer\|runtime error" "$T"/?.log && bad "sanitizer reports in serve logs"
finish
