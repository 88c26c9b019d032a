"""Record small sessions against real third-party servers through a mitmdump reverse proxy.

The per-flow rules of issue 12 are tested on these recordings (tests/test_servers.py): what
the servers do by default, not what a hand-written fake does. Each session is a fixed list
of requests; each states the status the server answered when recorded, so a server version
that behaves differently makes this script fail instead of silently changing the recording.
Everything listens on 127.0.0.1 on free ports; nothing else is contacted.

Recorded with (install them anywhere outside the project; they are not its dependencies)::

    apt-get install -y nginx-light                                   # nginx 1.22.1 (Debian 12)
    npm install --prefix /tmp/srv express@5.3.0 koa@3.3.0 @koa/router@15.7.0 \\
        fastify@5.12.8 @fastify/cors@11.4.3                          # on Node 20.20.2
    python3 -m venv /tmp/srv/venv && /tmp/srv/venv/bin/pip install \\
        datasette==0.65.5 jupyter_server==2.21.1 aiohttp==3.14.5 falcon==4.4.0

Re-run from the repository root with the project's virtualenv::

    .venv/bin/python recordings/servers/record_perflow.py --node-dir /tmp/srv \\
        --python /tmp/srv/venv/bin/python [--only nginx,express] [--explore]

It writes recordings/servers/<server>.flows (and nginx.har, the HAR twin mitmdump writes of the
same session). ``--explore`` prints every answer and does not insist on the recorded statuses.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from record import (  # noqa: E402  (record.py is a script beside this folder, not a package)
    HOST,
    Client,
    Exchange,
    RecordingError,
    count_flows,
    find_mitmdump,
    free_port,
    running,
    stop,
)

JSON_ACCEPT = {"Accept": "application/json"}
# jupyter_server's API token for the session (a throwaway, local only).
JUPYTER_TOKEN = "perflow-recording-token"


class Explorer(Client):
    """A client that reports every answer instead of insisting on the recorded status."""

    def call(self, method: str, path: str, expect: int, **kwargs: Any) -> Exchange:
        try:
            ex = super().call(method, path, expect, **kwargs)
        except RecordingError as e:
            print(f"  !! {e}")
            return Exchange(method, path, 0, {}, b"")
        print(f"  {method} {path} -> {ex.status} {dict(ex.headers)} {ex.body[:120]!r}")
        return ex


# --- Sessions: the requests sent to each server, with the status it answered -----------------


def nginx_session(c: Client) -> None:
    etag = c.call("GET", "/static/hello.txt", 200).headers["ETag"]
    c.call("HEAD", "/static/hello.txt", 200)
    c.call("GET", "/static/hello.txt", 304, headers={"If-None-Match": etag})
    c.call("GET", "/static/hello.txt", 206, headers={"Range": "bytes=0-4"})
    c.call("GET", "/static/hello.txt", 416, headers={"Range": "bytes=9000-"})
    c.call("GET", "/static/missing.txt", 404)
    c.call("POST", "/static/hello.txt", 405, raw=("text/plain", b"x"))
    c.call("OPTIONS", "/static/hello.txt", 405)
    # WebDAV (RFC 4918) with nginx's dav module: creations the client named.
    c.call("PUT", "/dav/a.txt", 201, raw=("text/plain", b"first"))
    c.call("PUT", "/dav/a.txt", 204, raw=("text/plain", b"second"))
    c.call("GET", "/dav/a.txt", 200)
    c.call("MKCOL", "/dav/col/", 201)
    c.call("COPY", "/dav/a.txt", 204, headers={"Destination": f"{c.base_url}/dav/b.txt"})
    c.call("MOVE", "/dav/b.txt", 204, headers={"Destination": f"{c.base_url}/dav/col/c.txt"})
    c.call("GET", "/dav/col/c.txt", 200)
    c.call("PROPFIND", "/dav/", 405)
    c.call("DELETE", "/dav/col/", 204)
    c.call("DELETE", "/dav/a.txt", 204)
    c.call("GET", "/dav/a.txt", 404)


EXPRESS_APP = """
const express = require('express');
const app = express();
app.use(express.json());
const items = new Map([[1, {id: 1, name: 'first'}]]);
let nextId = 2;
app.get('/items', (req, res) => res.json([...items.values()]));
app.post('/items', (req, res) => {
  const id = nextId++;
  items.set(id, {id, ...req.body});
  res.status(201).location(`/items/${id}`).json(items.get(id));
});
app.get('/items/:id', (req, res) => {
  const item = items.get(Number(req.params.id));
  if (!item) return res.status(404).json({error: 'not found'});
  res.json(item);
});
app.put('/items/:id', (req, res) => {
  const id = Number(req.params.id);
  const existed = items.has(id);
  items.set(id, {id, ...req.body});
  res.status(existed ? 200 : 201).json(items.get(id));
});
app.delete('/items/:id', (req, res) => { items.delete(Number(req.params.id)); res.sendStatus(204); });
app.get('/report', (req, res) => { const row = undefined; res.json(row.total); });  // a bug: Express's error page
app.listen(Number(process.argv[2]), '127.0.0.1');
"""


def express_session(c: Client) -> None:
    c.call("GET", "/items", 200, headers=JSON_ACCEPT)
    c.call("OPTIONS", "/items", 200)
    c.call("POST", "/items", 201, json_body={"name": "second"})
    c.call("GET", "/items/2", 200, headers=JSON_ACCEPT)
    c.call("PUT", "/items/9", 201, json_body={"name": "put-created"})
    c.call("PUT", "/items/9", 200, json_body={"name": "put-updated"})
    c.call("DELETE", "/items/9", 204)
    c.call("GET", "/items/9", 404, headers=JSON_ACCEPT)
    c.call("POST", "/items", 400, raw=("application/json", b'{"name": '))
    c.call("GET", "/report", 500)
    c.call("PATCH", "/items/1", 404, json_body={"name": "x"})
    c.call("GET", "/nope", 404)


KOA_APP = """
const Koa = require('koa');
const RouterModule = require('@koa/router');
const Router = RouterModule.Router || RouterModule.default || RouterModule;
const app = new Koa();
const router = new Router();
router.get('/things', ctx => { ctx.body = [{id: 1}]; });
router.post('/things', ctx => { ctx.status = 201; ctx.set('Location', '/things/2'); ctx.body = {id: 2}; });
router.get('/things/:id', ctx => { ctx.body = {id: Number(ctx.params.id)}; });
router.delete('/things/:id', ctx => { ctx.status = 204; });
app.use(router.routes());
app.use(router.allowedMethods());
app.listen(Number(process.argv[2]), '127.0.0.1');
"""


def koa_session(c: Client) -> None:
    c.call("GET", "/things", 200, headers=JSON_ACCEPT)
    c.call("POST", "/things", 201, json_body={"name": "x"})
    c.call("GET", "/things/2", 200, headers=JSON_ACCEPT)
    c.call("OPTIONS", "/things", 200)
    c.call("PATCH", "/things", 405, json_body={"name": "y"})
    c.call("PROPFIND", "/things", 501)
    c.call("PROPFIND", "/things/2", 501)
    c.call("DELETE", "/things/2", 204)
    c.call("GET", "/missing", 404)


FASTIFY_APP = """
const fastify = require('fastify')({logger: false});
fastify.register(require('@fastify/cors'), {origin: true});
fastify.get('/tasks', async () => [{id: 1}]);
fastify.post('/tasks', async (req, reply) => { reply.code(201).header('Location', '/tasks/2'); return {id: 2}; });
fastify.get('/tasks/:id', async (req, reply) => {
  if (req.params.id !== '1') { reply.code(404); return {error: 'not found'}; }
  return {id: 1};
});
fastify.delete('/tasks/:id', async (req, reply) => { reply.code(204).send(); });
fastify.listen({port: Number(process.argv[2]), host: '127.0.0.1'});
"""


def fastify_session(c: Client) -> None:
    c.call("GET", "/tasks", 200, headers=JSON_ACCEPT)
    c.call("POST", "/tasks", 201, json_body={"name": "x"})
    c.call("GET", "/tasks/1", 200, headers=JSON_ACCEPT)
    c.call("GET", "/tasks/7", 404, headers=JSON_ACCEPT)
    c.call("DELETE", "/tasks/1", 204)
    # A plain OPTIONS (no CORS headers), then a real preflight.
    c.call("OPTIONS", "/tasks", 400)
    preflight = {"Origin": "http://app.test", "Access-Control-Request-Method": "DELETE"}
    c.call("OPTIONS", "/tasks/1", 204, headers=preflight)
    c.call("POST", "/tasks", 400, raw=("application/json", b'{"name": '))
    c.call("POST", "/tasks", 415, raw=("text/xml", b"<task/>"))
    c.call("PUT", "/tasks/1", 404, json_body={"name": "y"})


def datasette_session(c: Client) -> None:
    c.call("GET", "/data/books.json", 200)
    c.call("GET", "/data.json?sql=select+title+from+books", 200)
    c.call("GET", "/data.json?sql=select+nope+from+books", 400)
    c.call("GET", "/data/missing.json", 404)
    c.call("GET", "/data/books/1.json", 200)
    c.call("GET", "/-/versions.json", 200)
    c.call("GET", "/data/books", 200, headers={"Accept": "text/html"})
    c.call("POST", "/data/books", 500, json_body={"title": "x"})


def jupyter_session(c: Client) -> None:
    auth = {"Authorization": f"token {JUPYTER_TOKEN}", **JSON_ACCEPT}
    c.call("GET", "/api", 200, headers=auth)
    c.call("GET", "/api/status", 200, headers=auth)
    c.call("GET", "/api/contents", 200, headers=auth)
    c.call(
        "PUT",
        "/api/contents/note.txt",
        201,
        headers=auth,
        json_body={"type": "file", "format": "text", "content": "hi"},
    )
    c.call("GET", "/api/contents/note.txt", 200, headers=auth)
    c.call("GET", "/api/contents/missing.txt", 404, headers=auth)
    c.call("GET", "/api/nothing-here", 404, headers=auth)
    c.call("DELETE", "/api/contents/note.txt", 204, headers=auth)
    c.call("GET", "/api/contents", 403, headers=JSON_ACCEPT)


AIOHTTP_APP = """
import sys
from aiohttp import web

