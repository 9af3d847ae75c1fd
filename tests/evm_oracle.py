#!/usr/bin/python3
"""Independent checks of cointrail's EVM store, for tests/e2e_evm.sh.

Recomputes from ethereum-etl CSV files (and the node's raw JSON-RPC responses beside them)
what `cointrail evm-stats/evm-tx/evm-address --json` must say, with python ints (exact), the
csv module, and pycryptodome's Keccak for EIP-55. Prints one line per check, "PASS name" or
"FAIL name: detail"; exits 0 either way (the caller counts).

usage: evm_oracle.py BIN DB CHAIN DIR...            (stats, every tx, busiest addresses)
       evm_oracle.py --rpc BIN DB CHAIN DIR         (CSV and store against web3 responses)
"""
import csv
import glob
import json
import os
import subprocess
import sys

from Cryptodome.Hash import keccak

TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"


def eip55(addr):
    a = addr.lower()[2:]
    k = keccak.new(digest_bits=256)
    k.update(a.encode())
    h = k.hexdigest()
    return "0x" + "".join(c.upper() if c in "abcdef" and int(h[i], 16) >= 8 else c
                          for i, c in enumerate(a))


def kind_of(path):
    with open(path, newline="") as f:
        header = next(csv.reader(f), [])
    for marker, kind in (("trace_type", "traces"), ("token_address", "token_transfers"),
                         ("topics", "logs"), ("cumulative_gas_used", "receipts"),
                         ("gas_price", "transactions"), ("parent_hash", "blocks"),
                         ("decimals", "tokens")):
        if marker in header:
            return kind
    return None


def load(dirs):
    rows = {}
    for d in dirs:
        for p in sorted(glob.glob(os.path.join(d, "*.csv"))):
            k = kind_of(p)
            with open(p, newline="") as f:
                rows.setdefault(k, []).extend(csv.DictReader(f))
    return rows


def model(rows):
    """Every value move, as the store should hold it: (kind, tx, from, to, token, amount)."""
    txs = {t["hash"]: dict(t) for t in rows.get("transactions", [])}
    have_receipts = "receipts" in rows
    for t in txs.values():
        t["failed"], t["status_known"], t["fee"] = False, False, None
        t["price"] = int(t["gas_price"])
        t["to"] = t["to_address"] or None
    for r in rows.get("receipts", []):
        t = txs[r["transaction_hash"]]
        if r["effective_gas_price"]:
            t["price"] = int(r["effective_gas_price"])
        t["fee"] = int(r["gas_used"]) * t["price"]
        t["gas_used"] = int(r["gas_used"])
        if r["status"] != "":
            t["status_known"] = True
            t["failed"] = r["status"] == "0"
        if not t["to"] and r["contract_address"]:
            t["to"] = r["contract_address"]
    traces = rows.get("traces", [])
    for tr in traces:
        if tr["transaction_hash"] and tr["trace_address"] == "":
            t = txs[tr["transaction_hash"]]
            if not t["status_known"]:
                t["status_known"] = True
                t["failed"] = tr["status"] == "0"
    moves = []
    for t in sorted(txs.values(), key=lambda t: (int(t["block_number"]), int(t["transaction_index"]))):
        h = t["hash"]
        if not t["failed"] and int(t["value"]) > 0:
            moves.append(("tx", h, t["from_address"], t["to"], None, int(t["value"])))
        if t["fee"]:
            moves.append(("fee", h, t["from_address"], None, None, t["fee"]))
        for tr in traces:
            if tr["transaction_hash"] != h or tr["trace_address"] == "":
                continue
            ok_type = (tr["trace_type"] == "call" and tr["call_type"] == "call") or \
                tr["trace_type"] in ("create", "suicide")
            if ok_type and tr["status"] == "1" and tr["value"] and int(tr["value"]) > 0 \
                    and tr["to_address"]:
                moves.append(("internal", h, tr["from_address"], tr["to_address"], None,
                              int(tr["value"])))
        tts = rows.get("token_transfers")
        if tts is None:  # decode Transfer logs the way ethereum-etl does
            tts = []
            for lg in rows.get("logs", []):
                topics = lg["topics"].split(",")
                data = lg["data"][2:]
                if len(topics) == 3 and topics[0] == TRANSFER and len(data) == 64:
                    tts.append({"transaction_hash": lg["transaction_hash"],
                                "log_index": lg["log_index"], "token_address": lg["address"],
                                "from_address": "0x" + topics[1][-40:],
                                "to_address": "0x" + topics[2][-40:], "value": str(int(data, 16))})
        if not t["failed"]:
            for x in sorted((x for x in tts if x["transaction_hash"] == h),
                            key=lambda x: int(x["log_index"])):
                moves.append(("erc20", h, x["from_address"], x["to_address"], x["token_address"],
                              int(x["value"])))
    for tr in traces:
        if not tr["transaction_hash"] and tr["trace_type"] in ("reward", "genesis") and \
                tr["status"] == "1" and int(tr["value"] or 0) > 0:
            moves.append(("reward", None, None, tr["to_address"], None, int(tr["value"])))
    for b in rows.get("blocks", []):
        w = b.get("withdrawals") or ""
        if w:
            for x in json.loads(w if w.startswith("[") else "[" + w + "]"):
                if x["amount"]:
                    moves.append(("withdrawal", None, None, x["address"], None,
                                  x["amount"] * 10**9))
    return txs, moves


