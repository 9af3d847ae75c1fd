#!/bin/bash
# The public library (docs/library.md): libcointrail.so exports the ct_ API and nothing else,
# carries the project's version in its SONAME and does not pull in the HTTP server or client;
# `cointrail --version` says the project's VERSION; the installed headers, libraries and
# cointrail.pc build examples/trace_output.c (shared and static link), and its figures for a
# transaction and its exposure agree with `cointrail tx --json` and `cointrail screen --json`
# on the demo chain with labels.
source "$(dirname "$0")/common.sh"
BUILD=$(dirname "$BIN")
LIB=$BUILD/libcointrail.so
[ -f "$LIB" ] || { echo "no $LIB"; exit 1; }
command -v pkg-config >/dev/null || { echo "pkg-config missing"; exit 1; }

# The version, from CMakeLists.txt's project() line (not from the headers the binary used).
VER=$(sed -n 's/^project(cointrail VERSION \([0-9.]*\) .*/\1/p' CMakeLists.txt)
[ -n "$VER" ] && ok || bad "no VERSION in CMakeLists.txt"
[ "$("$BIN" --version)" = "cointrail $VER" ] && ok || bad "--version: $("$BIN" --version)"
SOVER=${VER%.*}
objdump -p "$LIB" | grep -q "SONAME *libcointrail.so.$SOVER\$" && ok ||
    bad "SONAME: $(objdump -p "$LIB" | grep SONAME)"

# Exported symbols: exactly the functions the public headers declare with CT_EXTERN.
nm -D --defined-only "$LIB" | awk '{print $3}' | sort >"$T/exported"
grep -v '^ct_' "$T/exported" >"$T/leaked"
[ -s "$T/exported" ] && [ ! -s "$T/leaked" ] && ok ||
    bad "non-ct_ symbols exported: $(head -20 "$T/leaked" | tr '\n' ' ')"
