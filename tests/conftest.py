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


@pytest.fixture(autouse=True)
def _no_exit_status_for_pytest(monkeypatch: pytest.MonkeyPatch) -> None:
    """An addon whose start-up failed sets the exit status for the end of its process
    (atexit): in an in-process test that process is pytest, whose exit status it would
    become. Tests that check the registration patch it themselves."""
    from statuslint import addon

    real = addon.atexit.register

    def register(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        return fn if fn is addon._exit_with else real(fn, *args, **kwargs)

    monkeypatch.setattr(addon.atexit, "register", register)
