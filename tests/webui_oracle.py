#!/usr/bin/python3
"""What the web UI's browser test (tests/e2e_webui.sh) expects to see, computed without
cointrail: the generator's truth.jsonl for the theft, and the blocks deserialized by Debian's
python3-bitcoinlib (through tests/oracle.py) for the amounts.

  webui_oracle.py expect CHAIN_DIR HOSTILE_ADDRESS   -> JSON on stdout:
    stolen, sources [{output, value, address}], theft_txid, victim (the victim entity's name),
    hop: for the most valuable source, the tx that spends it and the haircut split of its
    taint over that tx's outputs ({"TXID:N": satoshis}) and the fee, recomputed from values
    as docs/tracing.md defines haircut (shares in proportion to value over the outputs and the
    fee, largest remainder, ties to the lower index, the fee last).
  webui_oracle.py csv FILE N        -> checks a downloaded screening CSV: a header and N rows,
    every field quoted, no field starting with = + - @ unquoted; prints "ok" or the problem.
"""
import csv
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402  (tests/oracle.py: block reading and address encoding)
from bitcoin.core import CBlock, b2lx  # noqa: E402


def haircut(taint, values, fee):
    """Split taint over the outputs' values and the fee: floor shares, then the remainder one
    unit each by largest fractional part (ties to the lower index, the fee last)."""
    parts = values + [fee]
    total = sum(parts)
    shares = [taint * v // total for v in parts]
    rems = [(taint * v % total, i) for i, v in enumerate(parts)]
    left = taint - sum(shares)
    order = sorted(rems, key=lambda r: (-r[0], r[1] == len(parts) - 1, r[1]))
    for _, i in order[:left]:
        shares[i] += 1
    return shares[:-1], shares[-1]


def expect(chain_dir, hostile_address):
    truth = [json.loads(line) for line in open(os.path.join(chain_dir, "truth.jsonl"))]
    sc = next(t for t in truth if t["kind"] == "scenario")
    names = {t["id"]: t["name"] for t in truth if t["kind"] == "entity"}
    sources = sc["sources"]
    txs, spender = {}, {}
    for path in sorted(glob.glob(os.path.join(chain_dir, "blk*.dat"))):
        for raw in oracle.read_blocks(path):
            for tx in CBlock.deserialize(raw).vtx:
                txid = b2lx(tx.GetTxid())
                txs[txid] = tx
                for i in tx.vin:
                    spender[f"{b2lx(i.prevout.hash)}:{i.prevout.n}"] = txid
    theft_txid = sources[0].split(":")[0]
    out = []
    for s in sources:
        txid, n = s.split(":")
        o = txs[txid].vout[int(n)]
        out.append({"output": s, "value": o.nValue,
                    "address": oracle.classify(o.scriptPubKey)[1]})
    assert sum(o["value"] for o in out) == sc["stolen"], "truth: stolen != sum of sources"
    big = max(out, key=lambda o: o["value"])
    sp = txs[spender[big["output"]]]
    in_values = []
    for i in sp.vin:
        prev = txs[b2lx(i.prevout.hash)].vout[i.prevout.n]
        in_values.append(prev.nValue)
    values = [o.nValue for o in sp.vout]
    fee = sum(in_values) - sum(values)
    # the taint entering: the source output (whole); other inputs bring clean value
    shares, fee_share = haircut(big["value"], values, fee)
    sp_txid = b2lx(sp.GetTxid())
    return {
        "stolen": sc["stolen"], "theft_txid": theft_txid, "sources": out,
        "victim": names.get(sc["victim"], ""),
        "hop": {"from": big["output"], "from_address": big["address"], "txid": sp_txid,
                "fee": fee_share,
                "outputs": {f"{sp_txid}:{j}": v for j, v in enumerate(shares) if v},
                "inputs": len(sp.vin)},
        "hostile_address": hostile_address,
        "endpoints": [{"name": e["name"], "type": e["type"], "value": e["value"]}
                      for e in sc["endpoints"]],
        "endpoint_total": sc["endpoint_total"],
        # the first EVM -> Bitcoin hop (generate --evm): its Bitcoin output and EVM inbound tx
        "xchain": next(({"output": f'{t["outbound_txid"]}:{t["outbound_vout"]}',
                         "inbound_tx": t["inbound_tx"], "amount": t["outbound_amount"],
                         "inbound_from": t["inbound_from"], "inbound_asset": t["inbound_asset"],
                         "inbound_amount": t["inbound_amount"],
                         "method": t["method"]}
                        for t in truth if t["kind"] == "xchain_link"
                        and t.get("outbound_chain") == "btc" and t["inbound_asset"] == "ETH"),
                       None),
    }


def check_csv(path, n):
    rows = list(csv.reader(open(path, newline="")))
    if rows[0] != ["kind", "item", "risk", "score", "reasons"]:
        return f"header {rows[0]}"
    if len(rows) != n + 1:
        return f"{len(rows) - 1} rows, want {n}"
    raw = open(path).read()
    for line in raw.splitlines()[1:]:
        for field in next(csv.reader([line])):
            if field[:1] in ("=", "+", "-", "@"):
                return f"a formula-like field: {field[:40]}"
        if not line.startswith('"'):
            return f"an unquoted field: {line[:60]}"
    return "ok"


def main():
    if sys.argv[1] == "expect":
        print(json.dumps(expect(sys.argv[2], sys.argv[3])))
    elif sys.argv[1] == "csv":
        print(check_csv(sys.argv[2], int(sys.argv[3])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
