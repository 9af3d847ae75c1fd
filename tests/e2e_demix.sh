#!/bin/bash
# trace --demix against the generator's truth: on a chain whose thieves remix in Whirlpool and
# take swap deposits back (--swap-returns, --thief-remix, rounds not shared between thefts),
# demixing finds most of what each thief itself deposited at exchanges (thief_deposit lines),
# more than a haircut trace, and puts little innocent value on the thieves; its links carry
# known rules and confidences; usage errors; the generator's new options leave the chain as it
# was when they are off and --thief-truth alone only adds truth lines.
source "$(dirname "$0")/common.sh"

G=(--seed 31 --blocks 300 --txs-per-block 150 --maturity 5 --halving-interval 50
   --era 2019-2024.3 --privacy-rate 0.25 --users 600 --scenarios 6 --quiet)
"$BIN" generate --out "$T/plain" "${G[@]}" >/dev/null || bad "generate plain"
"$BIN" generate --out "$T/tt" "${G[@]}" --thief-truth >/dev/null || bad "generate --thief-truth"
for f in "$T"/plain/blk*.dat "$T"/plain/labels.csv "$T"/plain/incidents.csv; do
    cmp -s "$f" "$T/tt/${f#"$T"/plain/}" && ok || bad "--thief-truth changed $f"
done
# the truth gains lines and a meta key, nothing else changes
$PY - "$T/plain/truth.jsonl" "$T/tt/truth.jsonl" <<'PYEOF' && ok || bad "--thief-truth changed truth lines"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
new = ("thief_deposit", "thief_mix_output", "swap_return")
assert b[0].pop("thief_truth") is True
b = [x for x in b if x["kind"] not in new]
assert a == b, "truth differs"
assert any(x["kind"] == "thief_deposit" for x in json.loads("[" + ",".join(open(sys.argv[2])) + "]"))
PYEOF
$PY tests/demix_truth.py "$T/tt/truth.jsonl" | tail -1 | grep -q " 0 failed" && ok || bad "thief truth (plain)"

"$BIN" generate --out "$T/g" "${G[@]}" --separate-rounds --swap-returns 0.8 --thief-remix 0.5 \
    >/dev/null || bad "generate demix chain"
$PY tests/demix_truth.py "$T/g/truth.jsonl" >"$T/truth.txt"
tail -1 "$T/truth.txt" | grep -q " 0 failed" && ok || bad "thief truth: $(grep FAIL "$T/truth.txt" | head -3)"
grep -q '"swap_return"' "$T/g/truth.jsonl" && ok || bad "no swap returns generated"
"$BIN" import --db "$T/db" "$T/g" >/dev/null && "$BIN" labels import --db "$T/db" "$T/g/labels.csv" >/dev/null &&
    "$BIN" cluster --db "$T/db" >/dev/null || bad "import, labels, cluster"

# recall and misattribution against the truth (floors below the measured figures, see
# docs/tracing.md, "Demixing")
$PY tests/demix_eval.py "$BIN" "$T/db" "$T/g/truth.jsonl" --json "$T/ev.json" \
    --min-recall 0.95 --max-innocent 0.005 --max-misattributed 0.02 --min-gain 0.35 >"$T/ev.txt" &&
    ok || bad "demix against the truth: $(cat "$T/ev.txt")"
[ -n "${DEMIX_EVAL_TABLE:-}" ] && cat "$T/ev.txt"
# without deposit-account links: what the paths through the rounds and the swaps find alone
$PY tests/demix_eval.py "$BIN" "$T/db" "$T/g/truth.jsonl" --demix-args --no-deposit-account \
    --min-recall 0.85 --max-innocent 0.005 --max-misattributed 0.02 >"$T/ev2.txt" &&
    ok || bad "demix --no-deposit-account against the truth: $(cat "$T/ev2.txt")"
[ -n "${DEMIX_EVAL_TABLE:-}" ] && cat "$T/ev2.txt"

# the document: rules known, confidences in range, deposits at or above the threshold,
# the same answer twice
src=$($PY -c "
import json,sys
for l in open('$T/g/truth.jsonl'):
    x=json.loads(l)
    if x['kind']=='scenario' and x['stolen']: print(x['sources'][0]); break")
"$BIN" trace --db "$T/db" --from "$src" --demix --json >"$T/d1.json" || bad "demix json"
"$BIN" trace --db "$T/db" --from "$src" --demix --json >"$T/d2.json" || bad "demix json again"
cmp -s "$T/d1.json" "$T/d2.json" && ok || bad "demix not deterministic"
$PY - "$T/d1.json" <<'PYEOF' && ok || bad "demix document"
import json, sys
d = json.load(open(sys.argv[1]))
rules = {"seed", "spend", "tx0", "postmix-cospend-owned", "postmix-cospend-rounds",
         "postmix-cospend-round", "deposit-address-reuse", "address-reuse", "swap-amount-time",
         "coinjoin-candidate", "merge", "postmix-path-to-deposit", "swap-payout-to-deposit",
         "deposit-account"}
assert d["mode"] == "demix" and d["links"] and d["deposits"]
for l in d["links"]:
    assert l["rule"] in rules, l
    assert 0 <= l["confidence"] <= 1 and 0 <= l["path_confidence"] <= l["confidence"] + 1e-9, l
    assert l["followed"] == (l["rule"] != "coinjoin-candidate" and l["path_confidence"] >= 0.5), l
for e in d["deposits"]:
    assert e["confidence"] >= 0.5 and e["amount"] > 0 and e["rules"][0] == "seed", e
assert sum(a["amount"] for a in d["by_actor"]) == d["totals"]["deposited"]
assert d["options"]["deposit_account"] is True
addr = {l["output"]: l["address"] for l in d["links"]}
for l in d["links"]:  # an account link comes from a deposit at the same address
    if l["rule"] == "deposit-account":
        assert addr[l["from"]] == l["address"], l
for w in d["swaps"]:
    assert w["rule"] in ("swap-amount-time", "swap-payout-to-deposit"), w
PYEOF
"$BIN" trace --db "$T/db" --from "$src" --demix | grep -q "links followed by rule:" && ok || bad "text"
# usage errors: exit 2
for args in "--direction backward" "--format dot" "--min-confidence 0" "--min-confidence 1.5" \
    "--remix-depth 11" "--swap-window -1" "--swap-fee-max 1"; do
    # shellcheck disable=SC2086
    "$BIN" trace --db "$T/db" --from "$src" --demix $args >/dev/null 2>&1
    [ $? -eq 2 ] && ok || bad "--demix $args: not a usage error"
done
"$BIN" generate --out "$T/x" --swap-returns 2 --quiet >/dev/null 2>&1
[ $? -ne 0 ] && ok || bad "--swap-returns 2 accepted"
finish
