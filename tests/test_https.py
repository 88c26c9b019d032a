"""HTTPS interception end to end: a local TLS server with a self-signed certificate, the
auditing proxy in forward mode, a client that trusts mitmproxy's CA from a temporary
confdir. The findings must be those of the same session over plain HTTP."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from helpers import ROOT, free_port
from test_e2e import HOST, STATUSLINT, started, terminate

DRIFT_API = ROOT / "tests" / "drift_api.py"
SESSION = [
    ("POST", "/items", {"name": "a"}, 201),
    ("GET", "/items/1", None, 200),
    ("DELETE", "/items/1", None, 200),
    ("GET", "/items/1", None, 404),
    ("POST", "/items", ["not an object"], 400),
]


def self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "statuslint test upstream")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "upstream.pem", tmp / "upstream.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def drive(proxy_port: int, base: str, cafile: Path | None) -> None:
    handlers: list[urllib.request.BaseHandler] = [
        urllib.request.ProxyHandler({"http": f"http://{HOST}:{proxy_port}", "https": f"http://{HOST}:{proxy_port}"})
    ]
    if cafile is not None:
        handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=str(cafile))))
    client = urllib.request.build_opener(*handlers)
    for method, path, body, status in SESSION:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with client.open(request, timeout=10) as response:
                got = response.status
                response.read()
        except urllib.error.HTTPError as e:
            got = e.code
            e.close()
        assert got == status, (method, path, got)


def audited(tmp: Path, name: str, tls: tuple[Path, Path] | None) -> list[tuple[str, str, str, int]]:
    api_port, proxy_port = free_port(), free_port()
    confdir = tmp / "confdir"
    report = tmp / f"{name}.json"
    api = [sys.executable, DRIFT_API, "--port", str(api_port)]
    if tls:
        api += ["--tls", *tls]
    proxy = [STATUSLINT, "proxy", "--port", str(proxy_port), "--confdir", confdir, "--report", report]
    if tls:
        proxy += ["--", "--set", "ssl_insecure=true"]  # the dev upstream's certificate is self-signed
    with started(api, tmp, f"api-{name}", api_port), started(proxy, tmp, f"proxy-{name}", proxy_port) as proc:
        scheme = "https" if tls else "http"
        drive(proxy_port, f"{scheme}://{HOST}:{api_port}", confdir / "mitmproxy-ca-cert.pem" if tls else None)
        assert terminate(proc) == 0, proc.output()
    findings = json.loads(report.read_text())["findings"]
    return [
        (f["rule"], f["flow"]["method"], f["flow"]["url"].split(str(api_port), 1)[1], f["flow"]["status"])
        for f in findings
    ]


def test_https_interception_finds_what_plain_http_finds(tmp_path: Path) -> None:
    plain = audited(tmp_path, "plain", None)
    assert ("delete-ok-with-body", "DELETE", "/items/1", 200) in plain
    tls = audited(tmp_path, "tls", self_signed(tmp_path))
    assert tls == plain
