#!/bin/bash
# Two or more builds' bulk import of one chain, interleaved: which is faster, which holds less.
#
#   [ROUNDS=3 (odd: the median is the middle run)] [MEMORY=SIZE] [WORK=DIR] [LOCK=FILE] bench/import_ab.sh CHAIN_DIR BIN...
#
# Per round, each BIN in turn: `BIN import --db STORE --quiet --no-exposure --json CHAIN_DIR`
# (with --memory SIZE when MEMORY is set) into an empty store under WORK (deleted after),
# under /usr/bin/time -v, and under `flock LOCK` when LOCK is set (outside the timing; a machine shared with other
# heavy jobs). Interleaving the builds spreads the machine's drift over all of them. Prints per
# run: wall and CPU seconds (user + sys), peak RSS (it counts the mapped column and temp file
# pages), the load average, the --json heap figures (bulk_memory: rss_anon_peak; keys_sorted, the
# address keys sorted with their records rather than mapped) and the phases (phase_seconds: bulk_blocks and the
# finish's); then each BIN's median wall and CPU. The first round's stores are compared file by
# file (cmp) with the first BIN's: the builds must make the same store.
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,14p' "$0"; exit 2; }
chain=$(realpath "$1")
shift
bins=()
for b in "$@"; do bins+=("$(realpath "$b")"); done
cd "$(dirname "$0")/.."
source bench/lib.sh # timed (under flock LOCK), median
ROUNDS=${ROUNDS:-3}
WORK=${WORK:-/tmp/cointrail-import-ab}
mkdir -p "$WORK"
trap 'rm -rf "$WORK"/db-*' EXIT
mem=()
[ -n "${MEMORY:-}" ] && mem=(--memory "$MEMORY")

summary() { # JSON -> "anon=GB keys_sorted=N | phases"
    python3 - "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
m = d.get("bulk_memory", {})
p = d.get("phase_seconds", {})
fin = p.get("bulk_finish", {})
print("anon=%.2fGB keys_sorted=%s | bulk_blocks=%.1f wait_for_parse=%.1f | %s" % (
    m.get("rss_anon_peak", 0) / 2**30, m.get("keys_sorted", "-"), p.get("bulk_blocks", 0),
    p.get("wait_for_parse", 0), " ".join("%s=%.1f" % kv for kv in fin.items())))
EOF
}

for round in $(seq 1 "$ROUNDS"); do
    i=0
    for bin in "${bins[@]}"; do
        db="$WORK/db-$i"
        rm -rf "$db"
        out="$WORK/run-$round-$i"
        timed "$out" "$bin" import --db "$db" --quiet --no-exposure --json \
            "${mem[@]}" "$chain"
        read -r w c r <"$out"
        echo "$w $c" >>"$WORK/times-$i"
        echo "round $round $bin: wall=${w}s cpu=${c}s peak_rss=$((r / 1024))MB" \
            "load=$(cut -d' ' -f1 /proc/loadavg) $(summary "$out.out")"
        if [ "$round" = 1 ] && [ "$i" -gt 0 ]; then
            (cd "$WORK/db-0" && find . -type f | sort) | while read -r f; do
                cmp -s "$WORK/db-0/$f" "$db/$f" || echo "  DIFFERS from the first build's store: $f"
            done
        fi
        [ "$i" = 0 ] && [ "$round" = 1 ] || rm -rf "$db"
        i=$((i + 1))
    done
done
i=0
for bin in "${bins[@]}"; do
    mw=$(cut -d' ' -f1 "$WORK/times-$i" | median)
    mc=$(cut -d' ' -f2 "$WORK/times-$i" | median)
    echo "median of $ROUNDS, $bin: wall ${mw}s, cpu ${mc}s"
    rm -f "$WORK/times-$i"
    i=$((i + 1))
done
