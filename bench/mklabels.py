#!/usr/bin/python3
"""N random btc p2pkh labels as a labels CSV (a label set to grow): bench/mklabels.py N OUT.csv"""
import hashlib, random, sys
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
def b58check(payload):
    raw = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    n = int.from_bytes(raw, "big")
    s = ""
    while n:
        n, r = divmod(n, 58)
        s = B58[r] + s
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + s
n = int(sys.argv[1])
rnd = random.Random(6)
cats = ["exchange", "mixer", "theft", "gambling", "scam", "darknet"]
with open(sys.argv[2], "w") as f:
    f.write("chain,address,category,actor,source,confidence\n")
    for i in range(n):
        a = b58check(b"\0" + rnd.randbytes(20))
        f.write("btc,%s,%s,Actor %d,bulk,%d\n" % (a, cats[i % 6], i % 5000, 40 + i % 60))
