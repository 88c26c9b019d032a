"""Record cross-flow traffic from real third-party servers through a real mitmdump.

Each server runs on a free loopback port behind ``mitmdump --mode reverse:...`` (also on
127.0.0.1), a short scripted session is driven through the proxy, and the flows land in
``recordings/servers/<server>-crossflow.flows``. Only 127.0.0.1 is contacted. Each step
states the status the server answered when this was recorded, so a server that changed
its behaviour makes the recorder fail instead of silently dropping a case.
``tests/test_crossflow_servers.py`` audits these files; the servers are not needed there.

The servers are not project dependencies. Install them in throwaway places and re-run::

    python3 -m venv /tmp/xf-venv
    /tmp/xf-venv/bin/pip install 'moto[server]==5.2.5' radicale==3.9.0 wsgidav==4.4.0 cheroot aiohttp==3.14.5
    mkdir -p /tmp/xf-npm && (cd /tmp/xf-npm && npm init -y >/dev/null &&
        npm install fastify@5.12.8 @fastify/cors@11.4.3 express@5.3.0 http-server@14.1.1)
    .venv/bin/python recordings/servers/record_crossflow.py --venv /tmp/xf-venv --npm /tmp/xf-npm [SERVER ...]

nginx is Debian's (``apt-get install nginx``; recorded with 1.22.1 on PATH or /usr/sbin).
Recorded with: moto 5.2.5 (S3, Werkzeug 3.1.9), WsgiDAV 4.4.0 (cheroot), Radicale 3.9.0,
aiohttp 3.14.5, fastify 5.12.8 with @fastify/cors 11.4.3, express 5.3.0, http-server 14.1.1,
nginx 1.22.1; Python 3.11.7, Node 20.20.2.

The small applications for aiohttp, fastify and express are written below as they would
be by someone using each framework's defaults; what is recorded is how the framework
answers them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from record import (  # noqa: E402  (record.py lives one folder up)
    HOST,
    Client,
    RecordingError,
    count_flows,
    find_mitmdump,
    free_port,
    running,
    stop,
    wait_for_port,
)

# Not a credential: moto accepts any AWS-style signature, and refuses unsigned reads.
S3_AUTH = {
    "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, "
    "SignedHeaders=host, Signature=0000"
}
PREFLIGHT = {"Origin": "http://app.localhost:8080"}

FASTIFY_APP = """
const fastify = require('fastify')({ logger: false });
fastify.register(require('@fastify/cors'));  // the plugin's defaults
const items = new Map([['1', { id: 1, name: 'first' }]]);
fastify.get('/items/:id', async (req, reply) => {
  const item = items.get(req.params.id);
  if (!item) { reply.code(404); return { error: 'not found' }; }
  return item;
});
fastify.put('/items/:id', async (req, reply) => {
  const existed = items.has(req.params.id);
  items.set(req.params.id, { ...req.body, id: Number(req.params.id) });
  reply.code(existed ? 200 : 201);
  return items.get(req.params.id);
});
fastify.delete('/items/:id', async (req, reply) => { items.delete(req.params.id); reply.code(204); });
fastify.listen({ host: '127.0.0.1', port: Number(process.argv[2]) });
"""

EXPRESS_APP = """
const express = require('express');
const app = express();
app.use(express.json());
const books = new Map([['1', { id: 1, title: 'Dune' }]]);
app.get('/books', (req, res) => res.json([...books.values()]));
app.post('/books', (req, res) => {
  const id = String(books.size + 1);
  books.set(id, { ...req.body, id: Number(id) });
  res.status(201).location('/books/' + id).json(books.get(id));
});
app.get('/books/:id', (req, res) => {
  const book = books.get(req.params.id);
  if (!book) return res.status(404).json({ error: 'not found' });
  res.json(book);
});
app.get('/books/:id/cover', () => { throw new Error('cover store unavailable'); });
app.listen(Number(process.argv[2]), '127.0.0.1');
"""

AIOHTTP_APP = """
import sys
from pathlib import Path
from aiohttp import web

notes = {"1": {"id": 1, "text": "first"}}

async def list_notes(request):
    return web.json_response(list(notes.values()))

async def get_note(request):
    note = notes.get(request.match_info["id"])
    if note is None:
        raise web.HTTPNotFound()
    response = web.json_response(note)
    response.etag = f"note-{note['id']}-v1"
    return response

app = web.Application()
app.router.add_get("/notes", list_notes)
app.router.add_get("/notes/{id}", get_note)
app.router.add_static("/static", Path(sys.argv[2]))
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""

NGINX_CONF = """
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{ application/json json; text/plain txt; }}
    server {{
        listen 127.0.0.1:{port};
        root {tmp}/www;
    }}
}}
"""


@dataclass
class Server:
    name: str
    command: Callable[[argparse.Namespace, Path, int], list[str]]
    session: Callable[[Client], None]
    env: Callable[[argparse.Namespace], dict[str, str]] = lambda args: {}


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _etag(exchange: object) -> str:
    headers = {k.lower(): v for k, v in exchange.headers.items()}  # type: ignore[attr-defined]
    return headers["etag"]


