#!/usr/bin/python3
"""Check the EVM side of a chain made by `cointrail generate --evm` from the raw files alone.

usage: gen_evm_check.py DIR

DIR holds blk?????.dat (xor.dat applied when present), truth.jsonl, labels.csv and evm/*.csv.
Independent of the generator's C code: the CSVs are read with Python's csv module, amounts are
Python ints, Keccak-256 is pycryptodome's, Bitcoin blocks are decoded by python3-bitcoinlib and
bech32 addresses are encoded here from BIP 173's reference algorithm.

Checks:
- the CSVs are consistent with each other: blocks numbered from 0, parent hashes link,
  timestamps non-decreasing, transaction_count = the txs, one receipt per tx, cumulative gas,
  token transfers = the Transfer logs (ethereum-etl's rule), log indexes run through a block;
- balances (ETH: genesis traces + tx values + internal call traces - gas_used * effective price;
  USDT: token transfers) replayed in chain order never go negative, and the final balances
  equal the truth file's evm_account lines (and no account with a balance is missing there);
- every OP_RETURN `OUT:<HASH>` in the Bitcoin chain names a router tx of the CSVs whose Deposit
  event's memo names an address this Bitcoin tx pays, the amount it pays equals the truth link's,
  meets a `=:` memo's limit, and is below the inbound ETH at the stated price; no router deposit
  is paid twice;
- every `BRIDGE:<chain>:<nonce>` names a bridge Deposit event with that nonce whose recipient the
  tx pays; bridge_value links pay their recipient without an OP_RETURN; every xchain_link's
  outbound txid is in the chain;
- every TransferOut `REFUND:<HASH>` names a router deposit from the refunded address, for at
  most the amount deposited; refunded deposits get no Bitcoin leg;
- every mixer_link's deposit and withdrawal events exist with the commitment and nullifier, the
  withdrawal pays the recipient denomination - fee by internal calls, and each pool never pays
  out more than was deposited;
- the timestamps of the legs: the Bitcoin block comes after the inbound EVM block;
- labels.csv has eth rows for the exchange, pools, bridge and router.
Prints `N passed, M failed` last; exits non-zero on a failure.
"""
import csv
import json
import os
import struct
import sys

from Cryptodome.Hash import keccak
from bitcoin.core import CBlock, b2lx

MAGIC = bytes.fromhex("f9beb4d9")


def keccak256(b):
    return keccak.new(digest_bits=256, data=b).digest()


def topic(sig):
    return "0x" + keccak256(sig.encode()).hex()


T_TRANSFER = topic("Transfer(address,address,uint256)")
T_MIX_DEP = topic("Deposit(bytes32,uint32,uint256)")
T_MIX_WD = topic("Withdrawal(address,bytes32,address,uint256)")
T_BRIDGE = topic("Deposit(uint256,string,uint256,address,uint256)")
T_ROUTER = topic("Deposit(address,address,uint256,string)")
T_OUT = topic("TransferOut(address,address,address,uint256,string)")

# ---- BIP 173 bech32 (reference algorithm) ----
CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def bech32_polymod(values):
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        b = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if ((b >> i) & 1) else 0
    return chk


def bech32_encode(hrp, data, const):
    values = [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp] + data
    polymod = bech32_polymod(values + [0] * 6) ^ const
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[d] for d in data + checksum)


def convertbits(data, frombits, tobits):
    acc = bits = 0
    ret = []
    for value in data:
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            ret.append((acc >> bits) & ((1 << tobits) - 1))
    if bits:
        ret.append((acc << (tobits - bits)) & ((1 << tobits) - 1))
    return ret


def segwit_address(spk):
    """bc1 address of a v0 or v1 witness program script, else None."""
    if len(spk) in (22, 34) and spk[0] == 0 and spk[1] == len(spk) - 2:
        return bech32_encode("bc", [0] + convertbits(spk[2:], 8, 5), 1)
    if len(spk) == 34 and spk[0] == 0x51 and spk[1] == 32:
        return bech32_encode("bc", [1] + convertbits(spk[2:], 8, 5), 0x2BC830A3)
    return None


class Checker:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            if self.failed <= 25:
                print("FAIL: %s" % what)
        return ok


def read_csv(d, name):
    with open(os.path.join(d, "evm", name + ".csv"), newline="") as f:
        return list(csv.DictReader(f))


