# A private PostgreSQL server for a test (sourced by tests that use the state database, after
# tests/common.sh): pg_start makes a cluster in $T/pg (initdb), starts it on a unix socket in a
# directory of its own and a port of its own, and sets PG_URL; pg_stop stops it (pg_ctl stop);
# pg_kill stops it at once. Call pg_cleanup from the script's EXIT trap. Under CI (CI=true) a
# missing PostgreSQL is a failure (exit 1), elsewhere the test is skipped (exit 77).
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin} # the real programs, not /usr/local wrappers
PG_DIR= PG_URL= PG_PORT=
pg_missing() {
    if [ "${CI:-}" = true ]; then
        echo "FAIL: PostgreSQL is required under CI: $*" >&2
        exit 1
    fi
    echo "SKIP: $*" >&2
    exit 77
}
# Run a PostgreSQL program as the owner of the cluster (postgres refuses to run as root).
pg_as() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}
pg_start() {
    [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] || pg_missing "no $PG_BIN/initdb (apt-get install postgresql-15)"
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then pg_missing "running as root without a postgres user"; fi
    PG_DIR=$T/pg
    mkdir -p "$PG_DIR/sock"
    [ "$(id -u)" -eq 0 ] && { chmod 755 "$T"; chown -R postgres "$PG_DIR"; }
    chmod 700 "$PG_DIR/sock"
    pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 >"$PG_DIR/initdb.log" 2>&1 ||
        { cat "$PG_DIR/initdb.log"; pg_missing "initdb failed"; }
    PG_PORT=$((20000 + ($$ % 20000)))
    pg_resume || { cat "$PG_DIR/log" >&2; return 1; }
    PG_URL="postgresql:///postgres?host=$PG_DIR/sock&port=$PG_PORT&user=postgres"
}
# Start (again) the cluster pg_start made.
pg_resume() {
    pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -t 30 \
        -o "-k $PG_DIR/sock -p $PG_PORT -c listen_addresses='' -c fsync=${PG_FSYNC:-off} -c max_connections=50" \
        start >/dev/null
}
pg_stop() { pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null; }
pg_kill() { pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null; }
pg_cleanup() {
    [ -n "$PG_DIR" ] && [ -f "$PG_DIR/data/postmaster.pid" ] && pg_kill 2>/dev/null
    return 0
}
# Make database NAME on the server (a copy of database TEMPLATE when given) and print its URL.
pg_db() {
    "$PG_BIN/psql" -X -q "$PG_URL" -c "CREATE DATABASE \"$1\"${2:+ TEMPLATE \"$2\"}" >/dev/null &&
        echo "${PG_URL/\/postgres\?//$1?}"
}
# For the scripts that run on either backend ($2 of the script: sqlite, the default, or pg):
# case_backend sets CASES_PG=1 and starts the server for pg; case_state DIR then prints the
# --state argument of DIR's cases (one database per store directory, as DIR/cases.sqlite is),
# nothing for sqlite; case_ref DIR what the oracles (tests/caseq.py) open.
CASES_PG=
case_backend() {
    case "${1:-sqlite}" in
    sqlite) ;;
    pg)
        CASES_PG=1
        trap 'pg_cleanup; [ -n "${KEEP_T:-}" ] || rm -rf "$T"' EXIT
        pg_start || { echo "FAIL: PostgreSQL did not start"; exit 1; }
        ;;
    *) echo "usage: $0 BIN [sqlite|pg]" >&2; exit 2 ;;
    esac
}
case_db_name() { echo "cases_$(basename "$1" | tr -c 'a-zA-Z0-9_\n' _)"; }
case_state() {
    [ -n "$CASES_PG" ] || return 0
    local n; n=$(case_db_name "$1")
    [ -f "$PG_DIR/made_$n" ] || { pg_db "$n" >/dev/null && touch "$PG_DIR/made_$n"; } || return 1
    echo "--state=${PG_URL/\/postgres\?//$n?}"
}
case_ref() {
    if [ -n "$CASES_PG" ]; then case_state "$1" | sed 's/^--state=//'; else echo "$1"; fi
}
# Run "$@" (a cointrail command with --db DIR) with DIR's case_state appended.
with_cases() {
    local a prev= dir=
    for a in "$@"; do
        [ "$prev" = --db ] && dir=$a
        prev=$a
    done
    # shellcheck disable=SC2046
    "$@" $(case_state "$dir")
}