class Checker:
    def __init__(self, binary, db, chain):
        self.bin, self.db, self.chain = binary, db, chain

    def run(self, *args):
        out = subprocess.run([self.bin, args[0], "--db", self.db, "--chain", self.chain,
                              "--json"] + list(args[1:]), capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(f"{args}: exit {out.returncode}: {out.stderr.strip()}")
        return json.loads(out.stdout)

    @staticmethod
    def report(name, ok, detail=""):
        print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + detail))


def check_store(c, dirs):
    rows = load(dirs)
    txs, moves = model(rows)
    st = c.run("evm-stats")
    blocks = rows.get("blocks", [])
    want = {
        "blocks": len(blocks),
        "first_block": min(int(b["number"]) for b in blocks),
        "txs": len(txs),
        "failed_txs": sum(t["failed"] for t in txs.values()),
        "transfers": len(moves),
        "native_tx_value": str(sum(m[5] for m in moves if m[0] == "tx")),
        "native_internal_value": str(sum(m[5] for m in moves if m[0] == "internal")),
        "fees": str(sum(t["fee"] or 0 for t in txs.values())),
        "rewards": str(sum(m[5] for m in moves if m[0] == "reward")),
        "withdrawals": str(sum(m[5] for m in moves if m[0] == "withdrawal")),
        "tokens": len({m[4] for m in moves if m[4]}),
        "addresses": len({a for t in txs.values() for a in (t["from_address"], t["to"]) if a} |
                         {a for m in moves for a in (m[2], m[3]) if a}),
        "partial_history": min(int(b["number"]) for b in blocks) != 0,
    }
    for k, v in want.items():
        c.report(f"stats {k}", st.get(k) == v, f"store {st.get(k)!r}, csv {v!r}")
    for kind in ("tx", "fee", "internal", "erc20", "reward", "withdrawal"):
        n = sum(m[0] == kind for m in moves)
        c.report(f"stats transfers {kind}", st["transfers_by_kind"][kind] == n,
                 f"store {st['transfers_by_kind'][kind]}, csv {n}")
    # every tx: value, price, fee, status and its transfers in order
    bad = []
    for h, t in txs.items():
        j = c.run("evm-tx", h)
        mine = [(x["kind"], x["from"], x["to"], x["token"], int(x["amount"]))
                for x in j["transfers"]]
        want_x = [(m[0], m[2] and eip55(m[2]), m[3] and eip55(m[3]), m[4] and eip55(m[4]), m[5])
                  for m in moves if m[1] == h]
        status = "failed" if t["failed"] else ("success" if t["status_known"] else "unknown")
        checks = [("value", j["value"], t["value"]), ("gas_price", j["gas_price"], str(t["price"])),
                  ("fee", j["fee"], None if t["fee"] is None else str(t["fee"])),
                  ("status", j["status"], status), ("from", j["from"], eip55(t["from_address"])),
                  ("transfers", mine, want_x), ("block", j["block"], int(t["block_number"]))]
        for name, got, exp in checks:
            if got != exp:
                bad.append(f"{h} {name}: store {got!r}, csv {exp!r}")
    c.report(f"every tx ({len(txs)}) value/fee/status/transfers", not bad, "; ".join(bad[:3]))
    # the busiest addresses: balances per asset and the transfer list
    count = {}
    for m in moves:
        for a in {m[2], m[3]} - {None}:
            count[a] = count.get(a, 0) + 1
    for a in sorted(count, key=lambda a: (-count[a], a))[:5]:
        j = c.run("evm-address", a, "--limit", "0")
        sums = {}
        for m in moves:
            if a not in (m[2], m[3]):
                continue
            s = sums.setdefault(m[4] and eip55(m[4]), [0, 0, 0])
            if m[3] == a:
                s[0] += m[5]
            if m[2] == a:
                s[2 if m[0] == "fee" else 1] += m[5]
        got = {b["token"]: [int(b["received"]), int(b["sent"]), int(b.get("fees", 0))]
               for b in j["balances"]}
        bal_ok = all(int(b["balance"]) == got[b["token"]][0] - got[b["token"]][1] -
                     got[b["token"]][2] for b in j["balances"])
        c.report(f"address {a} balances", got == sums and bal_ok, f"store {got}, csv {sums}")
        c.report(f"address {a} eip55", j["address"] == eip55(a), j["address"])
        blocks_desc = [x["block"] for x in j["transfers"]]
        c.report(f"address {a} transfers newest first",
                 j["transfer_count"] == count[a] == len(j["transfers"]) and
                 blocks_desc == sorted(blocks_desc, reverse=True) and
                 [x["id"] for x in j["transfers"]] == sorted((x["id"] for x in j["transfers"]),
                                                              reverse=True),
                 f"{j['transfer_count']} vs {count[a]}")