notes = {1: {"id": 1, "text": "first"}}

async def list_notes(request):
    return web.json_response(list(notes.values()))

async def create_note(request):
    body = await request.json()
    notes[2] = {"id": 2, **body}
    return web.json_response(notes[2], status=201, headers={"Location": "/notes/2"})

async def get_note(request):
    note = notes.get(int(request.match_info["id"]))
    if note is None:
        raise web.HTTPNotFound()
    return web.json_response(note)

async def delete_note(request):
    notes.pop(int(request.match_info["id"]), None)
    return web.Response(status=204)

app = web.Application()
app.add_routes([
    web.get("/notes", list_notes),
    web.post("/notes", create_note),
    web.get("/notes/{id}", get_note),
    web.delete("/notes/{id}", delete_note),
])
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def aiohttp_session(c: Client) -> None:
    c.call("GET", "/notes", 200, headers=JSON_ACCEPT)
    c.call("POST", "/notes", 201, json_body={"text": "second"})
    c.call("GET", "/notes/2", 200, headers=JSON_ACCEPT)
    c.call("PUT", "/notes", 405, json_body={"text": "x"})
    c.call("OPTIONS", "/notes", 405)
    c.call("GET", "/notes/9", 404, headers=JSON_ACCEPT)
    c.call("DELETE", "/notes/2", 204)
    c.call("GET", "/missing", 404)


