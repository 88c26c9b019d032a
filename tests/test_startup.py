"""Start-up mistakes users make, against real ``mitmdump -s`` and ``statuslint proxy``
processes on 127.0.0.1: one line in statuslint's own terms, exit 2, nothing listening; and a
warning when the proxy is reachable from the network."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from helpers import free_port
from statuslint.addon import exposed_listeners, is_loopback
from statuslint.cli import main
from test_e2e import AUDIT_SCRIPT, MITMDUMP, STATUSLINT, run, started, terminate, wait_for_output

BROKEN_POLICY = "rules:\n  - id: r\n    severity: critical\n    summary: s\n    when: {status: 201}\n"
EXPOSED = "anyone who can reach this machine"


def bad_settings(tmp_path: Path) -> dict[str, tuple[str, str]]:
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN_POLICY, encoding="utf-8")
    return {
        "policy": (f"statuslint_policy={broken}", f"statuslint: statuslint_policy: {broken}:3: unknown severity"),
        "fail_on": (
            "statuslint_fail_on=fatal",
            "statuslint: statuslint_fail_on: unknown value 'fatal' (expected one of: error, warning, info, none)",
        ),
        "max_urls": ("statuslint_max_urls=many", "statuslint: statuslint_max_urls: expected a whole number"),
    }


# 16 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["policy", "fail_on", "max_urls"])
def test_mitmdump_script_bad_option_is_one_line_exit_2_and_never_listens(tmp_path: Path, case: str) -> None:
    setting, error = bad_settings(tmp_path)[case]
    port = free_port()
    # A real listener would be started (no -n): the bad option must stop it first.
    result = run(
        [
            MITMDUMP,
            "-s",
            AUDIT_SCRIPT,
            "--listen-host",
            "127.0.0.1",
            "-p",
            str(port),
            "--set",
            setting,
            "--set",
            f"confdir={tmp_path / 'confdir'}",
        ],
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output and "listening" not in output, output
    ours = [line for line in output.splitlines() if "statuslint" in line and "Loading script" not in line]
    assert len(ours) == 1 and ours[0].startswith(error), output


# 19 ------------------------------------------------------------------------------------


def test_statuslint_proxy_on_a_busy_port_names_its_own_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["proxy", "--port", str(port), "--confdir", str(tmp_path / "confdir")])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.strip().splitlines() == [
        f"statuslint: --port {port}: 127.0.0.1:{port} is already in use; choose another --port"
    ]


@pytest.mark.parametrize("command", [["audit", "recordings/demo.flows"], ["proxy"]])
def test_fail_on_lists_every_choice(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code = main([*command, "--fail-on", "fatal"])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.strip() == "statuslint: --fail-on: unknown value 'fatal' (expected one of: error, warning, info, none)"


# 20 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("modes", "host", "exposed"),
    [
        ([], "127.0.0.1", []),
        (["regular"], "::1", []),
        (["regular"], "localhost", []),
        (["reverse:http://127.0.0.1:8000"], "127.0.0.2", []),
        (["regular"], "", ["*:8080"]),
        (["regular"], "0.0.0.0", ["0.0.0.0:8080"]),
        (["regular"], "::", [":::8080"]),
        (["regular"], "192.0.2.7", ["192.0.2.7:8080"]),
        (["regular", "reverse:http://127.0.0.1:1@127.0.0.1:9090"], "0.0.0.0", ["0.0.0.0:8080"]),
        (["reverse:http://127.0.0.1:1@0.0.0.0:9090"], "127.0.0.1", ["0.0.0.0:9090"]),
        (["local"], "", []),
    ],
)
def test_exposed_listeners(modes: list[str], host: str, exposed: list[str]) -> None:
    assert exposed_listeners(modes, host, 8080) == exposed


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.1.2.3") and is_loopback("::1") and is_loopback("[::1]")
    assert not is_loopback("") and not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1")
    assert not is_loopback("no-such-host.invalid")


def test_statuslint_proxy_on_all_interfaces_warns_and_points_to_proxyauth(tmp_path: Path) -> None:
    # Listening beyond loopback only as long as it takes to read the warning.
    port = free_port()
    cmd = [STATUSLINT, "proxy", "--host", "0.0.0.0", "--port", str(port), "--confdir", tmp_path / "confdir"]
    with started(cmd, tmp_path, "proxy", port) as proc:
        text = wait_for_output(proc, EXPOSED)
        code = terminate(proc)
    (line,) = [x for x in text.splitlines() if EXPOSED in x]
    assert f"0.0.0.0:{port}" in line and "proxyauth" in line
    assert code == 0
