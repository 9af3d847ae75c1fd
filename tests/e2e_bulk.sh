#!/bin/bash
# The bulk import (import --bulk, issue 18) gives the very store the block-by-block import
# gives: every file of the store directory byte for byte (so every query answer), on generated
# chains (several blk files, OP_RETURN payloads, xor.dat, reused addresses), on chains that
# python3-bitcoinlib serialized (stale branches, blocks out of order, unresolved inputs, a spend
# of a later tx in the same block, a duplicate txid spent after its second tx), and on mainnet's first 439 blocks (demo/); `stats
# --recompute` agrees with the running totals. A kill -9 in every phase leaves the empty store,
# and a rerun gives the same bytes: resumed from the checkpoint after the block loop (its
# --json and stderr say so, no block parsed, the sorts' unwritten records made again), or from
# the last checkpoint in the block loop (several kills at random points in a row, parsing on
# from the next block), or started again when killed in the block loop before any checkpoint,
# or when the checkpoint cannot be trusted (a
# corrupt or short marker, a missing or short temp file or column, a column, temp file or run
# whose bytes changed (their sums), another budget, another chain or touched block files;
# stderr says why). Crafted invalid chains (double spends, a missing output,
# overspending, a greedy coinbase, two faults) are refused with the incremental path's exact
# message (and forged work, 64-bit overflows, greedy coinbases: tests/pow_craft.py), leaving the
# store empty. A full disk (or a file size limit) is an error, not a signal. All of it again with
# the smallest sort budget (--memory 1M: sorted runs spilled to temp files and merged), which
# gives the same bytes and the same messages, and names the temp file a full disk stopped.
source "$(dirname "$0")/common.sh"
SMALL=
cleanup() {
    [ -n "$SMALL" ] && umount "$SMALL" 2>/dev/null
    [ -n "${KEEP_T:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

same_tree() { # DIR1 DIR2 -> 0 if the same files with the same bytes; names what differs
    local r=0
    diff <(cd "$1" && find . | sort) <(cd "$2" && find . | sort) >"$T/tree.diff" ||
        { echo "  file lists differ: $(tr '\n' ' ' <"$T/tree.diff" | head -c 400)"; r=1; }
    while read -r f; do
        cmp -s "$1/$f" "$2/$f" || { echo "  differs: $f"; r=1; }
    done < <(cd "$1" && find . -type f | sort)
    return $r
}
blocks_of() { "$BIN" stats --db "$1" --json | $PY tests/jget.py '["blocks"]'; }
imp() { "$BIN" import --quiet "$@" >/dev/null; }

# compare NAME PATH... : incremental into $T/NAME.inc, bulk into $T/NAME.bulk, then every file
compare() {
    local name=$1
    shift
    imp --no-bulk --db "$T/$name.inc" "$@" || bad "$name: incremental import"
    "$BIN" import --bulk --json --db "$T/$name.bulk" "$@" >"$T/$name.imp.json" || bad "$name: bulk import"
    same_tree "$T/$name.inc" "$T/$name.bulk" && ok || bad "$name: bulk store differs from the incremental one"
    # the smallest budget: every sort spills runs (and merges them in passes) when it has more
    # than a few thousand records
    "$BIN" import --bulk --memory 1M --json --db "$T/$name.bulkm" "$@" >"$T/$name.impm.json" ||
        bad "$name: bulk import --memory 1M"
    same_tree "$T/$name.inc" "$T/$name.bulkm" && ok || bad "$name: bulk --memory 1M store differs from the incremental one"
    ls "$T/$name.bulkm" | grep -q '\.tmp$' && bad "$name: --memory 1M left temp files" || ok
    "$BIN" stats --db "$T/$name.inc" --recompute --json >"$T/$name.inc.stats" || bad "$name: stats --recompute (incremental)"
    "$BIN" stats --db "$T/$name.bulk" --recompute --json >"$T/$name.bulk.stats" || bad "$name: stats --recompute (bulk)"
    cmp -s "$T/$name.inc.stats" "$T/$name.bulk.stats" && ok || bad "$name: stats --recompute differ"
    echo "$name: $(blocks_of "$T/$name.bulk") blocks, $(cd "$T/$name.bulk" && find . -type f | wc -l) files the same"
}

# ---- generated chains ----
"$BIN" generate --out "$T/g1" --seed 17 --blocks 240 --txs-per-block 150 --maturity 5 \
    --scenarios 4 --scenario-blocks 120 --file-size 2 --quiet >/dev/null || bad "generate g1"
[ "$(ls "$T/g1"/blk*.dat | wc -l)" -ge 6 ] && ok || bad "g1: want several blk files"
compare g1 "$T/g1"
# g1 has more records than a 1M budget holds: runs were spilled and merged; the heap the sorts
# held stayed near the budget (a block's records may pass it until the block is in)
$PY - "$T/g1.impm.json" "$T/g1.imp.json" <<'EOF' && ok || bad "g1: --memory 1M did not spill, or its sorts held more than the budget"
import json, sys
m = json.load(open(sys.argv[1]))["bulk_memory"]
d = json.load(open(sys.argv[2]))["bulk_memory"]
assert m["budget"] == 1 << 20 and m["spilled_bytes"] > 1 << 20, m
assert m["sort_heap_peak"] <= 1.25 * m["budget"], m
assert d["spilled_bytes"] == 0 and d["budget"] >= 1 << 20, d  # the default: one run each
EOF
# the truth of the generator, independent of both imports
"$BIN" stats --db "$T/g1.bulk" --json >"$T/g1.truthstats"
$PY tests/stats_truth.py "$T/g1.truthstats" "$T/g1/truth.jsonl" && ok || bad "g1: bulk stats differ from the generator's truth"
$PY - "$T/g1.bulk.stats" <<'EOF' && ok || bad "g1: no OP_RETURN outputs to compare"
import json, sys
s = json.load(open(sys.argv[1]))
by = s.get("outputs_by_type") or {}
sys.exit(0 if by.get("nulldata", 0) > 0 else 1)
EOF
"$BIN" generate --out "$T/g2" --seed 3 --blocks 150 --txs-per-block 60 --maturity 3 --xor \
    --reuse-rate 0.6 --file-size 1 --quiet >/dev/null || bad "generate g2"
compare g2 "$T/g2"
# file order reversed: blocks out of order on input
mapfile -t rev < <(ls "$T/g2"/blk*.dat | sort -r)
"$BIN" import --bulk --quiet --db "$T/g2.rev" "${rev[@]}" >/dev/null || bad "g2 reversed: bulk import"
same_tree "$T/g2.inc" "$T/g2.rev" && ok || bad "g2: bulk import of the files in reverse order differs"

# ---- python3-bitcoinlib chains: a stale branch, blocks shuffled over two files ----
$PY tests/mkchain.py "$T/c.json" --blocks 60 --seed 7 --fork-at 45 --fork-len 8 || bad "mkchain"
mkdir -p "$T/c"
$PY tests/mkchain.py write "$T/c/blk00000.dat" "$T/c.json" main 0 60 --shuffle 3 || bad "mkchain write"
$PY tests/mkchain.py write "$T/c/blk00001.dat" "$T/c.json" fork 0 8 --shuffle 4 || bad "mkchain write fork"
compare c "$T/c"
$PY tests/jget.py '["stale_blocks"]' <"$T/c.imp.json" >"$T/stale" 2>/dev/null
[ "$(cat "$T/stale")" -gt 0 ] 2>/dev/null && ok || bad "c: no stale blocks seen ($(cat "$T/stale"))"
[ "$($PY tests/jget.py '["unresolved_inputs"]' <"$T/c.bulk.stats")" -gt 0 ] && ok ||
    bad "c: no unresolved inputs to compare"
$PY tests/bulk_craft.py "$T/fwd.blk" forward || bad "craft forward"
compare fwd "$T/fwd.blk"
$PY tests/bulk_craft.py "$T/bip30.blk" bip30 || bad "craft bip30"
compare bip30 "$T/bip30.blk"
[ "$(blocks_of "$T/bip30.bulk")" = 33 ] && ok || bad "bip30: the duplicate coinbase's blocks are missing"
# three addresses sharing their key hash, paid interleaved: told apart through the mapped key
# file (default budget) and, under --memory 1M, with the file larger than the budget, by the
# keys sorted with their records (one record per output with an address: at least one per
# address of the store)
$PY tests/bulk_craft.py "$T/col.blk" collide || bad "craft collide"
compare col "$T/col.blk"
[ "$($PY tests/jget.py '["bulk_memory"]["keys_sorted"]' <"$T/col.imp.json")" = 0 ] && ok ||
    bad "col: keys sorted at the default budget"
naddr=$("$BIN" stats --db "$T/col.inc" --json | $PY tests/jget.py '["addresses"]')
[ "$($PY tests/jget.py '["bulk_memory"]["keys_sorted"]' <"$T/col.impm.json")" -ge "$naddr" ] 2>/dev/null &&
    ok || bad "col: --memory 1M sorted too few keys for $naddr addresses ($($PY tests/jget.py '["bulk_memory"]' <"$T/col.impm.json"))"

# ---- mainnet's first 439 blocks ----
compare mainnet demo/blk00000.dat

# ---- a budget below the smallest, or not a size: refused before anything is written ----
for m in 512K 1000000 0 -1G 4X ""; do
    "$BIN" import --bulk --memory "$m" --db "$T/mtiny" "$T/g1" >/dev/null 2>"$T/mtiny.err"
    rc=$?
    [ $rc = 2 ] && grep -q "at least 1M" "$T/mtiny.err" && [ ! -e "$T/mtiny" ] && ok ||
        bad "--memory '$m': exit $rc, $(cat "$T/mtiny.err")"
done

# ---- kill -9, then rerun: resumed from the checkpoint after the block loop, or started again ----
NB=$(blocks_of "$T/g1.inc")
MARK=bulk-resume
resumed() { # JSON ERR: resumed from the checkpoint, no block parsed or added; the sorts'
    # records the checkpoint did not write (their buffers) made again from the columns
    grep -Eq "resumed from its checkpoint after the block loop \($NB blocks\), [1-9][0-9]* sort records made again" "$2" &&
        $PY - "$1" "$NB" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["resumed_from"] == "blocks", j.get("resumed_from")
assert j["blocks_added"] == 0 and j["txs_added"] == 0 and j["bytes_added"] == 0, j
assert j["phase_seconds"]["wait_for_parse"] == 0, j["phase_seconds"]
assert j["blocks"] == int(sys.argv[2]), j["blocks"]
EOF
}
restarted() { # JSON ERR WORDS: started again (WORDS on stderr, "" for no message), every block added
    { [ -z "$3" ] || grep -q "not resuming, starting again from the first block: .*$3" "$2"; } &&
        $PY - "$1" "$NB" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["resumed_from"] is None, j.get("resumed_from")
assert j["blocks_added"] == int(sys.argv[2]) == j["blocks"], j
EOF
}
for mem in "" "--memory 1M"; do
    tag=${mem:+m}
    # 2: right after the checkpoint; 3-7: entering each later phase of the finish
    for phase in 2 3 4 5 6 7; do
        D=$T/kill$tag$phase
        COINTRAIL_TEST_BULK_CRASH_PHASE=$phase "$BIN" import --bulk $mem --quiet --db "$D" "$T/g1" >/dev/null 2>&1
        rc=$?
        [ $rc = 137 ] && ok || bad "phase $phase $mem: no SIGKILL (exit $rc)"
        [ "$(blocks_of "$D")" = 0 ] && ok || bad "phase $phase $mem: the killed import left blocks visible"
        [ -s "$D/$MARK" ] && ok || bad "phase $phase $mem: no checkpoint marker"
        "$BIN" import --bulk $mem --json --db "$D" "$T/g1" >"$D.json" 2>"$D.err" || bad "phase $phase $mem: rerun"
        resumed "$D.json" "$D.err" && ok || bad "phase $phase $mem: the rerun did not resume: $(cat "$D.err")"
        same_tree "$T/g1.inc" "$D" && ok || bad "phase $phase $mem: killed and rerun, the store differs"
    done
    # killed twice after the checkpoint: resumed twice
    D=$T/kill${tag}twice
    COINTRAIL_TEST_BULK_CRASH_PHASE=4 "$BIN" import --bulk $mem --quiet --db "$D" "$T/g1" >/dev/null 2>&1
    COINTRAIL_TEST_BULK_CRASH_PHASE=6 "$BIN" import --bulk $mem --json --db "$D" "$T/g1" >"$D.json" 2>"$D.err"
    [ $? = 137 ] && ok || bad "twice $mem: no second kill"
    "$BIN" import --bulk $mem --json --db "$D" "$T/g1" >"$D.json" 2>"$D.err" || bad "twice $mem: rerun"
    resumed "$D.json" "$D.err" && same_tree "$T/g1.inc" "$D" && ok || bad "twice $mem: killed twice, rerun differs"
    # in the block loop: no checkpoint yet, started again from the first block
    D=$T/kill${tag}loop
    COINTRAIL_TEST_CRASH_AFTER=100 "$BIN" import --bulk $mem --quiet --db "$D" "$T/g1" >/dev/null 2>&1
    rc=$?
    [ $rc = 137 ] && [ ! -e "$D/$MARK" ] && ok || bad "block loop $mem: exit $rc, or a marker"
    "$BIN" import --bulk $mem --json --db "$D" "$T/g1" >"$D.json" 2>"$D.err" || bad "block loop $mem: rerun"
    restarted "$D.json" "$D.err" "" && ok || bad "block loop $mem: the rerun did not start again"
    same_tree "$T/g1.inc" "$D" && ok || bad "block loop $mem: killed and rerun, the store differs"
done
# Checkpoints in the block loop (here every 7 blocks; by time otherwise): a kill -9 at random
# points of the loop, several in a row, each rerun resuming from the last checkpoint before the
# kill and parsing on from the next block; the last rerun's store the same bytes.
for mem in "" "--memory 1M"; do
    D=$T/loopkills${mem:+m}
    at=0 kills=""
    for round in 1 2 3 4; do
        k=$((RANDOM % 40 + 1))
        kills="$kills $k"
        COINTRAIL_TEST_BULK_CHECKPOINT_BLOCKS=7 COINTRAIL_TEST_CRASH_AFTER=$k "$BIN" import --bulk $mem --quiet --db "$D" "$T/g1" >/dev/null 2>&1
        rc=$?
        # the checkpoint after the k-th block is not made: the kill comes first
        at=$((at + (k - 1) / 7 * 7))
        [ $rc = 137 ] && [ "$(blocks_of "$D")" = 0 ] && ok || bad "loop kills$kills $mem: exit $rc, or blocks visible"
        { [ $at = 0 ] || [ -s "$D/$MARK" ]; } && ok || bad "loop kills$kills $mem: no checkpoint marker"
    done
    COINTRAIL_TEST_BULK_CHECKPOINT_BLOCKS=7 "$BIN" import --bulk $mem --json --db "$D" "$T/g1" >"$D.json" 2>"$D.err" || bad "loop kills$kills $mem: rerun"
    if [ $at = 0 ]; then
        restarted "$D.json" "$D.err" "" && ok || bad "loop kills$kills $mem: not started again"
    else
        grep -Eq "resumed from its checkpoint in the block loop \($at blocks in\), [1-9][0-9]* sort records made again" "$D.err" &&
            $PY - "$D.json" "$NB" "$at" <<'EOF' && ok || bad "loop kills$kills $mem: not resumed at block $at: $(cat "$D.err")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["resumed_from"] == "block_loop", j.get("resumed_from")
assert j["blocks_added"] == int(sys.argv[2]) - int(sys.argv[3]) and j["blocks"] == int(sys.argv[2]), j
EOF
    fi
    same_tree "$T/g1.inc" "$D" && ok || bad "loop kills$kills $mem: killed and rerun, the store differs"
done
# a half-written next marker (a kill while writing it) is removed; the whole one is used
D=$T/killnew
COINTRAIL_TEST_BULK_CRASH_PHASE=5 "$BIN" import --bulk --quiet --db "$D" "$T/g1" >/dev/null 2>&1
head -c 100 "$D/$MARK" >"$D/$MARK.new"
"$BIN" import --bulk --json --db "$D" "$T/g1" >"$D.json" 2>"$D.err" || bad "killnew: rerun"
resumed "$D.json" "$D.err" && same_tree "$T/g1.inc" "$D" && ok || bad "killnew: not resumed, or differs"
# a checkpoint not to be trusted: started again, saying why, with the same bytes
kill_at4() { # DIR OPTIONS...: killed entering phase 4 (or $PHASE), the checkpoint in place
    local d=$1
    shift
    COINTRAIL_TEST_BULK_CRASH_PHASE=${PHASE:-4} "$BIN" import --bulk "$@" --quiet --db "$d" "$T/g1" >/dev/null 2>&1
    [ $? = 137 ] && [ -s "$d/$MARK" ] || bad "$d: no kill with a checkpoint"
}
rerun_restarts() { # NAME WORDS OPTIONS...: the rerun of $T/disNAME
    local name=$1 words=$2 D=$T/dis$1
    shift 2
    "$BIN" import --bulk "$@" --json --db "$D" "$T/g1" >"$D.json" 2>"$D.err" || bad "$name: rerun: $(cat "$D.err")"
    restarted "$D.json" "$D.err" "$words" && ok || bad "$name: not started again with '$words': $(cat "$D.err")"
    same_tree "$T/g1.inc" "$D" && ok || bad "$name: started again, the store differs"
}
kill_at4 "$T/discorrupt"
size=$(stat -c %s "$T/discorrupt/$MARK")
printf '\x5a' | dd of="$T/discorrupt/$MARK" bs=1 seek=$((size / 2)) conv=notrunc status=none
rerun_restarts corrupt "checksum"
kill_at4 "$T/distrunc"
truncate -s -40 "$T/distrunc/$MARK"
rerun_restarts trunc "checksum"
kill_at4 "$T/disempty"
: >"$T/disempty/$MARK"
rerun_restarts empty "checksum"
# killed right after the checkpoint: the file holds just its runs (later phases append merges)
PHASE=2 kill_at4 "$T/disrun" --memory 1M
[ "$(stat -c %s "$T/disrun/bulk-inputs.tmp")" -gt 1000000 ] && ok || bad "disrun: no spilled runs to cut"
truncate -s -56 "$T/disrun/bulk-inputs.tmp"
rerun_restarts run "bulk-inputs.tmp: .* bytes, the checkpoint needs" --memory 1M
kill_at4 "$T/disgone" --memory 1M
rm "$T/disgone/bulk-txids.tmp"
# (a kill later than the checkpoint: merged runs appended past the checkpoint's, a few cut off)
kill_at4 "$T/dislate" --memory 1M
truncate -s -56 "$T/dislate/bulk-inputs.tmp"
"$BIN" import --bulk --memory 1M --json --db "$T/dislate" "$T/g1" >"$T/dislate.json" 2>"$T/dislate.err" || bad "dislate: rerun"
resumed "$T/dislate.json" "$T/dislate.err" && same_tree "$T/g1.inc" "$T/dislate" && ok ||
    bad "dislate: bytes past the checkpoint's cut, not resumed or different"
rerun_restarts gone "bulk-txids.tmp: cannot open" --memory 1M
kill_at4 "$T/disprev"
truncate -s -36 "$T/disprev/bulk-prevouts.tmp"
rerun_restarts prev "bulk-prevouts.tmp: missing, or not the checkpoint's"
kill_at4 "$T/discol"
truncate -s 100 "$T/discol/tx.col"
rerun_restarts col "tx.col: shorter than the checkpoint's"
# Nothing but the marker is synced: the columns, temp files and runs are checked against the
# marker's sums. A page lost (zeros, as a power loss may leave it) or a byte changed, with the
# file's size kept, is a restart naming the file.
flip() { # FILE OFFSET: the byte at OFFSET inverted
    $PY -c 'import sys
f = open(sys.argv[1], "r+b"); f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xff]))' "$1" "$2"
}
kill_at4 "$T/dissumcol"
dd if=/dev/zero of="$T/dissumcol/tx_hash.col" bs=4096 seek=2 count=1 conv=notrunc status=none
rerun_restarts sumcol "tx_hash.col: not the checkpoint's rows (checksum)"
PHASE=6 kill_at4 "$T/dissumval"
flip "$T/dissumval/out_value.col" 777
rerun_restarts sumval "out_value.col: not the checkpoint's rows (checksum)"
kill_at4 "$T/dissumprev"
flip "$T/dissumprev/bulk-prevouts.tmp" 5000
rerun_restarts sumprev "bulk-prevouts.tmp: not the checkpoint's bytes (checksum)"
kill_at4 "$T/dissumkeys"
flip "$T/dissumkeys/bulk-addrkeys.tmp" 4000
rerun_restarts sumkeys "bulk-addrkeys.tmp: not the checkpoint's bytes (checksum)"
PHASE=2 kill_at4 "$T/dissumrun" --memory 1M
flip "$T/dissumrun/bulk-addrs.tmp" 100000
rerun_restarts sumrun "bulk-addrs.tmp: run [0-9]* is not the checkpoint's (checksum)" --memory 1M
# what the finish computes in place (spent marks, address ids) is reset on a resume, not
# checked: changed after the checkpoint, it still resumes to the same bytes
D=$T/killreset
COINTRAIL_TEST_BULK_CRASH_PHASE=7 "$BIN" import --bulk --quiet --db "$D" "$T/g1" >/dev/null 2>&1
flip "$D/out_spent.col" 1234
flip "$D/out_prev_addr.col" 444
"$BIN" import --bulk --json --db "$D" "$T/g1" >"$D.json" 2>"$D.err" || bad "killreset: rerun"
resumed "$D.json" "$D.err" && same_tree "$T/g1.inc" "$D" && ok || bad "killreset: not resumed, or differs: $(cat "$D.err")"
kill_at4 "$T/dismem" --memory 1M
rerun_restarts mem "made with a memory budget of 1048576 bytes, not 2097152" --memory 2M
# another chain: the killed import stopped at block 200, the rerun takes all of them
COINTRAIL_TEST_BULK_CRASH_PHASE=4 "$BIN" import --bulk --stop-after 200 --quiet --db "$T/dischain" "$T/g1" >/dev/null 2>&1
[ -s "$T/dischain/$MARK" ] && ok || bad "dischain: no checkpoint"
rerun_restarts chain "made for another chain"
# the same blocks, but a block file touched since: not the same files
D=$T/disfiles
cp -r "$T/g1" "$T/g1copy"
COINTRAIL_TEST_BULK_CRASH_PHASE=4 "$BIN" import --bulk --quiet --db "$D" "$T/g1copy" >/dev/null 2>&1
touch -d '2001-01-01' "$T/g1copy/blk00000.dat"
"$BIN" import --bulk --json --db "$D" "$T/g1copy" >"$D.json" 2>"$D.err" || bad "disfiles: rerun"
restarted "$D.json" "$D.err" "made for another chain" && same_tree "$T/g1.inc" "$D" && ok ||
    bad "disfiles: not started again: $(cat "$D.err")"
