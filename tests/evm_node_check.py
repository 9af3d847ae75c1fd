#!/usr/bin/env python3
"""evm_node_check.py COMMAND ARGS: the parts of e2e_evm_node.sh (a real anvil node, tests/evm-node)
that take more than a line.

  free-port              a free TCP port on 127.0.0.1 for the node
  rpc-result             (stdin: a JSON-RPC answer) its result, or its error, as compact JSON
  block-time             (stdin: an eth_getBlockByNumber result) its timestamp in decimal
  split-genesis X T      run.js's export in X: T/csv/traces.csv without the genesis rows,
                         T/g0/ block 0 only with its genesis traces
  same-rows A B          the CSVs of run.js's exporter (A) and of --csv-out (B), field by field;
                         exit 1 on any difference or fewer than 1000 fields
  balances X T           every final balance of X/truth.json (ETH less the block producer's
                         priority fees, from the node's recorded answers in X/rpc; USDT) against
                         the store's, in T/bal.ADDRESS (`evm-address --json`); exit 1 on any
                         difference, a count other than 54 or no coinbase
"""
import sys


def free_port():
    import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])


def rpc_result():
    import json,sys; d=json.load(sys.stdin); print(json.dumps(d.get("result", d.get("error"))))


def block_time():
    import json,sys; print(int(json.load(sys.stdin)["timestamp"],16))


def split_genesis():
    import csv, sys
    x, t = sys.argv[1], sys.argv[2]
    rows = list(csv.reader(open(x + "/traces.csv", newline="")))
    w = csv.writer(open(t + "/csv/traces.csv", "w", newline=""), lineterminator="\n")
    g = csv.writer(open(t + "/g0/traces.csv", "w", newline=""), lineterminator="\n")
    for i, r in enumerate(rows):
        if i == 0 or r[8] != "genesis": w.writerow(r)
        if i == 0 or r[8] == "genesis": g.writerow(r)
    b = list(csv.reader(open(x + "/blocks.csv", newline="")))
    csv.writer(open(t + "/g0/blocks.csv", "w", newline=""), lineterminator="\n").writerows(b[:2])


def same_rows():
    import csv, sys
    a, b = sys.argv[1], sys.argv[2]
    bad = n = 0
    for k in ("blocks", "transactions", "receipts", "logs", "token_transfers", "traces"):
        ra = list(csv.reader(open("%s/%s.csv" % (a, k), newline="")))
        rb = list(csv.reader(open("%s/%s.csv" % (b, k), newline="")))
        if len(ra) != len(rb) or len(ra) < 2:
            print("FAIL %s: %d rows, run.js %d" % (k, len(rb) - 1, len(ra) - 1)); bad += 1; continue
        for i, (x, y) in enumerate(zip(ra, rb)):
            for j, (u, v) in enumerate(zip(x, y)):
                n += 1
                if u != v:
                    bad += 1
                    if bad < 6: print("FAIL %s row %d %s: ours %r, run.js %r" % (k, i, ra[0][j], v[:70], u[:70]))
            if len(x) != len(y): bad += 1; print("FAIL %s row %d: field count" % (k, i))
    print("%d fields compared, %d differ" % (n, bad))
    sys.exit(1 if bad or n < 1000 else 0)


def balances():
    import glob, json, sys
    x, t = sys.argv[1], sys.argv[2]
    truth = json.load(open(x + "/truth.json"))
    usdt = truth["contracts"]["usdt"]["address"].lower()
    rec = lambda f: json.load(open(f))["result"]
    tips = {}  # the block producer's priority fees, from the node's own recorded answers
    for f in glob.glob(x + "/rpc/web3_response.eth_getBlockByNumber_*_true.json"):
        b = rec(f)
        rs = rec(f.replace("eth_getBlockByNumber_", "eth_getBlockReceipts_").replace("_true.json", ".json"))
        base = int(b.get("baseFeePerGas", "0x0"), 16)
        m = b["miner"].lower()
        for r in rs:
            tips[m] = tips.get(m, 0) + int(r["gasUsed"], 16) * (int(r["effectiveGasPrice"], 16) - base)
    bad = n = 0
    for a, want in truth["final_balances"].items():
        d = json.load(open("%s/bal.%s" % (t, a)))
        got = {(b["token"] or "").lower(): int(b["balance"]) for b in d.get("balances", [])}
        eth = int(want["eth_wei"]) - tips.get(a.lower(), 0)
        for k, w in (("", eth), (usdt, int(want["usdt_units"]))):
            n += 1
            if got.get(k, 0) != w:
                bad += 1
                print("FAIL balance %s %s: store %s, node %s" % (a, k or "ETH", got.get(k, 0), w))
    print("%d balances, %d wrong, %d coinbase(s)" % (n, bad, len(tips)))
    sys.exit(1 if bad or n != 54 or not tips else 0)


COMMANDS = {
    "free-port": free_port,
    "rpc-result": rpc_result,
    "block-time": block_time,
    "split-genesis": split_genesis,
    "same-rows": same_rows,
    "balances": balances,
}

if __name__ == "__main__":
    import subcommand

    subcommand.run(__doc__, COMMANDS)
