# Helpers shared by the bench scripts (source it from the repository root).

# timed OUT CMD...: run CMD under /usr/bin/time -v, its stdout into OUT.out; OUT holds
# "wall_seconds cpu_seconds peak_rss_kb" (cpu = user + sys).
timed() {
    local out=$1
    shift
    /usr/bin/time -v -o "$out.time" "$@" >"$out.out"
    awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + p[i]}
                /User time/ {u = $2} /System time/ {s = $2} /Maximum resident/ {m = $2}
                END {printf "%.3f %.3f %d\n", w, u + s, m}' "$out.time" >"$out"
}

# median: the middle of the numbers on stdin, one per line (the lower middle of an even count).
median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