cat include/cointrail.h include/cointrail/*.h include/cointrail/version.h.in |
    tr '\n' ' ' | grep -o 'CT_EXTERN([^)]*) *ct_[a-z_0-9]*' | sed 's/.* //' | sort -u >"$T/declared"
cmp -s "$T/exported" "$T/declared" && ok || bad "exported vs declared: $(diff "$T/exported" "$T/declared" | tr '\n' ' ')"
ldd "$LIB" | grep -Eq 'microhttpd|curl' && bad "libcointrail links $(ldd "$LIB" | grep -Eo 'microhttpd|curl' | sort -u | tr '\n' ' ')" || ok

# Install to a temp prefix and build the example against it, shared and static.
cmake --install "$BUILD" --prefix "$T/prefix" >"$T/install.log" 2>&1 && ok || bad "install: $(tail -3 "$T/install.log")"
# A sanitizer build's library needs the example built with the same runtime.
SAN=
grep -q '^CT_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" && SAN=-fsanitize=address,undefined
PC="env PKG_CONFIG_PATH=$T/prefix/lib/pkgconfig pkg-config"
[ "$($PC --modversion cointrail)" = "$VER" ] && ok || bad "pkg-config version"
cc $SAN -Wall -Wextra -Werror -o "$T/ex" examples/trace_output.c $($PC --cflags --libs cointrail) \
    -Wl,-rpath,"$T/prefix/lib" 2>"$T/cc.log" && ok || bad "shared example build: $(head -5 "$T/cc.log")"
cc $SAN -Wall -Wextra -Werror -o "$T/ex_static" examples/trace_output.c $($PC --cflags cointrail) \
    -Wl,-Bstatic -lcointrail -Wl,-Bdynamic $($PC --static --libs cointrail | sed 's/-lcointrail //') \
    2>"$T/cc2.log" && ok ||
    bad "static example build: $(head -5 "$T/cc2.log")"
ldd "$T/ex" | grep -q "$T/prefix/lib/libcointrail.so.$SOVER" && ok || bad "example does not load the installed library"
ldd "$T/ex_static" | grep -q libcointrail && bad "static example loads libcointrail.so" || ok

# The demo chain with labels: tests/data/labels, and two CSV labels on the path of the first
# bitcoin payment (block 170: 10 BTC to Hal Finney, the change back and on in block 181).
"$BIN" import --db "$T/db" demo/blk00000.dat >/dev/null || bad "import"
for f in ofac.yaml lazarus.yaml exchange-wallets-binance.yaml sample.csv sanctioned_addresses_XBT.txt; do
    "$BIN" labels import --db "$T/db" "tests/data/labels/$f" >/dev/null 2>&1 || bad "labels import $f"
done
cat >"$T/path.csv" <<'CSV'
chain,address,category,actor,source,confidence
btc,1Q2TWHE3GMdB6BZKafqwxXtWAWgFt5Jvm3,theft,test,libapi test,80
btc,1DUDsfc23Dv9sPMEk5RsrtfzCw5ofi5sVW,exchange,test,libapi test,90
CSV
"$BIN" labels import --db "$T/db" "$T/path.csv" >/dev/null || bad "labels import path.csv"
"$BIN" cluster --db "$T/db" >/dev/null 2>&1 || bad "cluster"

# Block 9's coinbase (one output, the seed of the payment), the payment, its change's spend.
for spec in 0437cd7f8525ceed2324359c2d0ba26006d92d856a9c20fa0241106ee5a597c9:0 \
    f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16 \
    a16f3ce4dd5deb92d98ef5cf8afeaf0775ebca408f708b2146c4fb42b41e14be; do
    txid=${spec%%:*}
    "$BIN" tx --db "$T/db" --json "$txid" >"$T/tx.json" || bad "cli tx $txid"
    "$BIN" screen --db "$T/db" --json "$txid" >"$T/screen.json" 2>/dev/null || bad "cli screen $txid"
    for ex in ex ex_static; do
        "$T/$ex" "$T/db" "$spec" >"$T/$ex.out" 2>"$T/$ex.err" || bad "$ex $spec: $(cat "$T/$ex.err")"
        $PY tests/libapi_compare.py "$T/$ex.out" "$T/tx.json" "$T/screen.json" >"$T/cmp" && ok ||
            bad "$ex $spec: $(cat "$T/cmp")"
    done
    cmp -s "$T/ex.out" "$T/ex_static.out" && ok || bad "shared and static example differ on $spec"
done
# Not vacuous: from block 9's coinbase the funds reach both labelled addresses (the theft one
# after one tx, the exchange one after two) and the clustering is in use.
"$T/ex" "$T/db" 0437cd7f8525ceed2324359c2d0ba26006d92d856a9c20fa0241106ee5a597c9:0 >"$T/seed.out"
grep -q '^outgoing category exchange amount 1000000000 endpoints 1 hops 2 ' "$T/seed.out" &&
    grep -q '^outgoing category theft amount 1000000000 endpoints 1 hops 1 ' "$T/seed.out" && ok ||
    bad "exposure from block 9's coinbase: $(grep outgoing "$T/seed.out")"
grep -q ' clustered 1$' "$T/seed.out" && ok || bad "clustering not used: $(grep store "$T/seed.out")"

# An address: the summary against `cointrail address --json`.
A=12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S
"$T/ex" "$T/db" "$A" | grep '^address ' >"$T/addr.out" || bad "example on $A"
"$BIN" address --db "$T/db" --json "$A" | $PY tests/libapi_address.py >"$T/addr.cli"
cmp -s "$T/addr.out" "$T/addr.cli" && ok || bad "address: $(cat "$T/addr.out") vs $(cat "$T/addr.cli")"

# Errors come back as codes with messages.
"$T/ex" "$T/db" 0437cd7f8525ceed2324359c2d0ba26006d92d856a9c20fa0241106ee5a597c9:7 >/dev/null 2>"$T/e1"
[ $? = 3 ] && grep -q "not_found" "$T/e1" && ok || bad "missing output: $(cat "$T/e1")"
"$T/ex" "$T/nodb" 0437cd7f8525ceed2324359c2d0ba26006d92d856a9c20fa0241106ee5a597c9 >/dev/null 2>"$T/e2"
[ $? = 1 ] && [ -s "$T/e2" ] && ok || bad "missing store: $(cat "$T/e2")"
finish
