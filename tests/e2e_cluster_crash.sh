#!/bin/bash
# An incremental `cointrail cluster` killed after changing its files in place but before its
# commit: readers see the last committed clustering (the journal's old values put back in
# memory), the next `import` or `cluster` puts the files back without being asked, and the next
# run extends again, giving byte for byte the files of an uninterrupted run.
source "$(dirname "$0")/common.sh"

"$BIN" generate --out "$T/g" --seed 13 --blocks 200 --txs-per-block 80 --maturity 5 \
    --era 2019-2024.3 --privacy-rate 0.2 --users 300 --quiet >/dev/null || bad "generate"
"$BIN" import --db "$T/db" --stop-after 170 "$T/g" >/dev/null && "$BIN" cluster --db "$T/db" >/dev/null ||
    bad "first import and cluster"
"$BIN" import --db "$T/db" "$T/g" >/dev/null || bad "second import"
cp -r "$T/db" "$T/straight"
cp -r "$T/db" "$T/before"
"$BIN" cluster --db "$T/db" --dump >"$T/before.txt" || bad "dump before"
"$BIN" cluster --db "$T/straight" --json | grep -q '"extended"' && ok || bad "straight run extends"

COINTRAIL_TEST_CLUSTER_CRASH=1 "$BIN" cluster --db "$T/db" >/dev/null 2>&1 &
wait $! 2>/dev/null
[ $? -eq 137 ] && ok || bad "crash hook did not fire"
[ -e "$T/db/cluster.journal" ] && ok || bad "no journal after the crash"
# a reader opens the last committed clustering, not the half-applied files
"$BIN" cluster --db "$T/db" --dump >"$T/during.txt" 2>"$T/err" || bad "reader refused: $(cat "$T/err")"
cmp -s "$T/before.txt" "$T/during.txt" && ok || bad "reader does not see the committed clustering"
cmp -s "$T/before/cluster-map.1.col" "$T/db/cluster-map.1.col" && bad "crash left the map untouched" || ok
# import recovers the journal by itself: the files are the committed ones again
"$BIN" import --db "$T/db" "$T/g" >/dev/null || bad "import after the crash"
[ ! -e "$T/db/cluster.journal" ] && ok || bad "import left the journal"
for f in "$T/before"/cluster-*; do
    cmp -s "$f" "$T/db/$(basename "$f")" && ok || bad "$(basename "$f") not put back by import"
done

"$BIN" cluster --db "$T/db" --json | grep -q '"extended"' && ok || bad "recovery run extends"
[ ! -e "$T/db/cluster.journal" ] && ok || bad "journal left behind"
for f in "$T/straight"/cluster-*; do
    cmp -s "$f" "$T/db/$(basename "$f")" && ok || bad "$(basename "$f") differs from the uninterrupted run"
done
"$BIN" cluster --db "$T/db" --dump >"$T/inc.txt"
"$BIN" cluster --db "$T/db" --rebuild >/dev/null && "$BIN" cluster --db "$T/db" --dump >"$T/full.txt"
cmp -s "$T/inc.txt" "$T/full.txt" && ok || bad "recovered clustering differs from a rebuild"
finish