rm -rf "$T/g1copy"
# a marker left in a committed store (killed between the commit and its removal): removed
cp -r "$T/g1.inc" "$T/discommitted"
kill_at4 "$T/dismark"
cp "$T/dismark/$MARK" "$T/dismark/bulk-txids.tmp" "$T/discommitted/"
imp --bulk --db "$T/discommitted" "$T/g1" || bad "discommitted: rerun"
same_tree "$T/g1.inc" "$T/discommitted" && ok || bad "discommitted: the stale marker or temp file was left"
# a block-by-block import onto a killed bulk import's store voids the checkpoint
D=$T/disinc
kill_at4 "$D"
imp --db "$D" --stop-after 50 "$T/g1" || bad "disinc: incremental import"
[ ! -e "$D/$MARK" ] && ok || bad "disinc: the marker outlived a block-by-block import"
imp --bulk --db "$D" "$T/g1" || bad "disinc: rerun"
same_tree "$T/g1.inc" "$D" && ok || bad "disinc: store differs"
# killed twice at different phases, then the incremental path finishes it
D=$T/killmix
COINTRAIL_TEST_BULK_CRASH_PHASE=5 "$BIN" import --bulk --quiet --db "$D" "$T/g1" >/dev/null 2>&1
COINTRAIL_TEST_BULK_CRASH_PHASE=7 "$BIN" import --bulk --quiet --db "$D" "$T/g1" >/dev/null 2>&1
imp --no-bulk --db "$D" "$T/g1" || bad "killmix: incremental rerun"
same_tree "$T/g1.inc" "$D" && ok || bad "killmix: bulk killed twice, incremental rerun: store differs"

