#!/bin/bash
# The tests. Two tiers (ctest labels unit, e2e, slow: tests/CMakeLists.txt):
#   scripts/test.sh          the whole suite, twice: an optimised build with warnings as errors,
#                            then under AddressSanitizer + UndefinedBehaviorSanitizer; then each
#                            fuzz target briefly. What CI runs.
#   scripts/test.sh --fast   unit and end-to-end tests but the slow ones, plain build only: the
#                            daily tier (about a minute on 2 cores).
# FUZZ_SECONDS (default 20) sets the fuzzing time per target; 0 skips fuzzing.
# In the whole suite nothing may skip: the EVM node test must find its node (CT_REQUIRE_NODE).
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
# The public library as a user gets it: installed to a temp prefix, examples/trace_output.c
# built with pkg-config against it and run on the demo chain (docs/library.md).
lib_check() {
    echo "== libcointrail: install, build examples/trace_output.c with pkg-config, run it"
    local t rc=0
    t=$(mktemp -d)
    cmake --install build --prefix "$t/prefix" >/dev/null &&
        cc -Wall -Wextra -Werror -o "$t/ex" examples/trace_output.c \
            $(PKG_CONFIG_PATH="$t/prefix/lib/pkgconfig" pkg-config --cflags --libs cointrail) \
            -Wl,-rpath,"$t/prefix/lib" &&
        build/cointrail import --db "$t/db" demo/blk00000.dat >/dev/null &&
        "$t/ex" "$t/db" 0437cd7f8525ceed2324359c2d0ba26006d92d856a9c20fa0241106ee5a597c9:0 || rc=1
    rm -rf "$t"
    if [ $rc = 0 ]; then passed=$((passed + 1)); else echo "FAIL: libcointrail example"; failed=$((failed + 1)); fi
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
    lib_check
else
    echo "== npm ci in tests/evm-node (a real EVM node and solc for the EVM tests)"
    if (cd tests/evm-node && npm ci --no-audit --no-fund --loglevel=error); then
        passed=$((passed + 1))
    else
        echo "FAIL: npm ci in tests/evm-node"
        failed=$((failed + 1))
    fi
    export CT_REQUIRE_NODE=1
    run_suite build --
    lib_check
    run_suite build-asan -- -DCT_SANITIZE=ON
    if [ "${FUZZ_SECONDS:-20}" != 0 ] && [ -x fuzz/run.sh ]; then
        echo "== fuzz ${FUZZ_SECONDS:-20}s per target"
        if fuzz/run.sh "${FUZZ_SECONDS:-20}"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    fi
fi
echo
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
