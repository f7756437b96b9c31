#!/usr/bin/env python3
"""The benchmarks' loopback hoster: the three requests a plugin sends (plan list, create a
server, read a server), answered from memory as fast as http.server allows, so every plugin
measured against it waits on the same server.

    mock_hoster.py TOKEN PORT_FILE

Listens on 127.0.0.1 on a free port and writes the port to PORT_FILE once it accepts
connections. Every request must carry `Authorization: Bearer TOKEN`. Servers of the `large`
plan are ready at once (so an order can be followed to `finished`); the others stay
`building`, so each poll of them is a real request, which is what the benchmark times.
"""

import itertools
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PLANS = [
    {"number": 1, "slug": "small", "cpus": 1, "memory_mb": 2048, "disk_gb": 40, "price": 4.5},
    {"number": 2, "slug": "medium", "cpus": 2, "memory_mb": 4096, "disk_gb": 80, "price": 9},
    {"number": 3, "slug": "large", "cpus": 4, "memory_mb": 8192, "disk_gb": 160, "price": 18.25},
    # Above the provider's max_price: every plugin must filter it out.
    {"number": 4, "slug": "huge", "cpus": 16, "memory_mb": 65536, "disk_gb": 640, "price": 120},
]
READY_AT_ONCE = {"large"}


class Hoster(BaseHTTPRequestHandler):
    # HTTP/1.1 with Content-Length: curl, ureq and requests all read the answer without
    # waiting for the connection to close.
    protocol_version = "HTTP/1.1"
    servers = {}
    ids = itertools.count(1001)
    lock = threading.Lock()
    token = ""

    def log_message(self, *args):
        # One line per request would cost more than answering it.
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        # Head and body in one write: two small writes would meet Nagle's algorithm and the
        # client's delayed ACK, and every plugin would wait on that instead of the answer.
        head = (
            f"HTTP/1.1 {status} {self.responses[status][0]}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        self.wfile.write(head.encode() + data)

    def authorized(self):
        if self.headers.get("Authorization") == "Bearer " + self.token:
            return True
        self.answer(401, {"error": {"message": "invalid token"}})
        return False

    def do_GET(self):
        if not self.authorized():
            return
        path = self.path.split("?", 1)[0]
        if path == "/v1/plans":
            self.answer(200, {"plans": PLANS})
        elif path.startswith("/v1/servers/"):
            with self.lock:
                server = self.servers.get(path[len("/v1/servers/"):])
            if server is None:
                self.answer(404, {"error": {"message": "server not found"}})
            else:
                self.answer(200, {"server": server})
        else:
            self.answer(404, {"error": {"message": "no such endpoint"}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if not self.authorized():
            return
        if self.path != "/v1/servers":
            self.answer(404, {"error": {"message": "no such endpoint"}})
            return
        try:
            order = json.loads(body)
            plan = order["plan"]
            name = order["name"]
        except (ValueError, KeyError, TypeError):
            self.answer(422, {"error": {"message": "name and plan are required"}})
            return
        if plan not in {p["slug"] for p in PLANS}:
            self.answer(422, {"error": {"message": f"unknown plan {plan}"}})
            return
        with self.lock:
            server_id = next(self.ids)
            ready = plan in READY_AT_ONCE
            server = {
                "id": server_id,
                "name": name,
                "status": "running" if ready else "building",
                "ipv4": f"127.0.{server_id // 250 % 250}.{server_id % 250 + 1}" if ready else None,
            }
            self.servers[str(server_id)] = server
        self.answer(201, {"server": server, "root_password": f"Pw{server_id}xYz9Qk"})


def main():
    token, port_file = sys.argv[1], sys.argv[2]
    Hoster.token = token
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hoster)
    httpd.daemon_threads = True
    with open(port_file + ".tmp", "w") as f:
        f.write(str(httpd.server_address[1]))
    # Renamed into place, so the script never reads half a port number.
    os.rename(port_file + ".tmp", port_file)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
