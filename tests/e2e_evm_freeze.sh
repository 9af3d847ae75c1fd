#!/bin/bash
# e2e_evm_freeze: `cointrail export --format freeze|stix|misp` of cases and incidents traced on
# an EVM chain (docs/sharing.md, "Freeze requests"): the deposits each exchange or OTC desk
# received, per (deposit address, asset), equal the endpoints of tests/etrace_oracle.py (python
# ints over the ethereum-etl CSVs, written apart from the C); every row is a transfer of the
# CSVs with its block, time, decimals and a path from a seed tx; the STIX bundle and the MISP
# event carry the deposit txs and validate (tests/sharing_check.py); hostile names are escaped.
# (1) the recorded anvil scenario (tests/data/evm-etrace), a case, fifo and haircut through the
# mixer pools; (2) a theft the EVM generator made (src/gen/gen_evm.c), as its incident, with the
# bridge and router it reaches labelled as exchanges. Slow: the oracle replays 23,000 transfers.
. "$(dirname "$0")/common.sh"
CHECK="$PY tests/sharing_check.py"
FC="$PY tests/evm_freeze_check.py"
NOLIMIT=4294967295
HOSTILE='<img src=x onerror=alert(1)> & "Desk"'

# ---- (1) the anvil scenario, as a case ----
D=tests/data/evm-etrace
E=$T/evm
THIEF=0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc
"$BIN" evm-import --db "$E" "$D"/*.csv >/dev/null || bad "evm-import"
$PY tests/etrace_labels.py "$D/truth.json" >"$T/evl.csv"
"$BIN" labels import --db "$E" "$T/evl.csv" >/dev/null || bad "labels import"
C() { "$BIN" case "$@" --db "$E" --analyst bob; }
C new --title "drain $HOSTILE" --chains eth >/dev/null && C add-seed 1 "$THIEF:5-5" >/dev/null ||
    bad "case new"
for p in fifo haircut; do
    C trace 1 --policy $p --through-mixers >/dev/null || bad "case trace $p"
    "$BIN" export --db "$E" --analyst bob --case 1 --format freeze --out "$T/fz-$p" 2>"$T/err" &&
        grep -q "1 freeze packet(s), 1 deposit(s)" "$T/err" && ok || bad "freeze $p: $(cat "$T/err")"
    "$BIN" etrace --db "$E" --from "$THIEF:5-5" --policy $p --through-mixers --json >"$T/et-$p.json" ||
        bad "etrace $p"
    $PY tests/etrace_oracle.py "$D" "$T/evl.csv" $p $NOLIMIT 0 1 "$T/et-$p.json" "$T/eps-$p.json" \
        >/dev/null && ok || bad "oracle $p"
    seed=$($PY tests/jget.py '["seeds"][0]' <"$T/et-$p.json" | cut -d: -f1)
    $FC "$T/fz-$p" "$D" "$T/evl.csv" "$T/eps-$p.json" --mark "$HOSTILE" --seeds "$seed" >"$T/check" &&
        ok || bad "case freeze $p: $(cat "$T/check")"
done
# the checker can fail: one traced amount changed by one base unit
sed -i '2s/,1700000,1700000000000,1,/,1700000,1700000000001,1,/' "$T"/fz-fifo/*/deposits.csv
$FC "$T/fz-fifo" "$D" "$T/evl.csv" "$T/eps-fifo.json" >/dev/null && bad "a changed amount passed" || ok
for f in stix misp; do
    "$BIN" export --db "$E" --analyst bob --case 1 --format $f --out "$T/case.$f" 2>/dev/null || bad "$f"
done
$CHECK stix "$T/case.stix" >"$T/check" && ok || bad "case STIX schemas: $(cat "$T/check")"
$CHECK misp "$T/case.misp" >"$T/check" && ok || bad "case MISP templates: $(cat "$T/check")"
$FC --bundle "$T/fz-haircut" "$T/case.stix" "$T/case.misp" >"$T/check" && ok ||
    bad "case bundle: $(cat "$T/check")"

# ---- (2) a generated EVM theft, as its incident ----
G=$T/g
"$BIN" generate --quiet --out "$G" --blocks 240 --txs-per-block 60 --users 400 --maturity 5 \
    --halving-interval 60 --era 2019.5-2024.3 --privacy-rate 0.25 --evm --seed 11 \
    --evm-scenarios 2 >/dev/null 2>"$T/err" || bad "generate --evm: $(cat "$T/err")"
# the theft's bridge and router become exchanges (the router with a hostile name): the value
# stops there on eth and each gets a packet
$PY - "$G/labels.csv" "$HOSTILE" >"$T/xl.csv" <<'PYEOF' || bad "relabel"
import csv, sys
r = csv.reader(open(sys.argv[1]))
w = csv.writer(sys.stdout, lineterminator="\n")
h = next(r)
w.writerow(h)
ci, ai = h.index("category"), h.index("actor")
for row in r:
    if row[0] == "eth" and row[ci] in ("bridge", "swap"):
        if row[ci] == "swap":
            row[ai] = sys.argv[2]
        row[ci] = "exchange"
    w.writerow(row)
PYEOF
X=$T/dbx
"$BIN" evm-import --db "$X" "$G/evm" >/dev/null || bad "evm-import generated"
"$BIN" labels import --db "$X" "$T/xl.csv" >/dev/null || bad "labels generated"
"$BIN" incident import --db "$X" --analyst t "$G/incidents.csv" >/dev/null || bad "incident import"
"$BIN" incident trace --db "$X" --analyst t scenario-2 --hops 60 >/dev/null || bad "incident trace"
"$BIN" export --db "$X" --analyst t --incident scenario-2 --format freeze --out "$T/fzg" 2>"$T/err" &&
    grep -q "2 freeze packet(s)" "$T/err" && ok || bad "incident freeze: $(cat "$T/err")"
seeds=$(grep '^scenario-2,' "$G/incidents.csv" | awk -F, '{print $NF}' | tr -d '\r')
from=$(echo "$seeds" | tr ';' '\n' | sed 's/^/--from /' | tr '\n' ' ')
# shellcheck disable=SC2086
"$BIN" etrace --db "$X" $from --hops 60 --json >"$T/etg.json" 2>/dev/null || bad "etrace generated"
$PY tests/etrace_oracle.py "$G/evm" "$T/xl.csv" haircut 60 0 0 "$T/etg.json" "$T/epsg.json" \
    >/dev/null && ok || bad "oracle generated"
$FC "$T/fzg" "$G/evm" "$T/xl.csv" "$T/epsg.json" --mark "$HOSTILE" --seeds "${seeds//;/,}" \
    >"$T/check" && ok || bad "incident freeze: $(cat "$T/check")"
grep -q "$HOSTILE" "$T/fzg/index.html" && bad "hostile name unescaped in the index" || ok
for f in stix misp; do
    "$BIN" export --db "$X" --analyst t --incident scenario-2 --format $f --out "$T/inc.$f" \
        2>/dev/null || bad "$f"
done
$CHECK stix "$T/inc.stix" >"$T/check" && ok || bad "incident STIX schemas: $(cat "$T/check")"
$CHECK misp "$T/inc.misp" >"$T/check" && ok || bad "incident MISP templates: $(cat "$T/check")"
$FC --bundle "$T/fzg" "$T/inc.stix" "$T/inc.misp" >"$T/check" && ok ||
    bad "incident bundle: $(cat "$T/check")"
finish
