#!/bin/bash
# Forged blocks (review findings 8 and 9): on the real mainnet demo blocks, a fork block after
# height 100 that claims high work without the proof, one with a valid regtest proof of work,
# and one with the maximal work claim are refused with file, offset and hash, and leave the
# store byte for byte as it was (block 170's payment stays). On regtest-like chains: a fork
# whose bits break the no-retargeting rule, coinbases whose amounts overflow int64 or exceed
# the subsidy, and an undeclared genesis are refused; the network is recorded per store.
source "$(dirname "$0")/common.sh"
DEMO=demo/blk00000.dat
PAY170=f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16
blocks() { "$BIN" stats --db "$1" --json | $PY tests/jget.py '["blocks"]'; }
refused() { # NAME DB FILE PATTERN...: import fails, the error matches every PATTERN, the store is unchanged
    local name=$1 db=$2 file=$3; shift 3
    rm -rf "$T/before" && cp -a "$db" "$T/before"
    "$BIN" import --db "$db" --quiet "$file" >"$T/out" 2>"$T/err" && { bad "$name: accepted: $(cat "$T/out")"; return; }
    for p in "$@"; do grep -qE -- "$p" "$T/err" || { bad "$name: error lacks '$p': $(cat "$T/err")"; return; }; done
    diff -r "$T/before" "$db" >/dev/null && ok || bad "$name: the store changed"
}

mkdir -p "$T/craft"
$PY tests/pow_craft.py fork "$DEMO" "$T/craft" || bad "pow_craft fork"
$PY tests/pow_craft.py amounts "$T/craft" || bad "pow_craft amounts"

# 1. The real mainnet blocks import and declare mainnet.
"$BIN" import --db "$T/m" --quiet --json "$DEMO" >"$T/m.json" && grep -q '"network": "mainnet"' "$T/m.json" &&
    [ "$(blocks "$T/m")" = 439 ] && ok || bad "demo import: $(cat "$T/m.json")"
grep -q '^network mainnet$' "$T/m/MANIFEST" && ok || bad "network recorded in the MANIFEST"

# 2. The review's attack: bits 0x14100000 after height 100, hash nowhere near the target.
H=$($PY tests/pow_check.py block-hash "$T/craft/heavy.dat")
refused "heavy fork" "$T/m" "$T/craft/heavy.dat" "heavy.dat: block at offset 8 \(hash $H\)" "proof of work fails"
[ "$(blocks "$T/m")" = 439 ] && ok || bad "439 blocks after the heavy fork"
"$BIN" tx --db "$T/m" $PAY170 >/dev/null && ok || bad "block 170's payment gone"
# The same block inside a directory with the real blocks (as in a blocks/ dir): refused too.
mkdir -p "$T/dir" && cp "$DEMO" "$T/dir/blk00000.dat" && cp "$T/craft/heavy.dat" "$T/dir/blk00001.dat"
refused "heavy fork in a blocks dir" "$T/m" "$T/dir" "blk00001.dat: block at offset 8" "proof of work fails"
# A fresh import of that directory: refused before a single block is stored.
if "$BIN" import --db "$T/m2" --quiet "$T/dir" >/dev/null 2>"$T/err"; then
    bad "fresh import took the forged block"
else
    grep -q "blk00001.dat: block at offset 8 .*proof of work fails" "$T/err" && [ "$(blocks "$T/m2")" = 0 ] &&
        ok || bad "fresh import with a forged block: $(cat "$T/err")"
fi

# 3. A valid regtest proof of work (bits 0x207fffff) on a mainnet store: beyond mainnet's limit.
refused "regtest pow on mainnet" "$T/m" "$T/craft/regtest.dat" "regtest.dat: block at offset 8" \
    "easier than mainnet's proof-of-work limit 0x1d00ffff"
# ... also when the operator insists on regtest rules: the store is mainnet's.
refused "--network regtest on mainnet" "$T/m" "$T/craft/regtest.dat" >/dev/null
"$BIN" import --db "$T/m" --network regtest --quiet "$T/craft/regtest.dat" 2>"$T/err" && bad "--network regtest accepted" ||
    { grep -q "holds a mainnet chain" "$T/err" && ok || bad "--network mismatch: $(cat "$T/err")"; }

