#!/bin/bash
# `cointrail import --follow` on a simulated running node, and the alert path behind it
# (docs/formats.md "Following a node", docs/screening.md "Watchlists and alerts"):
#  1. tests/follow_node.py writes a generated chain (`generate --scenarios 1 --xor`) into a
#     blocks directory as a node does: xor.dat, files preallocated with zeros and cut when the
#     next one starts (a new blk file every 45 records), each record in three writes (half a
#     frame, then half the block, then the rest: a reader sees half-written records), pairs of
#     blocks in swapped order. `import --follow` runs throughout: killed by its own crash hook
#     before a commit, killed with -9 mid-way, stopped with SIGTERM (exit 0, a committed prefix
#     of the chain), restarted each time. `serve` runs with a watchlist of every address of the
#     scenario's thief and a webhook receiver (tests/hook_receiver.py).
#     Checks: the store equals a one-shot import of the same files (`stats` byte for byte) and
#     the generator's truth totals; every movement of a watched address (computed from blocks
#     decoded by python3-bitcoinlib) reaches the receiver exactly once, with its amount and an
#     Idempotency-Key that agrees with the alert; from the last byte of a block written to its
#     first alert at the receiver takes at most LAT_BOUND seconds (blocks written after the
#     restarts; median and p99 printed).
#  2. Corruption is still an error naming file and offset: a complete record with a bad merkle
#     root or a bad proof of work (followed by more records), a bad last record of a file once
#     the node has moved on to the next file; a bad last record of the last file is waited for
#     (a warning after --settle) and imported once rewritten.
#  3. A reorganisation while following (tests/mkchain.py's fork, heavier) gives the store of a
#     one-shot import and tests/oracle.py's figures.
source "$(dirname "$0")/common.sh"
PIDS=""
trap 'kill -9 $PIDS 2>/dev/null; [ -n "${KEEP_T:-}" ] || rm -rf "$T"' EXIT
C=tests/follow_check.py
N=tests/follow_node.py
# Write -> webhook: inotify wakes the follower (else its 100 ms poll), which parses the block
# and commits (fsyncs: tens of ms here); inotify wakes serve (else its 50 ms poll), which opens
# the new state, scans, fsyncs alerts.jsonl and posts. About 0.1-0.3 s on this 2-core machine;
# the bound leaves room for a machine shared with other builds (fsyncs of seconds).
LAT_BOUND=${LAT_BOUND:-3}

"$BIN" generate --out "$T/g" --seed 5 --blocks 160 --txs-per-block 40 --maturity 5 --users 200 \
    --scenarios 1 --scenario-blocks 60 --xor --quiet >/dev/null || bad "generate"
blocks() { "$BIN" stats --db "$1" --json 2>/dev/null | $PY tests/jget.py '["blocks"]' 2>/dev/null || echo 0; }
wait_blocks() { # DB N [SECONDS]: until the store holds at least N blocks
    for _ in $(seq $((${3:-30} * 20))); do
        [ "$(blocks "$1")" -ge "$2" ] && return 0
        sleep 0.05
    done
    return 1
}
follow() { # DB DIR [ARGS...]: start import --follow, its pid in $FPID
    local db=$1 dir=$2
    shift 2
    "$BIN" import --db "$db" --follow --json --poll-ms 100 "$@" "$dir" >>"$T/follow.out" 2>>"$T/follow.err" &
    FPID=$!
    PIDS="$PIDS $FPID"
}

# ---- 1. a node writing, the follower restarted under it, the alerts ----
mkdir -p "$T/node"
$PY $N play "$T/g" "$T/node" "$T/play.log" --per-file 45 --prealloc 262144 --swap-every 7 \
    --hold-at 100 --go "$T/go" --gap-ms 30 --pause-ms 15 --gap-after-hold 250 &
SIM=$!
PIDS="$PIDS $SIM"
COINTRAIL_TEST_CRASH_AFTER=7 follow "$T/db" "$T/node"
wait $FPID
[ $? = 137 ] && ok || bad "the crash hook did not kill the follower"
follow "$T/db" "$T/node"
wait_blocks "$T/db" 12 || bad "no blocks after the restart"

$PY tests/hook_receiver.py "$T/hook.log" "$T/hook.port" ok >/dev/null 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 50); do [ -s "$T/hook.port" ] && break; sleep 0.1; done
HOOK="http://127.0.0.1:$(cat "$T/hook.port")"
"$BIN" serve --db "$T/db" --listen 127.0.0.1:0 --insecure-no-auth --port-file "$T/port" \
    --poll-ms 50 --webhook-allow "$HOOK/" 2>>"$T/serve.log" &
