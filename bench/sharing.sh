#!/bin/bash
# Export and import of 100,000 labels in each sharing format, against references measured in
# the same run on the same labels: the CSV import (cointrail's fastest label path) and Python's
# json.load of the same STIX and MISP files (a JSON parser alone, no labels).
#
#   bench/sharing.sh [LABELS [WORKDIR]]      (default 100000, /tmp/cointrail-bench-sharing)
#
# The labels are generated (half Bitcoin P2PKH addresses with valid checksums, half 0x
# addresses; 20 sources, 50 actors, ten categories, dates, URLs, programs), imported from CSV
# once, then exported to stix, misp, tagpack (one pack per source, into a directory) and ftm,
# and stix, misp and the TagPacks imported into fresh stores. Each figure is the median of 3
# runs: wall seconds, user+system CPU seconds, peak memory; the machine's load (uptime) is
# printed before and after, as other work on the machine moves wall times.
#
#   bench/sharing.sh case [BLOCKS [WORKDIR]]   (default 1000 blocks of 300 txs)
#
# Exports of an incident on a generated chain (six thefts, every service address labelled, each
# incident traced): stix, misp and freeze of the first incident, against `cointrail trace` of
# the same seeds and options (its recorded reproduce command) as the reference: the exports
# with a Bitcoin store compute the incident's runs again.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=labels
if [ "${1:-}" = case ]; then
    MODE=case
    shift
fi
N=${1:-100000}
WORK=${2:-/tmp/cointrail-bench-sharing}
BIN=build/cointrail
PY=/usr/bin/python3
[ -x "$BIN" ] || scripts/build.sh build
mkdir -p "$WORK"
export SOURCE_DATE_EPOCH=1700000000

