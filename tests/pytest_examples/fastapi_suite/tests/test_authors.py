import sys

import httpx
import requests


def test_create_author(client):
    response = client.post("/authors", json={"name": "Le Guin"})
    assert response.status_code == 201 and response.headers["location"] == "/authors/7"


def test_delete_author(client):
    assert client.delete("/authors/7").status_code == 200


def test_hooks_only_while_enabled(request):
    """The client libraries are hooked exactly when the plugin is on: a run without
    --statuslint is untouched, and does not even import the audit."""
    enabled = bool(request.config.getoption("statuslint"))
    assert hasattr(httpx.Client.send, "__wrapped__") is enabled
    assert hasattr(httpx.AsyncClient.send, "__wrapped__") is enabled
    assert hasattr(requests.Session.send, "__wrapped__") is enabled
    assert ("mitmproxy" in sys.modules) is enabled
    assert ("statuslint.auditor" in sys.modules) is enabled
