#!/bin/bash
# import --bulk under a real memory limit, against the same import without one, same run.
#
#   [MEM=256M] [LIMITS="768M 1536M"] [RUNS=1] [WORK=DIR] [LOCK=FILE] bench/memory_limit.sh CHAIN_DIR
#
# --memory bounds the import's heap (its sorts and buffers); the columns and temp files it maps
# or reads are page cache, which the kernel may take back. Peak RSS counts the mapped pages
# (bench/bulk_import.sh), so it says little of what the import needs of a machine: this runs
# `cointrail import --bulk --memory MEM --no-exposure` inside a memory cgroup limited to each of
# LIMITS (the page cache it fills is charged to the group, and reclaimed within it), and once
# without a limit. Per run: wall and CPU seconds, bytes read from disk (/usr/bin/time's file
# system inputs: what the page cache did not hold), the group's peak usage, and whether the
# kernel killed it (OOM). The page cache is dropped before each run (the chain is read from
# disk every time). Stores are compared with the unlimited run's (cmp). Needs root and a
# writable cgroup file system (v2, or v1's memory controller); says so and exits 2 without.
# LOCK=FILE: each run under `flock FILE` (the machine's lock for heavy jobs).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/cointrail}
MEM=${MEM:-256M}
LIMITS=${LIMITS-768M 1536M} # set but empty: the unlimited run alone
RUNS=${RUNS:-1}
WORK=${WORK:-/tmp/cointrail-memlimit-bench}
CHAIN=${1:?usage: bench/memory_limit.sh CHAIN_DIR}
[ -x "$BIN" ] || scripts/build.sh build
source bench/lib.sh # median_of

if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    CGV=2 CG=/sys/fs/cgroup/cointrail-bench.$$
elif [ -d /sys/fs/cgroup/memory ]; then
    CGV=1 CG=/sys/fs/cgroup/memory/cointrail-bench.$$
else
    echo "memory_limit.sh: no cgroup memory controller here" >&2
    exit 2
fi
if [ "$(id -u)" != 0 ] || ! mkdir "$CG" 2>/dev/null; then
    echo "memory_limit.sh: cannot make a cgroup at $CG (needs root)" >&2
    exit 2
fi
mkdir -p "$WORK"
trap 'rmdir "$CG" 2>/dev/null; rm -rf "$WORK"/db-*' EXIT
bytes() { numfmt --from=iec "$1"; }

set_limit() { # BYTES (0: none)
    if [ "$CGV" = 2 ]; then
        [ "$1" = 0 ] && echo max >"$CG/memory.max" || echo "$1" >"$CG/memory.max"
        echo 0 >"$CG/memory.swap.max" 2>/dev/null || true
        echo reset >"$CG/memory.peak" 2>/dev/null || true # (kernels from 6.12)
    else
        [ "$1" = 0 ] && echo -1 >"$CG/memory.limit_in_bytes" || echo "$1" >"$CG/memory.limit_in_bytes"
        echo 0 >"$CG/memory.max_usage_in_bytes"
    fi
}
peak_usage() {
    if [ "$CGV" = 2 ]; then cat "$CG/memory.peak" 2>/dev/null || echo 0; else cat "$CG/memory.max_usage_in_bytes"; fi
}
oom_kills() {
    if [ "$CGV" = 2 ]; then
        awk '$1 == "oom_kill" {print $2}' "$CG/memory.events"
    else
        awk '$1 == "oom_kill" {print $2}' "$CG/memory.oom_control"
    fi
}

# run NAME LIMIT_BYTES -> "wall cpu read_MB peak_MB oom_kills rc"
run() {
    local name=$1 limit=$2 db="$WORK/db-$1" lock=()
    [ -n "${LOCK:-}" ] && lock=(flock "$LOCK")
    rm -rf "$db"
    "${lock[@]}" bash -c '
        sync && echo 1 >/proc/sys/vm/drop_caches
        echo $$ >"$1/cgroup.procs"
        exec /usr/bin/time -v -o "$2.time" "$3" import --bulk --quiet --no-exposure --memory "$4" \
            --db "$2" "$5" >/dev/null 2>"$2.err"' _ "$CG" "$db" "$BIN" "$MEM" "$CHAIN" &&
        rc=0 || rc=$?
    awk -F': ' -v peak="$(peak_usage)" -v oom="$(oom_kills)" -v rc=$rc '
        /Elapsed \(wall clock\)/ {n = split($2, p, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + p[i]}
        /User time/ {u = $2} /System time/ {s = $2} /File system inputs/ {r = $2}
        END {printf "%.1f %.1f %.0f %.0f %d %d\n", w, u + s, r * 512 / 1e6, peak / 1048576, oom, rc}' \
        "$db.time"
}

echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, cgroup v$CGV; $(uptime)"
echo "# chain $CHAIN ($(du -sh "$CHAIN" | cut -f1)), --memory $MEM, $RUNS run(s) per limit"
printf '%-10s %8s %8s %10s %9s %4s %3s %s\n' limit wall_s cpu_s read_MB peak_MB oom rc store
declare -A walls
for r in $(seq "$RUNS"); do
    for lim in none $LIMITS; do
        limit=0
        [ "$lim" = none ] || limit=$(bytes "$lim")
        set_limit "$limit"
        read -r w c rd pk oom rc < <(run "$lim" "$limit")
        same=-
        if [ "$lim" != none ] && [ "$rc" = 0 ]; then
            same=same
            for f in "$WORK/db-none"/*; do
                cmp -s "$f" "$WORK/db-$lim/$(basename "$f")" || same="differs: $(basename "$f")"
            done
        fi
        printf '%-10s %8s %8s %10s %9s %4s %3s %s\n' "$lim" "$w" "$c" "$rd" "$pk" "$oom" "$rc" "$same"
        walls[$lim]="${walls[$lim]:-} $w"
        [ "$rc" = 0 ] || sed 's/^/    /' "$WORK/db-$lim.err" | tail -3
    done
done
base=$(median_of ${walls[none]})
for lim in none $LIMITS; do
    m=$(median_of ${walls[$lim]})
    echo "median wall, limit $lim: $m s ($(awk -v a="$m" -v b="$base" 'BEGIN {printf "%.2f", a / b}')x the unlimited)"
done
echo "# $(uptime)"
