"""Checks the shipped incident data (data/incidents/): dprk_thefts.csv and dprk_addresses.csv.

    python3 tests/incidents_data_check.py [REPO_ROOT]

Thefts: the documented header; unique slug ids; ISO dates (YYYY, YYYY-MM or YYYY-MM-DD, real
calendar days) from 2017 to today, an attribution never dated before its theft; chains from a
fixed vocabulary; amounts as "DECIMAL CODE" lists that parse as positive decimals with a currency
code (fiat codes from ISO 4217); an https incident source and attribution source on every row and
https in every other URL column.
Addresses: the documented header; every incident id exists; Bitcoin addresses pass base58check
(P2PKH/P2SH versions) or BIP 173/350 bech32/bech32m with a valid witness program; EVM addresses are
0x + 40 hex digits and mixed-case ones carry a valid EIP-55 checksum (Keccak-256 from
pycryptodome); each address is in the TagPack it names, with that pack's label and source field.
The validators are tested first on valid vectors published with Bitcoin, BIP 173/350 and EIP-55
and on variants with a broken checksum, and every shipped address must fail once corrupted, so a
validator that accepts anything fails the test. Exit status 0 only when every check passes.
"""
import csv
import datetime
import hashlib
import os
import re
import sys
from decimal import Decimal, InvalidOperation

try:
    import yaml
    from Cryptodome.Hash import keccak
except ImportError as e:  # a missing Debian package is a failure, never a skip
    print("FAIL: %s (install python3-yaml and python3-pycryptodome: scripts/install-deps.sh)" % e)
    sys.exit(1)

THEFT_FIELDS = ["id", "date", "victim", "chains", "amount_native", "amount_fiat", "attribution",
                "attributed_by", "attribution_kind", "attribution_date", "incident_source_url",
                "attribution_source_url", "other_source_urls", "official_url", "notes"]
ADDRESS_FIELDS = ["incident_id", "chain", "address", "role", "label", "source_file", "source_url",
                  "notes"]
CHAINS = {"bitcoin", "ethereum", "bsc", "polygon", "tron", "arbitrum", "optimism", "base",
          "avalanche", "solana", "xrp", "litecoin", "stellar"}
FIAT = {"USD", "KRW", "JPY", "EUR", "GBP", "SGD", "INR", "TWD"}
KINDS = {"government", "un", "analytics", "investigator", "victim", "press"}
ROLES = {"exploiter", "laundering"}
TAG_CURRENCY = {"bitcoin": "BTC", "ethereum": "ETH"}
FIRST_DAY = datetime.date(2017, 1, 1)

failures = []


def fail(where, msg):
    failures.append("%s: %s" % (where, msg))


# ---- address validators (independent of cointrail's C code) ----

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58check_decode(s):
    n = 0
    for c in s:
        i = B58.find(c)
        if i < 0:
            return None
        n = n * 58 + i
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    raw = b"\0" * (len(s) - len(s.lstrip("1"))) + raw
    if len(raw) < 5:
        return None
    body, check = raw[:-4], raw[-4:]
    if hashlib.sha256(hashlib.sha256(body).digest()).digest()[:4] != check:
        return None
    return body


BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def bech32_polymod(values):
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if ((top >> i) & 1) else 0
    return chk


