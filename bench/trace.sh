#!/bin/bash
# Trace timing: a 10-hop forward trace from 100 stolen outputs, per policy, warm and cold.
#
#   bench/trace.sh [TXS_PER_BLOCK BLOCKS [WORKDIR]]   (default 2500 x 5000 = about 10M txs)
#
# Generates (or reuses) the chain of bench/import.sh's largest size, imports it, imports the
# generator's labels.csv and clusters it, then takes as seeds the outputs of the first
# scenario's split, hop and peel steps (100 at most) and times `cointrail trace` with
# /usr/bin/time. Cold runs drop the page cache first (needs root; skipped otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
TPB=${1:-2500}
BLOCKS=${2:-5000}
WORK=${3:-/tmp/cointrail-bench}
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
    break
open(out, "w").write("\n".join(seeds[:100]) + "\n")
PY
txs=$("$BIN" stats --db "$db" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["txs"])')
echo "chain: $txs txs; seeds: $(wc -l <"$WORK/seeds.txt") outputs; machine: $(nproc) cores"
run() { # LABEL ARGS...
    local label=$1; shift
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$BIN" trace --db "$db" --from @"$WORK/seeds.txt" \
        --hops 10 --format json "$@" >/dev/null
    read -r secs kb <"$WORK/time"
    printf '%-34s %7.2f s  peak %5d MB\n' "$label" "$secs" $((kb / 1024))
}
for args in "fifo 0" "haircut 100000" "haircut 1000" "haircut 0" "poison 100000"; do
    set -- $args
    run "$1 --min-value $2 (warm)" --policy "$1" --min-value "$2"
done
if [ "$(id -u)" -eq 0 ] && sync && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then
    run "fifo --min-value 0 (cold)" --policy fifo
    sync && echo 3 >/proc/sys/vm/drop_caches
    run "haircut --min-value 100000 (cold)" --policy haircut --min-value 100000
fi