def read_blocks(d):
    key = b""
    xp = os.path.join(d, "xor.dat")
    if os.path.exists(xp):
        key = open(xp, "rb").read()
    n = 0
    while os.path.exists(os.path.join(d, "blk%05d.dat" % n)):
        data = open(os.path.join(d, "blk%05d.dat" % n), "rb").read()
        if key and any(key):
            data = bytes(b ^ key[i & 7] for i, b in enumerate(data))
        off = 0
        while off < len(data):
            size = struct.unpack("<I", data[off + 4:off + 8])[0]
            assert data[off:off + 4] == MAGIC
            yield CBlock.deserialize(data[off + 8:off + 8 + size])
            off += 8 + size
        n += 1


def abi_words(data):
    b = bytes.fromhex(data[2:])
    return b, [b[i:i + 32] for i in range(0, len(b), 32)]


def abi_string(b, off):
    n = int.from_bytes(b[off:off + 32], "big")
    return b[off + 32:off + 32 + n].decode()


def main():
    d = sys.argv[1]
    c = Checker()
    truth = [json.loads(l) for l in open(os.path.join(d, "truth.jsonl"))]
    meta = next(t for t in truth if t["kind"] == "evm_meta")
    accts = {t["address"]: t for t in truth if t["kind"] == "evm_account"}
    role = {a: t["role"] for a, t in accts.items()}
    router = next(a for a, r in role.items() if r == "router")
    bridge = next(a for a, r in role.items() if r == "bridge")
    token = meta["token"]
    sat_per_eth, sat_per_usdt = meta["sat_per_eth"], meta["sat_per_usdt"]

    blocks = read_csv(d, "blocks")
    txs = read_csv(d, "transactions")
    receipts = {r["transaction_hash"]: r for r in read_csv(d, "receipts")}
    logs = read_csv(d, "logs")
    xfers = read_csv(d, "token_transfers")
    traces = read_csv(d, "traces")

    # ---- structure ----
    c.check(len(blocks) == meta["blocks"], "block count %d vs truth %d" % (len(blocks), meta["blocks"]))
    c.check(len(txs) == meta["txs"], "tx count")
    ntx = {}
    for t in txs:
        ntx[t["block_number"]] = ntx.get(t["block_number"], 0) + 1
    prev, prev_ts, bad = "0x" + "00" * 32, 0, 0
    for i, b in enumerate(blocks):
        if int(b["number"]) != i or b["parent_hash"] != prev or int(b["timestamp"]) < prev_ts:
            bad += 1
        if int(b["transaction_count"]) != ntx.get(b["number"], 0):
            bad += 1
        prev, prev_ts = b["hash"], int(b["timestamp"])
    c.check(bad == 0, "%d blocks badly numbered, linked, timed or counted" % bad)
    c.check(len(receipts) == len(txs) and all(t["hash"] in receipts for t in txs), "one receipt per tx")
    cum_bad, last = 0, {}
    for t in txs:
        r = receipts[t["hash"]]
        want = last.get(t["block_number"], 0) + int(r["gas_used"])
        if int(r["cumulative_gas_used"]) != want or int(r["gas_used"]) > int(t["gas"]):
            cum_bad += 1
        last[t["block_number"]] = want
    c.check(cum_bad == 0, "%d receipts with a wrong cumulative gas or gas over the limit" % cum_bad)
    # token transfers = Transfer logs by ethereum-etl's rule; log indexes run 0.. per block
    derived, li_bad, nxt = [], 0, {}
    for l in logs:
        if int(l["log_index"]) != nxt.get(l["block_number"], 0):
            li_bad += 1
        nxt[l["block_number"]] = int(l["log_index"]) + 1
        tp = l["topics"].split(",")
        words = tp + ["0x" + w.hex() for w in abi_words(l["data"])[1]]
        if tp[0] == T_TRANSFER and len(words) == 4:
            derived.append((l["address"], "0x" + tp[1][-40:], "0x" + tp[2][-40:], str(int(words[3], 16)),
                            l["transaction_hash"], l["log_index"], l["block_number"]))
    c.check(li_bad == 0, "%d logs out of log-index order" % li_bad)
    got = [(x["token_address"], x["from_address"], x["to_address"], x["value"], x["transaction_hash"],
            x["log_index"], x["block_number"]) for x in xfers]
    c.check(got == derived, "token_transfers.csv differs from the Transfer logs (%d vs %d)" % (len(got), len(derived)))

    # ---- balances replayed in chain order ----
    eth, usdt, neg = {}, {}, []
    txinfo = {t["hash"]: t for t in txs}
    tr_by_tx = {}
    for tr in traces:
        if tr["trace_type"] == "genesis":
            eth[tr["to_address"]] = eth.get(tr["to_address"], 0) + int(tr["value"])
        elif tr["transaction_hash"]:
            tr_by_tx.setdefault(tr["transaction_hash"], []).append(tr)
    xf_by_tx = {}
    for x in xfers:
        xf_by_tx.setdefault(x["transaction_hash"], []).append(x)
    zero = "0x" + "00" * 20

    def move(bal, a, v, what):
        bal[a] = bal.get(a, 0) + v
        if bal[a] < 0 and a != zero:
            neg.append("%s %s" % (a, what))

    for t in txs:
        r = receipts[t["hash"]]
        fee = int(r["gas_used"]) * int(r["effective_gas_price"])
        ok = r["status"] == "1"
        # the admission rule: the sender holds value + gas limit * max fee before the tx
        need = int(t["value"]) + int(t["gas"]) * int(t["max_fee_per_gas"])
        if eth.get(t["from_address"], 0) < need:
            neg.append("%s cannot afford tx %s" % (t["from_address"], t["hash"]))
        move(eth, t["from_address"], -fee, "fee of " + t["hash"])
        if ok:
            to = t["to_address"] or r["contract_address"]
            move(eth, t["from_address"], -int(t["value"]), "value of " + t["hash"])
            move(eth, to, int(t["value"]), "")
            for tr in tr_by_tx.get(t["hash"], []):
                if tr["trace_address"] and tr["status"] == "1" and tr["call_type"] == "call":
                    move(eth, tr["from_address"], -int(tr["value"]), "internal of " + t["hash"])
                    move(eth, tr["to_address"], int(tr["value"]), "")
            for x in xf_by_tx.get(t["hash"], []):
                move(usdt, x["from_address"], -int(x["value"]), "USDT in " + t["hash"])
                move(usdt, x["to_address"], int(x["value"]), "")
        else:
            c.check(not xf_by_tx.get(t["hash"]), "failed tx %s has token transfers" % t["hash"])
    c.check(not neg, "balances go negative: %s" % neg[:3])
    mism = [a for a in set(eth) | set(usdt)
            if a != zero and (a not in accts or int(accts[a]["eth_wei"]) != eth.get(a, 0)
                              or int(accts[a]["usdt"]) != usdt.get(a, 0))]
    mism += [a for a, t in accts.items() if int(t["eth_wei"]) != eth.get(a, 0) or int(t["usdt"]) != usdt.get(a, 0)]
    c.check(not mism, "%d final balances differ from the truth (e.g. %s)" % (len(mism), mism[:2]))
    c.check(sum(1 for r in receipts.values() if r["status"] == "0") == meta["failed_txs"], "failed tx count")

    # ---- events ----
    router_dep, bridge_dep, refunds, mix_dep, mix_wd = {}, {}, [], {}, {}
    for l in logs:
        tp = l["topics"].split(",")
        b, w = abi_words(l["data"])
        if l["address"] == router and tp[0] == T_ROUTER:
            router_dep[l["transaction_hash"]] = (int.from_bytes(w[0], "big"), abi_string(b, int.from_bytes(w[1], "big")), l)
        elif l["address"] == router and tp[0] == T_OUT:
            refunds.append(("0x" + tp[2][-40:], int.from_bytes(w[1], "big"), abi_string(b, int.from_bytes(w[2], "big")), l))
        elif l["address"] == bridge and tp[0] == T_BRIDGE:
            nonce = int.from_bytes(w[2], "big")
            c.check(nonce not in bridge_dep, "bridge nonce %d used twice" % nonce)
            bridge_dep[nonce] = (int.from_bytes(w[0], "big"), abi_string(b, int.from_bytes(w[1], "big")),
                                 "0x" + w[3][-20:].hex(), int.from_bytes(w[4], "big"), l)
        elif tp[0] == T_MIX_DEP:
            mix_dep[(l["address"], tp[1])] = l
        elif tp[0] == T_MIX_WD:
            mix_wd[(l["address"], "0x" + w[1].hex())] = (l, "0x" + w[0][-20:].hex(), int.from_bytes(w[2], "big"))
    c.check(len(router_dep) > 0 and len(bridge_dep) > 0 and len(mix_dep) > 0, "router, bridge and mixer events present")

    # refunds: REFUND:<HASH> names a router deposit of the refunded address
    refunded = set()
    for to, amount, memo, l in refunds:
        h = "0x" + memo[len("REFUND:"):].lower()
        ok = memo.startswith("REFUND:") and h in router_dep and txinfo[h]["from_address"] == to \
            and amount <= router_dep[h][0] and memo[7:] == memo[7:].upper()
        c.check(ok, "refund %s does not match a router deposit" % l["transaction_hash"])
        refunded.add(h)

    # ---- the Bitcoin chain ----
    links = {}
    for t in truth:
        if t["kind"] == "xchain_link" and t["outbound_chain"] == "btc":
            links.setdefault(t["outbound_txid"], []).append(t)
    btc_time, outs_paid, ntxo = {}, set(), 0
    n_out, n_bridge_id = 0, 0
    seen_links = set()
    for blk in read_blocks(d):
        for tx in blk.vtx:
            txid = b2lx(tx.GetTxid())
            btc_time[txid] = blk.nTime
            ops = [bytes(o.scriptPubKey) for o in tx.vout if len(o.scriptPubKey) > 2 and o.scriptPubKey[0] == 0x6A]
            pays = {}
            for o in tx.vout:
                a = segwit_address(bytes(o.scriptPubKey))
                if a:
                    pays[a] = pays.get(a, 0) + o.nValue
            for op in ops:
                data = op[2:2 + op[1]] if op[1] <= 75 else b""
                if data.startswith(b"OUT:"):
                    n_out += 1
                    hx = data[4:].decode()
                    h = "0x" + hx.lower()
                    ok = hx == hx.upper() and len(hx) == 64 and h in router_dep and txinfo.get(h, {}).get("to_address") == router
                    if not c.check(ok, "OUT: in %s names no router deposit (%s)" % (txid, hx)):
                        continue
                    c.check(h not in outs_paid and h not in refunded, "router deposit %s paid twice or also refunded" % h)
                    outs_paid.add(h)
                    wei, memo, l = router_dep[h]
                    parts = memo.split(":")
                    addr = parts[2] if len(parts) >= 3 and parts[0] in ("SWAP", "=") and parts[1] == "BTC.BTC" else None
                    paid = pays.get(addr, 0)
                    lk = [k for k in links.get(txid, []) if k["inbound_tx"] == h]
                    c.check(addr is not None and paid > 0 and len(lk) == 1 and lk[0]["outbound_amount"] == paid
                            and lk[0]["outbound_address"] == addr and lk[0]["method"] == "thorchain_memo"
                            and lk[0]["inbound_log_index"] == int(l["log_index"]),
                            "OUT: %s pays %d to the memo address %s, truth says %s" % (txid, paid, addr, lk))
                    c.check(paid * 10**18 <= wei * sat_per_eth, "swap %s pays more than the ETH was worth" % txid)
                    if parts[0] == "=" and len(parts) >= 4 and parts[3]:
                        c.check(paid >= int(parts[3]), "swap %s pays %d below its limit %s" % (txid, paid, parts[3]))
                    blk_ts = int(blocks[int(l["block_number"])]["timestamp"])
                    c.check(blk.nTime >= blk_ts, "swap %s: Bitcoin leg before the inbound block" % txid)
                    seen_links.add((txid, h))
                elif data.startswith(b"BRIDGE:"):
                    n_bridge_id += 1
                    p = data.decode().split(":")
                    nonce = int(p[2])
                    ok = len(p) == 3 and nonce in bridge_dep and int(p[1]) == bridge_dep[nonce][0]
                    if not c.check(ok, "BRIDGE: in %s names no bridge deposit" % txid):
                        continue
                    dest, rcpt, tok, amount, l = bridge_dep[nonce]
                    lk = [k for k in links.get(txid, []) if k["inbound_tx"] == l["transaction_hash"]]
                    c.check(pays.get(rcpt, 0) > 0 and len(lk) == 1 and lk[0]["outbound_amount"] == pays[rcpt]
                            and lk[0]["method"] == "bridge_id" and lk[0]["bridge_nonce"] == nonce,
                            "BRIDGE: %s does not pay the deposit's recipient as the truth says" % txid)
                    rate = sat_per_usdt * 10**12 if tok == token else sat_per_eth
                    c.check(pays.get(rcpt, 0) * 10**18 <= amount * rate, "bridge %s pays more than deposited" % txid)
                    seen_links.add((txid, l["transaction_hash"]))
    c.check(n_out > 0 and n_bridge_id > 0, "the chain has OUT: and BRIDGE: outputs (%d, %d)" % (n_out, n_bridge_id))
    # every link the truth names is in the chain; value-only bridge links pay their recipient
    for txid, lks in links.items():
        for k in lks:
            if not c.check(txid in btc_time, "link's outbound %s is not in the chain" % txid):
                continue
            if k["method"] == "bridge_value":
                dep = [v for v in bridge_dep.values() if v[4]["transaction_hash"] == k["inbound_tx"]]
                c.check(len(dep) == 1 and dep[0][1] == k["outbound_address"] and (txid, k["inbound_tx"]) not in seen_links
                        and btc_time[txid] >= k["inbound_time"], "bridge_value link %s inconsistent" % txid)
            else:
                c.check((txid, k["inbound_tx"]) in seen_links, "link %s (%s) found by no OP_RETURN" % (txid, k["method"]))

    # ---- what the thieves received in Bitcoin continues as Bitcoin scenarios ----
    for sc in truth:
        if sc["kind"] != "scenario" or "evm_scenario" not in sc:
            continue
        mine = [k for v in links.values() for k in v if k["scenario"] == sc["evm_scenario"]]
        c.check(sorted(sc["sources"]) == sorted("%s:%d" % (k["outbound_txid"], k["outbound_vout"]) for k in mine)
                and sc["stolen"] == sum(k["outbound_amount"] for k in mine),
                "Bitcoin scenario %d: sources/stolen are not its EVM legs' outputs" % sc["id"])
        c.check(sc["stolen"] == sc["endpoint_total"] + sc["fees"] + sc["remaining"], "scenario %d accounting" % sc["id"])
        if mine:  # a theft whose legs were never paid (a short chain) has nothing to move
            c.check(any(st["kind"] != "xchain_inflow" for st in sc["steps"]), "scenario %d: the coins moved on" % sc["id"])

    # ---- mixer links ----
    paid_out = {}
    for t in truth:
        if t["kind"] != "mixer_link":
            continue
        dl = mix_dep.get((t["pool"], t["commitment"]))
        c.check(dl is not None and dl["transaction_hash"] == t["deposit_tx"] and int(dl["log_index"]) == t["deposit_log_index"],
                "mixer deposit %s not in the logs" % t["deposit_tx"])
        if not t["withdrawn"]:
            continue
        w = mix_wd.get((t["pool"], t["nullifier_hash"]))
        ok = w is not None and w[0]["transaction_hash"] == t["withdrawal_tx"] and w[1] == t["recipient"] and w[2] == int(t["fee"])
        c.check(ok, "mixer withdrawal %s not in the logs as the truth says" % t["withdrawal_tx"])
        got = sum(int(tr["value"]) for tr in tr_by_tx.get(t["withdrawal_tx"], [])
                  if tr["trace_address"] and tr["to_address"] == t["recipient"] and tr["from_address"] == t["pool"])
        c.check(got == int(t["denomination"]) - int(t["fee"]), "withdrawal %s pays %d" % (t["withdrawal_tx"], got))
        c.check(int(t["deposit_block"]) < int(t["withdrawal_block"]), "withdrawal before deposit")
        paid_out[t["pool"]] = paid_out.get(t["pool"], 0) + 1
    for pool, n in paid_out.items():
        c.check(n <= sum(1 for k in mix_dep if k[0] == pool), "pool %s pays out more notes than deposited" % pool)

    # ---- labels ----
    labels = list(csv.DictReader(open(os.path.join(d, "labels.csv"), newline="")))
    eth_labels = {l["address"]: l["category"] for l in labels if l["chain"] == "eth"}
    for r, cat in (("exchange_hot_wallet", "exchange"), ("mixer_pool", "mixer"), ("bridge", "bridge"), ("router", "swap")):
        c.check(any(eth_labels.get(a) == cat for a, rr in role.items() if rr == r), "no %s label" % r)
    c.check(all(a in accts for a in eth_labels), "labelled eth addresses exist")

    print("%d OUT: legs, %d BRIDGE: legs, %d links, %d refunds, %d mixer events" %
          (n_out, n_bridge_id, sum(len(v) for v in links.values()), len(refunds), len(mix_dep) + len(mix_wd)))
    print("%d passed, %d failed" % (c.passed, c.failed))
    sys.exit(1 if c.failed else 0)


if __name__ == "__main__":
    main()
