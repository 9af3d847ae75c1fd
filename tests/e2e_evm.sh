#!/bin/bash
# e2e_evm: ethereum-etl exports of real mainnet blocks (tests/data/evm, see its README) into the
# EVM store, checked against tests/evm_oracle.py (python ints from the same CSVs, and the node's
# own JSON-RPC responses), then idempotence, malformed rows, crashes, reorganisations and gaps.
. "$(dirname "$0")/common.sh"
D=tests/data/evm
ORACLE="$PY tests/evm_oracle.py"

# oracle NAME ARGS...: run the oracle, count its PASS/FAIL lines (a crash is a failure)
oracle() {
    local name=$1 out p f
    shift
    if ! out=$($ORACLE "$@" 2>&1); then
        bad "$name: oracle failed: $(echo "$out" | tail -3)"
        return
    fi
    p=$(grep -c '^PASS' <<<"$out")
    f=$(grep -c '^FAIL' <<<"$out")
    grep '^FAIL' <<<"$out" | head -5
    if [ "$f" -eq 0 ] && [ "$p" -gt 0 ]; then ok; else bad "$name: $f of $((p + f)) checks failed"; fi
}
# a fingerprint of every file of a store (names and bytes); the EVM exposure index is derived
# data with its own generations (compared by its dump where it matters)
snap() { (cd "$1" && find . -type f -not -path '*/exposure/*' | sort | xargs sha256sum); }
same() { # NAME DIR1 DIR2
    if [ "$(snap "$2")" = "$(snap "$3")" ]; then ok; else
        bad "$1: stores differ"
        diff <(snap "$2") <(snap "$3") | head -5
    fi
}
# expect_fail NAME PATTERN DB ARGS...: exit 1, stderr matching PATTERN, DB byte-identical
expect_fail() {
    local name=$1 pat=$2 db=$3 before after rc
    shift 3
    before=$(snap "$db")
    "$BIN" evm-import --db "$db" "$@" >"$T/out" 2>"$T/err"
    rc=$?
    after=$(snap "$db")
    if [ $rc -ne 1 ]; then bad "$name: exit $rc, want 1 ($(cat "$T/err"))"; return; fi
    if ! grep -Eq "$pat" "$T/err"; then bad "$name: message '$(cat "$T/err")' lacks /$pat/"; return; fi
    if [ "$before" != "$after" ]; then bad "$name: the store changed"; return; fi
    ok
}

# --- 1. blocks 47218-47219 (blocks and txs only): CSV, store and node agree
"$BIN" evm-import --db "$T/a" "$D/b47218" >/dev/null || bad "import b47218"
oracle "b47218" "$BIN" "$T/a" eth "$D/b47218"
oracle "b47218 rpc" --rpc "$BIN" "$T/a" eth "$D/b47218"

# --- 2. block 483920 with receipts, logs and token transfers; the node's receipts agree
"$BIN" evm-import --db "$T/b" "$D/b483920" >/dev/null || bad "import b483920"
oracle "b483920" "$BIN" "$T/b" eth "$D/b483920"
oracle "b483920 rpc" --rpc "$BIN" "$T/b" eth "$D/b483920"
# Transfer events decoded from logs.csv alone make the very same store
mkdir -p "$T/logsonly"
cp "$D/b483920/"{blocks,transactions,receipts,logs}.csv "$T/logsonly/"
"$BIN" evm-import --db "$T/b2" "$T/logsonly" >/dev/null || bad "import logs only"
same "logs.csv decoded = token_transfers.csv" "$T/b/evm" "$T/b2/evm"
# re-import: nothing changes, byte for byte
snap "$T/b" >"$T/snap1"
"$BIN" evm-import --db "$T/b" "$D/b483920" >"$T/out" || bad "re-import"
if grep -q "skipped 1 already stored" "$T/out" && [ "$(snap "$T/b")" = "$(cat "$T/snap1")" ]; then
    ok
