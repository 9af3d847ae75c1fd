#!/bin/bash
# fuzz/run.sh SECONDS: configure a clang build in build-fuzz/, build the libFuzzer targets and
# run each for SECONDS seconds on a writable copy of its seed corpus (fuzz/corpus/TARGET/).
# Crash inputs are kept in build-fuzz/artifacts/. Exits non-zero if any target fails.
set -u
secs=${1:-60}
cd "$(dirname "$0")/.." || exit 2
root=$PWD
cc=${CC:-clang-14}
targets="fuzz_block fuzz_addr fuzz_blockfile fuzz_labels fuzz_evm_csv fuzz_rules fuzz_memo fuzz_sharing
fuzz_labels_idx"

# Warnings are not errors here: clang may warn where gcc does not, in code other than ours.
mkdir -p build-fuzz/artifacts
log=build-fuzz/build.log
CC=$cc cmake -S . -B build-fuzz -DCT_FUZZ=ON -DCT_WERROR=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    >"$log" 2>&1 || { cat "$log"; echo "configure failed"; exit 2; }
# shellcheck disable=SC2086
cmake --build build-fuzz -j2 --target $targets >>"$log" 2>&1 ||
    { tail -50 "$log"; echo "build failed"; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0 fail=0
for t in $targets; do
    mkdir -p "$work/$t"
    cp -r "fuzz/corpus/$t/." "$work/$t/" 2>/dev/null
    echo "== $t: ${secs}s"
    if "build-fuzz/fuzz/$t" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=30 \
        -print_final_stats=1 -artifact_prefix="$root/build-fuzz/artifacts/$t-" \
        "$work/$t" >"$work/$t.log" 2>&1; then
        grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::new_units_added)' \
            "$work/$t.log"
        pass=$((pass + 1))
    else
        tail -60 "$work/$t.log"
        echo "FAIL: $t (inputs in build-fuzz/artifacts/$t-*)"
        fail=$((fail + 1))
    fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
