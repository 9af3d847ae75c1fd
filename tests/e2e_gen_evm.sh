#!/bin/bash
# e2e_gen_evm: `cointrail generate --evm` (issue 7): the EVM CSVs import with `evm-import`; the
# EVM side and its Bitcoin legs check out against tests/gen_evm_check.py (python ints from the
# raw CSVs, python3-bitcoinlib for the blocks, pycryptodome's Keccak); the Bitcoin chain still
# passes tests/gen_bitcoinlib_check.py and `import` + `stats`; the same seed gives the same
# bytes, another seed others; an earlier EVM output is refused without --force; labels import.
. "$(dirname "$0")/common.sh"
gen() { # DIR ARGS...
    local d=$1
    shift
    "$BIN" generate --quiet --out "$d" --blocks 240 --txs-per-block 60 --users 400 --maturity 5 \
        --halving-interval 60 --era 2019.5-2024.3 --privacy-rate 0.25 --evm "$@" >"$T/gen.out" 2>"$T/gen.err"
}
snap() { (cd "$1" && find . -type f | sort | xargs sha256sum); }

if gen "$T/a" --seed 11 --xor --evm-scenarios 2 --evm-txs-per-block 1.5; then ok; else
    bad "generate --evm failed: $(cat "$T/gen.err")"
    finish
    exit
fi
for f in blocks transactions receipts logs token_transfers traces tokens; do
    if [ -s "$T/a/evm/$f.csv" ]; then ok; else bad "evm/$f.csv missing or empty"; fi
done

# determinism: the same seed gives the same bytes; another seed other CSVs
gen "$T/b" --seed 11 --xor --evm-scenarios 2 --evm-txs-per-block 1.5 || bad "second run failed"
if [ "$(snap "$T/a")" = "$(snap "$T/b")" ]; then ok; else
    bad "same seed, different files"
    diff <(snap "$T/a") <(snap "$T/b") | head -5
fi
gen "$T/c" --seed 12 --xor --evm-scenarios 2 --evm-txs-per-block 1.5 || bad "third run failed"
if cmp -s "$T/a/evm/transactions.csv" "$T/c/evm/transactions.csv"; then bad "another seed, same txs"; else ok; fi

# the importer takes the whole export, and counts what the truth says
if "$BIN" evm-import --db "$T/db" "$T/a/evm" >"$T/imp.out" 2>"$T/imp.err"; then ok; else
    bad "evm-import failed: $(cat "$T/imp.err")"
fi
"$BIN" evm-stats --db "$T/db" --json >"$T/stats.json" 2>"$T/err" || bad "evm-stats failed: $(cat "$T/err")"
if $PY tests/gen_evm_truth.py stats "$T/stats.json" "$T/a/truth.jsonl"; then ok; else bad "evm-stats differs from the truth"; fi
# an account's balance through the store equals the truth's (hot wallet, vault, a thief)
for role in exchange_hot_wallet thorchain_vault thief; do
    addr=$($PY tests/gen_evm_truth.py account "$T/a/truth.jsonl" $role)
    set -- $addr
    "$BIN" evm-address --db "$T/db" --json --limit 0 "$1" >"$T/addr.json" 2>"$T/err"
    if $PY tests/gen_evm_truth.py shows "$T/addr.json" "$2"; then ok; else
        bad "evm-address $role $1: balance $2 not shown"
    fi
done

# the independent checks of the EVM side and its Bitcoin legs
if $PY tests/gen_evm_check.py "$T/a" >"$T/check.out" 2>&1; then ok; else
    bad "gen_evm_check: $(grep -E 'FAIL|Error|passed' "$T/check.out" | head -8)"
fi
tail -2 "$T/check.out"

# the checker can fail: a tx value changed (balances), a link's amount changed (truth vs chain),
# a memo's address changed (OUT: names a deposit whose memo pays someone else)
mutate() { # NAME PYTHON-EXPR-ON-TEXT FILE
    rm -rf "$T/m" && cp -r "$T/a" "$T/m"
    $PY tests/gen_evm_truth.py mutate "$T/m/$3" "$2"
    if $PY tests/gen_evm_check.py "$T/m" >"$T/mut.out" 2>&1; then bad "mutation '$1' not detected"; else ok; fi
}
mutate "tx value" "s.replace(',1000000000000000000,', ',1000000000000000001,', 1)" evm/transactions.csv
mutate "link amount" "s.replace('\"outbound_amount\":', '\"outbound_amount\":1', 1)" truth.jsonl
mutate "memo" "s.replace('3a4254432e4254433a6263317', '3a4254432e4254433a6263327', 1)" evm/logs.csv

# the Bitcoin chain still passes the existing checks, and imports to the truth's totals
if "$BIN" import --db "$T/btc" --quiet "$T/a" >/dev/null 2>"$T/err" &&
    "$BIN" stats --db "$T/btc" --json >"$T/btcstats.json" 2>>"$T/err"; then ok; else
    bad "import of the Bitcoin chain failed: $(cat "$T/err")"
fi
if $PY tests/gen_bitcoinlib_check.py --stats "$T/a=$T/btcstats.json" "$T/a" >"$T/bl.out" 2>&1; then ok; else
    bad "gen_bitcoinlib_check: $(grep -E 'FAIL|passed' "$T/bl.out" | head -5)"
fi

# the labels (btc and eth rows) import
if "$BIN" labels import --db "$T/lab" --format csv "$T/a/labels.csv" >/dev/null 2>"$T/err"; then ok; else
    bad "labels import failed: $(cat "$T/err")"
fi

# an earlier EVM output is refused without --force, replaced with it
rm -f "$T/b"/blk*.dat "$T/b"/truth.jsonl "$T/b"/labels.csv "$T/b"/incidents.csv "$T/b"/xor.dat
if gen "$T/b" --seed 11; then bad "an earlier evm/ was overwritten without --force"; else
    if grep -q "evm/blocks.csv" "$T/gen.err"; then ok; else bad "refusal does not name the file: $(cat "$T/gen.err")"; fi
fi
if gen "$T/b" --seed 11 --force; then ok; else bad "--force did not replace evm/: $(cat "$T/gen.err")"; fi

# without --evm, no EVM output and no EVM lines
"$BIN" generate --quiet --out "$T/plain" --blocks 60 --txs-per-block 20 --users 100 --maturity 5 >/dev/null 2>&1
if [ ! -e "$T/plain/evm" ] && ! grep -Eq "\"(evm|evm_[a-z_]*|xchain_link|mixer_link)\"" "$T/plain/truth.jsonl"; then ok; else bad "EVM output without --evm"; fi
finish
