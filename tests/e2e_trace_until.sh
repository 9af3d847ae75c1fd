#!/bin/bash
# trace --until as a time: on a chain (tests/mkchain.py, serialized by python3-bitcoinlib) whose
# block times jump back and forth as mainnet's do, every time around every block maps to the
# height an independent linear scan of the running maximum of block times gives (forward: the
# last block whose running maximum is <= T; backward: the first one >= T), in all three
# syntaxes (@unix, ISO date-time, ISO date); a time outside the chain and bad syntax are errors.
source "$(dirname "$0")/common.sh"

$PY tests/mkchain.py "$T/c.json" --blocks 40 --seed 11 --time-jitter 2000 || bad "mkchain"
mkdir -p "$T/blk"
$PY tests/mkchain.py write "$T/blk/blk00000.dat" "$T/c.json" main 0 40 || bad "mkchain write"
"$BIN" import --db "$T/db" "$T/blk" >/dev/null || bad "import"

# The cases, from the raw blocks: TIME FORWARD_HEIGHT BACKWARD_HEIGHT (-1: no such block), and
# two seeds (an output of a tx in an early block, one in a late block).
$PY tests/trace_until_cases.py "$T" || bad "cases"

until_of() { # FILE: limits.until and limits.until_time of a trace document
    $PY tests/trace_doc.py until "$1"
}
n=0 wrong=0
while read -r t fh bh; do
    for dir in forward backward; do
        want=$fh seed=$(cat "$T/seed_early")
        [ $dir = backward ] && want=$bh seed=$(cat "$T/seed_late")
        iso=$(date -u -d "@$t" +%Y-%m-%dT%H:%M:%SZ)
        for arg in "@$t" "$iso"; do
            n=$((n + 1))
            "$BIN" trace --db "$T/db" --from "$seed" --direction $dir --until "$arg" \
                --format json >"$T/u.json" 2>"$T/err"
            rc=$?
            if [ "$want" -lt 0 ]; then
                [ $rc -eq 3 ] && grep -q -- "--until $arg:" "$T/err" || {
                    wrong=$((wrong + 1))
                    echo "FAIL: --until $arg $dir: exit $rc, want 3: $(cat "$T/err")"
                }
            elif [ $rc -ne 0 ] || [ "$(until_of "$T/u.json")" != "$want $t" ]; then
                wrong=$((wrong + 1))
                echo "FAIL: --until $arg $dir: got $(until_of "$T/u.json") (exit $rc), want $want $t"
            fi
        done
    done
done <"$T/cases"
[ "$n" -gt 200 ] && [ "$wrong" -eq 0 ] && ok || bad "$wrong of $n --until times mapped wrongly"

# A date alone is 00:00:00 UTC of that day; a height is taken as is.
t0=$(head -1 "$T/cases" | cut -d' ' -f1)
day=$(date -u -d "@$((t0 + 2 * 86400))" +%Y-%m-%d)
midnight=$(date -u -d "$day" +%s)
"$BIN" trace --db "$T/db" --from "$(cat "$T/seed_early")" --until "@$midnight" --format json >"$T/a.json" &&
    "$BIN" trace --db "$T/db" --from "$(cat "$T/seed_early")" --until "$day" --format json >"$T/b.json" &&
    [ "$(until_of "$T/a.json")" = "$(until_of "$T/b.json")" ] && ok || bad "date = its midnight UTC"
"$BIN" trace --db "$T/db" --from "$(cat "$T/seed_early")" --until 17 --format json >"$T/h.json" &&
    [ "$(until_of "$T/h.json")" = "17 None" ] && ok || bad "a height: $(until_of "$T/h.json")"
# Minutes without seconds, and no Z, mean the same UTC time.
iso_min=$(date -u -d "@$midnight" +%Y-%m-%dT%H:%M)
"$BIN" trace --db "$T/db" --from "$(cat "$T/seed_early")" --until "$iso_min" --format json >"$T/c.json2" &&
    [ "$(until_of "$T/c.json2")" = "$(until_of "$T/a.json")" ] && ok || bad "YYYY-MM-DDTHH:MM"

for arg in 2020-13-01 2020-02-30 2021-02-29 2020-01-01T25:00Z 2020-01-01T10:00+02:00 \
    2020-01-01T10:00:00.5Z @abc @ @-5 yesterday -5 1e9 2020-1-1 "2020-01-01 10:00"; do
    "$BIN" trace --db "$T/db" --from "$(cat "$T/seed_early")" --until "$arg" >/dev/null 2>"$T/err"
    rc=$?
    [ $rc -eq 2 ] && grep -q -- "--until" "$T/err" && ok ||
        bad "--until '$arg': exit $rc, want 2: $(cat "$T/err")"
done
finish