# ---- a catch-up onto a non-empty store falls back to the incremental path ----
imp --no-bulk --db "$T/catch" --stop-after 100 "$T/g1" || bad "catch: first 100 blocks"
imp --bulk --db "$T/catch" "$T/g1" || bad "catch: --bulk onto a non-empty store"
same_tree "$T/g1.inc" "$T/catch" && ok || bad "catch: store differs"

# ---- refused the same way ----
for kind in double respend vout overspend coinbase twofaults; do
    $PY tests/bulk_craft.py "$T/$kind.blk" "$kind" || { bad "craft $kind"; continue; }
    "$BIN" import --quiet --no-bulk --db "$T/$kind.inc" "$T/$kind.blk" >/dev/null 2>"$T/$kind.inc.err"
    a=$?
    "$BIN" import --quiet --bulk --db "$T/$kind.bulk" "$T/$kind.blk" >/dev/null 2>"$T/$kind.bulk.err"
    b=$?
    [ $a = 1 ] && [ $b = 1 ] && ok || bad "$kind: exits $a (incremental) and $b (bulk), want 1 and 1"
    grep -q "block at offset" "$T/$kind.inc.err" && cmp -s "$T/$kind.inc.err" "$T/$kind.bulk.err" && ok ||
        bad "$kind: messages differ: '$(cat "$T/$kind.inc.err")' vs '$(cat "$T/$kind.bulk.err")'"
    [ "$(blocks_of "$T/$kind.bulk")" = 0 ] && ok || bad "$kind: the refused bulk import left blocks"
    "$BIN" import --quiet --bulk --memory 1M --db "$T/$kind.bulkm" "$T/$kind.blk" >/dev/null 2>"$T/$kind.bulkm.err"
    c=$?
    [ $c = 1 ] && cmp -s "$T/$kind.inc.err" "$T/$kind.bulkm.err" && ok ||
        bad "$kind --memory 1M: exit $c, '$(cat "$T/$kind.bulkm.err")'"
    ls "$T/$kind.bulk" | grep -q '\.tmp$' && bad "$kind: temp files left" || ok
