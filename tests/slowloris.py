#!/usr/bin/env python3
"""A bounded slowloris client for tests and bench (loopback only, stdlib only).

usage: slowloris.py PORT CONNS SECONDS INTERVAL [--sources N] [--reconnect] [--probe KEY PATH]

Opens CONNS connections to 127.0.0.1:PORT, spread over N loopback source addresses
(127.0.0.2 .. 127.0.0.N+1; all are loopback on Linux), each sending a request line and then one
header line every INTERVAL seconds, never finishing its headers. With --reconnect a connection
the server closes is opened again (as a real attacker would). Stops by itself after SECONDS.
With --probe, a legitimate client sends GET PATH with X-API-Key: KEY (new connection each time)
every 0.25 s meanwhile and its latencies are reported. Prints one JSON line of figures.
"""
import errno, json, socket, sys, threading, time


def main():
    a = sys.argv[1:]
    port, conns, seconds, interval = int(a[0]), int(a[1]), float(a[2]), float(a[3])
    sources = int(a[a.index("--sources") + 1]) if "--sources" in a else 1
    reconnect = "--reconnect" in a
    probe = None
    if "--probe" in a:
        i = a.index("--probe")
        probe = (a[i + 1], a[i + 2])
    stop = time.time() + seconds
    socks = [None] * conns
    stats = {"opened": 0, "connect_failed": 0, "closed_by_server": 0, "alive_at_end": 0}

    def open_one(i):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        if sources > 1:
            s.bind((f"127.0.0.{2 + i % sources}", 0))
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            stats["connect_failed"] += 1
            return None
        stats["opened"] += 1
        return [s, b"GET /v1/rules HTTP/1.1\r\nHost: x\r\n", 0.0]

    def send(i):
        c = socks[i]
        try:
            c[0].send(c[1])
            c[1] = b""
            try:
                if c[0].recv(1, socket.MSG_DONTWAIT) == b"":
                    raise ConnectionResetError
            except BlockingIOError:
                pass
            return True
        except BlockingIOError:
            return True  # still connecting
        except OSError as e:
            if e.errno in (errno.ENOTCONN,):
                return True
            c[0].close()
            socks[i] = None
            stats["closed_by_server"] += 1
            return False

    lat, fails = [], []

    def prober():
        key, path = probe
        while time.time() < stop - 0.5:
            t0 = time.time()
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=1)
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n"
                          f"Connection: close\r\n\r\n".encode())
                r = b""
                while True:
                    d = s.recv(65536)
                    if not d:
                        break
                    r += d
                s.close()
                if not r.startswith(b"HTTP/1.1 200"):
                    raise OSError(f"status {r[:20]!r}")
                lat.append(time.time() - t0)
            except OSError as e:
                fails.append(f"{time.time() - t0:.2f}s {e}")
            time.sleep(0.25)

    th = None
    if probe:
        th = threading.Thread(target=prober)
    for i in range(conns):
        socks[i] = open_one(i)
    if th:
        time.sleep(min(2.0, seconds / 4))  # let the attack take the slots first
        th.start()
    while time.time() < stop:
        t = time.time()
        for i in range(conns):
            if socks[i] is None:
                if reconnect and time.time() < stop:
                    socks[i] = open_one(i)
                continue
            if t - socks[i][2] >= interval:
                socks[i][2] = t
                if not socks[i][1]:
                    socks[i][1] = b"X-a: b\r\n"
                send(i)
        time.sleep(min(0.2, max(0.0, stop - time.time())))
    if th:
        th.join()
    for c in socks:
        if c:
            stats["alive_at_end"] += 1
            c[0].close()
    if probe:
        lat.sort()
        stats["probe_ok"] = len(lat)
        stats["probe_failed"] = len(fails)
        stats["probe_max_s"] = round(lat[-1], 3) if lat else None
        stats["probe_p50_s"] = round(lat[len(lat) // 2], 4) if lat else None
        stats["probe_failures"] = fails[:5]
    print(json.dumps(stats))


main()
