#!/bin/bash
# Exposure on `serve --state` replicas (docs/state.md, "Exposure on replicas"): a label added or
# retired in the state database reaches the whole-history exposure of deposits downstream on
# every replica, as tests/exposure_oracle.py computes it; and `screen`, `trace`, `address` with
# --state (or the store's DIR/state.sqlite) use the same merged labels. Per backend (SQLite
# sqlite:FILE, and a PostgreSQL server this script starts: tests/pg_server.sh):
#  - two replicas over their own copies of one store; `labels add --state URL` (no --db) of a
#    sanctioned label on an address tests/replica_expo_check.py picked (it changes 31 deposits):
#    both replicas' screenings of 51 deposits equal the oracle's with the label, every row of
#    both indexes equals exposure_oracle.py compare with the label, the two exposure
#    directories are byte-identical (diff -r) and so are their labels.db;
#  - the CLI on a third copy no replica updates: screen/address/trace with --state see the label
#    (direct exposure, the label, the trace naming its actor), without --state they do not;
#  - the retire while replica A's exposure writer lock is held by this script: A has the retire
#    at once (its label gone, its index stale: screening says so and traces), B already its
#    updated index; the lock released, A
#    catches up; both equal the oracle without the label, the directories identical again, the
#    CLI reverts;
#  - kill -9 of replica B during the update of a new add (COINTRAIL_TEST_EXPOSURE_CRASH_AFTER):
#    its index is the old one, exactly (oracle); restarted, B brings it up to date at start and
#    it is byte-identical to A's.
# Once: `screen`/`trace` without --state use DIR/state.sqlite when the store has one; and an EVM
# chain (SQLite): an eth theft label added in the database, the replica's EVM exposure index
# equals tests/evmexpo_oracle.py's with it (and did not before).
# Under CI (CI=true) a missing PostgreSQL fails the test instead of skipping it.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/pg_server.sh"
PIDS=""
trap 'kill -9 $PIDS 2>/dev/null; pg_cleanup; [ -n "${KEEP_T:-}" ] || rm -rf "$T"' EXIT
CHK="$PY tests/replica_expo_check.py"
ORA="$PY tests/exposure_oracle.py"

"$BIN" generate --out "$T/g" --seed 11 --blocks 110 --txs-per-block 40 --maturity 5 \
    --halving-interval 50 --era 2019-2024.3 --privacy-rate 0.2 --users 200 --scenarios 2 \
    --scenario-blocks 60 --quiet >/dev/null || bad "generate"
"$BIN" import --db "$T/db0" --quiet "$T/g" >/dev/null || bad "import"
"$BIN" labels import --db "$T/db0" "$T/g/labels.csv" >/dev/null || bad "labels import"
$CHK pick "$T/g" "$T/g/labels.csv" "$T" || bad "pick"
X=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["address"])' "$T/pick.json")
FUND=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["fund_tx"])' "$T/pick.json")
ACTOR="Test Sanctioned"

