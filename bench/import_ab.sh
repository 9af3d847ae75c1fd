#!/bin/bash
# Two or more builds' bulk import of one chain, interleaved: which is faster, which holds less.
#
#   [ROUNDS=3 (odd: the median is the middle run)] [MEMORY=SIZE] [WORK=DIR] [LOCK=FILE] bench/import_ab.sh CHAIN_DIR BIN...
#
# Per round, each BIN in turn: `BIN import --db STORE --quiet --no-exposure --json CHAIN_DIR`
# (with --memory SIZE when MEMORY is set) into an empty store under WORK (deleted after),
# under /usr/bin/time -v, and under `flock LOCK` when LOCK is set (a machine shared with other
# heavy jobs). Interleaving the builds spreads the machine's drift over all of them. Prints per
# run: wall and CPU seconds (user, sys), peak RSS (it counts the mapped column and temp file
# pages), the load average, the --json heap figures (bulk_memory: rss_anon_peak; keys_read, the
# address keys read rather than mapped) and the phases (phase_seconds: bulk_blocks and the
# finish's); then each BIN's median wall and CPU. The first round's stores are compared file by
# file (cmp) with the first BIN's: the builds must make the same store.
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,14p' "$0"; exit 2; }
chain=$1
shift
ROUNDS=${ROUNDS:-3}
WORK=${WORK:-/tmp/cointrail-import-ab}
mkdir -p "$WORK"
trap 'rm -rf "$WORK"/db-*' EXIT
mem=()
[ -n "${MEMORY:-}" ] && mem=(--memory "$MEMORY")
lock=()
[ -n "${LOCK:-}" ] && lock=(flock "$LOCK")

summary() { # JSON -> "anon=GB keys_read=N | phases"
    python3 - "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
m = d.get("bulk_memory", {})
p = d.get("phase_seconds", {})
fin = p.get("bulk_finish", {})
print("anon=%.2fGB keys_read=%s | bulk_blocks=%.1f wait_for_parse=%.1f | %s" % (
    m.get("rss_anon_peak", 0) / 2**30, m.get("keys_read", "-"), p.get("bulk_blocks", 0),
    p.get("wait_for_parse", 0), " ".join("%s=%.1f" % kv for kv in fin.items())))
EOF
}

for round in $(seq 1 "$ROUNDS"); do
    i=0
    for bin in "$@"; do
        db="$WORK/db-$i"
        rm -rf "$db"
        out="$WORK/run-$round-$i"
        "${lock[@]}" /usr/bin/time -v -o "$out.time" "$bin" import --db "$db" --quiet \
            --no-exposure --json "${mem[@]}" "$chain" >"$out.json"
        read -r w c u s r < <(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + p[i]}
            /User time/ {u = $2} /System time/ {s = $2} /Maximum resident/ {m = $2}
            END {printf "%.2f %.2f %.2f %.2f %.2f\n", w, u + s, u, s, m / 1048576}' "$out.time")
        echo "$w $c" >>"$WORK/times-$i"
        echo "round $round $bin: wall=${w}s cpu=${c}s (user $u, sys $s) peak_rss=${r}GB" \
            "load=$(cut -d' ' -f1 /proc/loadavg) $(summary "$out.json")"
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
for bin in "$@"; do
    mw=$(cut -d' ' -f1 "$WORK/times-$i" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
    mc=$(cut -d' ' -f2 "$WORK/times-$i" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
    echo "median of $ROUNDS, $bin: wall ${mw}s, cpu ${mc}s"
    rm -f "$WORK/times-$i"
    i=$((i + 1))
done
