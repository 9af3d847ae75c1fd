#!/bin/bash
# Store format 3 (5-byte id columns) against the formats before it: a format 2 copy of a store
# (its id columns widened to 8 bytes by tests/xchain_craft.py, python3 alone) answers every query
# as the format 3 store does (export-columns: every block, tx, input with its spent output,
# output with its spender, address; stats --recompute; address histories; a trace), a writer
# refuses it with what to do, the format 3 id columns hold 5 bytes per row, and --bulk gives the
# same bytes. (Unresolved inputs, the other sentinel: e2e_bulk's bitcoinlib chains.)
source "$(dirname "$0")/common.sh"
"$BIN" generate --out "$T/g" --seed 5 --blocks 160 --txs-per-block 60 --maturity 5 \
    --scenarios 1 --quiet >/dev/null || bad "generate"
"$BIN" import --quiet --no-bulk --db "$T/v3" "$T/g" >/dev/null || bad "import"

# the id columns: 5 bytes per row, rows as the MANIFEST says
for c in in_prev out_spent out_prev_addr addr_last; do
    rows=$(tr ' ' '\n' <"$T/v3/MANIFEST" | sed -n "s/^$c=//p")
    size=$(stat -c %s "$T/v3/$c.col")
    if [ -n "$rows" ] && [ "$size" -eq $((rows * 5)) ] && [ "$rows" -gt 0 ]; then ok; else bad "$c.col: $size bytes for $rows rows"; fi
done
for c in addr_key:23 addr_key_tail:16; do
    rows=$(tr ' ' '\n' <"$T/v3/MANIFEST" | sed -n "s/^${c%:*}=//p")
    size=$(stat -c %s "$T/v3/${c%:*}.col")
    if [ -n "$rows" ] && [ "$size" -eq $((rows * ${c#*:})) ] && [ "$rows" -gt 0 ]; then ok; else bad "${c%:*}.col: $size bytes for $rows rows"; fi
done
grep -q "^cointrail-store 3$" "$T/v3/MANIFEST" && ok || bad "MANIFEST does not say format 3"

cp -r "$T/v3" "$T/v2"
$PY tests/xchain_craft.py format2-store "$T/v2/MANIFEST" || bad "format2-store"
size=$(stat -c %s "$T/v2/in_prev.col")
rows=$(tr ' ' '\n' <"$T/v2/MANIFEST" | sed -n "s/^in_prev=//p")
[ "$size" -eq $((rows * 8)) ] && ok || bad "widened in_prev.col: $size bytes for $rows rows"

# every table of the chain, the same bytes from both
"$BIN" export-columns --db "$T/v3" --out "$T/x3" >/dev/null || bad "export-columns (format 3)"
"$BIN" export-columns --db "$T/v2" --out "$T/x2" >/dev/null 2>"$T/err" || bad "export-columns (format 2): $(cat "$T/err")"
for f in "$T"/x3/*.csv.gz; do
    n=$(basename "$f")
    if cmp -s <(gzip -dc "$f") <(gzip -dc "$T/x2/$n"); then ok; else bad "format 2 copy: $n differs"; fi
done
"$BIN" stats --db "$T/v3" --recompute --json >"$T/s3" || bad "stats --recompute (format 3)"
"$BIN" stats --db "$T/v2" --recompute --json >"$T/s2" || bad "stats --recompute (format 2)"
cmp -s "$T/s3" "$T/s2" && ok || bad "stats differ: $(diff "$T/s3" "$T/s2" | head -5)"
# address histories (the addr_last / out_prev_addr lists) of the addresses most paid, and of the
# most paid with a 32-byte program (P2WSH, P2TR: their key's tail in addr_key_tail)
gzip -dc "$T/x3/outputs.csv.gz" | head -1 >"$T/hdr"
addrs=$($PY - "$T/x3/outputs.csv.gz" "$T/x3/addresses.csv.gz" <<'PY'
import csv, gzip, sys, collections
kind = {r["address"]: r["type"] for r in csv.DictReader(gzip.open(sys.argv[2], "rt"))}
r = csv.DictReader(gzip.open(sys.argv[1], "rt"))
c = collections.Counter(row["address"] for row in r if row.get("address"))
pick = [a for a, _ in c.most_common(3)]
for k in ("p2wsh", "p2tr"):
    pick += [a for a, _ in c.most_common() if kind.get(a) == k][:1]
print(" ".join(pick))
PY
)
[ "$(echo "$addrs" | wc -w)" -eq 5 ] && ok || bad "want 3 addresses and a P2WSH and a P2TR one: '$addrs' ($(cat "$T/hdr"))"
for a in $addrs; do
    "$BIN" address --db "$T/v3" --json --limit 100000 "$a" >"$T/a3" || bad "address $a (format 3)"
    "$BIN" address --db "$T/v2" --json --limit 100000 "$a" >"$T/a2" || bad "address $a (format 2)"
    cmp -s "$T/a3" "$T/a2" && ok || bad "address $a differs"
done
# a trace from the scenario's first stolen txid
stolen=$($PY -c '
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d.get("kind") == "scenario":
        print(d["steps"][0]["txid"]); break' "$T/g/truth.jsonl")
if [ -n "$stolen" ]; then
    "$BIN" trace --db "$T/v3" --from "$stolen" --format json >"$T/t3" 2>/dev/null || bad "trace (format 3)"
    "$BIN" trace --db "$T/v2" --from "$stolen" --format json >"$T/t2" 2>/dev/null || bad "trace (format 2)"
    cmp -s "$T/t3" "$T/t2" && ok || bad "trace differs"
else
    bad "no scenario in truth.jsonl"
fi

# a writer refuses format 2, saying what to do, and leaves it as it was
sum_before=$(cat "$T"/v2/*.col "$T/v2/MANIFEST" | sha256sum)
"$BIN" import --db "$T/v2" "$T/g" >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "store format 2 has 8-byte id columns.*re-import" "$T/err"; then ok; else bad "format 2 writer: rc $rc: $(cat "$T/err")"; fi
[ "$(cat "$T"/v2/*.col "$T/v2/MANIFEST" | sha256sum)" = "$sum_before" ] && ok || bad "refused writer changed the format 2 store"

# bulk gives the same bytes in format 3
"$BIN" import --quiet --bulk --db "$T/bulk" "$T/g" >/dev/null || bad "bulk import"
for f in "$T"/v3/*.col "$T"/v3/*.idx "$T/v3/MANIFEST"; do
    cmp -s "$f" "$T/bulk/$(basename "$f")" || bad "bulk: $(basename "$f") differs"
done
ok
finish
