#!/bin/bash
# e2e_etrace: account-model tracing on the recorded anvil scenario (tests/data/evm-etrace, from
# tests/evm-node: a hot wallet drained, splits, mixer pools, a bridge, a THORChain-style router).
# The thief's stolen ETH and USDT traced forward reach the mixers, bridge, router and OTC desk
# with the amounts truth.json (the node's own record of the scenario) implies; every document is
# compared with tests/etrace_oracle.py (python ints over the same CSVs, written apart from the C);
# backward, limits, partial results and bad input.
. "$(dirname "$0")/common.sh"
D=tests/data/evm-etrace
DB=$T/db
THIEF=0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc

"$BIN" evm-import --db "$DB" "$D"/*.csv >/dev/null || bad "import"
# labels from truth.json: the pools are mixers, the bridge a bridge, the router a swap service,
# the OTC desk otc, the drained hot wallet an exchange
$PY tests/etrace_labels.py "$D/truth.json" >"$T/labels.csv"
"$BIN" labels import --db "$DB" "$T/labels.csv" >/dev/null || bad "labels import"

# et NAME ARGS...: run etrace --json into $T/NAME.json (exit status must be 0)
et() {
    local name=$1
    shift
    if "$BIN" etrace --db "$DB" --json "$@" >"$T/$name.json" 2>"$T/err"; then ok; else
        bad "$name: exit $? $(cat "$T/err")"
    fi
}
# oracle NAME POLICY HOPS MIN FOLLOW_MIXERS: the document against the python tracer (HOPS
# $NOLIMIT: the default, no hop limit)
NOLIMIT=4294967295
oracle() {
    if out=$($PY tests/etrace_oracle.py "$D" "$T/labels.csv" "$2" "$3" "$4" "$5" "$T/$1.json" 2>&1)
    then ok; else bad "$1: $(echo "$out" | head -5)"; fi
}

# ---- the theft, forward, against truth.json ----
for p in haircut fifo poison; do
    et fwd_$p --from $THIEF:5-5 --policy $p
    oracle fwd_$p $p $NOLIMIT 0 0
    $PY tests/etrace_truth.py forward "$D/truth.json" "$T/fwd_$p.json" && ok || bad "fwd_$p: truth"
done

# ---- through the mixer pools: the pools mix the thief's notes with carol's and dave's ----
for p in haircut fifo poison; do
    et mix_$p --from $THIEF:5-5 --policy $p --through-mixers
    oracle mix_$p $p $NOLIMIT 0 1
done
# poison reaches every thief deposit after the mixer too (19 ETH swap, 9 ETH bridge)
$PY tests/etrace_truth.py post-mixer "$D/truth.json" "$T/mix_poison.json" && ok || bad "mix_poison: post-mixer reach"
# the oracle can fail: haircut's document is not what fifo gives through the pools
if $PY tests/etrace_oracle.py "$D" "$T/labels.csv" fifo $NOLIMIT 0 1 "$T/mix_haircut.json" >/dev/null 2>&1
then bad "oracle accepted a haircut document as fifo"; else ok; fi
# dave's 10 ETH (a genesis allocation) mixed in the 10 ETH pool, then onward
for p in haircut fifo; do
    et dave_$p --from 0xbda5747bfd65f08deb54cb465eb87d40e51b197e:0-0 --policy $p --through-mixers
    oracle dave_$p $p $NOLIMIT 0 1
done
# limits: hops, min value
et hops2 --from $THIEF:5-5 --policy haircut --through-mixers --hops 2
oracle hops2 haircut 2 0 1
et min5 --from $THIEF:5-5 --policy fifo --through-mixers --min-value 5000000000000000000
oracle min5 fifo $NOLIMIT 5000000000000000000 1
jq_py() { $PY -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$T/$1.json"; }
# the default has no hop limit and cut nothing; --hops 2 and the minimum report their cuts
jq_py fwd_haircut 'd["limits"]["hops"] is None and d["cut"] == []' && ok || bad "default: limits.hops, cut"
jq_py hops2 '[(c["limit"], c["amount"]) for c in d["cut"]] == [("hops", d["totals"][c["asset"]]["beyond_hops"]) for c in d["cut"]] and len(d["cut"]) > 0' &&
    ok || bad "hops2: cut"
jq_py min5 'all(c["limit"] == "min_value" and c["amount"] == d["totals"][c["asset"]]["below_min_value"] for c in d["cut"]) and len(d["cut"]) > 0' &&
    ok || bad "min5: cut"
jq_py hops2 'int(d["totals"]["native"]["beyond_hops"]) > 0' && ok || bad "hops2: nothing beyond 2 hops"
jq_py min5 'int(d["totals"]["native"]["below_min_value"]) > 0' && ok || bad "min5: nothing below"
et native --from $THIEF:5-5 --asset native
jq_py native 'list(d["totals"]) == ["native"] and len(d["seeds"]) == 1' && ok || bad "--asset native"
et usdt --from $THIEF:5-5 --asset 0x5FbDB2315678afecb367f032d93F642f64180aa3
jq_py usdt 'list(d["totals"]) == ["0x5fbdb2315678afecb367f032d93f642f64180aa3"]' && ok || bad "--asset token"
et until6 --from $THIEF:5-5 --until 6
jq_py until6 'd["until_reached"] and not d["endpoints"] and all(v["balanced"] for v in d["totals"].values())' \
    && ok || bad "--until 6"
# the same window in block time: block 6's timestamp, from truth.json
TS6=$($PY tests/etrace_scenario.py block-time "$D/truth.json" 6)
et untilt --from $THIEF:5-5 --until-time "$TS6"
jq_py untilt 'd["until_reached"] and not d["endpoints"] and d["limits"]["until_time"] > 0 and all(v["balanced"] for v in d["totals"].values())' \
    && ok || bad "--until-time"
et cap --from $THIEF:5-5 --max-xfers 4
jq_py cap 'd["partial"] and int(d["totals"]["native"]["not_followed"]) > 0 and all(v["balanced"] for v in d["totals"].values())' \
    && ok || bad "--max-xfers: partial"

# ---- backward: the 25 ETH bridge deposit came from the hot wallet, whole ----
BR=$($PY tests/etrace_scenario.py deposit-of-amount "$D/truth.json" 25000000000000000000)
HOT=0x70997970c51812dc3a010c7d01b50e0d17dc79c8
for p in haircut fifo poison; do
    et back_$p --from "$BR:0" --direction backward --policy $p
    jq_py back_$p "[(e['address'].lower(), int(e['amount'])) for e in d['endpoints']] == [('$HOT', 25 * 10**18)] or ('$p' == 'poison' and d['endpoints'][0]['address'].lower() == '$HOT')" \
        && ok || bad "back_$p: $(head -c 300 "$T/back_$p.json")"
    jq_py back_$p 'all(v["balanced"] for v in d["totals"].values())' && ok || bad "back_$p: balance"
done
# backward with a time window that ends after the theft (block 5): it is not reached
et back_t --from "$BR:0" --direction backward --until-time "$TS6"
jq_py back_t 'not d["endpoints"] and int(d["totals"]["native"]["beyond_until"]) == 25 * 10**18' \
    && ok || bad "backward --until-time"
# the post-mixer 9 ETH bridge deposit, backward through the pool: part of it is the hot wallet's
POST=$($PY tests/etrace_scenario.py deposit-in-block "$D/truth.json" 12)
et back_mix --from "$POST:0" --direction backward --policy haircut --through-mixers
jq_py back_mix "any(e['address'].lower() == '$HOT' and int(e['amount']) > 0 for e in d['endpoints']) and all(v['balanced'] for v in d['totals'].values())" \
    && ok || bad "back_mix"

# ---- text output and bad input ----
"$BIN" etrace --db "$DB" --from $THIEF:5-5 >"$T/text" && grep -q "^endpoints: 6" "$T/text" && ok || bad "text output"
expect() { # WANT_EXIT PATTERN ARGS...
    local want=$1 pat=$2
    shift 2
    "$BIN" etrace "$@" >/dev/null 2>"$T/err"
    local rc=$?
    if [ $rc -eq "$want" ] && grep -Eq -- "$pat" "$T/err"; then ok; else
        bad "etrace $*: exit $rc (want $want), '$(cat "$T/err")'"
    fi
}
expect 2 "0x12" --db "$DB" --from 0x12
expect 2 "FROM-TO" --db "$DB" --from $THIEF:x-y
expect 3 "no transfers" --db "$DB" --from 0x1111111111111111111111111111111111111111
expect 3 "" --db "$DB" --from 0x1111111111111111111111111111111111111111111111111111111111111111
expect 3 "selects no transfer" --db "$DB" --from $THIEF:0-1
expect 2 "policy" --db "$DB" --from $THIEF --policy taint
expect 2 "direction" --db "$DB" --from $THIEF --direction sideways
expect 2 "hops" --db "$DB" --from $THIEF --hops 0
expect 2 "hops" --db "$DB" --from $THIEF --hops 1001
expect 2 "until-time" --db "$DB" --from $THIEF --until-time yesterday
expect 2 "min-value" --db "$DB" --from $THIEF --min-value 1e18
expect 2 "asset" --db "$DB" --from $THIEF --asset usdt
expect 3 "token" --db "$DB" --from $THIEF --asset 0x1111111111111111111111111111111111111111
expect 2 "usage" --from $THIEF
expect 3 "" --db "$T/nothing" --from $THIEF
finish
