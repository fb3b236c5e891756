#!/usr/bin/env python3
"""Bulk calls to a trellisd API socket (HTTP/1.1 over a Unix socket, keep-alive), for the
cluster harness's scale test and benchmarks where one `trellis` process per object is too slow.

  trlc-api.py endpoints SOCK NETWORK PREFIX COUNT [INTERVAL_MS]
      creates endpoints PREFIX1..PREFIXCOUNT on NETWORK (no sandbox), one every INTERVAL_MS
      (default: back to back); prints one JSON line {"created": N, "failed": N, "seconds": S,
      "errors": {message: count}, "records": [[name, mac, address, t_sent, t_done], ...]}
      (times: Unix epoch, milliseconds, float)
  trlc-api.py get SOCK PATH
      prints the JSON body of GET PATH
"""
import http.client
import json
import socket
import sys
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("trellis", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def call(conn, method, path, body=None):
    data = None if body is None else json.dumps(body)
    headers = {"Content-Type": "application/json"} if data else {}
    conn.request(method, path, body=data, headers=headers)
    r = conn.getresponse()
    raw = r.read()
    return r.status, (json.loads(raw) if raw else None)


def endpoints(sock, network, prefix, count, interval_ms=0):
    conn = UnixConnection(sock)
    created, failed, errors, records = 0, 0, {}, []
    t0 = time.time()
    for k in range(1, count + 1):
        if interval_ms:
            pause = t0 + (k - 1) * interval_ms / 1000 - time.time()
            if pause > 0:
                time.sleep(pause)
        t_sent = time.time() * 1000
        status, body = call(conn, "POST", "/endpoints", {"network": network, "name": f"{prefix}{k}"})
        if status == 201:
            created += 1
            records.append([body["name"], body.get("mac", ""),
                            (body.get("addresses") or [""])[0].split("/")[0],
                            round(t_sent, 3), round(time.time() * 1000, 3)])
        else:
            failed += 1
            msg = (body or {}).get("error", f"HTTP {status}")
            errors[msg] = errors.get(msg, 0) + 1
    print(json.dumps({"created": created, "failed": failed, "seconds": round(time.time() - t0, 3),
                      "errors": errors, "records": records}))
    return 0 if failed == 0 else 1


def main(argv):
    if len(argv) >= 6 and argv[1] == "endpoints":
        return endpoints(argv[2], argv[3], argv[4], int(argv[5]),
                         int(argv[6]) if len(argv) > 6 else 0)
    if len(argv) == 4 and argv[1] == "get":
        status, body = call(UnixConnection(argv[2]), "GET", argv[3])
        print(json.dumps(body))
        return 0 if status == 200 else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