FALCON_APP = """
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server

import falcon

class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass

class Orders:
    def on_get(self, req, resp):
        resp.media = [{"id": 1}]

    def on_post(self, req, resp):
        req.get_media()
        resp.status = falcon.HTTP_201
        resp.location = "/orders/2"
        resp.media = {"id": 2}

class Order:
    def on_get(self, req, resp, order_id):
        if order_id != 1:
            raise falcon.HTTPNotFound(description="no such order")
        resp.media = {"id": 1}

    def on_delete(self, req, resp, order_id):
        resp.status = falcon.HTTP_204

app = falcon.App()
app.add_route("/orders", Orders())
app.add_route("/orders/{order_id:int}", Order())
make_server("127.0.0.1", int(sys.argv[1]), app, handler_class=Quiet).serve_forever()
"""


def falcon_session(c: Client) -> None:
    c.call("GET", "/orders", 200, headers=JSON_ACCEPT)
    c.call("POST", "/orders", 201, json_body={"item": "tea"})
    c.call("GET", "/orders/1", 200, headers=JSON_ACCEPT)
    c.call("GET", "/orders/9", 404, headers=JSON_ACCEPT)
    c.call("OPTIONS", "/orders", 200)
    c.call("PUT", "/orders", 405, json_body={"item": "x"})
    c.call("POST", "/orders", 400, headers=JSON_ACCEPT, raw=("application/json", b'{"item": '))
    c.call("DELETE", "/orders/1", 204)
    c.call("GET", "/missing", 404, headers=JSON_ACCEPT)


