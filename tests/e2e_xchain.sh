#!/bin/bash
# e2e_xchain: the recorded tests/evm-node run (tests/data/evm-node-run: a real anvil node's
# ethereum-etl CSVs and truth.json) plus a Bitcoin chain serialized by python3-bitcoinlib
# (tests/xchain_chain.py) whose OP_RETURNs carry OUT:/REFUND:/BRIDGE: memos for the scenario's
# inbound hashes; links compared with the truth by tests/xchain_check.py (every swap exactly,
# no false cross-chain link, mixer precision/recall per rule with floors). Then payloads in
# tx --json, xchain show, a malformed event, a format 1 store, bad arguments.
. "$(dirname "$0")/common.sh"
R=tests/data/evm-node-run
CSV="$R/blocks.csv $R/transactions.csv $R/receipts.csv $R/logs.csv $R/token_transfers.csv $R/traces.csv $R/tokens.csv"
# With the node installed, a fresh run replaces the recording (the same bytes: run.js is
# deterministic); otherwise the recording is used.
if [ -d tests/evm-node/node_modules ] && command -v node >/dev/null; then
    if (cd tests/evm-node && node run.js --out "$T/node" >/dev/null 2>&1); then
        R2=$T/node
        if diff -q "$R2/logs.csv" "$R/logs.csv" >/dev/null && diff -q "$R2/truth.json" "$R/truth.json" >/dev/null; then ok; else bad "a fresh node run differs from the recording"; fi
    fi
fi

mkdir -p "$T/chain"
if $PY tests/xchain_chain.py "$R/truth.json" "$T/chain/blk00000.dat" "$T/expect.json"; then ok; else bad "xchain_chain.py failed"; fi
D=$T/db
# shellcheck disable=SC2086
if "$BIN" import --db "$D" "$T/chain" >/dev/null && "$BIN" evm-import --db "$D" $CSV >/dev/null; then ok; else bad "imports failed"; fi

"$BIN" xchain links --db "$D" --json >"$T/links.json" 2>"$T/err"
if [ $? -eq 0 ] && [ -s "$D/xchain/links.jsonl" ]; then ok; else bad "xchain links: $(cat "$T/err")"; fi
# Floors: the measured values (docs/xchain.md); a change of heuristics that loses links fails.
if out=$($PY tests/xchain_check.py "$T/links.json" "$T/expect.json" "$R/truth.json" --floors \
    thorchain_memo=0.8,1 bridge_nonce=1,1 bridge_value_window=0.6,1 mixer_same_address=1,0.28 \
    mixer_linked_address=0.33,0.28 mixer_relayer_batch=0.2,0.42 mixer_any=0,1 2>&1); then ok; else
    bad "links differ from the truth"
fi
echo "$out" | grep -v '^PASS'

# the saved set reads back as the same links
"$BIN" xchain show --db "$D" --json 0x1ad092d93df7ca0a0a2a45453589d92363f052e539ec734d7a1b0c9bb3d88f3c >"$T/show.json"
n=$($PY tests/xchain_query.py show-summary "$T/show.json")
if [ "$n" = "1 thorchain_memo 1.0" ]; then ok; else bad "xchain show 0x1ad0...: $n"; fi
# by the Bitcoin side: the outbound of that swap, found through the expectation file
btx=$($PY tests/xchain_query.py outbound-of "$T/expect.json" 0x1ad092)
if "$BIN" xchain show --db "$D" "$btx" | grep -q "0x1ad092d93df7ca0a0a2a45453589d92363f052e539ec734d7a1b0c9bb3d88f3c"; then ok; else bad "xchain show $btx"; fi
"$BIN" xchain show --db "$D" 0000000000000000000000000000000000000000000000000000000000000001 >/dev/null
if [ $? -eq 3 ]; then ok; else bad "show of an unlinked tx: exit 3 expected"; fi

# the OP_RETURN payload in tx --json: hex and text, as python serialized it
"$BIN" tx --db "$D" --json "$btx" >"$T/tx.json"
p=$($PY tests/xchain_query.py payload "$T/tx.json")
if [ "$p" = "OUT:1AD092D93DF7CA0A0A2A45453589D92363F052E539EC734D7A1B0C9BB3D88F3C OUT:1AD092D93DF7CA0A0A2A45453589D92363F052E539EC734D7A1B0C9BB3D88F3C" ]; then ok; else bad "payload: $p"; fi

# a bridge Deposit whose string offset points outside the data: refused with file:line, the
# store untouched
mkdir -p "$T/badlogs"
$PY tests/xchain_craft.py bad-deposit-offset "$R/logs.csv" "$T/badlogs/logs.csv"
line=$($PY tests/xchain_query.py line-of "$T/badlogs/logs.csv" ba03e68b)
rm -rf "$T/e2" && mkdir -p "$T/e2"
# shellcheck disable=SC2086
"$BIN" evm-import --db "$T/e2" $(echo $CSV | sed "s|$R/logs.csv|$T/badlogs/logs.csv|") 2>"$T/err" >/dev/null
rc=$?
if [ $rc -eq 1 ] && grep -q "logs.csv:$line: column data: bridge_deposit: string offset" "$T/err" && [ ! -e "$T/e2/evm/eth/MANIFEST" -o "$(grep -c 'blocks 0' "$T/e2/evm/eth/MANIFEST" 2>/dev/null)" = 1 ]; then ok; else
    bad "malformed event: rc $rc: $(cat "$T/err")"