# Sessions --------------------------------------------------------------------------------------------


def moto_session(c: Client) -> None:
    # Creating a bucket and an object: S3 answers 200 to a PUT that creates.
    c.call("HEAD", "/reports", 404, headers=S3_AUTH)
    c.call("PUT", "/reports", 200, headers=S3_AUTH)
    c.call("GET", "/reports/q1.csv", 404, headers=S3_AUTH)
    c.call("PUT", "/reports/q1.csv", 200, headers=S3_AUTH, raw=("text/csv", b"quarter,total\nq1,42\n"))
    got = c.call("GET", "/reports/q1.csv", 200, headers=S3_AUTH)
    # Revalidation is done right: 304 with the ETag, no Content-Length.
    c.call("GET", "/reports/q1.csv", 304, headers={**S3_AUTH, "If-None-Match": _etag(got)})
    # A replacement is rightly 200.
    c.call("PUT", "/reports/q1.csv", 200, headers=S3_AUTH, raw=("text/csv", b"quarter,total\nq1,43\n"))


def wsgidav_session(c: Client) -> None:
    # Allow while nothing is there lists MKCOL; once MKCOL made it, Allow rightly omits it.
    c.call("OPTIONS", "/notes/", 200)
    c.call("MKCOL", "/notes/", 201)
    c.call("OPTIONS", "/notes/", 200)
    c.call("MKCOL", "/notes/", 405)
    c.call("PUT", "/notes/todo.txt", 201, raw=("text/plain", b"buy milk\n"))
    got = c.call("GET", "/notes/todo.txt", 200)
    c.call("GET", "/notes/todo.txt", 304, headers={"If-None-Match": _etag(got)})
    c.call("PUT", "/notes/todo.txt", 204, raw=("text/plain", b"buy milk and tea\n"))


def radicale_session(c: Client) -> None:
    user = {"Authorization": "Basic YWxpY2U6eA=="}  # alice:x, accepted by auth type none
    # Allow lists every method Radicale knows, on every collection.
    c.call("OPTIONS", "/alice/", 200, headers=user)
    c.call("POST", "/alice/", 405, headers=user)
    c.call("MKCOL", "/alice/", 405, headers=user)
    c.call("MKCALENDAR", "/alice/work/", 201, headers=user)
    c.call("OPTIONS", "/alice/work/", 200, headers=user)


def fastify_session(c: Client) -> None:
    json_body = {"name": "renamed"}
    c.call("GET", "/items/1", 200)
    c.call("OPTIONS", "/items/1", 204, headers={**PREFLIGHT, "Access-Control-Request-Method": "PUT"})
    c.call("PUT", "/items/1", 200, json_body=json_body)
    c.call("OPTIONS", "/items/1", 204, headers={**PREFLIGHT, "Access-Control-Request-Method": "DELETE"})
    c.call("DELETE", "/items/1", 204)
    c.call("GET", "/items/1", 404)
    # Created where nothing was: 201, as it should be.
    c.call("GET", "/items/2", 404)
    c.call("PUT", "/items/2", 201, json_body=json_body)
    c.call("GET", "/nowhere", 404)


def express_session(c: Client) -> None:
    c.call("GET", "/books", 200)
    c.call("POST", "/books", 201, json_body={"title": "Emma"})
    got = c.call("GET", "/books/1", 200)
    c.call("GET", "/books/1", 304, headers={"If-None-Match": _etag(got)})
    c.call("GET", "/books/9", 404)
    c.call("GET", "/books/1/cover", 500)
    c.call("GET", "/authors", 404)


def aiohttp_session(c: Client) -> None:
    c.call("GET", "/notes", 200)
    got = c.call("GET", "/notes/1", 200)
    # The handler set an ETag; aiohttp evaluates conditions only for files.
    c.call("GET", "/notes/1", 200, headers={"If-None-Match": _etag(got)})
    c.call("GET", "/notes/7", 404)
    got = c.call("GET", "/static/notes.json", 200)
    c.call("GET", "/static/notes.json", 304, headers={"If-None-Match": _etag(got)})


def static_session(c: Client) -> None:
    got = c.call("GET", "/data.json", 200)
    c.call("GET", "/data.json", 304, headers={"If-None-Match": _etag(got)})
    headers = {k.lower(): v for k, v in got.headers.items()}
    if "last-modified" in headers:
        c.call("GET", "/data.json", 304, headers={"If-Modified-Since": headers["last-modified"]})
    c.call("HEAD", "/data.json", 200)
    c.call("GET", "/missing.json", 404)


# Commands --------------------------------------------------------------------------------------------

STATIC_JSON = b'{"items": [1, 2, 3], "note": "served as a static file"}\n'


def _node(args: argparse.Namespace) -> dict[str, str]:
    return {"NODE_PATH": str(Path(args.npm) / "node_modules")}


def _static_root(tmp: Path) -> Path:
    www = tmp / "www"
    www.mkdir(exist_ok=True)
    (www / "data.json").write_bytes(STATIC_JSON)
    (www / "notes.json").write_bytes(STATIC_JSON)
    return www


