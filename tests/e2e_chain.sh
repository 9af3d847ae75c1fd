#!/bin/bash
# The importer on chains serialized by python3-bitcoinlib (tests/mkchain.py): blocks in any
# order over several files, zero padding, xor.dat, incremental imports, a stale branch, a
# reorganisation to a heavier branch, and kill -9 at many points followed by a resume that
# gives byte-for-byte the store of an uninterrupted import. Every stats figure is compared
# with tests/oracle.py's independent computation.
source "$(dirname "$0")/common.sh"
same_stats() { # DB PATH... : our stats (running and recomputed) equal the oracle's
    local db=$1; shift
    "$BIN" stats --db "$db" --json >"$T/ours.json" &&
        "$BIN" stats --db "$db" --json --recompute >"$T/ours2.json" &&
        $PY tests/oracle.py stats "$@" >"$T/theirs.json" &&
        $PY tests/compare.py stats "$T/ours.json" "$T/theirs.json" &&
        $PY tests/compare.py stats "$T/ours2.json" "$T/theirs.json"
}
mk() { $PY tests/mkchain.py write "$@"; }

$PY tests/mkchain.py "$T/c.json" --blocks 60 --seed 7 --fork-at 45 --fork-len 16 --fork-coinbase-only
$PY tests/mkchain.py "$T/light.json" --blocks 60 --seed 7 --fork-at 50 --fork-len 3

# 1. Any order over two files, padding and xor.
mkdir -p "$T/a"
head -c 8 /dev/urandom >"$T/a/xor.dat"
mk "$T/a/blk00000.dat" "$T/c.json" main 0 25 --shuffle 1 --pad 4096 --xor-dir "$T/a"
mk "$T/a/blk00001.dat" "$T/c.json" main 25 40 --shuffle 2 --pad 13 --xor-dir "$T/a"
"$BIN" import --db "$T/db" "$T/a" >/dev/null && same_stats "$T/db" "$T/a" && ok || bad "shuffled xor import"

# 2. Incremental: more blocks arrive in a new file.
mk "$T/a/blk00002.dat" "$T/c.json" main 40 60 --xor-dir "$T/a"
"$BIN" import --db "$T/db" "$T/a" >/dev/null && same_stats "$T/db" "$T/a" && ok || bad "incremental import"
[ "$("$BIN" stats --db "$T/db" --json | $PY tests/jget.py '["blocks"]')" = 60 ] && ok || bad "60 blocks"

# 3. A lighter branch is stale: nothing changes.
mk "$T/a/blk00003.dat" "$T/light.json" fork 0 3 --xor-dir "$T/a"
cp "$T/db/MANIFEST" "$T/manifest.before"
out=$("$BIN" import --db "$T/db" "$T/a" --json)
echo "$out" | grep -q '"stale_blocks": 3' && ok || bad "stale branch counted: $out"
cmp -s "$T/db/MANIFEST" "$T/manifest.before" && ok || bad "stale branch changed the store"

# 4a. A heavier branch whose first block is corrupt: the error names it, the old chain stays.
mkdir -p "$T/bad"
cp "$T/a/xor.dat" "$T/bad/"
mk "$T/bad/blk00000.dat" "$T/c.json" fork 0 16 --xor-dir "$T/bad"
$PY tests/chain_reorg.py corrupt "$T/bad/blk00000.dat"
cp -r "$T/db" "$T/db.before-bad"
"$BIN" import --db "$T/db" "$T/bad" >/dev/null 2>"$T/bad.err" && bad "corrupt branch accepted" ||
    { grep -q "bad/blk00000.dat: block at offset 8" "$T/bad.err" && ok || bad "corrupt branch error: $(cat "$T/bad.err")"; }
diff -r "$T/db.before-bad" "$T/db" >/dev/null && ok || bad "corrupt heavier branch changed the store"

