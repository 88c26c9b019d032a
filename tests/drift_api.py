"""A small API in two versions, for replay and drift tests: ``--version 1`` is recorded,
``--version 2`` is what the team deployed since. Run: ``python tests/drift_api.py --port P
--version 2``; it binds 127.0.0.1 only.

Version 2 answers DELETE with 204 instead of 200 and a body, moved /legacy away (301), and
numbers new items from 100: a replay must carry those fresh ids into later requests.
"""

from __future__ import annotations

import argparse
import json
import re
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Api:
    def __init__(self, version: int) -> None:
        self.version = version
        self.items: dict[int, dict] = {}
        self.next_id = 100 if version == 2 else 1
        self.lock = threading.Lock()


def make_handler(api: Api) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def send(self, status: int, body: object = None, headers: dict[str, str] | None = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            if status not in (204, 304):
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if status not in (204, 304):
                self.wfile.write(data)

        def body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def item_id(self) -> int | None:
            m = re.fullmatch(r"/items/(\d+)", self.path)
            return int(m[1]) if m else None

        def do_POST(self) -> None:
            if self.path != "/items":
                return self.send(404, {"error": "not found"})
            try:
                data = json.loads(self.body() or b"null")
            except ValueError:
                data = None
            if not isinstance(data, dict):
                return self.send(400, {"error": "expected a JSON object"})
            with api.lock:
                new_id = api.next_id
                api.next_id += 1
                api.items[new_id] = {"id": new_id, "name": data.get("name")}
            self.send(201, api.items[new_id], {"Location": f"/items/{new_id}"})

        def do_GET(self) -> None:
            if self.path == "/legacy":
                if api.version == 2:
                    return self.send(301, None, {"Location": "/items"})
                return self.send(200, {"legacy": True})
            if self.path == "/items":
                return self.send(200, sorted(api.items.values(), key=lambda i: i["id"]))
            item = api.items.get(self.item_id() or -1)
            if item is None:
                return self.send(404, {"error": "not found"})
            self.send(200, item)

        def do_DELETE(self) -> None:
            item_id = self.item_id()
            if item_id not in api.items:
                return self.send(404, {"error": "not found"})
            del api.items[item_id]
            if api.version == 2:
                return self.send(204)
            self.send(200, {"deleted": item_id})

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--version", type=int, choices=[1, 2], default=1)
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve HTTPS with this certificate")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(Api(args.version)))
    if args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*args.tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
