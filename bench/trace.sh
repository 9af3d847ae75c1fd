#!/bin/bash
# Trace timing: a forward trace from 100 stolen outputs, per policy, with the default depth (no
# hop limit) and with --hops 10, medians of RUNS runs each (alternating), warm and cold; then the
# visited-output budget as the worst case of an unbounded trace.
#
#   bench/trace.sh [TXS_PER_BLOCK BLOCKS [WORKDIR]]   (default 2500 x 5000 = about 10M txs)
#   RUNS=3 (runs per median), BUDGET=1 (also the worst case: 0 skips it), COLD=1 (also cold
#   runs, dropping the page cache: root only)
#
# Generates (or reuses) the chain of bench/import.sh's largest size, imports it, imports the
# generator's labels.csv and clusters it, then takes as seeds the outputs of the scenarios'
# split, hop and peel steps (the first 100: all of them the first scenario's on the 10M-tx
# chain; on small chains a scenario has fewer) and times `cointrail trace` with
# /usr/bin/time. Cold runs (COLD=1) drop the page cache first (needs root).
# The worst case: the same store with its labels hidden (a hard-linked copy without labels.db),
# so that no endpoint stops the taint, traced under poison by default until the budget of
# visited outputs (--max-outputs, default 5,000,000) stops it: time and peak memory per budget.
set -euo pipefail
cd "$(dirname "$0")/.."
TPB=${1:-2500}
BLOCKS=${2:-5000}
WORK=${3:-/tmp/cointrail-bench}
RUNS=${RUNS:-3}
BIN=$(realpath build/cointrail)
[ -x "$BIN" ] || scripts/build.sh build
source bench/labelled_chain.sh # (the cd above made the repository root current)
python3 - "$BIN" "$db" "$chain/truth.jsonl" "$WORK/seeds.txt" <<'PY'
import json, subprocess, sys
bin_, db, truth, out = sys.argv[1:]
seeds = []
for line in open(truth):
    d = json.loads(line)
    if d.get("kind") != "scenario":
        continue
    for st in d["steps"]:
        if st["kind"] in ("split", "hop", "peel") and len(seeds) < 100:
            tx = json.loads(subprocess.run([bin_, "tx", "--db", db, "--json", st["txid"]],
                                           capture_output=True, text=True, check=True).stdout)
            seeds += [f"{st['txid']}:{o['n']}" for o in tx["outputs"] if o["value"] > 0]
open(out, "w").write("\n".join(seeds[:100]) + "\n")
PY
txs=$("$BIN" stats --db "$db" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["txs"])')
echo "chain: $txs txs; seeds: $(wc -l <"$WORK/seeds.txt") outputs; machine: $(nproc) cores"
echo "load before: $(uptime)"
# one DB ARGS...: one run; prints "WALL CPU PEAK_MB OUTPUTS_VISITED"
one() {
    local d=$1
    shift
    /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "$BIN" trace --db "$d" \
        --from @"$WORK/seeds.txt" --format json "$@" >"$WORK/doc.json" 2>/dev/null
    read -r secs user sys kb <"$WORK/time"
    local visited
    visited=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["outputs_visited"])' \
        "$WORK/doc.json")
    echo "$secs $(echo "$user + $sys" | bc) $((kb / 1024)) $visited"
}
source "$(dirname "$0")/lib.sh" # median
# pair LABEL ARGS...: RUNS runs of the default and of --hops 10, alternating; medians
pair() {
    local label=$1
    shift
    : >"$WORK/def" && : >"$WORK/h10"
    for _ in $(seq "$RUNS"); do
        one "$db" "$@" >>"$WORK/def"
        one "$db" --hops 10 "$@" >>"$WORK/h10"
    done
    for v in def h10; do
        printf '%-28s %-8s wall %6.2f s  cpu %6.2f s  peak %5d MB  outputs %d\n' "$label" \
            "$([ $v = def ] && echo default || echo hops10)" \
            "$(cut -d' ' -f1 "$WORK/$v" | median)" "$(cut -d' ' -f2 "$WORK/$v" | median)" \
            "$(cut -d' ' -f3 "$WORK/$v" | median)" "$(tail -1 "$WORK/$v" | cut -d' ' -f4)"
    done
}
for args in "fifo 0" "haircut 100000" "haircut 1000" "haircut 0" "poison 100000"; do
    set -- $args
    pair "$1 --min-value $2 (warm)" --policy "$1" --min-value "$2"
done
# (dropping the page cache slows everything else on the machine: COLD=1 asks for it)
if [ "${COLD:-0}" = 1 ] && [ "$(id -u)" -eq 0 ] && sync && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then
    for h in "" "--hops 10"; do
        sync && echo 3 >/proc/sys/vm/drop_caches
        echo "fifo --min-value 0 (cold) ${h:-default}: $(one "$db" --policy fifo $h)"
    done
fi
if [ "${BUDGET:-1}" = 1 ]; then
    nolab="$WORK/nolabels-$TPB-$BLOCKS"
    [ -d "$nolab" ] || { cp -al "$db" "$nolab" && rm -f "$nolab/labels.db"; }
    for m in 1000000 5000000; do
        /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "$BIN" trace --db "$nolab" \
            --from @"$WORK/seeds.txt" --policy poison --max-outputs $m >"$WORK/text" 2>"$WORK/err"
        read -r secs user sys kb <"$WORK/time"
        printf 'worst case, no labels, poison, budget %-8d wall %6.2f s  cpu %6.2f s  peak %5d MB  %s\n' \
            $m "$secs" "$(echo "$user + $sys" | bc)" $((kb / 1024)) "$(grep -o 'outputs visited: [0-9]*' "$WORK/text")"
        grep -q "trace cut by the budget" "$WORK/err" && echo "  (the budget was reached and reported)"
    done
fi
echo "load after: $(uptime)"