# --- Servers --------------------------------------------------------------------------------


@contextmanager
def nginx(work: Path, port: int, args: argparse.Namespace) -> Iterator[subprocess.Popen[bytes]]:
    www = work / "www"
    (www / "static").mkdir(parents=True)
    (www / "dav").mkdir()
    (www / "static" / "hello.txt").write_text("hello, statuslint\n")
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"):
        (work / d).mkdir()
    # As root, nginx's workers would switch to nobody, who cannot write the temp dirs.
    user = "user root;" if os.geteuid() == 0 else ""
    conf = work / "nginx.conf"
    conf.write_text(
        textwrap.dedent(f"""
        {user}
        worker_processes 1;
        daemon off;
        pid {work}/nginx.pid;
        error_log {work}/logs/error.log;
        events {{ worker_connections 64; }}
        http {{
            access_log off;
            default_type application/octet-stream;
            client_body_temp_path {work}/body;
            proxy_temp_path {work}/proxy;
            fastcgi_temp_path {work}/fastcgi;
            uwsgi_temp_path {work}/uwsgi;
            scgi_temp_path {work}/scgi;
            server {{
                listen {HOST}:{port};
                root {www};
                location /dav/ {{
                    dav_methods PUT DELETE MKCOL COPY MOVE;
                    create_full_put_path on;
                }}
            }}
        }}
        """)
    )
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    with server_process([binary, "-p", str(work), "-c", str(conf)], work, "nginx", port) as proc:
        yield proc


def node_server(source: str, name: str) -> Callable[[Path, int, argparse.Namespace], Any]:
    @contextmanager
    def start(work: Path, port: int, args: argparse.Namespace) -> Iterator[subprocess.Popen[bytes]]:
        app = Path(args.node_dir) / f"statuslint-{name}.js"  # beside node_modules, so require() finds them
        app.write_text(source)
        try:
            with server_process(["node", str(app), str(port)], work, name, port) as proc:
                yield proc
        finally:
            app.unlink(missing_ok=True)

    return start


@contextmanager
def datasette(work: Path, port: int, args: argparse.Namespace) -> Iterator[subprocess.Popen[bytes]]:
    db = work / "data.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table books (id integer primary key, title text)")
        conn.executemany("insert into books (title) values (?)", [("Dune",), ("Emma",)])
    cmd = [args.python, "-m", "datasette", "serve", str(db), "--host", HOST, "--port", str(port)]
    with server_process(cmd, work, "datasette", port) as proc:
        yield proc


@contextmanager
def jupyter(work: Path, port: int, args: argparse.Namespace) -> Iterator[subprocess.Popen[bytes]]:
    root = work / "root"
    root.mkdir()
    cmd = [
        args.python,
        "-m",
        "jupyter_server",
        f"--ServerApp.ip={HOST}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.open_browser=False",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={JUPYTER_TOKEN}",
        *(["--allow-root"] if os.geteuid() == 0 else []),
    ]
    env = {
        "JUPYTER_CONFIG_DIR": str(work / "cfg"),
        "JUPYTER_DATA_DIR": str(work / "data"),
        "JUPYTER_RUNTIME_DIR": str(work / "rt"),
    }
    with server_process(cmd, work, "jupyter_server", port, env) as proc:
        yield proc


@contextmanager
def aiohttp(work: Path, port: int, args: argparse.Namespace) -> Iterator[subprocess.Popen[bytes]]:
    app = work / "app.py"
    app.write_text(AIOHTTP_APP)
    with server_process([args.python, str(app), str(port)], work, "aiohttp", port) as proc:
        yield proc


