import os

import pytest

# Example suites of the pytest plugin: run by tests/test_pytest_plugin.py in their own
# pytest processes, never collected with this suite.
collect_ignore = ["pytest_examples"]


@pytest.fixture(autouse=True)
def _no_environment_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests talk to 127.0.0.1 only; an inherited proxy variable must never reroute them."""
    for name in list(os.environ):
        if name.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
