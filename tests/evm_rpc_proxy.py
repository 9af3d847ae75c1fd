#!/usr/bin/python3
"""A JSON-RPC proxy on 127.0.0.1 in front of a node, that misbehaves on request.

    evm_rpc_proxy.py UPSTREAM_URL CONTROL_FILE PORT_FILE

Listens on a free loopback port (written to PORT_FILE once listening) and forwards every
POST to UPSTREAM_URL. Before each request it reads CONTROL_FILE (JSON, re-read every time):

    {"id": K, "mode": M, "at": N, "secs": S}

Requests are counted from 1 since the id last changed. Modes:
    pass                forward everything
    drop_at / drop_from close the connection without an answer at request N (only N / N on)
    sleep_at            wait S seconds at request N, then answer (a timeout for the client)
    error_at            answer request N with JSON-RPC error -32603 (a permanent node error)
    http500_at          answer request N with HTTP 500 (transient)
    delay               wait S seconds before every answer (so a client can be killed mid-way)
    moved_at            at request N, answer as if the chain had moved between two calls: a
                        block's parentHash, or the blockHash of receipts, set to 0x00..01
    hide                answer -32601 (method not found) for the methods listed in "methods"
Every request since the id changed is in CONTROL_FILE.log as "count method params".
"""
import http.server
import os
import json
import socket
import sys
import threading
import time
import urllib.request

UP, CTL, PORT_FILE = sys.argv[1], sys.argv[2], sys.argv[3]
state = {"id": None, "n": 0}
lock = threading.Lock()


def control():
    try:
        with open(CTL) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {"id": 0, "mode": "pass"}


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        c = control()
        with lock:
            if c.get("id") != state["id"]:
                state["id"], state["n"] = c.get("id"), 0
                open(CTL + ".log", "w").close()
            state["n"] += 1
            n = state["n"]
        try:
            req = json.loads(body)
            what = "%s %s" % (req.get("method"), json.dumps(req.get("params")))
        except ValueError:
            req, what = {}, "?"
        with open(CTL + ".log", "a") as f:
            f.write("%d %s\n" % (n, what))
        mode, at, secs = c.get("mode", "pass"), c.get("at", 0), c.get("secs", 0)
        if (mode == "drop_at" and n == at) or (mode == "drop_from" and n >= at):
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if mode == "hide" and req.get("method") in c.get("methods", []):
            out = {"jsonrpc": "2.0", "id": req.get("id"),
                   "error": {"code": -32601, "message": "Method not found"}}
            self.answer(200, json.dumps(out).encode())
            return
        if mode == "http500_at" and n == at:
            self.answer(500, b"upstream exploded")
            return
        if mode == "error_at" and n == at:
            out = {"jsonrpc": "2.0", "id": req.get("id"),
                   "error": {"code": -32603, "message": "injected internal error"}}
            self.answer(200, json.dumps(out).encode())
            return
        if (mode == "sleep_at" and n == at) or mode == "delay":
            time.sleep(secs)
        r = urllib.request.Request(UP, data=body, headers={"content-type": "application/json"})
        with urllib.request.urlopen(r, timeout=30) as u:
            data = u.read()
            if mode == "moved_at" and n == at:
                d = json.loads(data)
                res, other = d.get("result"), "0x" + "0" * 63 + "1"
                if isinstance(res, dict) and "parentHash" in res:
                    res["parentHash"] = other
                elif isinstance(res, list) and res and isinstance(res[0], dict):
                    res[0]["blockHash"] = other
                data = json.dumps(d).encode()
            self.answer(u.status, data)

    def answer(self, code, data):
        try:
            self.send_response(code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (a timeout test)


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))

os.rename(PORT_FILE + ".tmp", PORT_FILE)
srv.serve_forever()
