#!/bin/bash
# Bitcoin -> EVM exposure (issue 13, part 3; docs/exposure.md, "Across chains"): a link from a
# Bitcoin deposit to an EVM outbound seeds the outbound transfer with the deposit's exposure (the
# Bitcoin exposure index's amounts, in proportion to value) and the EVM index carries it forward.
# The generator has no Bitcoin -> ETH swaps, so tests/btc2evm_graft.py grafts links from stolen
# Bitcoin outputs onto the generator's THORChain refund outbounds. Checked: `xchain links` and
# `evm-exposure build` take the seeds; every row, record and drop equals
# tests/evmexpo_oracle.py's (the Bitcoin amounts from exposure_oracle.py, Python integers); every
# address the seeds change is screened (CLI and HTTP) as the oracle says, the reason of one
# exposed by a link alone naming its method, confidence and candidates; kill -9 during the
# seeded build then a rerun gives the bytes of a clean build; removing the links gives back the
# index without them.
source "$(dirname "$0")/common.sh"

"$BIN" generate --quiet --out "$T/g" --blocks 240 --txs-per-block 60 --users 400 --maturity 5 \
    --halving-interval 60 --era 2019.5-2024.3 --privacy-rate 0.25 --evm --seed 11 \
    --evm-scenarios 2 >/dev/null 2>"$T/err" || bad "generate --evm: $(cat "$T/err")"
"$BIN" import --db "$T/db" --quiet "$T/g" >/dev/null || bad "import"
"$BIN" labels import --db "$T/db" "$T/g/labels.csv" >/dev/null || bad "labels"
"$BIN" evm-import --db "$T/db" "$T/g/evm" >/dev/null 2>&1 || bad "evm-import"
"$BIN" xchain links --db "$T/db" >/dev/null 2>"$T/err" || bad "xchain links: $(cat "$T/err")"
X=evm/eth/exposure
"$BIN" evm-exposure dump --db "$T/db" >"$T/plain" || bad "dump"
grep -q seeds "$T/db/$X/MANIFEST" && bad "seeds without links from Bitcoin" || ok
cp -a "$T/db" "$T/db0"

# graft 8 links from Bitcoin and have xchain links' successor (evm-exposure build) take them
$PY tests/btc2evm_graft.py "$T/db" "$T/g" "$T/g/labels.csv" 8 >"$T/o" 2>&1 \
    && [ "$(cat "$T/o")" = 8 ] && ok || bad "graft: $(cat "$T/o")"
cp "$T/db/xchain/links.jsonl" "$T/links.grafted"
cp -a "$T/db" "$T/dbk"
"$BIN" evm-exposure build --db "$T/db" >"$T/o" 2>&1 || bad "build with seeds: $(cat "$T/o")"
grep -q "built (seeds)" "$T/o" && ok || bad "the seeds did not rebuild: $(cat "$T/o")"
"$BIN" evm-exposure status --db "$T/db" --json | $PY -c 'import json,sys; sys.exit(json.load(sys.stdin)["state"] != "ok")' \
    && ok || bad "status after the seeded build"
"$BIN" evm-exposure build --db "$T/db" >"$T/o" 2>&1 && grep -q "updated" "$T/o" && ok \
    || bad "the same seeds rebuilt again: $(cat "$T/o")"
$PY tests/evmexpo_oracle.py evm "$BIN" "$T/db" "$T/g/evm" "$T/g/labels.csv" --btc "$T/g" >"$T/o" \
    && ok || bad "oracle with seeds from Bitcoin: $(tail -5 "$T/o")"
grep -q "seeds from Bitcoin: [1-9]" "$T/o" && ok || bad "no seeds: $(cat "$T/o")"
# CLI screenings of every address the seeds change
$PY tests/evmexpo_oracle.py btc2evm-screen "$BIN" "$T/db" "$T/g/evm" "$T/g/labels.csv" \
    --btc "$T/g" --min 20 >"$T/o" && ok || bad "CLI screenings: $(tail -5 "$T/o")"
tail -1 "$T/o"

# kill -9 during the seeded build, then rerun: the bytes of the clean build
COINTRAIL_TEST_EVM_EXPOSURE_CRASH_AFTER=12000 "$BIN" evm-exposure build --db "$T/dbk" >/dev/null 2>&1
[ $? -eq 137 ] && ok || bad "the crash hook did not kill the seeded build"
grep -q seeds "$T/dbk/$X/MANIFEST" && bad "a killed build committed seeds" || ok
"$BIN" evm-exposure build --db "$T/dbk" >/dev/null 2>&1 || bad "rerun after the kill"
diff -r "$T/dbk/$X" "$T/db/$X" >/dev/null && ok || bad "killed + rerun differs: $(diff -r "$T/dbk/$X" "$T/db/$X" | head -3)"

# over HTTP: the same answers
KEY=$("$BIN" serve-key --owner test --scopes read,screen --key-file "$T/keys") || bad "serve-key"
"$BIN" serve --db "$T/db" --listen 127.0.0.1:0 --api-keys "$T/keys" --port-file "$T/port" \
    --poll-ms 50 2>"$T/serve.log" &
SERVE_PID=$!
trap 'kill $SERVE_PID 2>/dev/null; [ -n "${KEEP_T:-}" ] || rm -rf "$T"' EXIT
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
$PY tests/evmexpo_oracle.py btc2evm-screen "$BIN" "$T/db" "$T/g/evm" "$T/g/labels.csv" \
    --btc "$T/g" --min 20 --url "127.0.0.1:$(cat "$T/port")" --key "$KEY" >"$T/o" && ok \
    || bad "HTTP screenings: $(tail -5 "$T/o")"
kill $SERVE_PID
wait $SERVE_PID 2>/dev/null

# xchain links rebuilds the links (none from Bitcoin: the generator has none) and the index
# follows: the same rows and records as before the grafts
"$BIN" xchain links --db "$T/db" >/dev/null 2>"$T/err" || bad "xchain links again"
grep -q "built (seeds)" "$T/err" && ok || bad "xchain links did not update the index: $(cat "$T/err")"
"$BIN" evm-exposure dump --db "$T/db" >"$T/d1" && cmp -s "$T/d1" "$T/plain" && ok \
    || bad "without the links the index differs from the one never seeded"
# a damaged links file: a clear error naming it, the index as it was
cp "$T/links.grafted" "$T/db/xchain/links.jsonl"
printf '{"method": "thorchain_memo", "from": 7}\n' >>"$T/db/xchain/links.jsonl"
cp -a "$T/db/$X" "$T/xbefore"
"$BIN" evm-exposure build --db "$T/db" >/dev/null 2>"$T/err"
[ $? -ne 0 ] && grep -q "links.jsonl" "$T/err" && ok || bad "damaged links: $(cat "$T/err")"
diff -r "$T/xbefore" "$T/db/$X" >/dev/null && ok || bad "a failed build changed the index"
finish
