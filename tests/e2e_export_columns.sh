#!/bin/bash
# e2e_export_columns (issue 17, part 4): `export-columns` on the demo mainnet blocks and on a
# generated chain (labels imported, clustered). Oracles: DuckDB (the engine, from npm in
# tests/duckdb) loads the export with its schema.sql and load.sql, converts it to Parquet and
# computes the stats figures from the Parquet files; columns_check.py reads the gzip CSV with
# Python's csv module and Python integers. Both must equal `cointrail stats --json`, the
# generator's truth totals, and `cluster --dump`. Also: same store -> same bytes; a non-empty
# --out is refused without --force; a full disk (tmpfs, root) and a file size limit are
# errors that leave --out as it was and no temp directory; a killed export leaves no --out.
# Needs `npm ci` in tests/duckdb: without it exits 77 (a skip), but fails under CI or
# CT_REQUIRE_NODE.
source "$(dirname "$0")/common.sh"
D=tests/duckdb
if [ ! -d "$D/node_modules/@duckdb/node-api" ] || ! command -v node >/dev/null; then
    echo "SKIPPED: $D/node_modules missing (run: cd $D && npm ci)"
    [ -z "${CT_REQUIRE_NODE:-}" ] && [ "${CI:-}" != true ] && exit 77
    echo "FAIL: CT_REQUIRE_NODE or CI is set"
    exit 1
