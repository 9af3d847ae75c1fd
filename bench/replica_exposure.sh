#!/bin/bash
# How long a `serve --state` replica takes to bring its exposure index up to date after one label
# change in the state database (docs/state.md, "Exposure on replicas").
#
#   bench/replica_exposure.sh [STORE [RUNS [ADDRESSES]]]
#       (default /work/bench/trace-db-2100-5000, 3 runs, 3 addresses)
#
# STORE is only read: it is copied into a temp dir under /tmp (its size in free space needed),
# and the replica serves the copy with an SQLite state database (sqlite:FILE, polled every
# 100 ms). The addresses: outputs with theft exposure in the index (`exposure dump`), taken at
# evenly spaced rows, so each label lands on a laundering path with history downstream of it.
# Per address and run: `labels add --state ... --category sanctioned` (then `labels retire`)
# returns, then /v1/metrics is polled every 10 ms until the replica has updated (its
# state.store_update.updates moved) and opened the new snapshot (store.snapshots_opened moved):
# that wall time, the replica's CPU seconds meanwhile (/proc: the update and the new snapshot; on
# a loaded machine the wall times follow the load), and the update's own time and size as the
# replica reports them. The reference
# in the same run: `cointrail exposure build --rebuild` of the copy (what a replica would
# otherwise have to run), once per run. Prints medians, with the machine's load.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=${1:-/work/bench/trace-db-2100-5000}
RUNS=${2:-3}
NADDR=${3:-3}
BIN=$(realpath build/cointrail)
[ -x "$BIN" ] || scripts/build.sh build
PY=/usr/bin/python3
T=$(mktemp -d /tmp/replica_exposure.XXXXXX)
PID=""
trap '[ -n "$PID" ] && kill -9 $PID 2>/dev/null; rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP PIPE
echo "load before: $(uptime)"
echo "store: $SRC ($(du -sh "$SRC" | cut -f1)), copied to $T"
cp -a "$SRC" "$T/db"
rm -f "$T/db/state.sqlite"
"$BIN" stats --db "$T/db" --json | $PY -c 'import json,sys; d=json.load(sys.stdin)
print("txs", d.get("txs", d.get("totals", {}).get("txs")))' || true
# the addresses: outputs that received theft exposure, at evenly spaced rows of the dump
"$BIN" exposure dump --db "$T/db" | awk '$2 == "theft" {print $1}' >"$T/theft_outs"
mapfile -t ADDRS < <($PY - "$T/theft_outs" "$NADDR" "$BIN" "$T/db" <<'EOF'
import json, subprocess, sys
outs = open(sys.argv[1]).read().split()
n, binary, db = int(sys.argv[2]), sys.argv[3], sys.argv[4]
seen = []
for i in range(n):
    for o in outs[(2 * i + 1) * len(outs) // (2 * n):]:
        txid, k = o.split(":")
        d = json.loads(subprocess.run([binary, "tx", "--db", db, "--json", txid], check=True,
                                      capture_output=True, text=True).stdout)
        out = d["outputs"][int(k)]
        if out.get("address") and not out.get("labels") and out["address"] not in seen:
            seen.append(out["address"])
            print(out["address"])
            break
EOF
)
echo "addresses: ${ADDRS[*]}"
URL="sqlite:$T/state.sqlite"
KEY=$("$BIN" state key-add --state "$URL" --owner bench --role admin 2>/dev/null)
"$BIN" serve --db "$T/db" --state "$URL" --listen 127.0.0.1:0 --port-file "$T/port" --threads 2 \
    2>"$T/serve.log" &
PID=$!
for _ in $(seq 600); do [ -s "$T/port" ] && break; sleep 0.1; done
U=127.0.0.1:$(cat "$T/port")
metrics() {
    curl -s -H "X-API-Key: $KEY" "$U/v1/metrics" | $PY -c 'import json,sys; d=json.load(sys.stdin)
u=d["state"]["store_update"]
print(u["updates"], d["store"]["snapshots_opened"], u["last_seconds"], u["last_stops_changed"],
      u["last_txs_recomputed"], u["error"] or "-")'
}
cpu() { # the replica's CPU seconds so far (user + system)
    awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$PID/stat"
}
change() { # CMD...: run it, wait until the replica has updated and swapped; print the figures
    local u0 s0 t0 c0 u s last stops txs e
    read -r u0 s0 _ < <(metrics)
    c0=$(cpu)
    "$BIN" "$@" --state "$URL" --author bench >/dev/null
    t0=$(date +%s.%N)
    while :; do
        read -r u s last stops txs e < <(metrics)
        [ "$u" -gt "$u0" ] && [ "$s" -gt "$s0" ] && break
        sleep 0.01
    done
    echo "$($PY -c "print(f'{$(date +%s.%N) - $t0:.3f} {$last:.3f} {$(cpu) - $c0:.2f}')") $stops $txs"
}
: >"$T/res"
for r in $(seq "$RUNS"); do
    for a in "${ADDRS[@]}"; do
        for kind in add retire; do
            read -r wall upd cpus stops txs < <(change labels $kind --address "$a" --category sanctioned)
            echo "run $r $kind $a: visible after $wall s, replica CPU $cpus s (update $upd s: $stops stops changed, $txs txs propagated again)"
            echo "$kind $wall $upd $cpus" >>"$T/res"
        done
    done
    /usr/bin/time -f "%e %U %S" -o "$T/rb.time" "$BIN" exposure build --db "$T/db" --rebuild >/dev/null 2>&1
    read -r rw ru rs <"$T/rb.time"
    echo "run $r exposure build --rebuild (reference): $rw s, CPU $($PY -c "print(f'{$ru + $rs:.2f}')") s"
    echo "rebuild $rw $rw $($PY -c "print($ru + $rs)")" >>"$T/res"
done
$PY - "$T/res" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = statistics.median
ref = med(float(r[1]) for r in rows if r[0] == "rebuild")
refc = med(float(r[3]) for r in rows if r[0] == "rebuild")
for kind in ("add", "retire"):
    w = [float(r[1]) for r in rows if r[0] == kind]
    u = [float(r[2]) for r in rows if r[0] == kind]
    c = [float(r[3]) for r in rows if r[0] == kind]
    print(f"{kind}: median visible after {med(w):.3f} s (max {max(w):.3f}); the update "
          f"{med(u):.3f} s = {med(u) / ref:.2f} of a rebuild's wall time; replica CPU (update "
          f"and new snapshot) {med(c):.2f} s = {med(c) / refc:.2f} of a rebuild's CPU")
print(f"exposure build --rebuild: median {ref:.3f} s, CPU {refc:.2f} s")
EOF
grep -v "serving\|stopping" "$T/serve.log" || true
echo "load after: $(uptime)"
