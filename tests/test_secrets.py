"""Secrets never reach any output: traffic carrying every kind of secret, audited with every
report format statuslint has (iterated, so a format added later is covered), and every
output searched for every secret value."""

from __future__ import annotations

import json
import subprocess

import pytest
from mitmproxy import io as mitmio
from mitmproxy.http import HTTPFlow

from helpers import BIN, http_flow
from statuslint import reports

# Each value is unique, so a hit names the place that leaked.
SECRETS = {
    "authorization": "sek-bearer-0a1",
    "proxy_authorization": "sek-proxy-0b2",
    "cookie": "sek-cookie-0c3",
    "set_cookie": "sek-setcookie-0d4",
    "api_key_header": "sek-apikeyhdr-0e5",
    "auth_token_header": "sek-authtokenhdr-0f6",
    "custom_header": "sek-customhdr-107",
    "query_api_key": "sek-queryapikey-118",
    "query_custom": "sek-querycustom-129",
    "path_session": "sek-jsession-13a",
    "json_password": "sek-jsonpassword-14b",
    "json_token": "sek-jsontoken-15c",
    "json_custom": "sek-jsoncustom-16d",
    "request_json_secret": "sek-reqjsonsecret-17e",
    "form_password": "sek-formpassword-18f",
    "form_client_secret": "sek-formclientsecret-190",
    "location_token": "sek-locationtoken-1a1",
    "text_token": "sek-texttoken-1b2",
    "created_location_token": "sek-createdlocation-1c3",
}
S = SECRETS

POLICY = """\
extends: default
redact:
  headers: [X-Internal-*]
  query: [tenant_sig]
  json_fields: [pin_code]
"""


def _secret_flows() -> list[HTTPFlow]:
    unauthorized = http_flow(
        "GET",
        f"/v1/users;jsessionid={S['path_session']}?api_key={S['query_api_key']}&tenant_sig={S['query_custom']}&page=2",
        401,
        req_headers={
            "Authorization": f"Bearer {S['authorization']}",
            "Proxy-Authorization": f"Basic {S['proxy_authorization']}",
            "Cookie": f"session={S['cookie']}; theme=dark",
            "X-Api-Key": S["api_key_header"],
            "X-Internal-Thing": S["custom_header"],
        },
        resp_headers={
            "Content-Type": "application/json",
            "Set-Cookie": f"sid={S['set_cookie']}; Path=/; HttpOnly",
            "X-Auth-Token": S["auth_token_header"],
        },
        body=json.dumps(
            {
                "error": "no",
                "password": S["json_password"],
                "data": [{"accessToken": S["json_token"]}],
                "pin_code": S["json_custom"],
            }
        ).encode(),
    )
    created = http_flow(
        "POST",
        "/v1/sessions",
        201,
        req_headers={"Content-Type": "application/x-www-form-urlencoded"},
        req_body=f"user=ann&password={S['form_password']}&client_secret={S['form_client_secret']}".encode(),
        resp_headers={"Content-Type": "text/plain"},
        body=f"created; token={S['text_token']}\n".encode(),
    )
    redirected = http_flow(
        "POST",
        "/v1/login",
        302,
        req_headers={"Content-Type": "application/json"},
        req_body=json.dumps({"user": "ann", "client_secret": S["request_json_secret"]}).encode(),
        resp_headers={"Location": f"/v1/home?token={S['location_token']}", "Content-Type": "text/html"},
        body=b"<a href='/v1/home'>home</a>",
    )
    # (A password in the URL's userinfo does not survive mitmproxy's parsing; test_redact covers it.)
    unregistered = http_flow("GET", f"/v1/teapot?access_token={S['query_api_key']}", 499)
    # Cross-flow: a 201 whose Location (carrying a token) then answers 404 (location-not-found).
    made = http_flow(
        "POST",
        "/v1/items",
        201,
        resp_headers={
            "Location": f"/v1/items/9?token={S['created_location_token']}",
            "Content-Type": "application/json",
        },
    )
    missing = http_flow("GET", f"/v1/items/9?token={S['created_location_token']}", 404, body=b'{"error": "gone"}')
    return [unauthorized, created, redirected, unregistered, made, missing]


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every format's output (stdout, stderr and the written file) for the secret traffic."""
    tmp = tmp_path_factory.mktemp("secrets")
    recording = tmp / "secrets.flows"
    with recording.open("wb") as fo:
        writer = mitmio.FlowWriter(fo)
        for f in _secret_flows():
            writer.add(f)
    policy = tmp / "policy.yaml"
    policy.write_text(POLICY)
    outputs: dict[str, str] = {}
    for fmt in dict.fromkeys(["text", *reports.FORMATS]):
        args = [str(BIN / "statuslint"), "audit", str(recording), "--policy", str(policy), "--fail-on", "none"]
        result = subprocess.run([*args, "--format", fmt], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, (fmt, result.stderr)
        outputs[fmt] = result.stdout + result.stderr
    for suffix, fmt in reports.SUFFIXES.items():
        out = tmp / f"report{suffix}"
        result = subprocess.run([*args, "--output", str(out)], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, (suffix, result.stderr)
        outputs[f"{fmt} file {suffix}"] = out.read_text(encoding="utf-8") + result.stdout + result.stderr
    return outputs


def test_no_secret_in_any_format(audited: dict[str, str]) -> None:
    leaks = [(fmt, name) for fmt, text in audited.items() for name, value in SECRETS.items() if value in text]
    assert not leaks


def test_the_secrets_were_there_to_leak(audited: dict[str, str]) -> None:
    """Not vacuous: the reports show the exchanges, with the secrets' places masked."""
    report = json.loads(audited["json"])
    exchanges = [f["exchange"] for f in report["findings"] if f["exchange"]]
    assert {e["response"]["status"] for e in exchanges} >= {401, 201, 302, 499, 404}
    assert "location-not-found" in {f["rule"] for f in report["findings"]}
    text = json.dumps(exchanges)
    for shown in ("Bearer [redacted]", "Basic [redacted]", "session=[redacted]; theme=[redacted]", "X-Internal-Thing"):
        assert shown in text
    assert "sid=[redacted]; Path=/; HttpOnly" in text
    assert "api_key=REDACTED&tenant_sig=REDACTED&page=2" in text
    assert '\\"pin_code\\": \\"[redacted]\\"' in text
    assert "user=ann&password=[redacted]&client_secret=[redacted]" in text
    assert '"error": "no"' in json.dumps(
        [json.loads(e["response"]["body"]["text"]) for e in exchanges if e["response"]["status"] == 401]
    )
    for fmt in ("html", "text"):
        assert "/v1/users" in audited[fmt], fmt