done
grep -q "twice" "$T/twofaults.bulk.err" && ok || bad "twofaults: not the first fault reported"
# a double spend, then a block that does not parse (its last bytes changed: merkle root): the
# incremental path meets the double spend first, and so must the bulk path
cp "$T/twofaults.blk" "$T/tfc.blk"
size=$(stat -c %s "$T/tfc.blk")
printf '\x55\x55' | dd of="$T/tfc.blk" bs=1 seek=$((size - 12)) conv=notrunc status=none
"$BIN" import --quiet --no-bulk --db "$T/tfc.inc" "$T/tfc.blk" >/dev/null 2>"$T/tfc.inc.err"
a=$?
"$BIN" import --quiet --bulk --db "$T/tfc.bulk" "$T/tfc.blk" >/dev/null 2>"$T/tfc.bulk.err"
b=$?
[ $a = 1 ] && [ $b = 1 ] && grep -q twice "$T/tfc.inc.err" && cmp -s "$T/tfc.inc.err" "$T/tfc.bulk.err" && ok ||
    bad "fault before a corrupt block: exits $a/$b, '$(cat "$T/tfc.inc.err")' vs '$(cat "$T/tfc.bulk.err")'"
# a corrupt block (merkle root) and forged work: refused before or while parsing, same words
cp "$T/c/blk00000.dat" "$T/corrupt.dat"
printf '\xff\xff\xff\xff' | dd of="$T/corrupt.dat" bs=1 seek=3000 conv=notrunc status=none
"$BIN" import --quiet --no-bulk --db "$T/cor.inc" "$T/corrupt.dat" >/dev/null 2>"$T/cor.inc.err"
a=$?
"$BIN" import --quiet --bulk --db "$T/cor.bulk" "$T/corrupt.dat" >/dev/null 2>"$T/cor.bulk.err"
b=$?
[ $a = 1 ] && [ $b = 1 ] && cmp -s "$T/cor.inc.err" "$T/cor.bulk.err" && ok ||
    bad "corrupt: exits $a/$b, messages '$(cat "$T/cor.inc.err")' vs '$(cat "$T/cor.bulk.err")'"
