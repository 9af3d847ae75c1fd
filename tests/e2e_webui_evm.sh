#!/bin/bash
# e2e_webui_evm: the EVM lane of the web UI's graph through its API (docs/webui.md, "The graph").
# A generated chain with an EVM theft (generate --evm: truth.jsonl, the ethereum-etl CSVs) is
# imported with its cross-chain links and EVM entities; tests/webui_evm_check.py opens a case,
# starts the graph from the thief's 0x address and expands EVM nodes forward and backward under
# each policy, and checks every transfer's taint, the fees and the edges against the oracle
# (tests/etrace_oracle.py over the CSVs, Python integers), the THORChain deposit's Bitcoin side
# and the Bitcoin output's EVM sender against the truth's xchain_link, the steps saved with the
# EVM tip and audited (a read key's audited only), a replayed expansion, and a hostile analyst
# label on a 0x address returned as written.
. "$(dirname "$0")/common.sh"
SPID=""
cleanup() {
    [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
    [ -n "${KEEP_T:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

"$BIN" generate --out "$T/chain" --scenarios 1 --blocks 300 --txs-per-block 200 --maturity 5 \
    --halving-interval 50 --era 2019-2024.3 --privacy-rate 0.25 --evm --quiet >/dev/null ||
    bad "generate"
"$BIN" import --db "$T/db" "$T/chain" >/dev/null || bad "import"
"$BIN" evm-import --db "$T/db" "$T/chain/evm" >/dev/null || bad "evm-import"
"$BIN" xchain links --db "$T/db" >/dev/null || bad "xchain links"
"$BIN" labels import --db "$T/db" "$T/chain/labels.csv" >/dev/null || bad "labels import"
"$BIN" cluster --db "$T/db" >/dev/null || bad "cluster"
"$BIN" evm-cluster --db "$T/db" >/dev/null 2>&1 || bad "evm-cluster"
K=$T/keys
RK=$("$BIN" serve-key --owner reader --role read --key-file "$K")
AK=$("$BIN" serve-key --owner ana --role analyst --key-file "$K")
"$BIN" serve --db "$T/db" --api-keys "$K" --listen 127.0.0.1:0 --port-file "$T/port" \
    --threads 3 2>"$T/serve.log" &
SPID=$!
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.05; done
cat >"$T/cfg.json" <<JSON
{"base": "http://127.0.0.1:$(cat "$T/port")", "keys": {"analyst": "$AK", "read": "$RK"},
 "chain": "$T/chain", "labels": ["$T/chain/labels.csv"], "entities": "$T/db/evm/eth.entities.json",
 "hostile": "\"><img src=x onerror=alert(1)><script>alert(2)</script>"}
JSON
$PY tests/webui_evm_check.py "$T/cfg.json" >"$T/check.log" 2>&1
rc=$?
while read -r line; do
    case "$line" in
    ok\ *) ok ;;
    FAIL\ *) bad "${line#FAIL }" ;;
    esac
done <"$T/check.log"
[ $rc -eq 0 ] || bad "webui_evm_check exit $rc: $(grep -v '^ok ' "$T/check.log" | tail -5)"
[ "$(grep -c '^ok ' "$T/check.log")" -ge 25 ] && ok || bad "too few checks passed"
kill -0 "$SPID" 2>/dev/null && ok || bad "the service died: $(tail -5 "$T/serve.log")"
finish