@contextmanager
def falcon(work: Path, port: int, args: argparse.Namespace) -> Iterator[subprocess.Popen[bytes]]:
    app = work / "app.py"
    app.write_text(FALCON_APP)
    with server_process([args.python, str(app), str(port)], work, "falcon", port) as proc:
        yield proc


@contextmanager
def server_process(
    cmd: list[str], work: Path, name: str, port: int, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with (work / f"{name}.log").open("wb") as log:
        if env:
            # record.running() starts with this process's environment; extend it for the child.
            saved = {k: os.environ.get(k) for k in env}
            os.environ.update(env)
        try:
            with running(cmd, log, name, port) as proc:
                yield proc
        finally:
            if env:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v


SERVERS: dict[str, tuple[Callable[..., Any], Callable[[Client], None]]] = {
    "nginx": (nginx, nginx_session),
    "express": (node_server(EXPRESS_APP, "express"), express_session),
    "koa": (node_server(KOA_APP, "koa"), koa_session),
    "fastify": (node_server(FASTIFY_APP, "fastify"), fastify_session),
    "datasette": (datasette, datasette_session),
    "jupyter_server": (jupyter, jupyter_session),
    "aiohttp": (aiohttp, aiohttp_session),
    "falcon": (falcon, falcon_session),
}
# The servers whose HAR twin (mitmdump --set hardump) is kept too.
WITH_HAR = {"nginx"}


def record_one(name: str, args: argparse.Namespace, work: Path) -> int:
    start_server, session = SERVERS[name]
    flows_path = HERE / f"{name}.flows"
    har_path = HERE / f"{name}.har"
    flows_path.unlink(missing_ok=True)
    har_path.unlink(missing_ok=True)
    server_port, proxy_port = free_port(), free_port()
    proxy_cmd = [
        find_mitmdump(),
        "--mode",
        f"reverse:http://{HOST}:{server_port}",
        "--listen-host",
        HOST,
        "-p",
        str(proxy_port),
        "--set",
        f"confdir={work / 'mitmproxy'}",
        "-w",
        str(flows_path),
        "-q",
    ]
    if name in WITH_HAR:
        proxy_cmd += ["--set", f"hardump={har_path}"]
    with (
        start_server(work, server_port, args),
        (work / "mitmdump.log").open("wb") as proxy_log,
        running(proxy_cmd, proxy_log, "mitmdump", proxy_port) as proxy,
    ):
        client = (Explorer if args.explore else Client)(f"http://{HOST}:{proxy_port}")
        session(client)
        if stop(proxy) != 0:
            raise RecordingError(f"mitmdump exited with code {proxy.returncode}")
    flows = count_flows(flows_path)
    if flows != client.sent:
        raise RecordingError(f"{name}: sent {client.sent} requests but recorded {flows} flows")
    if name in WITH_HAR and len(json.loads(har_path.read_text())["log"]["entries"]) != flows:
        raise RecordingError(f"{name}: the HAR twin does not hold {flows} entries")
    return flows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--node-dir", default="/tmp/srv", help="folder whose node_modules has the Node servers")
    parser.add_argument("--python", default="/tmp/srv/venv/bin/python", help="interpreter with the Python servers")
    parser.add_argument("--only", default=",".join(SERVERS), help="comma-separated servers to record")
    parser.add_argument("--explore", action="store_true", help="print every answer; do not insist on statuses")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in SERVERS]
    if unknown:
        parser.error(f"unknown server {unknown[0]!r} (known: {', '.join(SERVERS)})")
    failed = False
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"statuslint-{name}-") as tmp:
            try:
                flows = record_one(name, args, Path(tmp))
            except (RecordingError, OSError, KeyError, ValueError) as e:
                failed = True
                print(f"record_perflow.py: {name}: error: {e}", file=sys.stderr)
                for suffix in (".flows", ".har"):
                    (HERE / f"{name}{suffix}").unlink(missing_ok=True)
                log = Path(tmp) / f"{name}.log"
                if log.is_file():
                    sys.stderr.write(log.read_text(errors="replace")[-2000:])
                continue
        print(f"recorded {flows} flows to {os.path.relpath(HERE / f'{name}.flows')}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
