# The shared start of the end-to-end scripts (sourced, not run): $1 is the cointrail binary;
# the script runs from the repository root with a temp dir $T removed on exit; ok/bad count the
# checks and finish prints the closing "N passed, N failed" line and sets the exit status.
set -u
BIN=$(realpath "$1")
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
T=$(mktemp -d)
# KEEP_T=1 keeps the temp dir for debugging.
[ -n "${KEEP_T:-}" ] && echo "temp dir: $T" >&2
trap '[ -n "${KEEP_T:-}" ] || rm -rf "$T"' EXIT
PY=/usr/bin/python3
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() {
    echo "FAIL: $*"
    fail=$((fail + 1))
}
finish() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}
