#!/bin/bash
# Replica stores are deterministic (docs/deploy.md): stores that import the same block files
# are byte for byte the same, however the import was cut, so replicas need no chain data from a
# database, only the same files.
#  A  one import of every blk file, in file order;
#  B  imports of growing prefixes of the file list (1, 3, 5 files), one of them killed with
#     SIGKILL mid-import (committing after every block) and resumed, then the rest;
#  C  one import of every blk file given in reverse order (blocks out of order on input);
# then each: labels import, cluster (the exposure index is kept current by both). Every file of
# the three stores is compared byte for byte, and their stats against the generator's truth.
# Then a replica that followed the chain (clustered after every import, labels imported before
# most blocks) is compared: the files that record history, not content, are named in
# docs/deploy.md and compared by content (the cluster dump, the exposure dump); every other file
# byte for byte. EVM: ethereum-etl CSVs imported whole vs in two block ranges give the same store.
source "$(dirname "$0")/common.sh"

"$BIN" generate --out "$T/g" --seed 17 --blocks 240 --txs-per-block 150 --maturity 5 \
    --scenarios 4 --scenario-blocks 120 --file-size 2 --evm --quiet >/dev/null || bad "generate"
mapfile -t files < <(ls "$T/g"/blk*.dat)
[ "${#files[@]}" -ge 6 ] && ok || bad "want at least 6 blk files, got ${#files[@]}"

imp() { "$BIN" import --quiet "$@" >/dev/null; }
imp --db "$T/A" "$T/g" || bad "import A"

imp --db "$T/B" "${files[0]}" || bad "import B 1 file"
imp --db "$T/B" "${files[@]:0:3}" || bad "import B 3 files"
# SIGKILL an import of the first 5 files, committing after every block, once it has committed
# a block beyond the 3 files' (plus up to 50 ms): the store then holds more blocks than the 3
# files gave and fewer than the 5 give.
blocks() { awk '$1 == "blocks" {print $2}' "$T/B/MANIFEST"; }
b3=$(blocks)
"$BIN" import --db "$T/B" --quiet --commit-seconds 0 "${files[@]:0:5}" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 3000); do [ "$(blocks)" -gt "$b3" ] && break; sleep 0.01; done
sleep "0.0$((RANDOM % 5))"
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
rc=$?
killed=$(blocks)
[ $rc = 137 ] || killed=0
"$BIN" stats --db "$T/B" --json >/dev/null || bad "B unreadable after SIGKILL"
imp --db "$T/B" "${files[@]:0:5}" || bad "import B resume"
[ "$killed" -gt 0 ] && [ "$killed" -lt "$(blocks)" ] && ok ||
    bad "no import of B was killed mid-import (blocks: $b3 before, $killed at the kill, $(blocks) after)"
echo "B: $b3 blocks from 3 files, SIGKILL at $killed, $(blocks) from 5 files"
imp --db "$T/B" "$T/g" || bad "import B rest"

mapfile -t rev < <(printf '%s\n' "${files[@]}" | sort -r)
imp --db "$T/C" "${rev[@]}" || bad "import C reversed"

for s in A B C; do
    "$BIN" labels import --db "$T/$s" "$T/g/labels.csv" >/dev/null || bad "labels import $s"
    "$BIN" cluster --db "$T/$s" >/dev/null || bad "cluster $s"
    "$BIN" stats --db "$T/$s" --json >"$T/stats.$s.json"
    $PY tests/stats_truth.py "$T/stats.$s.json" "$T/g/truth.jsonl" && ok || bad "$s: stats differ from the truth"
done
"$BIN" exposure status --db "$T/A" --json | grep -q '"state": "ok"' && ok || bad "A has no current exposure index"
[ -s "$T/A/labels.db" ] && [ -s "$T/A/cluster.state" ] && ok || bad "A lacks labels or clustering"

# Byte for byte: the same list of files (every file, lock files too) and the same bytes.
same_tree() { # DIR1 DIR2 -> 0 if identical; names the differing files
    local r=0
    diff <(cd "$1" && find . | sort) <(cd "$2" && find . | sort) >"$T/tree.diff" ||
        { echo "  file lists differ: $(tr '\n' ' ' <"$T/tree.diff" | head -c 400)"; r=1; }
    while read -r f; do
        cmp -s "$1/$f" "$2/$f" || { echo "  differs: $f"; r=1; }
    done < <(cd "$1" && find . -type f | sort)
    return $r
}
n=$(cd "$T/A" && find . -type f | wc -l)
same_tree "$T/A" "$T/B" && ok || bad "B (prefix imports, SIGKILL, resume) differs from A"
same_tree "$T/A" "$T/C" && ok || bad "C (files in reverse order) differs from A"
echo "compared $n files, $(du -sk "$T/A" | cut -f1) KiB per store, byte for byte"