fi
SMALL=
cleanup() {
    [ -n "$SMALL" ] && umount "$SMALL" 2>/dev/null
    [ -n "${KEEP_T:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

check_export() { # $1 db, $2 export dir, $3 what, then extra columns_check.py arguments
    local db=$1 x=$2 what=$3
    shift 3
    "$BIN" stats --db "$db" --json >"$x.stats" || bad "$what: stats"
    if node "$D/recipe.js" "$x" "$x.parquet" >"$x.duckdb" 2>"$x.duckdb.err"; then ok; else
        bad "$what: DuckDB recipe: $(cat "$x.duckdb.err")"
    fi
    ls "$x.parquet"/outputs.parquet >/dev/null 2>&1 && ok || bad "$what: no Parquet written"
    if $PY tests/columns_check.py "$x" "$x.stats" --figures "$x.duckdb" "$@" >"$x.check"; then
        ok
    else
        bad "$what: columns_check: $(tail -5 "$x.check")"
    fi
}

# ---- the demo mainnet blocks ----
"$BIN" import --db "$T/demo" demo/blk00000.dat >/dev/null || bad "import demo"
# labels whose text needs CSV quoting (comma, doubled quote, line break), one on another chain
printf '%s\n' 'chain,address,category,label,actor,source,confidence' \
    'btc,1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa,miner,"Genesis, ""the"" first' \
    'block",satoshi,e2e,90' \
    'eth,0x00000000219ab540356cbb839cbe05303d7705fa,defi,Deposit,,e2e,' >"$T/l.csv"
"$BIN" labels import --db "$T/demo" "$T/l.csv" >/dev/null || bad "labels import demo"
"$BIN" export-columns --db "$T/demo" --out "$T/demo.x" >/dev/null || bad "export demo"
check_export "$T/demo" "$T/demo.x" demo
grep -q '"p2pk": 451' "$T/demo.x.duckdb" && ok || bad "demo: DuckDB does not count 451 p2pk outputs"
got=$(zcat "$T/demo.x/labels.csv.gz" | $PY -c '
import csv, sys
r = list(csv.DictReader(sys.stdin))
print(len(r), repr(r[0]["name"]), r[0]["address_id"], r[0]["confidence"], repr(r[1]["address_id"]),
      repr(r[1]["actor"]))')
[ "$got" = "2 'Genesis, \"the\" first\\nblock' 0 90 '' ''" ] && ok || bad "demo labels read back as $got"

# ---- a generated chain with labels and entities ----
"$BIN" generate --out "$T/g" --seed 17 --blocks 200 --txs-per-block 80 --quiet >/dev/null ||
    bad "generate"
"$BIN" import --db "$T/db" "$T/g" >/dev/null &&
    "$BIN" labels import --db "$T/db" "$T/g/labels.csv" >/dev/null &&
    "$BIN" cluster --db "$T/db" >/dev/null || bad "import, labels, cluster"
"$BIN" cluster --db "$T/db" --dump >"$T/dump" || bad "cluster --dump"
"$BIN" export-columns --db "$T/db" --out "$T/x" --json >"$T/x.json" || bad "export generated"
check_export "$T/db" "$T/x" generated --truth "$T/g/truth.jsonl" --cluster-dump "$T/dump"
labels=$(zcat "$T/x/labels.csv.gz" | $PY -c 'import csv,sys; print(sum(1 for _ in csv.reader(sys.stdin)) - 1)')
want=$("$BIN" labels list --db "$T/db" --json --limit 1000000 |
    $PY -c 'import json,sys; d=json.load(sys.stdin); print(d.get("total", len(d.get("labels", d))) if isinstance(d, dict) else len(d))')
[ "$labels" -gt 0 ] && [ "$labels" = "$want" ] && ok || bad "labels: $labels rows, labels list has $want"

# same store -> same bytes (a second export, at another level too: the level is the only knob)
"$BIN" export-columns --db "$T/db" --out "$T/x2" >/dev/null || bad "second export"
(cd "$T/x" && sha256sum -- *) >"$T/x.sum"
(cd "$T/x2" && sha256sum -c --quiet "$T/x.sum") >/dev/null 2>&1 &&
    [ "$(ls "$T/x2" | wc -l)" = "$(ls "$T/x" | wc -l)" ] && ok || bad "two exports of one store differ"

# ---- bad cases ----
rc=0
"$BIN" export-columns --db "$T/db" --out "$T/x" >/dev/null 2>"$T/err" || rc=$?
[ $rc = 2 ] && grep -q "not empty.*--force" "$T/err" && ok ||
    bad "export into a non-empty --out: exit $rc, $(cat "$T/err")"
(cd "$T/x" && sha256sum -c --quiet "$T/x.sum") >/dev/null 2>&1 && ok || bad "refused export changed --out"
mkdir -p "$T/other" && echo keep >"$T/other/notes.txt"
"$BIN" export-columns --db "$T/demo" --out "$T/other" >/dev/null 2>&1 && bad "non-empty other dir accepted" || ok
[ "$(cat "$T/other/notes.txt")" = keep ] && ok || bad "refused export touched a user's file"
"$BIN" export-columns --db "$T/demo" --out "$T/x" --force >/dev/null || bad "--force"
cmp -s "$T/x/export.json" "$T/demo.x/export.json" && ok || bad "--force did not replace the export"
mkdir -p "$T/empty"
"$BIN" export-columns --db "$T/demo" --out "$T/empty/" >/dev/null && [ -f "$T/empty/export.json" ] &&
    ok || bad "export into an empty directory"
"$BIN" export-columns --db "$T/demo" --out "$T/g/labels.csv" >/dev/null 2>&1 && bad "a file as --out" || ok
"$BIN" export-columns --db "$T/demo" --out "$T/y" --level 0 >/dev/null 2>&1 && bad "--level 0" || ok
ls -d "$T"/*.partial-* >/dev/null 2>&1 && bad "temp directory left: $(ls -d "$T"/*.partial-*)" || ok

# killed mid-way: either no --out at all, or a complete one (it may have finished first)
"$BIN" export-columns --db "$T/db" --out "$T/k" >/dev/null 2>&1 &
pid=$!
sleep 0.2
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
if [ -e "$T/k" ]; then
    (cd "$T/k" && sha256sum -c --quiet "$T/x.sum") >/dev/null 2>&1 && ok || bad "killed export left an incomplete --out"
else
    ok
fi
ls "$T"/k.partial-*/export.json >/dev/null 2>&1 && bad "killed export's temp dir has export.json" || ok

# a file size limit (EFBIG): an error naming the file, no --out, no temp dir
rc=0
(ulimit -f 64 && exec "$BIN" export-columns --db "$T/db" --out "$T/f") >/dev/null 2>"$T/err" || rc=$?
[ $rc = 1 ] && grep -qE "partial-[0-9]+/[a-z]+\.csv\.gz: write failed: File too large" "$T/err" && ok ||
    bad "file size limit: exit $rc, $(cat "$T/err")"
[ ! -e "$T/f" ] && ! ls -d "$T"/f.partial-* >/dev/null 2>&1 && ok || bad "file size limit left files"

# a full disk (tmpfs; needs root), replacing an export with --force: the old one stays whole
if [ "$(id -u)" -eq 0 ] && mkdir -p "$T/small" && mount -t tmpfs -o size=3m tmpfs "$T/small"; then
    SMALL=$T/small
    "$BIN" export-columns --db "$T/demo" --out "$SMALL/e" >/dev/null || bad "demo export on the small fs"
    (cd "$SMALL/e" && sha256sum -- *) >"$T/e.sum"
    rc=0
    "$BIN" export-columns --db "$T/db" --out "$SMALL/e" --force >/dev/null 2>"$T/err" || rc=$?
    [ $rc = 1 ] && grep -qE "No space left on device" "$T/err" && ok ||
        bad "disk full: exit $rc, $(cat "$T/err")"
    (cd "$SMALL/e" && sha256sum -c --quiet "$T/e.sum") >/dev/null 2>&1 && ok ||
        bad "disk full: the old export changed"
    [ "$(ls "$SMALL")" = e ] && ok || bad "disk full left $(ls "$SMALL")"
    [ "$(df --output=used -k "$SMALL" | tail -1)" -lt 1024 ] && ok || bad "disk full: space not given back"
else
    echo "note: not root, the disk-full part did not run"
fi
finish
