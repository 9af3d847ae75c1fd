# Sourced by bench/trace.sh and bench/serve.sh: the generated chain of TPB x BLOCKS txs in
# $WORK (made once), imported, labelled with the generator's labels.csv and clustered (once).
# Needs BIN, TPB, BLOCKS, WORK; sets chain and db.
chain="$WORK/chain-$TPB-$BLOCKS"
db="$WORK/trace-db-$TPB-$BLOCKS"
mkdir -p "$WORK"
if [ ! -f "$chain/truth.jsonl" ]; then
    mkdir -p "$chain"
    "$BIN" generate --out "$chain" --seed 1 --blocks "$BLOCKS" --txs-per-block "$TPB" \
        --users 100000 --exchanges 10 --merchants 500 --miners 8 --scenarios 3 --force --quiet >/dev/null
fi
if [ ! -f "$db/MANIFEST" ]; then
    "$BIN" import --db "$db" --quiet "$chain" >/dev/null
    "$BIN" labels import --db "$db" "$chain/labels.csv" >/dev/null
    "$BIN" cluster --db "$db" >/dev/null
fi