# A replica that followed: labels first, a clustering after every import.
"$BIN" labels import --db "$T/F" "$T/g/labels.csv" >/dev/null || bad "labels import F before any block"
imp --db "$T/F" "${files[0]}" || bad "import F"
"$BIN" labels import --db "$T/F" "$T/g/labels.csv" >/dev/null || bad "labels import F early"
"$BIN" cluster --db "$T/F" >/dev/null || bad "cluster F 1"
imp --db "$T/F" "${files[@]:0:4}" || bad "import F 4 files"
"$BIN" cluster --db "$T/F" >/dev/null || bad "cluster F 2"
imp --db "$T/F" "$T/g" || bad "import F rest"
"$BIN" labels import --db "$T/F" "$T/g/labels.csv" >/dev/null || bad "labels import F again"
"$BIN" cluster --db "$T/F" >/dev/null || bad "cluster F 3"
# History files (docs/deploy.md): the cluster forest's depth (cluster-map) records where sets
# merged across runs; the exposure index's generation number counts its rewrites and its
# category order follows when each category was first labelled.
hist='^\./(cluster-map\.[0-9]+\.col|exposure/.*)$'
for s in A F; do (cd "$T/$s" && find . -type f | grep -Ev "$hist" | sort) >"$T/plain.$s"; done
cmp -s "$T/plain.A" "$T/plain.F" && ok || bad "F: other files than A: $(diff "$T/plain.A" "$T/plain.F" | head -5 | tr '\n' ' ')"
r=0
while read -r f; do cmp -s "$T/A/$f" "$T/F/$f" || { echo "  differs: $f"; r=1; }; done <"$T/plain.A"
[ $r = 0 ] && ok || bad "F: a file outside the history files differs from A"
for s in A F; do
    "$BIN" cluster --db "$T/$s" --dump >"$T/cdump.$s" || bad "cluster dump $s"
    "$BIN" exposure dump --db "$T/$s" >"$T/edump.$s" || bad "exposure dump $s"
done
[ -s "$T/cdump.A" ] && cmp -s "$T/cdump.A" "$T/cdump.F" && ok || bad "F: another partition or entity ids"
[ -s "$T/edump.A" ] && cmp -s "$T/edump.A" "$T/edump.F" && ok || bad "F: another exposure index"

# EVM: the CSVs whole vs cut at a block number into two imports.
"$BIN" evm-import --db "$T/EA" "$T/g/evm" >/dev/null || bad "evm-import whole"
$PY - "$T/g/evm" "$T/e1" "$T/e2" <<'PY' || bad "split the EVM CSVs"
import csv, os, sys
src, lo, hi = sys.argv[1:]
cut = None
for d in (lo, hi):
    os.makedirs(d)
for name in sorted(os.listdir(src)):
    rows = list(csv.reader(open(os.path.join(src, name), newline="")))
    head, body = rows[0], rows[1:]
    col = head.index("number") if "number" in head else head.index("block_number")
    if cut is None:  # the first file is blocks.csv: cut at its middle block
        cut = int(body[len(body) // 2][col])
    for d, part in ((lo, [r for r in body if int(r[col]) < cut]), (hi, [r for r in body if int(r[col]) >= cut])):
        with open(os.path.join(d, name), "w", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows([head] + part)
PY
"$BIN" evm-import --db "$T/EB" "$T/e1" >/dev/null || bad "evm-import first range"
"$BIN" evm-import --db "$T/EB" "$T/e2" >/dev/null || bad "evm-import second range"
for s in EA EB; do
    "$BIN" labels import --db "$T/$s" "$T/g/labels.csv" >/dev/null || bad "labels import $s"
    "$BIN" evm-exposure build --db "$T/$s" >/dev/null || bad "evm-exposure build $s"
    "$BIN" evm-exposure dump --db "$T/$s" >"$T/xdump.$s" || bad "evm-exposure dump $s"
    # (the generation counts the index's rewrites: history, not content)
    "$BIN" evm-exposure status --db "$T/$s" --json | grep -v '"generation"' >"$T/xstatus.$s"
done
grep -q '"state": "ok"' "$T/xstatus.EA" && [ "$(grep -c . "$T/xdump.EA")" -gt 10 ] && ok ||
    bad "EVM exposure index empty or not current"
# Every file byte for byte but the EVM exposure index's (generation-numbered, docs/deploy.md):
# that one by its dump and status.
for s in EA EB; do (cd "$T/$s" && find . -type f | grep -v '^\./evm/eth/exposure/' | sort) >"$T/xplain.$s"; done
r=0
cmp -s "$T/xplain.EA" "$T/xplain.EB" || { echo "  file lists differ"; r=1; }
while read -r f; do cmp -s "$T/EA/$f" "$T/EB/$f" || { echo "  differs: $f"; r=1; }; done <"$T/xplain.EA"
[ $r = 0 ] && ok || bad "EVM store imported in two ranges differs"
cmp -s "$T/xdump.EA" "$T/xdump.EB" && cmp -s "$T/xstatus.EA" "$T/xstatus.EB" && ok ||
    bad "EVM exposure index differs by content"
echo "EVM: $(wc -l <"$T/xplain.EA") files byte for byte, exposure dump of $(wc -l <"$T/xdump.EA") lines"
finish