def check_rpc(c, d):
    """The node's own numbers: eth_getBlockByNumber values and prices, receipt gasUsed, logs."""
    n = 0
    blocks = {}
    for p in sorted(glob.glob(os.path.join(d, "web3_response.eth_getBlockByNumber_*.json"))):
        res = json.load(open(p))["result"]
        blocks[int(res["number"], 16)] = res
        for t in res["transactions"]:
            j = c.run("evm-tx", t["hash"])
            ok = int(j["value"]) == int(t["value"], 16) and j["from"].lower() == t["from"] and \
                j["block"] == int(t["blockNumber"], 16) and j["index"] == int(t["transactionIndex"], 16)
            if j["status"] != "unknown" or j["fee"] is not None:
                pass
            c.report(f"rpc tx {t['hash'][:12]} value/from/block", ok, json.dumps(j)[:300])
            n += 1
    prices = {t["hash"]: int(t["gasPrice"], 16) for b in blocks.values() for t in b["transactions"]}
    for p in sorted(glob.glob(os.path.join(d, "web3_response.eth_getTransactionReceipt_*.json"))):
        r = json.load(open(p))["result"]
        j = c.run("evm-tx", r["transactionHash"])
        fee = int(r["gasUsed"], 16) * prices[r["transactionHash"]]
        c.report(f"rpc receipt {r['transactionHash'][:12]} fee", j["fee"] == str(fee),
                 f"store {j['fee']}, node {fee}")
        want = [(int(lg["logIndex"], 16), int(lg["data"], 16), eip55(lg["address"]))
                for lg in r["logs"] if lg["topics"] and lg["topics"][0] == TRANSFER]
        got = [(x["log_index"], int(x["amount"]), x["token"]) for x in j["transfers"]
               if x["kind"] == "erc20"]
        c.report(f"rpc receipt {r['transactionHash'][:12]} token transfers", got == want,
                 f"store {got}, node {want}")
        n += 1
    c.report("rpc responses found", n > 0, d)


if __name__ == "__main__":
    if sys.argv[1] == "--rpc":
        check_rpc(Checker(*sys.argv[2:5]), sys.argv[5])
    else:
        check_store(Checker(*sys.argv[1:4]), sys.argv[4:])