else bad "re-import is not idempotent: $(cat "$T/out")"; fi
# EIP-55 in the text output too, and a mixed-case address with a wrong checksum is refused
"$BIN" evm-address --db "$T/b" 0x1b63142628311395ceafeea5667e7c9026c862ca >"$T/out" &&
    grep -q "0x1B63142628311395CEaFeEa5667e7C9026c862Ca" "$T/out" && grep -q "partial history" "$T/out" &&
    ok || bad "evm-address text"
"$BIN" evm-address --db "$T/b" 0x1B63142628311395CEaFeEa5667e7C9026c862CA >/dev/null 2>&1
[ $? -eq 2 ] && ok || bad "a wrong EIP-55 checksum must be exit 2"
"$BIN" evm-tx --db "$T/b" 0x0000000000000000000000000000000000000000000000000000000000000001 \
    >/dev/null 2>&1
[ $? -eq 3 ] && ok || bad "unknown tx must be exit 3"

# --- 3. blocks 17173049-17173050 (EIP-1559, withdrawals): receipts and token transfers come
# from ethereum-etl's stream export of the same blocks (JSON lines with receipt_* fields)
mkdir -p "$T/b17"
cp "$D/b17173049/"{blocks,transactions}.csv "$T/b17/"
$PY tests/evm_exports.py from-stream "$D/b17173049" "$T/b17"
"$BIN" evm-import --db "$T/c" --commit-every 1 "$T/b17" >/dev/null || bad "import b17173049"
oracle "b17173049" "$BIN" "$T/c" eth "$T/b17"
"$BIN" evm-stats --db "$T/c" --json >"$T/st.json"
$PY tests/evm_stats_check.py b17173049 "$T/st.json" &&
    ok || bad "b17173049 should have failed txs, withdrawals and many ERC-20 transfers"

# --- 4. a crash: after the first commit, and inside the second (rows and heads written, no
# MANIFEST yet); the rerun gives the store of an uninterrupted import
for hook in COINTRAIL_TEST_EVM_CRASH_AFTER COINTRAIL_TEST_EVM_CRASH_IN_COMMIT; do
    rm -rf "$T/k"
    env "$hook=1" "$BIN" evm-import --db "$T/k" --commit-every 1 "$T/b17" >/dev/null 2>&1
    rc=$?
    [ $rc -eq 9 ] && ok || bad "$hook: exit $rc, want 9"
    "$BIN" evm-import --db "$T/k" --commit-every 1 "$T/b17" >/dev/null || bad "$hook: rerun"
    same "$hook=1 then rerun" "$T/c/evm" "$T/k/evm"
done
# a crash inside the first commit of a reorganised branch also recovers (see 5)
# readers of a store whose writer died inside a commit see the last commit exactly: the
# same answers as a store that only ever imported the first block
mkdir -p "$T/first"
$PY tests/evm_exports.py first-block "$T/b17" "$T/first"
"$BIN" evm-import --db "$T/one" "$T/first" >/dev/null || bad "first block import"
rm -rf "$T/k"
COINTRAIL_TEST_EVM_CRASH_IN_COMMIT=2 "$BIN" evm-import --db "$T/k" --commit-every 1 "$T/b17" \
    >/dev/null 2>&1
[ $? -eq 9 ] && ok || bad "crash in commit 2"
[ "$(stat -c %s "$T/k/evm/eth/xfer.col")" -gt "$(stat -c %s "$T/one/evm/eth/xfer.col")" ] &&
    ok || bad "the crash should leave rows past the MANIFEST"
readers_same=1
for a in 0x388c818ca8b9251b393131c08a736a67ccb19297 0xae2fc483527b8ef99eb5d9b44875f005ba1fae13 \
    0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2 0xb9d7934878b5fb9610b3fe8a5e441e8fad7e293f; do
    x=$("$BIN" evm-address --db "$T/k" --json --limit 0 "$a" 2>&1)
    y=$("$BIN" evm-address --db "$T/one" --json --limit 0 "$a" 2>&1)
    [ "$x" = "$y" ] || { readers_same=0; echo "differs for $a"; }
done
[ "$("$BIN" evm-stats --db "$T/k" --json)" = "$("$BIN" evm-stats --db "$T/one" --json)" ] ||
    readers_same=0
[ $readers_same = 1 ] && ok || bad "a reader after a crash in a commit must see the last commit"