SERVE=$!
PIDS="$PIDS $SERVE"
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
U="127.0.0.1:$(cat "$T/port")"
$PY $C items "$T/g/truth.jsonl" >"$T/items.json"
$PY -c 'import json,sys; print(json.dumps({"name": "thief", "webhook": sys.argv[1] + "/hook",
    "items": json.load(open(sys.argv[2]))}))' "$HOOK" "$T/items.json" >"$T/list.json"
curl -s --max-time 10 -d @"$T/list.json" "$U/v1/watchlists" >"$T/list.out"
FROM=$($PY tests/jget.py '["watching_from_height"]' <"$T/list.out")
[ -n "$FROM" ] && [ "$FROM" -lt 100 ] && ok || bad "watchlist: $(cat "$T/list.out")"

wait_blocks "$T/db" 45 || bad "no 45 blocks"
kill -9 $FPID
wait $FPID 2>/dev/null
sleep 0.3
follow "$T/db" "$T/node"
wait_blocks "$T/db" 70 || bad "no 70 blocks after kill -9"
t0=$(date +%s%N)
kill -TERM $FPID
wait $FPID
[ $? = 0 ] && ok || bad "SIGTERM: not a clean exit"
[ $((($(date +%s%N) - t0) / 1000000)) -lt 3000 ] && ok || bad "SIGTERM took over 3 s"
"$BIN" stats --db "$T/db" --json >"$T/mid.json" || bad "stats after SIGTERM"
follow "$T/db" "$T/node"

# The node holds before block 100; once the follower has it all, the rest is written with
# nothing interrupted, a block every 0.3 s (a real node: one every 10 minutes, so the latency
# of one block is measured, not a backlog): those blocks give the latency.
for _ in $(seq 600); do [ -e "$T/go.held" ] && break; sleep 0.05; done
wait_blocks "$T/db" 100 || bad "not at 100 before the measured blocks"
touch "$T/go"
wait $SIM || bad "the node simulator failed"
wait_blocks "$T/db" 160 || bad "the follower did not reach 160 blocks"
for _ in $(seq 200); do
    curl -s "$U/v1/alerts?limit=1" | $PY -c 'import json,sys; d=json.load(sys.stdin)
sys.exit(not (d["scanned_height"] == 160 and d["delivery_queue"] == 0))' && break
    sleep 0.1
done
kill -TERM $FPID
wait $FPID
[ $? = 0 ] && ok || bad "SIGTERM at the end: not a clean exit"
kill -TERM $SERVE
wait $SERVE
grep -q "cointrail: follow:" "$T/follow.err" && bad "warnings: $(cat "$T/follow.err")" || ok

# The store against a one-shot import of the same files and the generator's truth.
$PY $C expect "$T/node" "$FROM" "$T/items.json" "$T/expect.json" || bad "expect"
$PY $C prefix "$T/mid.json" "$T/expect.json" && ok || bad "store after SIGTERM is no prefix of the chain"
"$BIN" import --db "$T/ref" --quiet "$T/node" >/dev/null || bad "one-shot import"
"$BIN" stats --db "$T/db" --json >"$T/db.json"
"$BIN" stats --db "$T/ref" --json >"$T/ref.json"
cmp -s "$T/db.json" "$T/ref.json" && ok || bad "followed store differs from a one-shot import"
"$BIN" stats --db "$T/db" --json --recompute >"$T/db2.json"
cmp -s "$T/db.json" "$T/db2.json" && ok || bad "running totals differ from a recomputation"
$PY tests/stats_truth.py "$T/db.json" "$T/g/truth.jsonl" && ok || bad "followed store vs truth totals"
ROUNDS=$(grep -c '^{"height"' "$T/follow.out")
[ "$ROUNDS" -ge 20 ] && ok || bad "only $ROUNDS commits: not one per poll"
$PY $C alerts "$T/hook.log" "$T/expect.json" "$T/play.log" 100 "$LAT_BOUND" "$T/latency.json" &&
    ok || bad "alerts"