# tests/pow_craft.py's chains: forged work on a fork of mainnet's blocks, amounts that overflow
# 64 bits, greedy and rich coinbases; and one whose fees are unknown (accepted by both)
mkdir -p "$T/craft"
$PY tests/pow_craft.py fork demo/blk00000.dat "$T/craft" >/dev/null || bad "pow_craft fork"
$PY tests/pow_craft.py amounts "$T/craft" >/dev/null || bad "pow_craft amounts"
mkdir -p "$T/powdir" && cp demo/blk00000.dat "$T/powdir/blk00000.dat" && cp "$T/craft/heavy.dat" "$T/powdir/blk00001.dat"
for case in powdir:"$T/powdir" overflow:"$T/craft/overflow.dat" greedy:"$T/craft/greedy.dat" rich:"$T/craft/rich.dat"; do
    name=${case%%:*} path=${case#*:}
    "$BIN" import --quiet --no-bulk --db "$T/$name.inc" "$path" >/dev/null 2>"$T/$name.inc.err"
    a=$?
    "$BIN" import --quiet --bulk --db "$T/$name.bulk" "$path" >/dev/null 2>"$T/$name.bulk.err"
    b=$?
    [ $a = 1 ] && [ $b = 1 ] && cmp -s "$T/$name.inc.err" "$T/$name.bulk.err" && ok ||
        bad "$name: exits $a/$b, messages '$(cat "$T/$name.inc.err")' vs '$(cat "$T/$name.bulk.err")'"
    "$BIN" import --quiet --bulk --memory 1M --db "$T/$name.bulkm" "$path" >/dev/null 2>"$T/$name.bulkm.err"
    c=$?
    [ $c = 1 ] && cmp -s "$T/$name.inc.err" "$T/$name.bulkm.err" && ok ||
        bad "$name --memory 1M: exit $c, '$(cat "$T/$name.bulkm.err")'"
    [ "$(blocks_of "$T/$name.bulk")" = 0 ] && ok || bad "$name: the refused bulk import left blocks"
done
compare spendsum "$T/craft/spendsum.dat"

# ---- a full disk, a file size limit: errors, not signals ----
if [ "$(id -u)" -eq 0 ] && mkdir -p "$T/small" && mount -t tmpfs -o size=6m tmpfs "$T/small" 2>/dev/null; then
    SMALL=$T/small
    "$BIN" import --quiet --bulk --db "$SMALL/db" "$T/g1" >/dev/null 2>"$T/full.err"
    rc=$?
    [ $rc = 1 ] && grep -q "No space left on device" "$T/full.err" && ok ||
        bad "disk full: exit $rc (135 is SIGBUS), $(cat "$T/full.err")"
    [ "$(blocks_of "$SMALL/db")" = 0 ] && ok || bad "disk full: blocks visible"
    ls "$SMALL/db" | grep -q '\.tmp$' && bad "disk full: temp files left" || ok
    umount "$SMALL"
    # with --memory 1M the sorts spill: at some size of the file system the disk is full at a
    # spill, which must be an error naming the temp file
    spillfull=
    for mb in $(seq 10 2 40); do
        mount -t tmpfs -o size=${mb}m tmpfs "$SMALL" || { bad "mount tmpfs ${mb}m"; break; }
        "$BIN" import --quiet --bulk --memory 1M --db "$SMALL/db" "$T/g1" >/dev/null 2>"$T/full.err"
        rc=$?
        ls "$SMALL/db" | grep -q '\.tmp$' && bad "disk full ${mb}m: temp files left" || ok
        umount "$SMALL"
        [ $rc = 0 ] && break
        [ $rc = 1 ] && grep -q "No space left on device" "$T/full.err" && ok ||
            bad "disk full ${mb}m, --memory 1M: exit $rc, $(cat "$T/full.err")"
        grep -q "bulk-[a-z]*\.tmp: write failed: No space left on device" "$T/full.err" && { spillfull=$mb; break; }
    done
    [ -n "$spillfull" ] && ok || bad "--memory 1M: no tmpfs size made a spill fail"
else
    echo "not root or no tmpfs: the disk-full part is not run (the file size limit part is)"
fi
# a file size limit met by a spill (some limit between the columns' sizes and the temp files')
spilllim=
for kb in $(seq 3000 250 8000); do
    (ulimit -f $kb && exec "$BIN" import --quiet --bulk --memory 1M --db "$T/liml" "$T/g1") >/dev/null 2>"$T/liml.err"
    rc=$?
    rm -rf "$T/liml"
    [ $rc = 0 ] && break
    [ $rc = 1 ] && grep -q "File too large" "$T/liml.err" && ok || bad "file size limit ${kb}K, --memory 1M: exit $rc, $(cat "$T/liml.err")"
    grep -q "bulk-[a-z]*\.tmp: write failed: File too large" "$T/liml.err" && { spilllim=$kb; break; }
done
[ -n "$spilllim" ] && ok || bad "--memory 1M: no file size limit made a spill fail"
(ulimit -f 3000 && exec "$BIN" import --quiet --bulk --db "$T/lim" "$T/g1") >/dev/null 2>"$T/lim.err"
rc=$?
[ $rc = 1 ] && grep -q "File too large" "$T/lim.err" && ok ||
    bad "file size limit: exit $rc (153 is SIGXFSZ), $(cat "$T/lim.err")"
[ "$(blocks_of "$T/lim")" = 0 ] && ok || bad "file size limit: blocks visible"
imp --bulk --db "$T/lim" "$T/g1" || bad "rerun without the limit"
same_tree "$T/g1.inc" "$T/lim" && ok || bad "after the file size limit, a rerun differs"
# the default for an empty store is the bulk path (its phases in --json); --no-bulk and
# --commit-seconds choose block by block; contradictory choices are refused
"$BIN" import --json --db "$T/dflt" "$T/g1" >"$T/dflt.json" || bad "default import"
/usr/bin/python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["phase_seconds"]; sys.exit(0 if "bulk_finish" in p else 1)' "$T/dflt.json" &&
    ok || bad "an empty store's default import did not take the bulk path"
same_tree "$T/g1.inc" "$T/dflt" && ok || bad "the default import differs from the incremental store"
for flag in --no-bulk "--commit-seconds 5"; do
    rm -rf "$T/nb"
    # shellcheck disable=SC2086
    "$BIN" import --json $flag --db "$T/nb" "$T/g1" >"$T/nb.json" || bad "import $flag"
    /usr/bin/python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["phase_seconds"]; sys.exit(1 if "bulk_finish" in p else 0)' "$T/nb.json" &&
        ok || bad "import $flag took the bulk path"
done
for args in "--bulk --commit-seconds 5" "--no-bulk --memory 64M" "--commit-seconds 5 --memory 64M"; do
    # shellcheck disable=SC2086
    "$BIN" import $args --db "$T/contra" "$T/g1" >/dev/null 2>"$T/contra.err"
    rc=$?
    [ $rc = 2 ] && [ ! -e "$T/contra/MANIFEST" ] && ok || bad "import $args: exit $rc, $(cat "$T/contra.err")"
done
finish