def _nginx(args: argparse.Namespace, tmp: Path, port: int) -> list[str]:
    tmp.chmod(0o755)  # nginx's workers drop to an unprivileged user when started as root
    _static_root(tmp)
    conf = _write(tmp / "nginx.conf", NGINX_CONF.format(tmp=tmp, port=port))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    return [nginx, "-p", str(tmp), "-c", str(conf)]


SERVERS = {
    s.name: s
    for s in (
        Server("moto", lambda a, t, p: [f"{a.venv}/bin/moto_server", "-H", HOST, "-p", str(p)], moto_session),
        Server(
            "wsgidav",
            lambda a, t, p: [
                f"{a.venv}/bin/wsgidav",
                "--host",
                HOST,
                "--port",
                str(p),
                "--root",
                str(_write(t / "dav" / ".keep", "").parent),
                "--auth",
                "anonymous",
                "--server",
                "cheroot",
                "-q",
            ],
            wsgidav_session,
        ),
        Server(
            "radicale",
            lambda a, t, p: [
                f"{a.venv}/bin/radicale",
                "--server-hosts",
                f"{HOST}:{p}",
                "--storage-filesystem-folder",
                str(t / "radicale"),
                "--auth-type",
                "none",
                "--rights-type",
                "authenticated",
            ],
            radicale_session,
        ),
        Server(
            "fastify",
            lambda a, t, p: ["node", str(_write(t / "fastify_app.js", FASTIFY_APP)), str(p)],
            fastify_session,
            _node,
        ),
        Server(
            "express",
            lambda a, t, p: ["node", str(_write(t / "express_app.js", EXPRESS_APP)), str(p)],
            express_session,
            _node,
        ),
        Server(
            "aiohttp",
            lambda a, t, p: [
                f"{a.venv}/bin/python",
                str(_write(t / "aiohttp_app.py", AIOHTTP_APP)),
                str(p),
                str(_static_root(t)),
            ],
            aiohttp_session,
        ),
        Server("nginx", _nginx, static_session),
        Server(
            "http-server",
            lambda a, t, p: [
                "node",
                str(Path(a.npm) / "node_modules" / "http-server" / "bin" / "http-server"),
                str(_static_root(t)),
                "-a",
                HOST,
                "-p",
                str(p),
                "-s",
            ],
            static_session,
        ),
    )
}


def record_one(server: Server, args: argparse.Namespace, tmp: Path) -> int:
    out = HERE / f"{server.name}-crossflow.flows"
    out.unlink(missing_ok=True)
    port, proxy_port = free_port(), free_port()
    proxy_cmd = [
        find_mitmdump(),
        "--mode",
        f"reverse:http://{HOST}:{port}",
        "--listen-host",
        HOST,
        "-p",
        str(proxy_port),
        "--set",
        f"confdir={tmp / 'mitmproxy'}",
        "-w",
        str(out),
        "-q",
    ]
    env = {**os.environ, **server.env(args)}
    server_log, proxy_log = tmp / f"{server.name}.log", tmp / f"{server.name}-mitmdump.log"
    cmd = server.command(args, tmp, port)
    # Not record.running: the server needs its own environment (NODE_PATH).
    with server_log.open("wb") as slog, proxy_log.open("wb") as plog:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=slog, stderr=subprocess.STDOUT, env=env)
        try:
            wait_for_port(port, proc, server.name)
            with running(proxy_cmd, plog, "mitmdump", proxy_port) as proxy:
                client = Client(f"http://{HOST}:{proxy_port}")
                try:
                    server.session(client)
                except Exception:
                    sys.stderr.write(server_log.read_text(errors="replace")[-3000:])
                    raise
                if stop(proxy) != 0:
                    raise RecordingError(f"mitmdump exited with code {proxy.returncode}")
        finally:
            stop(proc)
    flows = count_flows(out)
    if flows != client.sent:
        raise RecordingError(f"{server.name}: sent {client.sent} requests but recorded {flows} flows")
    return flows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--venv", required=True, help="virtualenv with moto, radicale, wsgidav, cheroot, aiohttp")
    parser.add_argument("--npm", required=True, help="folder whose node_modules has fastify, express, http-server")
    parser.add_argument("servers", nargs="*", metavar="SERVER", help=f"any of {', '.join(SERVERS)} (default: all)")
    args = parser.parse_args()
    unknown = [s for s in args.servers if s not in SERVERS]
    if unknown:
        parser.error(f"unknown server(s) {', '.join(unknown)}; known: {', '.join(SERVERS)}")
    for name in args.servers or list(SERVERS):
        with tempfile.TemporaryDirectory(prefix=f"statuslint-xf-{name}-") as tmp:
            try:
                flows = record_one(SERVERS[name], args, Path(tmp))
            except (RecordingError, OSError, KeyError, ValueError) as err:
                print(f"record_crossflow.py: {name}: error: {err}", file=sys.stderr)
                (HERE / f"{name}-crossflow.flows").unlink(missing_ok=True)
                return 1
        print(f"recorded {flows} flows to {os.path.relpath(HERE / f'{name}-crossflow.flows')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
