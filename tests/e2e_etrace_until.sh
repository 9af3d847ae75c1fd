#!/bin/bash
# e2e_etrace_until: etrace --until takes trace's WHEN syntax. A height is --until as before; a
# time (@UNIX_SECONDS, an ISO date-time in UTC, a date) is the block-time window --until-time
# gives, so the documents are the same; bad syntax is refused with trace's message (exit 2).
# Block times come from the scenario's own record (tests/data/evm-etrace/truth.json).
. "$(dirname "$0")/common.sh"
D=tests/data/evm-etrace
DB=$T/db
THIEF=0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc

"$BIN" evm-import --db "$DB" "$D"/*.csv >/dev/null || bad "import"
$PY tests/etrace_labels.py "$D/truth.json" >"$T/labels.csv"
"$BIN" labels import --db "$DB" "$T/labels.csv" >/dev/null || bad "labels import"

TS6=$($PY -c "import json;print([s['block_timestamp'] for s in json.load(open('$D/truth.json'))['steps'] if s['block_number']==6][0])")
ISO=$(date -u -d "@$TS6" +%Y-%m-%dT%H:%M:%SZ)
DAY=$(date -u -d "@$TS6" +%Y-%m-%d)
MIDNIGHT=$(date -u -d "$DAY" +%s)
for dir in forward backward; do
    "$BIN" etrace --db "$DB" --from $THIEF --direction $dir --json --until-time "$TS6" >"$T/want.json" ||
        bad "--until-time $dir"
    for arg in "@$TS6" "$ISO"; do
        "$BIN" etrace --db "$DB" --from $THIEF --direction $dir --json --until "$arg" >"$T/got.json" &&
            cmp -s "$T/want.json" "$T/got.json" && ok || bad "--until $arg $dir differs from --until-time"
    done
    "$BIN" etrace --db "$DB" --from $THIEF --direction $dir --json --until-time "$MIDNIGHT" >"$T/want.json" &&
        "$BIN" etrace --db "$DB" --from $THIEF --direction $dir --json --until "$DAY" >"$T/got.json" &&
        cmp -s "$T/want.json" "$T/got.json" && ok || bad "--until $DAY $dir: not its midnight UTC"
    # a block number is still a block number
    "$BIN" etrace --db "$DB" --from $THIEF --direction $dir --json --until 6 >"$T/h.json" &&
        $PY -c "import json,sys; d=json.load(open(sys.argv[1])); l=d['limits']; sys.exit(0 if l['until'] == 6 and l['until_time'] is None else 1)" "$T/h.json" &&
        ok || bad "--until 6 $dir"
done
# the window was applied: something is beyond it
$PY -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d['limits']['until_time'] == int(sys.argv[2]) else 1)" "$T/want.json" "$MIDNIGHT" &&
    ok || bad "limits.until_time"
for arg in x 2021-02-29 2020-01-01T10:00+02:00 99999999999; do
    "$BIN" etrace --db "$DB" --from $THIEF --until "$arg" >/dev/null 2>"$T/err"
    [ $? -eq 2 ] && grep -q -- "--until $arg: " "$T/err" && ok || bad "--until $arg accepted: $(cat "$T/err")"
done
finish