def segwit_decode(hrp, addr):
    """BIP 173/350: (version, program) or None."""
    if addr.lower() != addr and addr.upper() != addr:
        return None
    addr = addr.lower()
    pos = addr.rfind("1")
    if pos < 1 or pos + 7 > len(addr) or len(addr) > 90 or addr[:pos] != hrp:
        return None
    if any(c not in BECH32 for c in addr[pos + 1:]):
        return None
    data = [BECH32.find(c) for c in addr[pos + 1:]]
    const = bech32_polymod([ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + data)
    if const not in (1, 0x2BC830A3):
        return None
    version, five = data[0], data[1:-6]
    acc = bits = 0
    prog = []
    for v in five:
        acc = (acc << 5) | v
        bits += 5
        while bits >= 8:
            bits -= 8
            prog.append((acc >> bits) & 0xFF)
    if bits >= 5 or (acc & ((1 << bits) - 1)):
        return None
    if version > 16 or not 2 <= len(prog) <= 40:
        return None
    if version == 0 and (const != 1 or len(prog) not in (20, 32)):
        return None
    if version != 0 and const != 0x2BC830A3:
        return None
    return version, bytes(prog)


def valid_bitcoin(addr):
    if addr[:3].lower() == "bc1":
        return segwit_decode("bc", addr) is not None
    body = base58check_decode(addr)
    return body is not None and len(body) == 21 and body[0] in (0x00, 0x05)


def eip55(hex40):
    h = keccak.new(digest_bits=256, data=hex40.lower().encode()).hexdigest()
    return "".join(c.upper() if c.isalpha() and int(h[i], 16) >= 8 else c.lower()
                   for i, c in enumerate(hex40.lower()))


def valid_evm(addr):
    if not re.fullmatch(r"0x[0-9a-fA-F]{40}", addr):
        return False
    body = addr[2:]
    if body == body.lower() or body == body.upper():
        return True
    return body == eip55(body)


VALID = {"bitcoin": valid_bitcoin, "ethereum": valid_evm}


def corrupt(addr):
    """A copy with one character changed within the address's alphabet (case kept)."""
    i = len(addr) - 3
    c = addr[i]
    alphabet = "0123456789abcdef" if addr.startswith("0x") else (
        BECH32 if addr[:3].lower() == "bc1" else B58)
    repl = alphabet[(alphabet.find(c.lower() if alphabet != B58 else c) + 1) % len(alphabet)]
    if c.isupper() and alphabet != B58:
        repl = repl.upper()
    return addr[:i] + repl + addr[i + 1:]


def self_test():
    """Valid vectors from Bitcoin, BIP 13/173/350 and EIP-55; variants with a broken checksum."""
    good_btc = ["1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
                "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
                "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
                "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y"]
    bad_btc = ["1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb",  # checksum
               "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5",  # checksum
               "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh",  # v1 bech32
               "bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du",  # v2 with bech32 checksum
               "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4".replace("q", "Q", 1)]  # mixed case
    good_evm = ["0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
                "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
                "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
                "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"]
    for a in good_btc:
        if not valid_bitcoin(a):
            fail("self-test", "valid Bitcoin vector refused: " + a)
    for a in bad_btc:
        if valid_bitcoin(a):
            fail("self-test", "invalid Bitcoin vector accepted: " + a)
    for a in good_evm:
        if not valid_evm(a):
            fail("self-test", "EIP-55 vector refused: " + a)
        if valid_evm(a[:2] + a[2:].swapcase()):
            fail("self-test", "wrong EIP-55 case accepted: " + a)


# ---- field checks ----

def parse_date(s):
    """ISO date at year, month or day precision: (first day, last day) or None."""
    m = re.fullmatch(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", s)
    if not m:
        return None
    y, mo, d = int(m.group(1)), m.group(2), m.group(3)
    try:
        if d:
            day = datetime.date(y, int(mo), int(d))
            return day, day
        if mo:
            first = datetime.date(y, int(mo), 1)
            nxt = datetime.date(y + (int(mo) == 12), int(mo) % 12 + 1, 1)
            return first, nxt - datetime.timedelta(days=1)
        return datetime.date(y, 1, 1), datetime.date(y, 12, 31)
    except ValueError:
        return None


def parse_amounts(s, codes):
    """'DECIMAL CODE;DECIMAL CODE' -> list of (Decimal, code) or None."""
    out = []
    for part in s.split(";"):
        m = re.fullmatch(r"(\d+(?:\.\d+)?) ([A-Z][A-Z0-9]{1,9})", part)
        if not m:
            return None
        try:
            value = Decimal(m.group(1))
        except InvalidOperation:
            return None
        if value <= 0 or (codes is not None and m.group(2) not in codes):
            return None
        out.append((value, m.group(2)))
    return out


def is_https(u):
    return re.fullmatch(r"https://[A-Za-z0-9.-]+\.[A-Za-z]{2,}(/\S*)?", u) is not None


def read_csv(path, fields):
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header != fields:
            fail(path, "header is %r, expected %r" % (header, fields))
            return []
        rows = []
        for n, rec in enumerate(reader, start=2):
            if len(rec) != len(fields):
                fail("%s:%d" % (path, n), "%d fields, expected %d" % (len(rec), len(fields)))
                continue
            rows.append((n, dict(zip(fields, rec))))
        return rows


def check_thefts(path, today):
    rows = read_csv(path, THEFT_FIELDS)
    ids = {}
    for n, r in rows:
        at = "%s:%d" % (path, n)
        if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", r["id"]):
            fail(at, "id %r is not a lower-case slug" % r["id"])
        if r["id"] in ids:
            fail(at, "id %r repeats line %d" % (r["id"], ids[r["id"]]))
        ids[r["id"]] = n
        span = parse_date(r["date"])
        if not span:
            fail(at, "date %r is not an ISO date (YYYY, YYYY-MM or YYYY-MM-DD)" % r["date"])
        elif span[0] < FIRST_DAY or span[0] > today:
            fail(at, "date %s outside 2017-01-01..%s" % (r["date"], today))
        if r["attribution_date"]:
            aspan = parse_date(r["attribution_date"])
            if not aspan:
                fail(at, "attribution_date %r is not an ISO date" % r["attribution_date"])
            elif aspan[0] > today or (span and aspan[1] < span[0]):
                fail(at, "attribution_date %s before the theft or after today"
                     % r["attribution_date"])
        for field in ("victim", "attribution", "attributed_by"):
            if not r[field].strip():
                fail(at, field + " is empty")
        if r["attribution_kind"] not in KINDS:
            fail(at, "attribution_kind %r not one of %s" % (r["attribution_kind"], sorted(KINDS)))
        if r["chains"]:
            chains = r["chains"].split(";")
            for c in chains:
                if c not in CHAINS:
                    fail(at, "chain %r not in the vocabulary" % c)
            if len(set(chains)) != len(chains):
                fail(at, "chains repeat")
        if not r["amount_native"] and not r["amount_fiat"]:
            fail(at, "no amount at all")
        if r["amount_native"] and parse_amounts(r["amount_native"], None) is None:
            fail(at, "amount_native %r is not 'DECIMAL CODE[;...]'" % r["amount_native"])
        if r["amount_fiat"] and parse_amounts(r["amount_fiat"], FIAT) is None:
            fail(at, "amount_fiat %r is not 'DECIMAL ISO4217[;...]'" % r["amount_fiat"])
        for field in ("incident_source_url", "attribution_source_url"):
            if not is_https(r[field]):
                fail(at, "%s %r is not an https URL" % (field, r[field]))
        for u in r["other_source_urls"].split():
            if not is_https(u):
                fail(at, "other_source_urls entry %r is not an https URL" % u)
        if r["official_url"] and not is_https(r["official_url"]):
            fail(at, "official_url %r is not an https URL" % r["official_url"])
    return set(ids)


def load_tagpack(root, rel):
    with open(os.path.join(root, rel), encoding="utf-8") as f:
        pack = yaml.safe_load(f)
    tags = {}
    for t in pack["tags"]:
        merged = {k: v for k, v in pack.items() if k != "tags"}
        merged.update(t)
        tags[str(t["address"])] = merged
    return tags


def check_addresses(root, path, incident_ids):
    rows = read_csv(path, ADDRESS_FIELDS)
    seen = {}
    packs = {}
    for n, r in rows:
        at = "%s:%d" % (path, n)
        key = (r["incident_id"], r["chain"], r["address"], r["source_file"])
        if key in seen:
            fail(at, "repeats line %d" % seen[key])
        seen[key] = n
        ids = r["incident_id"].split(";")
        for i in ids:
            if i not in incident_ids:
                fail(at, "incident_id %r is not in dprk_thefts.csv" % i)
        if r["chain"] not in VALID:
            fail(at, "chain %r: no address format known" % r["chain"])
            continue
        ok = VALID[r["chain"]](r["address"])
        if not ok:
            fail(at, "%s address %r fails its format/checksum" % (r["chain"], r["address"]))
        elif VALID[r["chain"]](corrupt(r["address"])):
            fail(at, "validator accepts a corrupted copy of %r" % r["address"])
        if r["role"] not in ROLES:
            fail(at, "role %r not one of %s" % (r["role"], sorted(ROLES)))
        if not is_https(r["source_url"]):
            fail(at, "source_url %r is not an https URL" % r["source_url"])
        rel = r["source_file"]
        if rel not in packs:
            try:
                packs[rel] = load_tagpack(root, rel)
            except (OSError, yaml.YAMLError, KeyError, TypeError) as e:
                fail(at, "cannot read TagPack %s: %s" % (rel, e))
                packs[rel] = None
        pack = packs[rel]
        if pack is None:
            continue
        tag = pack.get(r["address"])
        if tag is None:
            fail(at, "%s does not carry %s" % (rel, r["address"]))
            continue
        if tag.get("currency") != TAG_CURRENCY[r["chain"]]:
            fail(at, "TagPack currency %r does not match chain %s" % (tag.get("currency"),
                                                                   r["chain"]))
        if tag.get("source") != r["source_url"]:
            fail(at, "source_url differs from the TagPack's source %r" % tag.get("source"))
        if tag.get("label", "") != r["label"]:
            fail(at, "label %r differs from the TagPack's %r" % (r["label"], tag.get("label")))
    return len(rows)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    today = datetime.date.today()
    self_test()
    thefts = os.path.join(root, "data/incidents/dprk_thefts.csv")
    addrs = os.path.join(root, "data/incidents/dprk_addresses.csv")
    ids = check_thefts(thefts, today)
    n = check_addresses(root, addrs, ids)
    if not ids or not n:
        fail(root, "no incidents or no addresses read")
    for f in failures:
        print("FAIL:", f)
    print("%d incidents, %d address rows, %d failures" % (len(ids), n, len(failures)))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