# 4. The maximal work claim (target 1), which overflowed the 128-bit chainwork before.
refused "bits 0x03000001" "$T/m" "$T/craft/maxwork.dat" "maxwork.dat: block at offset 8" "proof of work fails"
"$BIN" tx --db "$T/m" $PAY170 >/dev/null && [ "$(blocks "$T/m")" = 439 ] && ok || bad "store after all forgeries"

# 5. Regtest-like chains (tests/mkchain.py): the generator's declaration is recorded; a fork
# whose bits change (0x1f7fffff: more work per block, solved) breaks "no retargeting".
$PY tests/mkchain.py "$T/c.json" --blocks 30 --seed 3 --fork-at 20 --fork-len 3 --fork-bits 1f7fffff
$PY tests/mkchain.py write "$T/r0.dat" "$T/c.json" main 0 30
$PY tests/mkchain.py write "$T/r1.dat" "$T/c.json" fork 0 3
"$BIN" import --db "$T/r" --quiet "$T/r0.dat" >/dev/null && grep -q '^network regtest$' "$T/r/MANIFEST" && ok || bad "regtest chain"
refused "regtest bits change" "$T/r" "$T/r1.dat" "r1.dat: block at offset 8" \
    "height 20: bits 0x1f7fffff, but regtest's difficulty rules require 0x207fffff"

# 6. A genesis that declares no rules is refused unless --network names them.
$PY tests/pow_craft.py undeclared "$T/craft/undeclared.dat"
"$BIN" import --db "$T/u" --quiet "$T/craft/undeclared.dat" 2>"$T/err" && bad "undeclared genesis accepted" ||
    { grep -q "undeclared.dat: block at offset 8: genesis .* bits 0x1f7fffff .*--network" "$T/err" && ok || bad "undeclared: $(cat "$T/err")"; }
"$BIN" import --db "$T/u" --quiet --network regtest "$T/craft/undeclared.dat" >/dev/null && grep -q '^network regtest$' "$T/u/MANIFEST" &&
    [ "$(blocks "$T/u")" = 1 ] && ok || bad "--network regtest for an undeclared genesis"
"$BIN" import --db "$T/u2" --quiet --network mainnet "$DEMO" >/dev/null && ok || bad "--network mainnet on mainnet"
"$BIN" import --db "$T/u3" --quiet --network testnet "$DEMO" 2>"$T/err" && bad "--network testnet on mainnet's genesis" ||
    { grep -q "genesis block is mainnet's" "$T/err" && ok || bad "testnet on mainnet: $(cat "$T/err")"; }

# 7. Amounts (finding 9): 4400 x 21M BTC overflows the coinbase's sum; the chain whose later tx
# spends 8000 such outputs is refused at its first oversized coinbase; a coinbase above subsidy
# plus fees is refused (nothing of the failed batch stays: 0 blocks); where a block's fees are unknown (an unresolved input) it is not.
stats_sane() { "$BIN" stats --db "$1" --json | $PY tests/pow_check.py stats-sane "$2"; }
"$BIN" import --db "$T/o" --quiet "$T/craft/overflow.dat" 2>"$T/err" && bad "overflow accepted" ||
    { grep -qE "overflow.dat: block at offset [0-9]+: block [0-9a-f]{64} \(height 1\): tx 0: the sum of the outputs overflows 64 bits" "$T/err" &&
        ok || bad "overflow error: $(cat "$T/err")"; }
stats_sane "$T/o" 0 && ok || bad "overflow left bad totals"
"$BIN" import --db "$T/g" --quiet "$T/craft/greedy.dat" 2>"$T/err" && bad "greedy accepted" ||
    { grep -qE "greedy.dat: block at offset [0-9]+: block [0-9a-f]{64} \(height 1\): tx 0: the coinbase pays 8400000000000000000 sat, more than the subsidy 5000000000 plus the block's fees 0" "$T/err" &&
        ok || bad "greedy error: $(cat "$T/err")"; }
stats_sane "$T/g" 0 && ok || bad "greedy left bad totals"
"$BIN" import --db "$T/i" --quiet "$T/craft/rich.dat" 2>"$T/err" && bad "rich coinbase accepted" ||
    { grep -q "the coinbase pays 5000000001 sat, more than the subsidy 5000000000" "$T/err" && ok || bad "rich: $(cat "$T/err")"; }
"$BIN" import --db "$T/s" --quiet "$T/craft/spendsum.dat" >/dev/null && stats_sane "$T/s" 3 && ok || bad "unknown fees: no coinbase check"

finish