# 4. A heavier branch from height 45 reorganises the store.
mk "$T/a/blk00004.dat" "$T/c.json" fork 0 16 --xor-dir "$T/a"
out=$("$BIN" import --db "$T/db" "$T/a" --json)
echo "$out" | grep -q '"blocks_removed": 15' && ok || bad "reorg removed 15 blocks: $out"
same_stats "$T/db" "$T/a" && ok || bad "stats after reorg"
# The same files imported fresh give the same figures as the reorganised store.
"$BIN" import --db "$T/fresh" "$T/a" >/dev/null && "$BIN" stats --db "$T/fresh" --json >"$T/f.json" &&
    "$BIN" stats --db "$T/db" --json >"$T/r.json" && cmp -s "$T/f.json" "$T/r.json" && ok || bad "reorg vs fresh"
# and the same address and id columns, byte for byte (format 3: the reorganisation cut the
# addr_key_tail rows of the removed 32-byte programs too)
for c in addr_key addr_key_tail in_prev out_spent out_prev_addr addr_last; do
    cmp -s "$T/fresh/$c.col" "$T/db/$c.col" && ok || bad "reorg vs fresh: $c.col differs"
done
[ -s "$T/db/addr_key_tail.col" ] && ok || bad "no 32-byte program in the chain: addr_key_tail.col empty"
# The same reorganisation while a reader holds the store open (as `cointrail serve` does): no
# column file may shrink under the reader's mappings; once it is gone the next writer cuts the
# files back to exactly what an import without readers leaves.
cp -r "$T/db.before-bad" "$T/dbr"
$PY tests/chain_reorg.py under-reader "$BIN" "$T/dbr" "$T/a" "$T/db" && ok || bad "reorg under a reader"
# A tx of the abandoned branch is gone; one of the new branch is there.
gone=$($PY tests/chain_reorg.py txids "$T/c.json")
set -- $gone
"$BIN" tx --db "$T/db" "$1" >/dev/null 2>&1; [ $? -eq 3 ] && ok || bad "orphaned tx still found"
"$BIN" tx --db "$T/db" "$2" >/dev/null && ok || bad "new branch tx not found"

# 5. Crash anywhere, resume, and get byte-for-byte the uninterrupted store.
mkdir -p "$T/b"
mk "$T/b/blk00000.dat" "$T/c.json" main 0 60 --shuffle 5
"$BIN" import --db "$T/straight" "$T/b" >/dev/null
for n in 1 2 7 30 59; do
    for every in 0 1000; do
        rm -rf "$T/crash"
        # commit after every block (0) or only at the end (1000 s): crashes land mid-batch
        COINTRAIL_TEST_CRASH_AFTER=$n "$BIN" import --db "$T/crash" --commit-seconds $every "$T/b" >/dev/null 2>&1 &
        wait $! 2>/dev/null
        [ $? -eq 137 ] || bad "crash hook did not fire at $n"
        # A reader sees only committed state while the writer is dead.
        "$BIN" stats --db "$T/crash" --json >/dev/null || bad "store unreadable after crash at $n"
        "$BIN" import --db "$T/crash" "$T/b" >/dev/null || bad "resume after crash at $n"
        if diff -r "$T/straight" "$T/crash" >/dev/null; then ok; else bad "store differs after crash at $n (commit every $every s)"; fi
    done
done
# A crash in the middle of applying a heavier branch: the rerun finishes the reorganisation.
mkdir -p "$T/c"
mk "$T/c/blk00000.dat" "$T/c.json" main 0 60
"$BIN" import --db "$T/rc" "$T/c" >/dev/null
mk "$T/c/blk00001.dat" "$T/c.json" fork 0 16
COINTRAIL_TEST_CRASH_AFTER=2 "$BIN" import --db "$T/rc" --commit-seconds 1000 "$T/c" >/dev/null 2>&1 &
wait $! 2>/dev/null
[ $? -eq 137 ] || bad "crash hook did not fire in the reorg"
same_stats "$T/rc" "$T/c/blk00000.dat" >/dev/null 2>&1 && bad "crashed reorg left the old tip" || ok
"$BIN" import --db "$T/rc" "$T/c" >/dev/null && same_stats "$T/rc" "$T/c" && ok || bad "resume of a crashed reorg"

# A second resume with nothing new changes nothing.
"$BIN" import --db "$T/crash" "$T/b" >/dev/null && diff -r "$T/straight" "$T/crash" >/dev/null && ok || bad "idempotent re-import"

finish
