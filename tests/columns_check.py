#!/usr/bin/env python3
"""columns_check.py EXPORT_DIR STATS_JSON [--figures JSON]... [--truth TRUTH_JSONL]
[--cluster-dump FILE]: an independent reading of a `cointrail export-columns` directory with
Python's csv and gzip modules and Python integers (e2e_export_columns.sh).

Checks: export.json lists every table file with its row count and SHA-256; each file's header
is schema.json's columns; ids are dense and in order; every spend input and the output it
spends point at each other with the same value; every address id used exists. Then it
computes the `stats` figures (fees from inputs minus outputs per tx, not from txs.fee) and
compares them with STATS_JSON (`cointrail stats --json`), with each --figures document (the
DuckDB recipe's), and with the generator's truth totals. With --cluster-dump (`cluster
--dump`), the addresses' entity ids must be the dump's. Prints what differs; exit 1 if any.
"""
import csv, gzip, hashlib, json, os, sys

TYPES = ["nonstandard", "p2pk", "p2pkh", "p2sh", "p2wpkh", "p2wsh", "p2tr", "witness_unknown",
         "multisig", "nulldata"]
errors = []


def bad(msg):
    if len(errors) < 30:
        print("FAIL:", msg)
    errors.append(msg)


def main():
    args = sys.argv[1:]
    exp, stats_path = args[0], args[1]
    figures, truth, dump = [], None, None
    i = 2
    while i < len(args):
        if args[i] == "--figures":
            figures.append(args[i + 1])
        elif args[i] == "--truth":
            truth = args[i + 1]
        elif args[i] == "--cluster-dump":
            dump = args[i + 1]
        i += 2
    manifest = json.load(open(os.path.join(exp, "export.json")))
    schema = json.load(open(os.path.join(exp, "schema.json")))
    cols = {t["name"]: [c["name"] for c in t["columns"]] for t in schema["tables"]}
    tables = {}
    for t in manifest["tables"]:
        path = os.path.join(exp, t["file"])
        raw = open(path, "rb").read()
        if hashlib.sha256(raw).hexdigest() != t["sha256"]:
            bad(f"{t['file']}: sha256 is not export.json's")
        rows = list(csv.reader(gzip.decompress(raw).decode("utf-8").splitlines(True)))
        if rows[0] != cols[t["name"]]:
            bad(f"{t['file']}: header {rows[0]} is not schema.json's {cols[t['name']]}")
        body = [dict(zip(rows[0], r)) for r in rows[1:]]
        if len(body) != t["rows"]:
            bad(f"{t['file']}: {len(body)} rows, export.json says {t['rows']}")
        tables[t["name"]] = body
    if sorted(tables) != sorted(cols):
        bad(f"tables {sorted(tables)} are not schema.json's {sorted(cols)}")

    blocks, txs, outs, ins, addrs = (tables[n] for n in
                                     ("blocks", "txs", "outputs", "inputs", "addresses"))
    for name, rows, key in (("blocks", blocks, "height"), ("txs", txs, "tx_id"),
                            ("outputs", outs, "output_id"), ("inputs", ins, "input_id")):
        if [int(r[key]) for r in rows] != list(range(len(rows))):
            bad(f"{name}: {key} is not 0..{len(rows) - 1} in order")
    addr_ids = {int(a["address_id"]): a["address"] for a in addrs}
    if len(addr_ids) != len(addrs):
        bad("addresses: address_id repeated")

    # links between inputs and outputs, per tx sums, with Python integers
    in_sum, out_sum, unresolved_tx = {}, {}, set()
    for o in outs:
        v = int(o["value"])
        out_sum[int(o["tx_id"])] = out_sum.get(int(o["tx_id"]), 0) + v
        if o["address_id"] and addr_ids.get(int(o["address_id"])) != o["address"]:
            bad(f"output {o['output_id']}: address {o['address']} / id {o['address_id']} "
                "not in addresses")
    for i in ins:
        tx = int(i["tx_id"])
        if i["kind"] == "unresolved":
            unresolved_tx.add(tx)
        elif i["kind"] == "spend":
            o = outs[int(i["prev_output_id"])]
            if o["spent_by_input_id"] != i["input_id"] or o["value"] != i["value"] or \
                    o["tx_id"] != i["prev_tx_id"] or o["vout"] != i["prev_vout"] or \
                    txs[int(o["tx_id"])]["txid"] != i["prev_txid"]:
                bad(f"input {i['input_id']} and output {o['output_id']} disagree")
            in_sum[tx] = in_sum.get(tx, 0) + int(i["value"])
        elif i["kind"] != "coinbase":
            bad(f"input {i['input_id']}: kind {i['kind']}")
    for o in outs:
        if o["spent_by_input_id"]:
            i = ins[int(o["spent_by_input_id"])]
            if i["prev_output_id"] != o["output_id"]:
                bad(f"output {o['output_id']}: spent_by_input_id {i['input_id']} spends another")
    fees = 0
    for t in txs:
        tx = int(t["tx_id"])
        if t["coinbase"] == "true" or tx in unresolved_tx:
            continue
        fee = in_sum.get(tx, 0) - out_sum.get(tx, 0)
        if str(fee) != t["fee"]:
            bad(f"tx {t['txid']}: fee column {t['fee']}, inputs - outputs {fee}")
        fees += fee

    utxo = [o for o in outs if not o["spent_by_input_id"]]
    by_type = {t: 0 for t in TYPES}
    for o in outs:
        by_type[o["script_type"]] += 1
    ours = {
        "blocks": len(blocks),
        "tip_height": len(blocks) - 1 if blocks else None,
        "tip_hash": blocks[-1]["hash"] if blocks else None,
        "txs": len(txs), "inputs": len(ins), "outputs": len(outs),
        "total_output_value": sum(int(o["value"]) for o in outs),
        "total_fees": fees,
        "utxo_count": len(utxo), "utxo_value": sum(int(o["value"]) for o in utxo),
        "addresses": len(addrs),
        "outputs_by_type": by_type,
        "unresolved_inputs": sum(i["kind"] == "unresolved" for i in ins),
    }

    def compare(other, what, keys=None):
        for k in keys or ours:
            if k in other and other[k] != ours[k]:
                bad(f"{k}: {what} says {other[k]}, the export's rows {ours[k]}")
            elif k not in other and keys is None:
                bad(f"{k}: missing from {what}")

    compare(json.load(open(stats_path)), "cointrail stats")
    for f in figures:
        compare(json.load(open(f)), f"DuckDB figures {os.path.basename(f)}")
    if truth:
        t = next(json.loads(l) for l in open(truth) if '"totals"' in l)
        common = [k for k in t if k in ours]
        if len(common) < 5:
            bad(f"truth totals share only {common} with the figures")
        compare(t, "the generator's truth", common)

    if dump:
        want = {}
        for line in open(dump):
            p = line.split()
            if p[0] == "a":
                want[p[1]] = p[2]
        got = {a["address"]: a["entity_id"] for a in addrs if a["entity_id"]}
        if got != want:
            diff = [k for k in set(got) | set(want) if got.get(k) != want.get(k)][:3]
            bad(f"addresses.entity_id differs from cluster --dump ({len(got)} vs {len(want)}): "
                f"{diff}")
        sizes = {}
        for e in want.values():
            sizes[e] = sizes.get(e, 0) + 1
        ents = {e["entity_id"]: int(e["size"]) for e in tables["entities"]}
        if ents != sizes:
            bad(f"entities: {len(ents)} rows, the dump has {len(sizes)} entities (or sizes differ)")
        if not manifest["clustered"]:
            bad("export.json: clustered false with a clustering")

    print(f"columns_check: {len(txs)} txs, {len(outs)} outputs, {len(ins)} inputs, "
          f"{len(addrs)} addresses, {len(tables['labels'])} labels: {len(errors)} problems")
    return 1 if errors else 0


sys.exit(main())
