#!/bin/bash
# Store format 4 (29-byte tx rows) and 3 (5-byte id columns) against the formats before them: a
# format 3 copy of a store (its tx rows widened to 40 bytes by tests/xchain_craft.py, python3
# alone) and a format 2 copy (id columns widened to 8 bytes too) answer every query as the format
# 4 store does (export-columns: every block, tx, input with its spent output, output with its
# spender, address; stats --recompute; address histories; a trace), a writer refuses both with
# what to do, the format 4 tx and id columns hold 29 and 5 bytes per row, and --bulk gives the
# same bytes. (Unresolved inputs, the other sentinel: e2e_bulk's bitcoinlib chains.)
source "$(dirname "$0")/common.sh"
"$BIN" generate --out "$T/g" --seed 5 --blocks 160 --txs-per-block 60 --maturity 5 \
    --scenarios 1 --quiet >/dev/null || bad "generate"
"$BIN" import --quiet --no-bulk --db "$T/v4" "$T/g" >/dev/null || bad "import"

# the id columns: 5 bytes per row, rows as the MANIFEST says
for c in in_prev out_spent out_prev_addr addr_last; do
    rows=$(tr ' ' '\n' <"$T/v4/MANIFEST" | sed -n "s/^$c=//p")
    size=$(stat -c %s "$T/v4/$c.col")
    if [ -n "$rows" ] && [ "$size" -eq $((rows * 5)) ] && [ "$rows" -gt 0 ]; then ok; else bad "$c.col: $size bytes for $rows rows"; fi
done
for c in addr_key:23 addr_key_tail:16 tx:29; do
    rows=$(tr ' ' '\n' <"$T/v4/MANIFEST" | sed -n "s/^${c%:*}=//p")
    size=$(stat -c %s "$T/v4/${c%:*}.col")
    if [ -n "$rows" ] && [ "$size" -eq $((rows * ${c#*:})) ] && [ "$rows" -gt 0 ]; then ok; else bad "${c%:*}.col: $size bytes for $rows rows"; fi
done
grep -q "^cointrail-store 4$" "$T/v4/MANIFEST" && ok || bad "MANIFEST does not say format 4"

cp -r "$T/v4" "$T/v3"
$PY tests/xchain_craft.py format3-store "$T/v3/MANIFEST" || bad "format3-store"
size=$(stat -c %s "$T/v3/tx.col")
rows=$(tr ' ' '\n' <"$T/v3/MANIFEST" | sed -n "s/^tx=//p")
[ "$size" -eq $((rows * 40)) ] && ok || bad "widened tx.col: $size bytes for $rows rows"

cp -r "$T/v4" "$T/v2"
$PY tests/xchain_craft.py format2-store "$T/v2/MANIFEST" || bad "format2-store"
size=$(stat -c %s "$T/v2/in_prev.col")
rows=$(tr ' ' '\n' <"$T/v2/MANIFEST" | sed -n "s/^in_prev=//p")
[ "$size" -eq $((rows * 8)) ] && ok || bad "widened in_prev.col: $size bytes for $rows rows"

# every table of the chain, the same bytes from each
"$BIN" export-columns --db "$T/v4" --out "$T/x4" >/dev/null || bad "export-columns (format 4)"
"$BIN" stats --db "$T/v4" --recompute --json >"$T/s4" || bad "stats --recompute (format 4)"
for v in 3 2; do
    "$BIN" export-columns --db "$T/v$v" --out "$T/x$v" >/dev/null 2>"$T/err" || bad "export-columns (format $v): $(cat "$T/err")"
    for f in "$T"/x4/*.csv.gz; do
        n=$(basename "$f")
        if cmp -s <(gzip -dc "$f") <(gzip -dc "$T/x$v/$n"); then ok; else bad "format $v copy: $n differs"; fi
    done
    "$BIN" stats --db "$T/v$v" --recompute --json >"$T/s$v" || bad "stats --recompute (format $v)"
    cmp -s "$T/s4" "$T/s$v" && ok || bad "stats differ (format $v): $(diff "$T/s4" "$T/s$v" | head -5)"
done
# address histories (the addr_last / out_prev_addr lists) of the addresses most paid, and of the
# most paid with a 32-byte program (P2WSH, P2TR: their key's tail in addr_key_tail)
gzip -dc "$T/x4/outputs.csv.gz" | head -1 >"$T/hdr"
addrs=$($PY - "$T/x4/outputs.csv.gz" "$T/x4/addresses.csv.gz" <<'PY'
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
    "$BIN" address --db "$T/v4" --json --limit 100000 "$a" >"$T/a4" || bad "address $a (format 4)"
    for v in 3 2; do
        "$BIN" address --db "$T/v$v" --json --limit 100000 "$a" >"$T/a$v" || bad "address $a (format $v)"
        cmp -s "$T/a4" "$T/a$v" && ok || bad "address $a differs (format $v)"
    done
done
# a trace from the scenario's first stolen txid, and that tx (its fee, sizes, flags)
stolen=$($PY -c '
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d.get("kind") == "scenario":
        print(d["steps"][0]["txid"]); break' "$T/g/truth.jsonl")
if [ -n "$stolen" ]; then
    "$BIN" trace --db "$T/v4" --from "$stolen" --format json >"$T/t4" 2>/dev/null || bad "trace (format 4)"
    "$BIN" tx --db "$T/v4" --json "$stolen" >"$T/tx4" || bad "tx (format 4)"
    for v in 3 2; do
        "$BIN" trace --db "$T/v$v" --from "$stolen" --format json >"$T/t$v" 2>/dev/null || bad "trace (format $v)"
        cmp -s "$T/t4" "$T/t$v" && ok || bad "trace differs (format $v)"
        "$BIN" tx --db "$T/v$v" --json "$stolen" >"$T/tx$v" || bad "tx (format $v)"
        cmp -s "$T/tx4" "$T/tx$v" && ok || bad "tx differs (format $v)"
    done
else
    bad "no scenario in truth.jsonl"
fi

# a writer refuses formats 2 and 3, saying what to do, and leaves them as they were
for v in 2 3; do
    sum_before=$(cat "$T"/v$v/*.col "$T/v$v/MANIFEST" | sha256sum)
    "$BIN" import --db "$T/v$v" "$T/g" >/dev/null 2>"$T/err"
    rc=$?
    want="store format 2 has 8-byte id columns.*re-import"
    [ $v = 3 ] && want="store format 3 has 40-byte tx rows.*re-import"
    if [ $rc -eq 1 ] && grep -q "$want" "$T/err"; then ok; else bad "format $v writer: rc $rc: $(cat "$T/err")"; fi
    [ "$(cat "$T"/v$v/*.col "$T/v$v/MANIFEST" | sha256sum)" = "$sum_before" ] && ok || bad "refused writer changed the format $v store"
done

# bulk gives the same bytes in format 4
"$BIN" import --quiet --bulk --db "$T/bulk" "$T/g" >/dev/null || bad "bulk import"
for f in "$T"/v4/*.col "$T"/v4/*.idx "$T/v4/MANIFEST"; do
    cmp -s "$f" "$T/bulk/$(basename "$f")" || bad "bulk: $(basename "$f") differs"
done
ok
finish
