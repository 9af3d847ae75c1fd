#!/usr/bin/env python3
"""A webhook receiver for tests/e2e_serve_hooks.sh (python3 stdlib only, 127.0.0.1 only).

usage: hook_receiver.py LOG PORTFILE MODE [PORT]
  Every request is appended to LOG as one JSON line {"path", "key" (Idempotency-Key),
  "id", "txid", "height", "item" and "amount" (the alert's, from the body), "host", "auth", "status"
  (the answer; null: none), "t" (time.time() when it arrived)} before it is answered. MODE:
    ok          answer 204
    slow        answer 204 after 0.2 s (logged as accepted before: a crash meanwhile is a repeat)
    slow:S      answer 204 after S seconds
    hang        accept and read the request, never answer
    flaky:N     answer 500 to the first N requests, then 204
    redirect:P  answer 307 with Location http://127.0.0.1:P/internal
  PORT: listen there (to come back on the port of a receiver that was stopped); default any.
  The port is written to PORTFILE once listening.
"""
import http.server
import json
import os
import sys
import threading
import time

log, portfile, mode = sys.argv[1:4]
port = int(sys.argv[4]) if len(sys.argv) > 4 else 0
lock = threading.Lock()
seen = [0]


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        t = time.time()
        try:
            doc = json.loads(body)
        except ValueError:
            doc = {}
        if not isinstance(doc, dict):
            doc = {}
        aid = doc.get("id")
        with lock:
            seen[0] += 1
            n = seen[0]
        status = (None if mode == "hang" else 500 if mode.startswith("flaky:") and n <= int(mode[6:])
                  else 307 if mode.startswith("redirect:") else 204)
        rec = {"path": self.path, "key": self.headers.get("Idempotency-Key"), "id": aid,
               "host": self.headers.get("Host"), "auth": self.headers.get("Authorization"),
               "status": status, "t": t, "txid": doc.get("txid"), "height": doc.get("height"),
               "item": (doc.get("item") or {}).get("value"), "amount": doc.get("amount")}
        with lock:
            with open(log, "a") as f:
                f.write(json.dumps(rec) + "\n")
        if status is None:
            time.sleep(3600)
            return
        if mode == "slow":
            time.sleep(0.2)
        elif mode.startswith("slow:"):
            time.sleep(float(mode[5:]))
        self.send_response(status)
        if status == 307:
            self.send_header("Location", f"http://127.0.0.1:{mode[9:]}/internal")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST

    def log_message(self, *a):
        pass


class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


s = S(("127.0.0.1", port), H)
with open(portfile + ".tmp", "w") as f:
    f.write(str(s.server_port))
os.rename(portfile + ".tmp", portfile)
s.serve_forever()
