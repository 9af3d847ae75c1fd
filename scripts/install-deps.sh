#!/bin/bash
# Install what cointrail needs to build and test, from Debian packages.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    build-essential cmake pkg-config libssl-dev libjansson-dev \
    python3 python3-bitcoinlib clang-14 libclang-rt-14-dev clang-format \
    libyaml-dev libxml2-dev libmicrohttpd-dev libcurl4-openssl-dev wrk curl nettle-dev \
    python3-pycryptodome python3-yaml libsqlite3-dev sqlite3 chromium python3-jsonschema zlib1g-dev >/dev/null
# Node.js and npm for tests/evm-node (the machine's own when present, else Debian's).
command -v npm >/dev/null || $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
echo "dependencies installed"
