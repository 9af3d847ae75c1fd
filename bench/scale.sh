#!/bin/bash
# Import at 1M, 3M and 10M generated txs (bench/import.sh at each size): is the cost linear,
# and how far from the hashing bound? Needs about 15 GB of free disk in WORKDIR and 25 min.
#   bench/scale.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/cointrail-bench}
GEN_ARGS="--users 20000" bench/import.sh 2000 620 "$WORK"
GEN_ARGS="--users 50000" bench/import.sh 2000 1720 "$WORK"
GEN_ARGS="--users 100000 --exchanges 10 --merchants 500 --miners 8 --scenarios 3" \
    bench/import.sh 2500 5000 "$WORK"