# --- 5. a reorganisation: another export whose last block has a different hash
mkdir -p "$T/fork"
cp "$T/b17/"*.csv "$T/fork/"
$PY tests/evm_exports.py fork "$T/fork"
cp -r "$T/c" "$T/r"
"$BIN" evm-import --db "$T/r" --json "$T/fork" >"$T/out" || bad "reorg import: $(cat "$T/out")"
$PY tests/evm_stats_check.py reorg-counts "$T/out" &&
    ok || bad "reorg counts: $(cat "$T/out")"
"$BIN" evm-import --db "$T/fresh" "$T/fork" >/dev/null || bad "fresh fork import"
same "reorganised store = fresh import of the new branch" "$T/r/evm" "$T/fresh/evm"
[ "$("$BIN" evm-exposure dump --db "$T/r")" = "$("$BIN" evm-exposure dump --db "$T/fresh")" ] \
    && ok || bad "the EVM exposure index after a reorganisation differs from a fresh one's"
oracle "after reorg" "$BIN" "$T/r" eth "$T/fork"
# the same reorganisation killed in its first commit after the cut, then rerun
cp -r "$T/c" "$T/r2"
COINTRAIL_TEST_EVM_CRASH_IN_COMMIT=1 "$BIN" evm-import --db "$T/r2" "$T/fork" >/dev/null 2>&1
[ $? -eq 9 ] && ok || bad "reorg crash hook"
"$BIN" evm-import --db "$T/r2" "$T/fork" >/dev/null || bad "reorg rerun"
same "reorg crash then rerun" "$T/r/evm" "$T/r2/evm"
# a fork deeper than the export: only the last block, with a parent we do not have
mkdir -p "$T/deep"
$PY tests/evm_exports.py deep "$T/fork/blocks.csv" "$T/deep/blocks.csv"
expect_fail "deeper reorg" "reorganisation deeper" "$T/r" "$T/deep"
# a gap: blocks 47218-47219 cannot follow 17173050, nor 483920 follow 47219
expect_fail "gap after" "are missing" "$T/a" "$D/b483920"
expect_fail "blocks before the first" "before the store's first block" "$T/r" "$D/b47218"

# --- 6. malformed rows: exit 1, FILE:LINE: column NAME, the store unchanged
mkmal() { # FILE PYTHON-ON-LINES: a copy of block 483920's export in $T/m with FILE edited
    rm -rf "$T/m" && mkdir -p "$T/m" && cp "$D/b483920/"*.csv "$T/m/"
    $PY tests/evm_exports.py edit-lines "$T/m/$1" "$2"
}
mal() { # NAME FILE PYTHON-ON-LINES PATTERN
    mkmal "$2" "$3"
    expect_fail "$1" "$4" "$T/b" "$T/m"
}
mal "bad hex" transactions.csv "lines[2] = lines[2].replace('0x9b22a80d', '0x9b22a80z')" \
    "transactions.csv:3: column from_address: .*non-hex"
mal "missing column" receipts.csv \
    "lines = [','.join(c for i, c in enumerate(l.split(',')) if i != 5) for l in lines]" \
    "receipts.csv:1: column gas_used missing"
mal "truncated row" token_transfers.csv "lines[2] = lines[2][:60]" \
    "token_transfers.csv:3: column to_address: missing"
mal "2^256 value" token_transfers.csv \
    "lines[1] = lines[1].replace(',100000,', ',115792089237316195423570985008687907853269984665640564039457584007913129639936,')" \
    "token_transfers.csv:2: column value: .*exceeds 2\\^256-1"
# the largest amount there is still fits
mkmal token_transfers.csv \
    "lines[1] = lines[1].replace(',100000,', ',115792089237316195423570985008687907853269984665640564039457584007913129639935,')"
rm -rf "$T/max"
if "$BIN" evm-import --db "$T/max" "$T/m" >/dev/null &&
    "$BIN" evm-tx --db "$T/max" --json 0x04cbcb236043d8fb7839e07bbc7f5eed692fb2ca55d897f1101eac3e3ad4fab8 |
    grep -q '"amount": "115792089237316195423570985008687907853269984665640564039457584007913129639935"'; then
    ok
