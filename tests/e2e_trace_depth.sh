#!/bin/bash
# A trace's depth. On a chain written by python3-bitcoinlib (tests/trace_depth.py chain) whose
# stolen coin runs through a peel chain of 1500 txs (past the 1000 an explicit --hops allows)
# into a labelled exchange, with every amount computed in python:
#  - by default (no hop limit) trace, under each policy, follows the taint to the exchange: the
#    exact deposit, a path of the 1500 txids, nothing cut, no warning; backward, to the coinbase
#    1501 txs back;
#  - each limit that stops taint (--hops, --max-outputs, --min-value, --until; backward --hops)
#    is reported: the document's "cut" (limit, bucket, amount, count, lift) with the amount
#    python expects, and one warning on stderr naming the option and the amount in BTC;
#  - the HTTP API's POST /v1/trace: the same default within the service's budget (its rules'
#    max_outputs x 10), whose cut is reported the same way; hops 1..1000 as on the CLI; an
#    answer that cannot fit --max-answer refused (422) before its document is built.
# The same default on EVM is tested by test_etrace.c (a 1500-transfer chain), the recall it
# buys on the generator's laundering scenarios by e2e_trace.sh (tests/trace_depth.py recall).
source "$(dirname "$0")/common.sh"

$PY tests/trace_depth.py chain "$T" || bad "chain"
"$BIN" import --db "$T/db" "$T/blk" >/dev/null || bad "import"
"$BIN" labels import --db "$T/db" "$T/labels.csv" >/dev/null || bad "labels import"
SEED=$($PY tests/jget.py '["seed"]' "$T/expect.json")
DEP=$($PY tests/jget.py '["deposit_output"]' "$T/expect.json")

# tr NAME CASE [ARG] -- TRACE-ARGS...: trace into $T/NAME.json, stderr into $T/NAME.err; the
# document checked against python's figures for CASE
tr() {
    local name=$1 case=$2 arg=$3
    shift 4
    "$BIN" trace --db "$T/db" --format json "$@" >"$T/$name.json" 2>"$T/$name.err" ||
        bad "$name: exit $? $(cat "$T/$name.err")"
    $PY tests/trace_depth.py check "$T" "$T/$name.json" "$case" $arg && ok || bad "$name"
}
warned() { # NAME CASE [ARG]
    $PY tests/trace_depth.py warn "$T" "$T/$1.err" "$2" ${3:-} && ok || bad "$1: stderr"
}

for p in haircut fifo poison; do
    tr def_$p default "" -- --from "$SEED" --policy $p
    warned def_$p none
done
tr hops hops 1000 -- --from "$SEED" --hops 1000
warned hops hops 1000
tr budget budget 201 -- --from "$SEED" --max-outputs 201
warned budget budget 201
tr min min 20000 -- --from "$SEED" --min-value 20000
warned min min 20000
tr until until 2 -- --from "$SEED" --until 2
tr back back "" -- --from "$DEP" --direction backward
warned back none
tr back_hops back-hops 1000 -- --from "$DEP" --direction backward --hops 1000
# text and html too warn on stderr (the warning is not part of any one format)
for f in text html dot; do
    "$BIN" trace --db "$T/db" --from "$SEED" --hops 7 --format $f >/dev/null 2>"$T/w.$f.err" &&
        $PY tests/trace_depth.py warn "$T" "$T/w.$f.err" hops 7 && ok || bad "--format $f: no warning"
done
"$BIN" trace --db "$T/db" --from "$SEED" >"$T/t.txt" 2>/dev/null &&
    grep -q " 1500 hop(s)$" "$T/t.txt" && ok || bad "text: the endpoint's 1500 hops"
# --hops stays an explicit limit of 1..1000
"$BIN" trace --db "$T/db" --from "$SEED" --hops 1001 >/dev/null 2>"$T/err"
[ $? -eq 2 ] && grep -q "hops must be a whole number 1..1000" "$T/err" && ok || bad "--hops 1001: $(cat "$T/err")"
"$BIN" trace --help | grep -q "no hop limit" && ok || bad "--help does not say the default"

# The API: the default within the service's budget (rules max_outputs 100: 1000 outputs)
echo '{"max_outputs": 100}' >"$T/rules.json"
"$BIN" serve --db "$T/db" --listen 127.0.0.1:0 --insecure-no-auth --rules "$T/rules.json" \
    --port-file "$T/port" 2>"$T/serve.log" &
SERVE_PID=$!
trap 'kill $SERVE_PID 2>/dev/null; [ -n "${KEEP_T:-}" ] || rm -rf "$T"' EXIT
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
U="127.0.0.1:$(cat "$T/port")"
post() { # NAME BODY: the answer's status, the document in $T/NAME.json
    curl -s --max-time 60 -o "$T/$1.json" -w '%{http_code}' -d "$2" "$U/v1/trace"
}
[ "$(post api_def "{\"from\": [\"$SEED\"]}")" = 200 ] &&
    $PY tests/trace_depth.py check "$T" "$T/api_def.json" budget 1000 &&
    [ "$($PY tests/jget.py '["limits"]["hops"]' "$T/api_def.json")" = None ] && ok ||
    bad "API default: $(head -c 300 "$T/api_def.json")"
[ "$(post api_h "{\"from\": [\"$SEED\"], \"hops\": 300}")" = 200 ] &&
    $PY tests/trace_depth.py check "$T" "$T/api_h.json" hops 300 && ok || bad "API hops 300"
[ "$(post api_1000 "{\"from\": [\"$SEED\"], \"hops\": 1000}")" = 200 ] && ok || bad "API hops 1000"
[ "$(post api_1001 "{\"from\": [\"$SEED\"], \"hops\": 1001}")" = 400 ] &&
    grep -q "field 'hops' must be a whole number 1..1000, not 1001" "$T/api_1001.json" && ok ||
    bad "API hops 1001: $(cat "$T/api_1001.json")"
kill $SERVE_PID
wait $SERVE_PID 2>/dev/null
# An answer that cannot fit --max-answer is refused before its document is built (999 edges of
# at least 160 bytes each are over 100,000 bytes): 422 naming the limit
rm -f "$T/port"
"$BIN" serve --db "$T/db" --listen 127.0.0.1:0 --insecure-no-auth --rules "$T/rules.json" \
    --max-answer 100000 --port-file "$T/port" 2>>"$T/serve.log" &
SERVE_PID=$!
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
U="127.0.0.1:$(cat "$T/port")"
[ "$(post api_big "{\"from\": [\"$SEED\"]}")" = 422 ] &&
    grep -q "999 edges, over this service's limit of 100000 bytes (--max-answer" "$T/api_big.json" &&
    ok || bad "API: an answer over --max-answer: $(cat "$T/api_big.json")"
[ "$(post api_small "{\"from\": [\"$SEED\"], \"hops\": 20}")" = 200 ] && ok ||
    bad "API: a small answer under --max-answer"
kill $SERVE_PID
finish
