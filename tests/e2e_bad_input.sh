#!/bin/bash
# Bad input gets a clear error that names the file and byte offset (or the argument), a
# non-zero exit, and leaves the store exactly as it was.
source "$(dirname "$0")/common.sh"
# expect EXIT_CODE PATTERN CMD... : the command fails with that code and stderr matching PATTERN
expect() {
    local code=$1 pat=$2; shift 2
    "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ $rc -ne "$code" ]; then bad "exit $rc (want $code): $*: $(cat "$T/err")"; return; fi
    if ! grep -Eq "$pat" "$T/err"; then bad "message '$(cat "$T/err")' lacks /$pat/"; return; fi
    ok
}
unchanged() { diff -r "$T/db.before" "$T/db" >/dev/null && ok || bad "store changed: $*"; }

# A store with the first 100 real blocks.
$PY tests/bad_input_files.py "$T"
"$BIN" import --db "$T/db" "$T/first100.dat" >/dev/null || bad "base import"
cp -r "$T/db" "$T/db.before"
B101=$(cat "$T/offsets")

expect 1 "truncated.dat: offset [0-9]+: block size [0-9]+ runs past the end" "$BIN" import --db "$T/db" "$T/truncated.dat"
unchanged truncated
expect 1 "badmagic.dat: offset $B101: wrong magic deadbeef" "$BIN" import --db "$T/db" "$T/badmagic.dat"
unchanged badmagic
expect 1 "badsize.dat: offset $((B101 + 4)): block size [0-9]+ runs past the end" "$BIN" import --db "$T/db" "$T/badsize.dat"
unchanged badsize
expect 1 "garbage.dat: block at offset $((B101 + 8)).*merkle root does not match" "$BIN" import --db "$T/db" "$T/garbage.dat"
unchanged garbage
expect 1 "hugecount.dat: block at offset $((B101 + 8)).*implausible output count" "$BIN" import --db "$T/db" "$T/hugecount.dat"
unchanged hugecount
expect 1 "nosuchdir: " "$BIN" import --db "$T/db" "$T/nosuchdir"
unchanged missing path
mkdir "$T/empty"
expect 3 "no blk\?\?\?\?\?.dat files|no blk.*files" "$BIN" import --db "$T/db" "$T/empty"
unchanged empty dir
# Another writer holds the lock.
flock "$T/db/LOCK" sleep 5 &
for _ in $(seq 50); do flock -n "$T/db/LOCK" true || break; sleep 0.1; done # until it is held
expect 1 "another cointrail process is writing" "$BIN" import --db "$T/db" "$T/rest.dat"
wait
unchanged locked
# The good remainder still imports after all that.
"$BIN" import --db "$T/db" "$T/rest.dat" >/dev/null && ok || bad "good import after bad ones"

# Queries: unknown txid, malformed txid, bad address checksum, unknown address, no store.
expect 3 "txid 0{63}1: not in the store" "$BIN" tx --db "$T/db" 0000000000000000000000000000000000000000000000000000000000000001
expect 2 "txid 'xyz': expected 64 hex digits" "$BIN" tx --db "$T/db" xyz
expect 2 "address '1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb': bad base58check checksum" "$BIN" address --db "$T/db" 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb
expect 2 "bad bech32/bech32m checksum" "$BIN" address --db "$T/db" bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5
expect 3 "never seen" "$BIN" address --db "$T/db" bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4
expect 3 "no cointrail store here" "$BIN" stats --db "$T/nostore"
expect 2 "usage: cointrail import" "$BIN" import
expect 2 "unknown command" "$BIN" frobnicate
expect 1 "raw block: .*too short|raw block" "$BIN" block decode "$T/offsets"
# A damaged MANIFEST is refused, not trusted.
cp -r "$T/db" "$T/db2" && sed -i 's/^txs .*/txs 5/' "$T/db2/MANIFEST"
expect 1 "MANIFEST: checksum mismatch" "$BIN" stats --db "$T/db2"

finish