# ---- 2. corruption: errors naming file and offset; a bad end of the last file waits ----
rec() { # DIR N: offset of record N in DIR/blk*.dat (by the play log of that dir)
    $PY -c 'import json,sys; print([json.loads(l)["off"] for l in open(sys.argv[1])][int(sys.argv[2])])' "$1/log" "$2"
}
bad_follow() { # NAME WANT: the follower of $T/NAME exits 1 within 10 s naming WANT
    follow "$T/$1.db" "$T/$1" --settle 1
    local pid=$FPID
    for _ in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
    kill -9 $pid 2>/dev/null && bad "$1: still following a corrupt record"
    wait $pid
    [ $? = 1 ] && ok || bad "$1: exit status"
    grep -q "$2" "$T/follow.err" && ok || bad "$1: error does not name '$2': $(tail -2 "$T/follow.err")"
    "$BIN" stats --db "$T/$1.db" --json >"$T/c.json" 2>/dev/null &&
        "$BIN" stats --db "$T/$1.db" --json --recompute >"$T/c2.json" && cmp -s "$T/c.json" "$T/c2.json" ||
        [ ! -e "$T/$1.db/MANIFEST" ] && ok || bad "$1: store inconsistent after the error"
}
mkpart() { # NAME PER_FILE COUNT: the first COUNT records, unobfuscated, PER_FILE a file
    mkdir -p "$T/$1"
    $PY $N play "$T/g" "$T/$1" "$T/$1/log" --per-file "$2" --to "$3" --pieces 1 --gap-ms 0 --xor 0
}
mkpart merkle 10 7
O=$(rec "$T/merkle" 4)
$PY $N corrupt "$T/merkle/blk00000.dat" "$O" merkle
bad_follow merkle "merkle/blk00000.dat: block at offset $((O + 8))"
mkpart pow 10 7
O=$(rec "$T/pow" 5)
$PY $N corrupt "$T/pow/blk00000.dat" "$O" pow
bad_follow pow "pow/blk00000.dat: block at offset $((O + 8)) (hash"
mkpart moved 5 6
O=$(rec "$T/moved" 4)
$PY $N corrupt "$T/moved/blk00000.dat" "$O" merkle
bad_follow moved "moved/blk00000.dat: offset $O: .*moved on"
# The last record of the last file, corrupt: waited for, reported, imported once rewritten.
mkpart tail 10 6
O=$(rec "$T/tail" 5)
cp "$T/tail/blk00000.dat" "$T/tail.good"
$PY $N corrupt "$T/tail/blk00000.dat" "$O" merkle
follow "$T/tail.db" "$T/tail" --settle 1
wait_blocks "$T/tail.db" 5 || bad "tail: the good records not imported"
for _ in $(seq 60); do grep -q "tail/blk00000.dat: offset $O: .*still waiting" "$T/follow.err" && break; sleep 0.1; done
grep -q "tail/blk00000.dat: offset $O: .*still waiting" "$T/follow.err" && ok || bad "tail: no warning naming the record"
kill -0 $FPID && ok || bad "tail: the follower gave up on a record being written"
dd if="$T/tail.good" of="$T/tail/blk00000.dat" conv=notrunc status=none # the node rewrites it
wait_blocks "$T/tail.db" 6 10 && ok || bad "tail: the rewritten record not imported"
kill -TERM $FPID
wait $FPID || bad "tail: SIGTERM"

# ---- 3. a reorganisation while following ----
$PY tests/mkchain.py "$T/c.json" --blocks 30 --seed 7 --fork-at 20 --fork-len 16
mkdir -p "$T/src"
$PY tests/mkchain.py write "$T/src/blk00000.dat" "$T/c.json" main 0 30
$PY tests/mkchain.py write "$T/src/blk00001.dat" "$T/c.json" fork 0 16
TIP=$($PY tests/oracle.py stats "$T/src" | $PY tests/jget.py '["tip_hash"]')
mkdir -p "$T/rnode"
follow "$T/r.db" "$T/rnode"
$PY $N play "$T/src" "$T/rnode" "$T/rplay.log" --gap-ms 5 --pause-ms 2 || bad "play the fork"
for _ in $(seq 200); do
    [ "$("$BIN" stats --db "$T/r.db" --json 2>/dev/null | $PY tests/jget.py '["tip_hash"]' 2>/dev/null)" = "$TIP" ] && break
    sleep 0.1
done
kill -TERM $FPID
wait $FPID || bad "reorg follower: SIGTERM"
grep -q '"blocks_removed":[1-9]' "$T/follow.out" && ok || bad "no reorganisation reported"
"$BIN" import --db "$T/r.ref" --quiet "$T/rnode" >/dev/null
"$BIN" stats --db "$T/r.db" --json >"$T/r1.json"
"$BIN" stats --db "$T/r.ref" --json >"$T/r2.json"
cmp -s "$T/r1.json" "$T/r2.json" && ok || bad "reorganised store differs from a one-shot import"
$PY tests/oracle.py stats "$T/rnode" >"$T/r3.json" && $PY tests/compare.py stats "$T/r1.json" "$T/r3.json" &&
    ok || bad "reorganised store vs tests/oracle.py"
finish