replica() { # NAME URL [ENV=VALUE...]: serve NAME's store copy; its address in U_NAME
    local name=$1 url=$2
    shift 2
    rm -f "$T/$name.port"
    env "$@" "$BIN" serve --db "$T/db$name" --state "$url" --replica-id "$name" \
        --listen 127.0.0.1:0 --port-file "$T/$name.port" --poll-ms 50 --threads 2 \
        2>>"$T/serve$name.log" &
    eval "PID_$name=$!"
    PIDS="$PIDS $!"
    for _ in $(seq 100); do [ -s "$T/$name.port" ] && break; sleep 0.1; done
    eval "U_$name=127.0.0.1:$(cat "$T/$name.port")"
}
stop_replica() { # NAME
    local p
    eval "p=\$PID_$1"
    kill "$p" 2>/dev/null
    wait "$p" 2>/dev/null
}
same_dirs() { # WHAT: A's and B's exposure directories and labels.db byte for byte
    if diff -r "$T/dbA/exposure" "$T/dbB/exposure" >"$T/diff.out" &&
        cmp -s "$T/dbA/labels.db" "$T/dbB/labels.db"; then
        ok
        echo "  $1: exposure indexes identical ($(ls "$T/dbA/exposure" | tr '\n' ' '))"
    else
        bad "$1: the replicas' exposure indexes differ: $(head -5 "$T/diff.out")"
    fi
}
oracle() { # DB with|without WHAT
    local extra=()
    [ "$2" = with ] && extra=(--labels "$T/extra.csv")
    $ORA compare "$BIN" "$T/$1" "$T/g" --labels "$T/g/labels.csv" "${extra[@]}" >"$T/ora.out" 2>&1 &&
        ok || bad "$3: $1's index is not the oracle's $2 the label: $(grep FAIL "$T/ora.out" | head -3)"
}
direct_has() { # JSON_FILE: 0 if the screening's direct exposure has the sanctioned label
    $PY -c 'import json,sys; d=json.load(open(sys.argv[1]))
sys.exit(not any(l["category"]=="sanctioned" for l in d["direct"]))' "$1"
}
actor_named() { # JSON_FILE: 0 if the trace names the label's actor at X
    $PY -c 'import json,sys
def walk(v):
    if isinstance(v, dict):
        if v.get("address") == sys.argv[2] and v.get("actor") == sys.argv[3]: return True
        return any(walk(w) for w in v.values())
    return isinstance(v, list) and any(walk(w) for w in v)
sys.exit(not walk(json.load(open(sys.argv[1]))))' "$1" "$X" "$ACTOR"
}
cli_sees() { # DB STATE_ARGS... : 0 if screen, address and trace all see the label, 1 if none
    local db=$1 n=0
    shift
    "$BIN" screen --db "$T/$db" "$@" --json "$X" >"$T/cs.json" && direct_has "$T/cs.json" && n=$((n + 1))
    "$BIN" address --db "$T/$db" "$@" --json "$X" >"$T/ca.json" &&
        grep -q '"sanctioned"' "$T/ca.json" && n=$((n + 1))
    "$BIN" trace --db "$T/$db" "$@" --from "$FUND" --hops 2 --json >"$T/ct.json" 2>/dev/null &&
        actor_named "$T/ct.json" && n=$((n + 1))
    case $n in 3) return 0 ;; 0) return 1 ;; *) return 2 ;; esac
}