# run NAME CMD...: three runs; prints the median wall, CPU and peak memory
run() {
    local name=$1; shift
    local rows=()
    for _ in 1 2 3; do
        [ -n "${PRE:-}" ] && eval "$PRE"
        /usr/bin/time -f '%e %U %S %M' -o "$WORK/time" "$@" >/dev/null 2>"$WORK/err" ||
            { cat "$WORK/err"; exit 1; }
        rows+=("$(cat "$WORK/time")")
    done
    printf '%s\n' "${rows[@]}" | $PY -c "
import statistics, sys
r = [list(map(float, l.split())) for l in sys.stdin]
wall = statistics.median(x[0] for x in r); cpu = statistics.median(x[1] + x[2] for x in r)
mem = statistics.median(x[3] for x in r) / 1024
print(f'{sys.argv[1]:<34} wall {wall:7.2f} s  cpu {cpu:7.2f} s  peak {mem:6.0f} MB')
open(sys.argv[2], 'w').write(str(cpu))" "$name" "$WORK/cpu.${name%% (*}"
}
# ratio A B: CPU of run A over run B
ratio() { $PY -c "import sys; print(f'{float(open(sys.argv[1]).read()) / float(open(sys.argv[2]).read()):.1f}')" "$WORK/cpu.$1" "$WORK/cpu.$2"; }

if [ $MODE = case ]; then
    [ "$N" = 100000 ] && N=1000
    export USER=bench
    echo "chain: $N blocks of 300 txs, 6 thefts; machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
    echo "load before: $(uptime)"
    rm -rf "$WORK/g" "$WORK/cdb"
    "$BIN" generate --out "$WORK/g" --seed 7 --blocks "$N" --txs-per-block 300 --users 5000 \
        --scenarios 6 --separate-rounds --quiet >/dev/null
    "$BIN" import --db "$WORK/cdb" --quiet "$WORK/g" >/dev/null
    $PY tests/incident_check.py labels "$WORK/g/truth.jsonl" >"$WORK/services.csv"
    "$BIN" labels import --db "$WORK/cdb" "$WORK/services.csv" >/dev/null
    "$BIN" incident import --db "$WORK/cdb" "$WORK/g/incidents.csv" >/dev/null
    "$BIN" incident trace --db "$WORK/cdb" --all >/dev/null
    id=scenario-1
    cmd=$("$BIN" incident show --db "$WORK/cdb" "$id" --json | $PY -c 'import json, sys
print(json.load(sys.stdin)["trace"]["runs"][0]["trace_run"]["command"])')
    echo "incident $id: $("$BIN" export --db "$WORK/cdb" --incident "$id" --format stix --out "$WORK/i.stix" 2>&1 | tail -1)"
    eval "run 'trace (reference)' \"\$BIN\"${cmd#cointrail}"
    for f in stix misp; do
        run "export --incident $f" "$BIN" export --db "$WORK/cdb" --incident "$id" --format $f --out "$WORK/i.$f"
    done
    PRE="rm -rf '$WORK/fz'" run "export --incident freeze" "$BIN" export --db "$WORK/cdb" --incident "$id" --format freeze --out "$WORK/fz"
    echo "freeze: $(($(wc -l <"$WORK/fz/index.csv") - 1)) packets, $(cat "$WORK"/fz/*/deposits.csv | grep -vc '^exchange,') deposits"
    echo "CPU ratios: stix / trace $(ratio 'export --incident stix' 'trace'), freeze / trace $(ratio 'export --incident freeze' 'trace')"
    echo "load after: $(uptime)"
    exit 0
fi

$PY - "$N" >"$WORK/labels.csv" <<'EOF'
import hashlib, random, sys
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
def b58check(payload):
    raw = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    n, s = int.from_bytes(raw, "big"), ""
    while n:
        n, r = divmod(n, 58)
        s = B58[r] + s
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + s
n, rnd = int(sys.argv[1]), random.Random(1)
cats = ["theft", "sanctioned", "exchange", "mixer", "scam", "ransomware", "otc", "bridge",
        "unknown", "darknet"]
print("chain,address,category,actor,label,source,confidence,url,programs,first_seen,last_seen,updated")
for i in range(n):
    h = rnd.getrandbits(160).to_bytes(20, "big")
    chain, addr = ("btc", b58check(b"\0" + h)) if i % 2 else ("eth", "0x" + h.hex())
    c = cats[i % len(cats)]
    actor = f"actor {i % 50}" if i % 3 else ""
    fs = f"20{10 + i % 14:02d}-0{1 + i % 9}-1{i % 9}" if i % 4 == 0 else ""
    prog = "DPRK3" if c == "sanctioned" else ""
    print(f'{chain},{addr},{c},{actor},"label {i}, a name",source {i % 20},{(i * 7) % 101},'
          f'https://example.org/r/{i % 1000},{prog},{fs},{fs},2024-0{1 + i % 9}-0{1 + i % 9}')
EOF

echo "labels: $N, machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
echo "load before: $(uptime)"
rm -rf "$WORK/db"
"$BIN" labels import --db "$WORK/db" "$WORK/labels.csv" >/dev/null
PRE="rm -rf '$WORK/csvdb'" run "import csv (reference)" "$BIN" labels import --db "$WORK/csvdb" "$WORK/labels.csv"
for f in stix misp ftm; do
    run "export $f" "$BIN" export --db "$WORK/db" --labels all --format $f --out "$WORK/x.$f"
done
PRE="rm -rf '$WORK/tp'" run "export tagpack (20 packs)" "$BIN" export --db "$WORK/db" --labels all --format tagpack --out "$WORK/tp"
for f in stix misp; do
    run "json.load $f (reference)" $PY -c "import json, sys; json.load(open(sys.argv[1]))" "$WORK/x.$f"
    PRE="rm -rf '$WORK/db-$f'" run "import $f" "$BIN" labels import --db "$WORK/db-$f" "$WORK/x.$f"
    cmp -s "$WORK/db/labels.db" "$WORK/db-$f/labels.db" || { echo "$f round trip differs"; exit 1; }
done
PRE="rm -rf '$WORK/db-tp'" run "import tagpack (20 packs)" "$BIN" labels import --db "$WORK/db-tp" "$WORK"/tp/*.yaml
printf 'sizes: csv %s MB, stix %s MB, misp %s MB, ftm %s MB, tagpacks %s MB\n' \
    "$(($(stat -c %s "$WORK/labels.csv") / 1000000))" "$(($(stat -c %s "$WORK/x.stix") / 1000000))" \
    "$(($(stat -c %s "$WORK/x.misp") / 1000000))" "$(($(stat -c %s "$WORK/x.ftm") / 1000000))" \
    "$(($(du -sb "$WORK/tp" | cut -f1) / 1000000))"
echo "CPU ratios: import stix / import csv $(ratio 'import stix' 'import csv'), import misp / import csv $(ratio 'import misp' 'import csv'),"
echo "  import stix / json.load stix $(ratio 'import stix' 'json.load stix'), import misp / json.load misp $(ratio 'import misp' 'json.load misp')"
echo "load after: $(uptime)"
