# Helpers shared by the bench scripts: source "$(dirname "$0")/lib.sh".

# timed OUT CMD...: run CMD under /usr/bin/time -v (under `flock $LOCK` when LOCK is set: the
# machine's lock for heavy jobs), its stdout into OUT.out; OUT holds
# "wall_seconds cpu_seconds peak_rss_kb" (cpu = user + sys).
timed() {
    local out=$1
    shift
    local lock=()
    [ -n "${LOCK:-}" ] && lock=(flock "$LOCK")
    "${lock[@]}" /usr/bin/time -v -o "$out.time" "$@" >"$out.out"
    awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + p[i]}
                /User time/ {u = $2} /System time/ {s = $2} /Maximum resident/ {m = $2}
                END {printf "%.3f %.3f %d\n", w, u + s, m}' "$out.time" >"$out"
}

# median: the median of the numbers on stdin, one per line, blank lines skipped (the mean of the
# two middle ones for an even count; the benches quote odd counts).
median() {
    sort -g | awk 'NF {v[++n] = $1} END {if (n % 2) print v[(n + 1) / 2]; else if (n) print (v[n / 2] + v[n / 2 + 1]) / 2}'
}

# median_of V...: the median of the arguments.
median_of() { printf '%s\n' "$@" | median; }