suite() { # BACKEND URL
    local be=$1 url=$2 s
    echo "== $be"
    rm -rf "$T/dbA" "$T/dbB" "$T/dbC"
    for d in A B C; do cp -a "$T/db0" "$T/db$d"; done
    KEY=$("$BIN" state key-add --state "$url" --owner ops --role admin 2>/dev/null)
    [ -n "$KEY" ] && ok || bad "state key-add"
    replica A "$url"
    replica B "$url"
    $CHK screen "$U_A" "$KEY" "$T/pick.json" without >/dev/null && ok || bad "$be: A before the label"

    # a label added: both replicas bring their indexes to it
    "$BIN" labels add --state "$url" --address "$X" --category sanctioned --actor "$ACTOR" \
        --author alice >/dev/null || bad "$be: labels add"
    la=$($CHK wait "$U_A" "$KEY" "$T/pick.json" with 20) && ok || bad "$be: A did not update"
    lb=$($CHK wait "$U_B" "$KEY" "$T/pick.json" with 20) && ok || bad "$be: B did not update"
    echo "  label added: deposits' exposure updated on A after $la s, on B after $lb s"
    for r in A B; do
        eval "u=\$U_$r"
        $CHK screen "$u" "$KEY" "$T/pick.json" with && ok || bad "$be: $r's screenings with the label"
        oracle "db$r" with "$be add"
    done
    grep -q "stops_changed\|\"updates\"" <(curl -s -H "X-API-Key: $KEY" "$U_A/v1/metrics") && ok ||
        bad "$be: metrics without store_update"
    same_dirs "$be add"
    curl -s -H "X-API-Key: $KEY" "$U_A/v1/address/$X" | grep -q '"sanctioned"' && ok ||
        bad "$be: A's address answer does not show the label"

    # the CLI with --state on a copy no replica updates
    cli_sees dbC --state "$url" && ok || bad "$be: the CLI with --state does not see the label ($?)"
    cli_sees dbC; [ $? = 1 ] && ok || bad "$be: the CLI without --state sees the label on dbC"
    $CHK cli "$BIN" "$T/dbA" "$T/pick.json" with "$url" && ok || bad "$be: CLI screen of A's store"

    # the retire, A's exposure writer held: A answers from its old snapshot until it can commit
    flock "$T/dbA/exposure/LOCK" sleep 3 &
    local holder=$!
    sleep 0.2
    "$BIN" labels retire --state "$url" --address "$X" --category sanctioned --author bob \
        --reason "not ours" >/dev/null || bad "$be: labels retire"
    lb=$($CHK wait "$U_B" "$KEY" "$T/pick.json" without 20) && ok || bad "$be: B did not revert"
    kill -0 $holder 2>/dev/null && ok || bad "$be: the lock was released too early to check"
    $CHK stale "$U_A" "$KEY" "$T/pick.json" >"$T/held.out" && ok ||
        bad "$be: A while its index is being updated: $(head -3 "$T/held.out")"
    curl -s -H "X-API-Key: $KEY" "$U_A/v1/address/$X" >"$T/held.addr"
    grep -q '"address"' "$T/held.addr" && ! grep -q '"sanctioned"' "$T/held.addr" && ok ||
        bad "$be: A still shows the retired label while its index waits: $(head -c 300 "$T/held.addr")"
    echo "  during A's update (lock held): A has the retire (index stale: it traces); B reverted after $lb s"
    wait $holder
    la=$($CHK wait "$U_A" "$KEY" "$T/pick.json" without 20) && ok || bad "$be: A did not revert"
    for r in A B; do
        eval "u=\$U_$r"
        $CHK screen "$u" "$KEY" "$T/pick.json" without >/dev/null && ok || bad "$be: $r after the retire"
        oracle "db$r" without "$be retire"
    done
    same_dirs "$be retire"
    cli_sees dbC --state "$url"; [ $? = 1 ] && ok || bad "$be: the CLI with --state after the retire"

    # kill -9 of B during the update; restarted, it catches up, byte for byte A's
    stop_replica B
    replica B "$url" COINTRAIL_TEST_EXPOSURE_CRASH_AFTER=5
    "$BIN" labels add --state "$url" --address "$X" --category sanctioned --actor "$ACTOR" \
        --author carol >/dev/null || bad "$be: labels add again"
    $CHK wait "$U_A" "$KEY" "$T/pick.json" with 20 >/dev/null && ok || bad "$be: A did not update again"
    for _ in $(seq 100); do kill -0 "$PID_B" 2>/dev/null || break; sleep 0.1; done
    wait "$PID_B" 2>/dev/null
    s=$?
    [ $s = 137 ] && ok || bad "$be: B was to kill itself during the update (status $s)"
    oracle dbB without "$be after kill -9"
    "$BIN" exposure status --db "$T/dbB" >/dev/null && ok || bad "$be: status after kill -9"
    replica B "$url"
    $CHK wait "$U_B" "$KEY" "$T/pick.json" with 20 >/dev/null && ok || bad "$be: B restarted did not update"
    oracle dbB with "$be restarted"
    same_dirs "$be kill -9 and restart"
    "$BIN" labels retire --state "$url" --address "$X" --category sanctioned --author bob >/dev/null
    stop_replica A
    stop_replica B
}

suite sqlite "sqlite:$T/state.sqlite"

