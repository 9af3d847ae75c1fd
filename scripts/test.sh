#!/bin/bash
# The tests. Two tiers (ctest labels unit, e2e, slow: tests/CMakeLists.txt):
#   scripts/test.sh          the whole suite, twice: an optimised build with warnings as errors,
#                            then under AddressSanitizer + UndefinedBehaviorSanitizer; then each
#                            fuzz target briefly. What CI runs.
#   scripts/test.sh --fast   unit and end-to-end tests but the slow ones, plain build only: the
#                            daily tier (about a minute on 2 cores).
# FUZZ_SECONDS (default 20) sets the fuzzing time per target; 0 skips fuzzing.
# In the whole suite nothing may skip: the EVM node test must find its node and the web UI test
# its browser (CT_REQUIRE_NODE).
set -uo pipefail
cd "$(dirname "$0")/.."
fast=0
[ "${1:-}" = --fast ] && fast=1
passed=0 failed=0
run_suite() { # DIR CTEST_ARGS -- CMAKE_ARGS...
    local dir=$1; shift
    local ctest_args=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do ctest_args+=("$1"); shift; done
    shift
    echo "== build $dir $*"
    if ! scripts/build.sh "$dir" "$@"; then
        echo "build of $dir failed"
        failed=$((failed + 1))
        return
    fi
    echo "== ctest in $dir ${ctest_args[*]}"
    ( cd "$dir" && ctest --output-on-failure -j2 --timeout 900 "${ctest_args[@]}" ) | tee "$dir/ctest.log"
    local p f total skipped
    p=$(grep -Eo '[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$dir/ctest.log" | tail -1)
    if [ -z "$p" ]; then failed=$((failed + 1)); return; fi
    f=$(echo "$p" | awk '{print $4}')
    total=$(echo "$p" | awk '{print $NF}')
    skipped=$(grep -c 'Not Run\|\*\*\*Skipped' "$dir/ctest.log")
    passed=$((passed + total - f - skipped))
    failed=$((failed + f))
    if [ "$skipped" -gt 0 ]; then
        echo "$skipped tests skipped: counted as failed"
        failed=$((failed + skipped))
    fi
}
echo "== clang-format (one style: .clang-format)"
if find src tests fuzz include examples -name '*.[ch]' -print0 | xargs -0 clang-format --dry-run -Werror; then
    passed=$((passed + 1))
else
    echo "FAIL: run clang-format -i on the files above"
    failed=$((failed + 1))
fi
if [ $fast = 1 ]; then
    run_suite build -LE slow --
else
    for d in evm-node duckdb; do
        echo "== npm ci in tests/$d (evm-node: an EVM node and solc; duckdb: DuckDB for the export recipe)"
        if (cd tests/$d && npm ci --no-audit --no-fund --loglevel=error); then
            passed=$((passed + 1))
        else
            echo "FAIL: npm ci in tests/$d"
            failed=$((failed + 1))
        fi
    done
    echo "== npm ci in web/ (the web UI's graph library and its browser-test driver)"
    if (cd web && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1 \
        npm ci --no-audit --no-fund --loglevel=error); then
        passed=$((passed + 1))
    else
        echo "FAIL: npm ci in web/"
        failed=$((failed + 1))
    fi
    export CT_REQUIRE_NODE=1
    run_suite build --
    run_suite build-asan -- -DCT_SANITIZE=ON
    if [ "${FUZZ_SECONDS:-20}" != 0 ] && [ -x fuzz/run.sh ]; then
        echo "== fuzz ${FUZZ_SECONDS:-20}s per target"
        if fuzz/run.sh "${FUZZ_SECONDS:-20}"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    fi
fi
echo
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
