#!/bin/bash
# An incremental `cointrail cluster` killed after changing its files in place but before its
# commit: readers refuse the half-applied clustering, and the next run puts the journal's old
# values back and extends again, giving byte for byte the files of an uninterrupted run.
source "$(dirname "$0")/common.sh"

"$BIN" generate --out "$T/g" --seed 13 --blocks 200 --txs-per-block 80 --maturity 5 \
    --era 2019-2024.3 --privacy-rate 0.2 --users 300 --quiet >/dev/null || bad "generate"
"$BIN" import --db "$T/db" --stop-after 170 "$T/g" >/dev/null && "$BIN" cluster --db "$T/db" >/dev/null ||
    bad "first import and cluster"
"$BIN" import --db "$T/db" "$T/g" >/dev/null || bad "second import"
cp -r "$T/db" "$T/straight"
"$BIN" cluster --db "$T/straight" --json | grep -q '"extended"' && ok || bad "straight run extends"

COINTRAIL_TEST_CLUSTER_CRASH=1 "$BIN" cluster --db "$T/db" >/dev/null 2>&1 &
wait $! 2>/dev/null
[ $? -eq 137 ] && ok || bad "crash hook did not fire"
[ -e "$T/db/cluster.journal" ] && ok || bad "no journal after the crash"
addr=$("$BIN" cluster --db "$T/straight" --dump | awk '$1 == "a" { print $2; exit }')
"$BIN" entity --db "$T/db" "$addr" >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "interrupted" "$T/err" && ok || bad "reader did not refuse: $(cat "$T/err")"

"$BIN" cluster --db "$T/db" --json | grep -q '"extended"' && ok || bad "recovery run extends"
[ ! -e "$T/db/cluster.journal" ] && ok || bad "journal left behind"
for f in "$T/straight"/cluster-*; do
    cmp -s "$f" "$T/db/$(basename "$f")" && ok || bad "$(basename "$f") differs from the uninterrupted run"
done
"$BIN" cluster --db "$T/db" --dump >"$T/inc.txt"
"$BIN" cluster --db "$T/db" --rebuild >/dev/null && "$BIN" cluster --db "$T/db" --dump >"$T/full.txt"
cmp -s "$T/inc.txt" "$T/full.txt" && ok || bad "recovered clustering differs from a rebuild"
finish