# the store's own state database, without --state
echo "== DIR/state.sqlite"
rm -rf "$T/dbD"
cp -a "$T/db0" "$T/dbD"
"$BIN" labels add --state "sqlite:$T/dbD/state.sqlite" --address "$X" --category sanctioned \
    --actor "$ACTOR" --author dave >/dev/null || bad "labels add into dbD/state.sqlite"
cmp -s "$T/db0/labels.db" "$T/dbD/labels.db" && ok || bad "labels add without --db changed labels.db"
cli_sees dbD && ok || bad "the CLI does not use DIR/state.sqlite ($?)"
mv "$T/dbD/state.sqlite" "$T/dbD/moved.sqlite"
cli_sees dbD; [ $? = 1 ] && ok || bad "the CLI sees the label without the state database"

# an EVM chain's exposure index follows an eth label of the database too (SQLite)
echo "== EVM"
"$BIN" generate --quiet --out "$T/ge" --blocks 120 --txs-per-block 40 --users 300 --maturity 5 \
    --halving-interval 60 --era 2019.5-2024.3 --privacy-rate 0.25 --evm --seed 11 \
    --evm-scenarios 2 >/dev/null || bad "generate --evm"
"$BIN" import --db "$T/dbE" --quiet "$T/ge" >/dev/null || bad "import (EVM run)"
"$BIN" labels import --db "$T/dbE" "$T/ge/labels.csv" >/dev/null || bad "labels import (EVM run)"
"$BIN" evm-import --db "$T/dbE" "$T/ge/evm" >/dev/null 2>&1 || bad "evm-import"
# the busiest unlabelled sender becomes a theft source
EX=$($PY -c 'import csv,sys; from collections import Counter
lab={r["address"].lower() for r in csv.DictReader(open(sys.argv[1])) if r["chain"]=="eth"}
c=Counter(r["from_address"].lower() for r in csv.DictReader(open(sys.argv[2]+"/transactions.csv")))
print(next(a for a, _ in c.most_common() if a not in lab))' "$T/ge/labels.csv" "$T/ge/evm")
{ cat "$T/ge/labels.csv"; echo "eth,$EX,theft,test,analyst,0.5"; } >"$T/ge/labels+.csv"
$PY tests/evmexpo_oracle.py evm "$BIN" "$T/dbE" "$T/ge/evm" "$T/ge/labels+.csv" >/dev/null 2>&1 &&
    bad "EVM: the oracle with the new label already agrees (the check proves nothing)" || ok
URLE="sqlite:$T/stateE.sqlite"
KEY=$("$BIN" state key-add --state "$URLE" --owner ops --role admin 2>/dev/null)
replica E "$URLE"
"$BIN" labels add --state "$URLE" --chain eth --address "$EX" --category theft --author erin \
    >/dev/null || bad "labels add (eth)"
for _ in $(seq 200); do
    n=$(curl -s -H "X-API-Key: $KEY" "$U_E/v1/metrics" | $PY tests/jget.py '["state"]["store_update"]["updates"]')
    [ "${n:-0}" -ge 2 ] && break
    sleep 0.1
done
[ "${n:-0}" -ge 2 ] && ok || bad "EVM: the replica did not update"
$PY tests/evmexpo_oracle.py evm "$BIN" "$T/dbE" "$T/ge/evm" "$T/ge/labels+.csv" >"$T/eo.out" 2>&1 &&
    ok || bad "EVM: the replica's index is not the oracle's with the label: $(grep -i fail "$T/eo.out" | head -3)"
"$BIN" evm-exposure status --db "$T/dbE" | grep -q "index: ok" && ok || bad "EVM: status not ok"
echo "  EVM: $EX labelled theft in the database; the replica's EVM index equals the oracle's"
stop_replica E

pg_start || bad "PostgreSQL did not start"
suite postgresql "$PG_URL"
pg_stop
finish
