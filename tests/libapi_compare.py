"""Compare examples/trace_output's lines (the public C API) with the CLI's JSON documents
(`cointrail tx --json`, `cointrail screen --json`), which come from the query and risk modules'
own code. Usage: libapi_compare.py EXAMPLE_OUT TX_JSON SCREEN_JSON; prints mismatches, exits 1
if any, 0 if all agree; the number of figures compared goes to stdout."""
import json
import sys

lines = open(sys.argv[1]).read().splitlines()
tx = json.load(open(sys.argv[2]))
screen = json.load(open(sys.argv[3]))
bad = []
n = 0


def check(what, got, want):
    global n
    n += 1
    if got != want:
        bad.append(f"{what}: library {got!r}, CLI {want!r}")


def fields(line):
    w = line.split()
    return w


# tx details
head = [l for l in lines if l.startswith("tx ")]
check("tx line", len(head), 1)
w = head[0].split()
check("txid", w[1], tx["txid"])
check("height", int(w[3]), tx["block_height"])
check("coinbase", int(w[5]), int(tx["coinbase"]))
check("fee", int(w[7]), tx["fee"] if tx["fee"] is not None else -1)
check("output_value", int(w[9]), tx["output_value"])
ins = [l.split() for l in lines if l.startswith("input ")]
check("inputs", len(ins), len(tx["inputs"]))
for w, j in zip(ins, tx["inputs"]):
    if j.get("coinbase"):
        check("coinbase input", w[2], "coinbase")
        continue
    check("input prev", w[3], f'{j["prev_txid"]}:{j["vout"]}')
    check("input value", int(w[5]), j["value"])
    check("input address", w[7], j["address"] or "-")
outs = [l.split() for l in lines if l.startswith("output ") and l.split()[2] == "value"]
check("outputs", len(outs), len(tx["outputs"]))
for w, j in zip(outs, tx["outputs"]):
    check("output n", int(w[1]), j["n"])
    check("output value", int(w[3]), j["value"])
    check("output type", w[5], j["type"])
    check("output address", w[7], j["address"] or "-")
    check("output spent_by", w[9], j["spent_by"] or "-")
    got = sorted((l.split()[3], l.split()[4]) for l in lines
                 if l.startswith(f"output {j['n']} label "))
    want = sorted((lab["category"], lab["source"].split()[0]) for lab in j.get("labels", []))
    check(f"output {j['n']} labels", got, want)

# exposure, both directions, against the screening document
for d in ("incoming", "outgoing"):
    part = screen["indirect"][d]
    head = [l.split() for l in lines if l.startswith(f"{d} seeded ")]
    check(f"{d} line", len(head), 1)
    check(f"{d} seeded", int(head[0][2]), part["seeded"])
    check(f"{d} partial", bool(int(head[0][6])), part["partial"])
    cats = [l.split() for l in lines if l.startswith(f"{d} category ")]
    check(f"{d} categories", [c[2] for c in cats], [c["category"] for c in part["by_category"]])
    for w, c in zip(cats, part["by_category"]):
        k = c["category"]
        check(f"{d} {k} amount", int(w[4]), c["amount"])
        check(f"{d} {k} endpoints", int(w[6]), c["endpoints"])
        check(f"{d} {k} hops", int(w[8]), c["hops"])
        check(f"{d} {k} nearest", w[10], c["counterparty"]["address"] or "-")
        check(f"{d} {k} nearest amount", int(w[11]), c["counterparty"]["amount"])

for b in bad:
    print("MISMATCH", b)
print(f"{n} figures compared, {len(bad)} differ")
sys.exit(1 if bad else 0)
