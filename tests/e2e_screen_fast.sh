#!/bin/bash
# Screening answered from the exposure index alone (docs/screening.md, "Speed"):
#  - the service's answers, written straight as text (risk_result_text), are the documents the
#    CLI builds with jansson (risk_result_json), field for field and in order, for addresses
#    (labelled, with entity labels, and not) and txs, incoming only, both directions and with
#    --hops;
#  - a screening from the index alone takes no expensive slot: with one slot and four threads,
#    concurrent incoming screenings are never refused, while the same load asking for the
#    trace within 2 hops is (the control that shows the check can fail).
source "$(dirname "$0")/common.sh"

"$BIN" generate --out "$T/g" --seed 11 --blocks 160 --txs-per-block 120 --maturity 5 \
    --halving-interval 50 --era 2019-2024.3 --privacy-rate 0.2 --users 500 --scenarios 6 \
    --scenario-blocks 100 --quiet >/dev/null || bad "generate"
"$BIN" import --db "$T/db" --quiet "$T/g" >/dev/null || bad "import"
"$BIN" labels import --db "$T/db" "$T/g/labels.csv" >/dev/null || bad "labels import"
"$BIN" cluster --db "$T/db" >/dev/null || bad "cluster"

# the items: scenario txs (deposits and steps), their output addresses, labelled addresses
$PY - "$T" <<'PY' || bad "items"
import json, re, sys
T = sys.argv[1]
txs = [s["txid"] for l in open(f"{T}/g/truth.jsonl") for d in [json.loads(l)]
       if d.get("kind") == "scenario" for s in d["steps"]][:60]
labelled = sorted(set(re.findall(r"^btc,([^,]+),", open(f"{T}/g/labels.csv").read(), re.M)))
open(f"{T}/items", "w").write("\n".join(txs + labelled[:40:2] + labelled[-20:]) + "\n")
PY

echo "screen-key-0123456789abcdef" >"$T/keys" && chmod 600 "$T/keys"
"$BIN" serve --db "$T/db" --listen 127.0.0.1:0 --api-keys "$T/keys" --port-file "$T/port" \
    --threads 4 --max-expensive 1 --cache 0 2>"$T/serve.log" >/dev/null &
SERVE_PID=$!
trap 'kill $SERVE_PID 2>/dev/null; [ -n "${KEEP_T:-}" ] || rm -rf "$T"' EXIT
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
PORT=$(cat "$T/port")

$PY tests/screen_fast_check.py same "$BIN" "$T/db" "$PORT" screen-key-0123456789abcdef \
    "$T/items" && ok || bad "the service's text differs from the CLI's documents"
$PY tests/screen_fast_check.py slots "$PORT" screen-key-0123456789abcdef "$T/items" && ok ||
    bad "index screenings and the expensive slot"
finish
