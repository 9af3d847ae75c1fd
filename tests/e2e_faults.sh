#!/bin/bash
# Faults (issue 11): a full disk or a file size limit is an error naming the file (exit 1), never
# a signal (SIGBUS 135, SIGXFSZ 153); the committed store, labels and clustering stay as they
# were, no temp file is left taking space, and a rerun once there is room gives byte for byte
# the files of a run that never failed. Also: an evm-import killed between writing index slots
# and their count reruns to the bytes of a clean import (review finding 11), and `cluster`
# killed at random moments never stops a reader nor needs a human to recover.
# The disk-full part mounts a small tmpfs and needs root; without root only the file size limit
# (EFBIG) part runs, and says so.
source "$(dirname "$0")/common.sh"
SMALL=
cleanup() {
    [ -n "$SMALL" ] && umount "$SMALL" 2>/dev/null
    [ -n "${KEEP_T:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

"$BIN" generate --out "$T/g" --seed 7 --blocks 300 --txs-per-block 150 --file-size 2 \
    --quiet >/dev/null || bad "generate"
# the reference: the same steps, never failing
"$BIN" import --db "$T/ref" --stop-after 150 "$T/g" >/dev/null &&
    "$BIN" cluster --db "$T/ref" >/dev/null &&
    "$BIN" import --db "$T/ref" "$T/g" >/dev/null &&
    "$BIN" labels import --db "$T/ref" "$T/g/labels.csv" >/dev/null &&
    "$BIN" cluster --db "$T/ref" >/dev/null || bad "reference run"
# every file, the exposure index's (DIR/exposure/) included
(cd "$T/ref" && find . -type f | sort | xargs sha256sum --) >"$T/ref.sum"

same_as_ref() { # $1 store dir, $2 what
    if (cd "$1" && sha256sum -c --quiet "$T/ref.sum" >"$T/cmp" 2>&1) &&
        [ "$(cd "$1" && find . -type f | wc -l)" -eq "$(wc -l <"$T/ref.sum")" ]; then
        ok
    else
        bad "$2: files differ from a clean run: $(head -3 "$T/cmp") $(ls "$1" | tr '\n' ' ')"
    fi
}
no_tmp() { # $1 dir, $2 what
    local left
    left=$(cd "$1" && ls | grep -E '\.tmp$|\.new$|^cluster\.journal$')
    [ -z "$left" ] && ok || bad "$2 left $left"
}
blocks_of() { "$BIN" stats --db "$1" --json | $PY tests/jget.py '["blocks"]'; }

# ---- disk full (tmpfs) ----
if [ "$(id -u)" -eq 0 ] && mkdir -p "$T/small" && mount -t tmpfs -o size=20m tmpfs "$T/small"; then
    SMALL=$T/small
    D=$SMALL/db
    "$BIN" import --no-bulk --db "$D" --stop-after 150 "$T/g" >/dev/null && "$BIN" cluster --db "$D" >/dev/null &&
        "$BIN" import --db "$D" --stop-after 50 "$T/g" >/dev/null || bad "first imports on the small fs"
    [ "$(blocks_of "$D")" = 200 ] && ok || bad "setup: 200 blocks expected"
    "$BIN" cluster --db "$D" --dump >"$T/dump_before"
    "$BIN" import --db "$D" "$T/g" >"$T/out" 2>"$T/err"
    rc=$?
    [ $rc -eq 1 ] && ok || bad "import on a full disk: exit $rc (135 is SIGBUS), $(cat "$T/err")"
    grep -qE "$D/[a-z_]+\.(col|idx|log)(\.new)?: cannot grow to [0-9]+ bytes: No space left on device" \
        "$T/err" && ok || bad "import error does not name the store file and the space: $(cat "$T/err")"
    [ "$(blocks_of "$D")" = 200 ] && ok || bad "stats after the failed import: not the committed 200 blocks"
    "$BIN" stats --db "$D" --recompute >/dev/null 2>&1 && ok || bad "stats --recompute after the failed import"
    no_tmp "$D" "failed import"
    # fill what is left, then labels import and an incremental cluster fail cleanly
    dd if=/dev/zero of="$SMALL/fill" bs=4k >/dev/null 2>&1
    "$BIN" labels import --db "$D" "$T/g/labels.csv" >/dev/null 2>"$T/err"
    rc=$?
    # (the exposure index is made ready before labels.db is written: either may be the one)
    [ $rc -eq 1 ] && grep -qE "(labels.db.tmp|exposure/[a-z]+\.[0-9]+\.col).*No space left on device" "$T/err" &&
        ok || bad "labels import on a full disk: exit $rc, $(cat "$T/err")"
    [ ! -e "$D/labels.db" ] && ok || bad "a failed labels import left labels.db"
    no_tmp "$D" "failed labels import"
    "$BIN" cluster --db "$D" >/dev/null 2>"$T/err"
    rc=$?
    [ $rc -eq 1 ] && grep -q "No space left on device" "$T/err" && ok ||
        bad "cluster on a full disk: exit $rc, $(cat "$T/err")"
    no_tmp "$D" "failed cluster"
    "$BIN" cluster --db "$D" --dump 2>&1 | cmp -s - "$T/dump_before" && ok ||
        bad "the clustering changed after a failed cluster run"
    # room again: the rerun gives the files of a run that never failed
    rm -f "$SMALL/fill"
    mount -o remount,size=64m "$SMALL" || bad "remount"
    "$BIN" import --db "$D" "$T/g" >/dev/null && "$BIN" labels import --db "$D" "$T/g/labels.csv" >/dev/null &&
        "$BIN" cluster --db "$D" >/dev/null || bad "reruns after the space was freed"
    same_as_ref "$D" "disk full, then rerun"
else
    echo "not root or no tmpfs mount: disk-full part not run; testing the file size limit (EFBIG) only"
fi

# ---- file size limit (ulimit -f): EFBIG, not SIGXFSZ ----
D=$T/lim
"$BIN" import --db "$D" --stop-after 150 "$T/g" >/dev/null && "$BIN" cluster --db "$D" >/dev/null ||
    bad "import under no limit"
"$BIN" cluster --db "$D" --dump >"$T/dump_before"
(ulimit -f 2000 && exec "$BIN" import --db "$D" "$T/g") >/dev/null 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && ok || bad "import over the file size limit: exit $rc (153 is SIGXFSZ), $(cat "$T/err")"
grep -qE "$D/[a-z_]+\.(col|idx|log)(\.new)?: cannot grow to [0-9]+ bytes: File too large" "$T/err" && ok ||
    bad "limit error does not name the file: $(cat "$T/err")"
[ "$(blocks_of "$D")" = 150 ] && ok || bad "stats after the limited import: not the committed 150 blocks"
no_tmp "$D" "limited import"
"$BIN" import --db "$D" "$T/g" >/dev/null || bad "import without the limit"
# 100 KB: enough for the journal, not for the map and size files of the new addresses, so the
# incremental commit fails after changing them and must put them back itself
(ulimit -f 100 && exec "$BIN" cluster --db "$D") >/dev/null 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && grep -q "cluster-[a-z]*\.1\.col.*File too large" "$T/err" && ok ||
    bad "cluster over the limit: exit $rc, $(cat "$T/err")"
no_tmp "$D" "limited cluster"
"$BIN" cluster --db "$D" --dump 2>&1 | cmp -s - "$T/dump_before" && ok ||
    bad "a failed cluster run left another clustering"
(ulimit -f 100 && exec "$BIN" labels import --db "$D" "$T/g/labels.csv") >/dev/null 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && grep -qE "(labels.db.tmp|exposure/[a-z]+\.[0-9]+\.col).*File too large" "$T/err" && ok ||
    bad "labels import over the limit: exit $rc (153 is SIGXFSZ), $(cat "$T/err")"
no_tmp "$D" "limited labels import"
"$BIN" labels import --db "$D" "$T/g/labels.csv" >/dev/null && "$BIN" cluster --db "$D" >/dev/null ||
    bad "reruns without the limit"
same_as_ref "$D" "file size limit, then rerun"

# ---- evm-import killed between index slots and their count (review finding 11) ----
"$BIN" generate --out "$T/ge" --seed 5 --blocks 200 --txs-per-block 60 --evm --quiet >/dev/null ||
    bad "generate evm"
"$BIN" evm-import --db "$T/eref" "$T/ge/evm" >/dev/null || bad "evm reference import"
cp -a "$T/eref" "$T/ek"
# The index of an import that appended rows [covered, n) and was killed before writing the new
# count is the full index with the old count in its header: craft exactly that.
$PY tests/faults_index.py "$T/ek/evm/eth" || bad "crafting the interrupted index"
"$BIN" evm-import --db "$T/ek" "$T/ge/evm" >/dev/null || bad "evm rerun"
for f in "$T/eref/evm/eth"/*; do
    [ -f "$f" ] || continue # the exposure index (a directory): by its dump below
    cmp -s "$f" "$T/ek/evm/eth/$(basename "$f")" && ok ||
        bad "evm $(basename "$f") differs from a clean import after an interrupted index update"
done
# (this chain has no labels: the index holds no rows, and its status says what it covered)
estatus() { "$BIN" evm-exposure status --db "$1" | sed 's/generation [0-9]*, //'; }
[ "$("$BIN" evm-exposure dump --db "$T/eref")" = "$("$BIN" evm-exposure dump --db "$T/ek")" ] &&
    [ "$(estatus "$T/eref")" = "$(estatus "$T/ek")" ] && estatus "$T/ek" | grep -q ': ok,' && ok ||
    bad "evm exposure index differs from a clean import's after an interrupted index update"

# ---- cluster killed at random moments: readers keep the committed clustering ----
"$BIN" import --db "$T/cb" --stop-after 150 "$T/g" >/dev/null && "$BIN" cluster --db "$T/cb" >/dev/null &&
    "$BIN" import --db "$T/cb" "$T/g" >/dev/null || bad "cluster kill base"
cp -a "$T/cb" "$T/cs"
"$BIN" cluster --db "$T/cs" >/dev/null && "$BIN" cluster --db "$T/cs" --dump >"$T/dump_after" ||
    bad "straight cluster"
"$BIN" cluster --db "$T/cb" --dump >"$T/dump_before"
killed=0 journals=0
for i in $(seq 1 12); do
    rm -rf "$T/ck" && cp -a "$T/cb" "$T/ck"
    "$BIN" cluster --db "$T/ck" >/dev/null 2>&1 &
    pid=$!
    sleep "0.0$((RANDOM % 6))"
    kill -9 $pid 2>/dev/null && killed=$((killed + 1))
    wait $pid 2>/dev/null
    [ -e "$T/ck/cluster.journal" ] && journals=$((journals + 1))
    # a reader opens either the old or the new committed clustering, never refuses
    "$BIN" cluster --db "$T/ck" --dump >"$T/dump_now" 2>"$T/err"
    if cmp -s "$T/dump_now" "$T/dump_before" || cmp -s "$T/dump_now" "$T/dump_after"; then ok; else
        bad "run $i: reader saw neither committed clustering: $(cat "$T/err")"
    fi
    # import (nothing new to add) recovers an interrupted commit by itself
    "$BIN" import --db "$T/ck" "$T/g" >/dev/null || bad "run $i: import after the kill"
    [ ! -e "$T/ck/cluster.journal" ] && ok || bad "run $i: journal left after import"
    "$BIN" cluster --db "$T/ck" >/dev/null || bad "run $i: cluster rerun"
    for f in "$T/cs"/cluster-*; do
        cmp -s "$f" "$T/ck/$(basename "$f")" && ok || bad "run $i: $(basename "$f") differs"
    done
    no_tmp "$T/ck" "run $i"
done
echo "cluster kill loop: $killed of 12 runs killed, $journals left a journal"
finish