fi

# a format 1 Bitcoin store (made from this one: version 1, no payload columns): read without
# payloads, a writer refuses with what to do
cp -r "$D" "$T/old"
rm -f "$T/old/nulldata.col" "$T/old/nulldata_bytes.col"
$PY tests/xchain_craft.py format1-store "$T/old/MANIFEST"
if "$BIN" tx --db "$T/old" --json "$btx" | grep -q '"payload_note"'; then ok; else bad "format 1 store: tx --json"; fi
"$BIN" import --db "$T/old" "$T/chain" >/dev/null 2>"$T/err"
if [ $? -eq 1 ] && grep -q "format 1 has no OP_RETURN payload columns.*re-import" "$T/err"; then ok; else bad "format 1 writer: $(cat "$T/err")"; fi
"$BIN" xchain links --db "$T/old" >/dev/null 2>"$T/err"
if grep -q "payloads not kept" "$T/err"; then ok; else bad "format 1 links note: $(cat "$T/err")"; fi

# every protocol event as evm-tx --json shows it equals truth.json's record of it
if out=$($PY tests/xchain_events.py "$BIN" "$D" "$R/truth.json"); then ok; else bad "events: $out"; fi

# a format 1 EVM store (made from this one): read without events, a writer refuses
mkdir -p "$T/old_evm" && cp -r "$D/evm" "$T/old_evm/"
rm -f "$T/old_evm/evm/eth/event.col" "$T/old_evm/evm/eth/event_text.dat"
$PY tests/xchain_craft.py format1-evm "$T/old_evm/evm/eth/MANIFEST"
if "$BIN" evm-stats --db "$T/old_evm" >/dev/null && "$BIN" evm-tx --db "$T/old_evm" --json 0x1ad092d93df7ca0a0a2a45453589d92363f052e539ec734d7a1b0c9bb3d88f3c | grep -q '"events": \[\]'; then ok; else bad "format 1 EVM store: read"; fi
# shellcheck disable=SC2086
"$BIN" evm-import --db "$T/old_evm" $CSV >/dev/null 2>"$T/err"
if [ $? -eq 1 ] && grep -q "format 1 store without the events table" "$T/err"; then ok; else bad "format 1 EVM writer: $(cat "$T/err")"; fi
"$BIN" xchain links --db "$T/old_evm" >/dev/null 2>"$T/err"
if grep -q "keeps no events" "$T/err"; then ok; else bad "format 1 EVM links note: $(cat "$T/err")"; fi

# a reorganisation to a heavier branch without the outbound blocks: their payloads and links go,
# and the payload columns equal a straight import of the new branch
$PY tests/xchain_chain.py "$R/truth.json" "$T/chain2.blk" "$T/expect2.json" "$T/fork.blk" >/dev/null
mkdir -p "$T/forkdir" && cp "$T/fork.blk" "$T/forkdir/blk00001.dat"
if "$BIN" import --db "$D" "$T/forkdir" >/dev/null 2>"$T/err"; then ok; else bad "fork import: $(cat "$T/err")"; fi
want=$($PY tests/jget.py '["fork_nulldata"]' "$T/expect2.json")
got=$(grep -o 'nulldata=[0-9]*' "$D/MANIFEST" | cut -d= -f2)
if [ "$got" = "$want" ]; then ok; else bad "after the reorganisation: $got payload rows, $want OP_RETURN outputs left"; fi
"$BIN" xchain links --db "$D" --json >"$T/links2.json"
n=$($PY tests/xchain_query.py after-reorg "$T/links2.json" "$T/expect2.json")
if [ "$n" = "0 1" ]; then ok; else bad "links after the reorganisation (links to removed txs, thorchain links): $n"; fi
gone1=$($PY tests/jget.py '["fork_removed_txids"][0]' "$T/expect2.json")
"$BIN" tx --db "$D" "$gone1" >/dev/null 2>&1
if [ $? -eq 3 ]; then ok; else bad "a tx of the removed branch is still found"; fi
mkdir -p "$T/straight" && cp "$T/chain/blk00000.dat" "$T/straight/" && cp "$T/fork.blk" "$T/straight/blk00001.dat"
"$BIN" import --db "$T/sdb" "$T/straight" >/dev/null
if cmp -s "$D/nulldata.col" "$T/sdb/nulldata.col" && cmp -s "$D/nulldata_bytes.col" "$T/sdb/nulldata_bytes.col"; then ok; else bad "payload columns differ from a straight import of the branch"; fi

# bad usage
"$BIN" xchain links >/dev/null 2>&1
if [ $? -eq 2 ]; then ok; else bad "links without --db"; fi
"$BIN" xchain show --db "$D" nothex >/dev/null 2>&1
if [ $? -eq 2 ]; then ok; else bad "show of a bad hash"; fi
"$BIN" xchain links --db "$D" --method nosuch >/dev/null 2>&1
if [ $? -eq 2 ]; then ok; else bad "unknown method"; fi
"$BIN" xchain links --db "$T/nothing" >/dev/null 2>&1
if [ $? -eq 3 ]; then ok; else bad "links of an empty dir: exit 3 expected"; fi
finish
