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
    python3-pycryptodome python3-yaml libsqlite3-dev sqlite3 libpq-dev postgresql-15 chromium \
    python3-jsonschema zlib1g-dev libxxhash-dev haproxy >/dev/null
# Node.js and npm for tests/evm-node and the web UI (the machine's own when present, else
# Debian's).
command -v npm >/dev/null || $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
[ -x /usr/bin/chromium ] || { echo "install-deps: /usr/bin/chromium is missing" >&2; exit 1; }
# The web UI's libraries (built into `cointrail serve`) and its browser-test driver, from
# web/package-lock.json. Nothing may download a browser: the tests drive Debian's chromium.
(cd "$(dirname "$0")/../web" &&
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1 \
        npm ci --no-audit --no-fund --loglevel=error)
echo "dependencies installed"