else bad "2^256-1 must import exactly"; fi
mal "unterminated quote" logs.csv \
    "n = max(i for i, l in enumerate(lines) if l); lines[n] = lines[n][:-1]; lines[n+1:] = []" \
    "logs.csv:3: field 8: unterminated quote"
mal "receipt for an unknown tx" receipts.csv "lines[1] = lines[1].replace('0x463d53f0', '0x463d53f1')" \
    "receipts.csv:2: column transaction_hash: no such tx"
mal "tx count" blocks.csv "lines[1] = lines[1].replace(',1446561880,4,', ',1446561880,5,')" \
    "blocks.csv:2: column transaction_count"
# a malformed row given to a new store: it stays empty
mkmal token_transfers.csv "lines[1] = lines[1].replace(',100000,', ',1' + '0' * 78 + ',')"
"$BIN" evm-import --db "$T/new" "$T/m" >/dev/null 2>&1
[ $? -eq 1 ] && "$BIN" evm-stats --db "$T/new" --json | grep -q '"blocks": 0' && ok ||
    bad "a refused first import must leave an empty store"

# --- 7. traces: internal transfers, rewards and failed calls from traces.csv (Parity
# trace_block exports of blocks 1000000, 1000690, 1000895, 1011973). ethereum-etl's fixtures
# hold no blocks.csv for them, so blocks and top-level txs are written from the node's
# trace_block response (blockHash, transactionHash, the top-level action).
for b in "$D"/traces/*/; do
    n=$(basename "$b")
    mkdir -p "$T/tr/$n"
    cp "$b/traces.csv" "$T/tr/$n/"
    $PY tests/evm_exports.py from-traces "$b" "$T/tr/$n"
    "$BIN" evm-import --db "$T/tr/db-$n" "$T/tr/$n" >/dev/null || bad "traces $n import"
    oracle "traces $n" "$BIN" "$T/tr/db-$n" eth "$T/tr/$n"
done
"$BIN" evm-stats --db "$T/tr/db-block_with_suicide" --json >"$T/st.json"
$PY tests/evm_stats_check.py selfdestruct "$T/st.json" &&
    ok || bad "selfdestruct transfer and block reward: $(cat "$T/st.json")"
"$BIN" evm-stats --db "$T/tr/db-block_with_error" --json >"$T/st.json"
$PY tests/evm_stats_check.py failed-call "$T/st.json" &&
    ok || bad "a failed top-level call moves nothing: $(cat "$T/st.json")"

# --- 8. tokens.csv: the registry names a token's symbol and decimals
printf 'address,symbol,name,decimals,total_supply,block_number\n0xf4eced2f682ce333f96f2d8966c613ded8fc95dd,TST,"Test, ""quoted""",6,1,\n' >"$T/tokens.csv"
"$BIN" evm-import --db "$T/b" "$T/tokens.csv" "$D/tokens/tokens.csv" >/dev/null || bad "tokens import"
"$BIN" evm-address --db "$T/b" --json 0xac4df82fe37ea2187bc8c011a23d743b4f39019a >"$T/out"
$PY tests/evm_stats_check.py token-meta "$T/out" &&
    ok || bad "token metadata: $(cat "$T/out")"

# --- 9. usage and locking
"$BIN" evm-stats --db "$T/b" --chain ETH >/dev/null 2>&1
[ $? -eq 2 ] && ok || bad "--chain ETH must be refused (exit 2)"
"$BIN" evm-stats --db "$T/b" --chain bsc >/dev/null 2>&1
[ $? -eq 3 ] && ok || bad "a chain not imported is exit 3"
"$BIN" evm-stats --db "$T/b" --chain eth extra >/dev/null 2>&1
[ $? -eq 2 ] && ok || bad "extra arguments are exit 2"
flock "$T/b/evm/eth/LOCK" sleep 5 &
sleep 0.5
"$BIN" evm-import --db "$T/b" "$D/b483920" >/dev/null 2>"$T/err"
rc=$?
wait
[ $rc -eq 1 ] && grep -q "holds the lock" "$T/err" && ok || bad "a second writer must be refused: $rc $(cat "$T/err")"

finish
