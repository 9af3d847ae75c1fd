#!/bin/bash
# The whole test suite, twice: an optimised build with warnings as errors, then the same
# suite under AddressSanitizer + UndefinedBehaviorSanitizer; then each fuzz target briefly.
# FUZZ_SECONDS (default 20) sets the fuzzing time per target; 0 skips fuzzing.
set -uo pipefail
cd "$(dirname "$0")/.."
passed=0 failed=0
run_suite() { # DIR CMAKE_ARGS...
    local dir=$1; shift
    echo "== build $dir $*"
    if ! scripts/build.sh "$dir" "$@"; then
        echo "build of $dir failed"
        failed=$((failed + 1))
        return
    fi
    echo "== ctest in $dir"
    ( cd "$dir" && ctest --output-on-failure -j2 --timeout 900 ) | tee "$dir/ctest.log"
    local p f
    p=$(grep -Eo '[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$dir/ctest.log" | tail -1)
    f=$(echo "$p" | awk '{print $4}')
    local total
    total=$(echo "$p" | awk '{print $NF}')
    if [ -z "$p" ]; then failed=$((failed + 1)); return; fi
    passed=$((passed + total - f))
    failed=$((failed + f))
}
echo "== clang-format (one style: .clang-format)"
if find src tests fuzz -name '*.[ch]' -print0 | xargs -0 clang-format --dry-run -Werror; then
    passed=$((passed + 1))
else
    echo "FAIL: run clang-format -i on the files above"
    failed=$((failed + 1))
fi
echo "== npm ci in tests/evm-node (a real EVM node and solc for the EVM tests)"
if (cd tests/evm-node && npm ci --no-audit --no-fund --loglevel=error); then
    passed=$((passed + 1))
else
    echo "FAIL: npm ci in tests/evm-node"
    failed=$((failed + 1))
fi
run_suite build
run_suite build-asan -DCT_SANITIZE=ON
if [ "${FUZZ_SECONDS:-20}" != 0 ] && [ -x fuzz/run.sh ]; then
    echo "== fuzz ${FUZZ_SECONDS:-20}s per target"
    if fuzz/run.sh "${FUZZ_SECONDS:-20}"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
fi
echo
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
