#!/usr/bin/env python3
"""evm_exports.py COMMAND ARGS: ethereum-etl exports derived from the real ones in tests/data/evm
for e2e_evm.sh, written with python3's csv module (not by cointrail).

  from-stream SRC DST    receipts.csv and token_transfers.csv in DST from ethereum-etl's stream
                         export in SRC (stream_transactions.json with receipt_* fields,
                         stream_token_transfers.json)
  first-block SRC DST    the rows of block 17173049 only, of SRC's blocks, transactions,
                         receipts and token_transfers CSVs
  fork DIR               rewrite the export in DIR in place into a fork: its last block
                         (0x5699ff...) gets another hash and keeps only its first 3 txs, with
                         their receipts and transfers
  deep SRC DST           DST: only SRC's second block, with a new hash, an unknown parent and
                         no txs (a fork deeper than the export)
  edit-lines FILE CODE   run the Python CODE on FILE's lines (`lines`, split on LF) and write
                         them back: the malformed rows of section 6
  from-traces SRC DST    blocks.csv and transactions.csv in DST from the node's trace_block
                         response in SRC (block hash, the top-level calls)
"""
import sys


def from_stream():
    import csv, json, sys
    src, dst = sys.argv[1], sys.argv[2]
    with open(dst + "/receipts.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["transaction_hash", "transaction_index", "block_hash", "block_number",
                    "cumulative_gas_used", "gas_used", "contract_address", "root", "status",
                    "effective_gas_price"])
        for line in open(src + "/stream_transactions.json"):
            t = json.loads(line)
            w.writerow([t["hash"], t["transaction_index"], t["block_hash"], t["block_number"],
                        t["receipt_cumulative_gas_used"], t["receipt_gas_used"],
                        t["receipt_contract_address"] or "", t["receipt_root"] or "",
                        t["receipt_status"], t["receipt_effective_gas_price"]])
    with open(dst + "/token_transfers.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["token_address", "from_address", "to_address", "value", "transaction_hash",
                    "log_index", "block_number"])
        for line in open(src + "/stream_token_transfers.json"):
            x = json.loads(line)
            w.writerow([x[k] for k in ("token_address", "from_address", "to_address", "value",
                                       "transaction_hash", "log_index", "block_number")])


def first_block():
    import csv, sys
    src, dst = sys.argv[1], sys.argv[2]
    for name in ("blocks", "transactions", "receipts", "token_transfers"):
        rows = list(csv.reader(open(f"{src}/{name}.csv", newline="")))
        col = rows[0].index("number" if name == "blocks" else "block_number")
        keep = [r for r in rows[1:] if r[col] == "17173049"]
        csv.writer(open(f"{dst}/{name}.csv", "w", newline="")).writerows([rows[0]] + keep)


def fork():
    import csv, sys
    d = sys.argv[1]
    old = "0x5699ffb9477f70ec736463b144614356eb051936da75fcccec73d648f2e91de4"
    new = "0x" + "ab" * 32
    def rewrite(name, fn):
        rows = list(csv.reader(open(f"{d}/{name}", newline="")))
        head, body = rows[0], rows[1:]
        body = fn(head, body)
        with open(f"{d}/{name}", "w", newline="") as f:
            csv.writer(f).writerows([head] + body)
    # the fork block keeps only its first 3 txs (and their receipts and transfers)
    keep = set()
    def txs(h, body):
        out = []
        for r in body:
            if r[h.index("block_hash")] == old:
                if int(r[h.index("transaction_index")]) >= 3:
                    continue
                r[h.index("block_hash")] = new
                keep.add(r[h.index("hash")])
            else:
                keep.add(r[h.index("hash")])
            out.append(r)
        return out
    rewrite("transactions.csv", txs)
    def blocks(h, body):
        for r in body:
            if r[h.index("hash")] == old:
                r[h.index("hash")] = new
                r[h.index("transaction_count")] = "3"
        return body
    rewrite("blocks.csv", blocks)
    rewrite("receipts.csv", lambda h, b: [r for r in b if r[0] in keep and
            not r.__setitem__(h.index("block_hash"), new if r[h.index("block_hash")] == old else r[h.index("block_hash")])])
    rewrite("token_transfers.csv", lambda h, b: [r for r in b if r[h.index("transaction_hash")] in keep])


def deep():
    import csv, sys
    rows = list(csv.reader(open(sys.argv[1], newline="")))
    h = rows[0]
    r = rows[2]
    r[h.index("hash")] = "0x" + "cd" * 32
    r[h.index("parent_hash")] = "0x" + "ef" * 32
    r[h.index("transaction_count")] = "0"
    csv.writer(open(sys.argv[2], "w", newline="")).writerows([h, r])


def edit_lines():
    import sys
    p = sys.argv[1]
    lines = open(p).read().split('\n')
    # CODE runs as the body of the inline script it was, with `lines` (and `p`, `sys`) in scope;
    # one namespace, so its generator expressions see `lines` too.
    ns = {"sys": sys, "p": p, "lines": lines}
    exec(sys.argv[2], ns)
    lines = ns["lines"]
    open(p, 'w').write('\n'.join(lines))


def from_traces():
    import csv, glob, json, sys
    src, dst = sys.argv[1], sys.argv[2]
    res = json.load(open(glob.glob(src + "/web3_response.trace_block_*.json")[0]))["result"]
    num, bhash = res[0]["blockNumber"], res[0]["blockHash"]
    txs = [t for t in res if t.get("transactionHash") and t["traceAddress"] == []]
    with open(dst + "/blocks.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["number", "hash", "parent_hash", "timestamp", "transaction_count"])
        w.writerow([num, bhash, "0x" + "00" * 32, 0, len(txs)])
    with open(dst + "/transactions.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["hash", "block_number", "transaction_index", "from_address", "to_address",
                    "value", "gas_price", "block_hash"])
        for t in txs:
            a = t["action"]
            w.writerow([t["transactionHash"], num, t["transactionPosition"], a["from"],
                        a.get("to") or "", int(a["value"], 16), 0, bhash])


COMMANDS = {
    "from-stream": from_stream,
    "first-block": first_block,
    "fork": fork,
    "deep": deep,
    "edit-lines": edit_lines,
    "from-traces": from_traces,
}

if __name__ == "__main__":
    import subcommand

    subcommand.run(__doc__, COMMANDS)
