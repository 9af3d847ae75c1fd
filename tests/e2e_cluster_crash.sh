#!/bin/bash
# An incremental `cointrail cluster` killed after changing its files in place but before its
# commit: readers see the last committed clustering (the journal's old values put back in
# memory, the links and refused merges appended past the committed counts ignored), the next
# `import` or `cluster` puts the files back without being asked, and the next run extends
# again, giving byte for byte the files of an uninterrupted run. The chain has generic rounds
# and payroll batches, its labels are imported and the guards are set low, so the killed run
# has links and refused merges of its own.
source "$(dirname "$0")/common.sh"

"$BIN" generate --out "$T/g" --seed 13 --blocks 200 --txs-per-block 80 --maturity 5 \
    --era 2019-2024.3 --privacy-rate 0.2 --users 300 --generic-rounds 1 --lookalikes 1 --quiet >/dev/null || bad "generate"
G="--guard 30 --established 3"
"$BIN" import --db "$T/db" --stop-after 170 "$T/g" >/dev/null && "$BIN" labels import --db "$T/db" "$T/g/labels.csv" >/dev/null &&
    "$BIN" cluster --db "$T/db" $G >/dev/null || bad "first import and cluster"
"$BIN" import --db "$T/db" "$T/g" >/dev/null || bad "second import"
cp -r "$T/db" "$T/straight"
cp -r "$T/db" "$T/before"
"$BIN" cluster --db "$T/db" --dump >"$T/before.txt" || bad "dump before"
# (read from the committed state: running `cluster` on a copy would extend it)
big=$(sed -n 's/^largest \([0-9]*\):.*/\1/p' "$T/db/cluster.state")
refused=$(sed -n 's/^refused_merges //p' "$T/db/cluster.state")
"$BIN" entity --db "$T/db" --json "$big" >"$T/before.entity" || bad "entity before"
"$BIN" cluster --db "$T/straight" $G --json >"$T/straight.json"
grep -q '"extended"' "$T/straight.json" && ok || bad "straight run extends"
[ "$($PY tests/cluster_json.py field "['refused_merges']" <"$T/straight.json")" -gt "$refused" ] &&
    ok || bad "the extending run refuses merges of its own"

COINTRAIL_TEST_CLUSTER_CRASH=1 "$BIN" cluster --db "$T/db" $G >/dev/null 2>&1 &
wait $! 2>/dev/null
[ $? -eq 137 ] && ok || bad "crash hook did not fire"
[ -e "$T/db/cluster.journal" ] && ok || bad "no journal after the crash"
# a reader opens the last committed clustering, not the half-applied files
"$BIN" cluster --db "$T/db" --dump >"$T/during.txt" 2>"$T/err" || bad "reader refused: $(cat "$T/err")"
cmp -s "$T/before.txt" "$T/during.txt" && ok || bad "reader does not see the committed clustering"
"$BIN" entity --db "$T/db" --json "$big" >"$T/during.entity" && cmp -s "$T/before.entity" "$T/during.entity" &&
    ok || bad "entity (formation, refused merges) during the crash differs from the committed one"
[ "$(stat -c %s "$T/db"/cluster-links.*.col)" -gt "$(stat -c %s "$T/before"/cluster-links.*.col)" ] &&
    ok || bad "the killed run appended no links (the test would not test their recovery)"
cmp -s "$T/before/cluster-map.1.col" "$T/db/cluster-map.1.col" && bad "crash left the map untouched" || ok
# import recovers the journal by itself: the files are the committed ones again
"$BIN" import --db "$T/db" "$T/g" >/dev/null || bad "import after the crash"
[ ! -e "$T/db/cluster.journal" ] && ok || bad "import left the journal"
for f in "$T/before"/cluster-*; do
    cmp -s "$f" "$T/db/$(basename "$f")" && ok || bad "$(basename "$f") not put back by import"
done

"$BIN" cluster --db "$T/db" $G --json | grep -q '"extended"' && ok || bad "recovery run extends"
[ ! -e "$T/db/cluster.journal" ] && ok || bad "journal left behind"
for f in "$T/straight"/cluster-*; do
    cmp -s "$f" "$T/db/$(basename "$f")" && ok || bad "$(basename "$f") differs from the uninterrupted run"
done
"$BIN" cluster --db "$T/db" --dump >"$T/inc.txt"
cat "$T/db"/cluster-links.*.col >"$T/inc.links"; cat "$T/db"/cluster-refused.*.col >"$T/inc.refused"
"$BIN" cluster --db "$T/db" $G --rebuild >/dev/null && "$BIN" cluster --db "$T/db" --dump >"$T/full.txt"
cmp -s "$T/inc.txt" "$T/full.txt" && ok || bad "recovered clustering differs from a rebuild"
cmp -s "$T/inc.links" <(cat "$T/db"/cluster-links.*.col) && cmp -s "$T/inc.refused" <(cat "$T/db"/cluster-refused.*.col) &&
    ok || bad "recovered links or refused merges differ from a rebuild's"
finish
