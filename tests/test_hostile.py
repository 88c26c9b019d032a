"""Hostile policies and hostile values (issue 7, items 1-5): a policy from anyone is
refused at load in bounded time and memory with one ``file:line`` line, and no value in
the traffic makes a rule cost unbounded time or fail with an internal error.

Where the old behaviour was a stall (a catastrophic regex, alias expansion), the check
runs in a child process whose generous timeout is the failure: no timed assertions.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons

from helpers import ROOT, free_port, http_flow
from statuslint import addon as addon_module
from statuslint.addon import StatusLint
from statuslint.auditor import Auditor
from statuslint.conditions import compile_regex
from statuslint.flowview import DEFAULT_LIMITS, FlowView, ValueLimits, json_nesting
from statuslint.policy import load_policy
from statuslint.yamlsource import MAX_ALIAS_NODES, MAX_DEPTH, PolicyError
from test_e2e import HOST, MITMDUMP, STATUSLINT, run, started

STALL = 20.0  # seconds after which a child process counts as stalled

TOKEN_POLICY = """\
{limits}rules:
  - id: token-shape
    severity: error
    summary: X-Token must be all a's
    when: {{method: GET}}
    require:
      request_header: {{X-Token: {{matches: '^(a+)+$'}}}}
"""


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def refused(path: Path) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message, message
    assert message.startswith(f"{path}:"), message
    return info.value


def child(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Python ``code`` in a child process; a stall fails the test instead of hanging it."""
    try:
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code), *args],
            capture_output=True,
            text=True,
            timeout=STALL,
            check=False,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"stalled: no result within {STALL:.0f}s")


# 1. Catastrophic regex ---------------------------------------------------------------

AUDIT_TOKEN = """
    import sys
    sys.path.insert(0, sys.argv[2])
    from helpers import http_flow
    from statuslint.auditor import Auditor
    from statuslint.policy import load_policy
    auditor = Auditor(load_policy(sys.argv[1]))
    hostile = http_flow(req_headers={"X-Token": "a" * 100_000 + "!"})
    fine = http_flow(req_headers={"X-Token": "aaaa"})
    print(sorted(f.rule for f in auditor.audit_response(hostile, 0, "t")))
    print(sorted(f.rule for f in auditor.audit_response(fine, 1, "t")))
    print(dict(auditor.undecidable), auditor.summary()["internal_errors"])
"""


def test_catastrophic_regex_is_linear_time(tmp_path: Path) -> None:
    # The value is inspected whole (limit raised above it): RE2 decides it at once.
    policy = write(tmp_path, TOKEN_POLICY.format(limits="limits: {max_header_value: 200000}\n"))
    result = child(AUDIT_TOKEN, str(policy), str(ROOT / "tests"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["['token-shape']", "[]", "{} {}"]


def test_overlong_header_value_is_undecidable_by_default(tmp_path: Path) -> None:
    policy = write(tmp_path, TOKEN_POLICY.format(limits=""))
    result = child(AUDIT_TOKEN, str(policy), str(ROOT / "tests"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[]", "[]", "{'token-shape': 1} {}"]


@pytest.mark.parametrize(
    ("pattern", "named"),
    [
        (r"^(a)\1$", r"backreference \1"),
        (r"(?P<x>a)(?P=x)", "backreference (?P=x)"),
        (r"foo(?=bar)", "lookahead (?="),
        (r"foo(?!bar)", "negative lookahead (?!"),
        (r"(?<=a)b", "lookbehind (?<="),
        (r"(?<!a)b", "negative lookbehind (?<!"),
        (r"(?>a+)b", "atomic group (?>"),
        (r"a++", "possessive quantifier ++"),
        (r"abc\Z", r"\Z is not supported"),
        (r"a{2000}", "invalid repetition size"),
        ("[a", "missing ]"),
    ],
)
def test_regex_re2_cannot_compile_is_refused_naming_the_construct(tmp_path: Path, pattern: str, named: str) -> None:
    quoted = pattern.replace("'", "''")
    policy = write(tmp_path, TOKEN_POLICY.format(limits="").replace("^(a+)+$", quoted))
    error = refused(policy)
    assert error.line == 7
    assert named in error.message and "X-Token" in error.message, error.message


def test_regex_search_handles_raw_bytes_in_values() -> None:
    rx = compile_regex("^a+")
    assert rx.search("aa\udcff".encode("utf-8", "surrogateescape"))


def test_globs_stay_linear_on_long_paths() -> None:
    # fnmatch.translate makes every '*' an atomic group on Python 3.11+, so globs that
    # would backtrack catastrophically as plain regexes cannot here.
    result = child(
        """
        from statuslint.conditions import compile_glob
        glob = compile_glob("*a*a*a*a*a*a*a*a*a*a*a*b", ignore_case=True)
        print(glob.match("a" * 100_000 + "!") is None, glob.match("a" * 20 + "b") is not None)
        """
    )
    assert result.stdout.split() == ["True", "True"], result.stderr


def test_live_proxy_survives_a_catastrophic_regex(tmp_path: Path) -> None:
    """The issue's case through a real mitmdump: the hostile request, then a second
    client's ordinary request is still answered."""
    policy = write(tmp_path, TOKEN_POLICY.format(limits=""))
    api_port, proxy_port = free_port(), free_port()
    api = [sys.executable, ROOT / "recordings" / "demo_api.py", "--port", str(api_port)]
    with started(api, tmp_path, "api", api_port):
        proxy = [
            *(MITMDUMP, "-s", ROOT / "addons" / "audit.py", "--listen-host", HOST, "-p", str(proxy_port)),
            *("--mode", f"reverse:http://{HOST}:{api_port}", "--set", f"confdir={tmp_path / 'conf'}"),
            *("--set", f"statuslint_policy={policy}", "--set", f"statuslint_log={tmp_path / 'log.jsonl'}"),
        ]
        with started(proxy, tmp_path, "mitmdump", proxy_port):
            no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            base = f"http://{HOST}:{proxy_port}"
            # 5,000 is plenty for Python's re to never finish, and within any header size limit.
            hostile = urllib.request.Request(f"{base}/v1/books", headers={"X-Token": "a" * 5_000 + "!"})
            for request in (hostile, urllib.request.Request(f"{base}/v1/books", headers={"X-Token": "aa"})):
                try:
                    with no_proxy.open(request, timeout=STALL) as response:
                        response.read()
                except urllib.error.HTTPError as e:
                    e.read()
        # Read once the proxy has stopped (SIGTERM): the log is written in batches.
        log = (tmp_path / "log.jsonl").read_text(encoding="utf-8")
    assert log.count('"token-shape"') == 1, log


# 2. Deeply nested or huge JSON bodies -------------------------------------------------


def test_deeply_nested_json_body_is_undecidable_not_an_internal_error() -> None:
    auditor = Auditor(load_policy())
    deep = http_flow(body=b"[" * 100_000, resp_headers={"Content-Type": "application/json"})
    closed = http_flow(body=b"[" * 100_000 + b"]" * 100_000, resp_headers={"Content-Type": "application/json"})
    for i, f in enumerate((deep, closed)):
        auditor.audit_response(f, i, "t")
    assert auditor.summary()["internal_errors"] == {}
    # Unbalanced brackets are not JSON (nothing to decide); balanced but too deep is undecidable.
    assert auditor.undecidable["error-in-success"] == 1


def test_json_body_limits_come_from_the_policy(tmp_path: Path) -> None:
    policy = write(
        tmp_path,
        """\
        extends: default
        limits: {max_body: 16, max_json_depth: 2}
        """,
    )
    auditor = Auditor(load_policy(policy))
    error = b'{"error": "no"}'
    for i, body in enumerate((error, b'{"error": "too long to parse"}', b'{"error": [[1]]}')):
        auditor.audit_response(http_flow(body=body), i, "t")
    assert auditor.by_rule["error-in-success"] == 1
    assert auditor.undecidable["error-in-success"] == 2


@pytest.mark.parametrize(
    ("body", "limit", "expected"),
    [
        (b"1", 64, 0),
        (b'{"a": [1, {"b": []}]}', 64, 4),  # few brackets: their count is bound enough
        (b'{"a": [1, {"b": []}]}', 3, 4),  # more brackets than the limit: counted, deeper: limit + 1
        (b'{"a": [1, {"b": []}, []]}', 4, 4),
        (b'["]]]]", "\\\\", "\\"[", [[[]]]]', 3, 4),  # brackets in strings do not count
        (b"[" * 70 + b"]" * 70, 100, 70),
        (b"[" * 70 + b"]" * 70, 64, 65),
        (b"[" * 100_000, 64, None),  # unbalanced: not JSON
        (b"[" * 70 + b"]" * 69, 100, 70),  # bounded by its count: json.loads refuses it
        (b"[" * 170 + b"]" * 169, 100, 101),
        (b"][" * 50, 3, None),
        (b"[" * 70 + b"]" * 69, 64, 65),
    ],
)
def test_json_nesting_counts_levels_without_recursion(body: bytes, limit: int, expected: int | None) -> None:
    assert json_nesting(body, limit) == expected


def test_json_body_default_limits() -> None:
    view = FlowView(http_flow(body=b"[" * 65 + b"]" * 65))
    with pytest.raises(Exception, match="max_json_depth"):
        view.json_body  # noqa: B018
    assert FlowView(http_flow(body=b"[" * 64 + b"]" * 64)).json_body is not None
    assert ValueLimits(max_header_value=8192, max_body=1024 * 1024, max_json_depth=64) == DEFAULT_LIMITS


# 3. Billion laughs ----------------------------------------------------------------------


def laughs(levels: int) -> str:
    """A policy whose ``when`` is a tree of aliases: 9**levels conditions once expanded."""
    lines = [
        "rules:",
        "- id: lol",
        "  severity: info",
        "  summary: lol",
        "  when:",
        "    any:",
        "    - &a {method: GET}",
    ]
    names = "abcdefghijklmnopqrstuvwxyz"
    for i in range(1, levels):
        refs = ",".join(f"*{names[i - 1]}" for _ in range(9))
        lines.append(f"    - &{names[i]} {{any: [{refs}]}}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [11, 13])
def test_billion_laughs_is_refused_at_once(tmp_path: Path, levels: int) -> None:
    text = laughs(levels)
    assert 500 < len(text.encode()) < 700  # the 530- and 650-byte documents
    policy = write(tmp_path, text)
    result = run([STATUSLINT, "rules", "--policy", policy], timeout=STALL)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"statuslint: {policy}:"), result.stderr
    assert f"more than {MAX_ALIAS_NODES} nodes" in lines[0]


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    policy = write(tmp_path, laughs(3))  # 1 + 9 + 81 conditions
    assert load_policy(policy).rule("lol") is not None


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    policy = write(tmp_path, "rules: &r [*r]\n")
    assert "refers to a node that contains it" in refused(policy).message


# 4. Deep nesting ------------------------------------------------------------------------

DEEP = {
    "brackets": "rules: " + "[" * 20_000 + "]" * 20_000 + "\n",
    "nots": "rules:\n- id: deep\n  severity: info\n  summary: deep\n  when:\n    "
    + "{not: " * 3000
    + "{method: GET}"
    + "}" * 3000
    + "\n",
    "block-nots": "rules:\n- id: deep\n  severity: info\n  summary: deep\n  when:\n"
    + "".join("  " * (i + 2) + "not:\n" for i in range(3000))
    + "  " * 3002
    + "method: GET\n",
}


@pytest.mark.parametrize("kind", sorted(DEEP))
def test_deep_nesting_is_refused_by_the_loader(tmp_path: Path, kind: str) -> None:
    error = refused(write(tmp_path, DEEP[kind]))
    assert f"nests deeper than {MAX_DEPTH} levels" in error.message


@pytest.mark.parametrize("kind", ["brackets", "nots"])
def test_deep_nesting_one_line_exit_2_from_rules_and_proxy(tmp_path: Path, kind: str) -> None:
    policy = write(tmp_path, DEEP[kind])
    for command in (["rules"], ["proxy", "--port", str(free_port()), "--confdir", str(tmp_path / "conf")]):
        result = run([STATUSLINT, *command, "--policy", policy], timeout=STALL)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"statuslint: {policy}:"), result.stderr
        assert "nests deeper" in lines[0]


def test_deep_nesting_in_mitmdump_is_a_policy_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = write(tmp_path, DEEP["nots"])
    # The addon sets the exit status (2) for the end of the process: not pytest's process.
    registered: list = []
    monkeypatch.setattr(addon_module.atexit, "register", lambda fn, *args: registered.append(args))
    addon = StatusLint()
    with taddons.context(addon) as tctx, pytest.raises(exceptions.OptionsError, match="nests deeper") as info:
        tctx.configure(addon, statuslint_policy=str(policy))
    assert "\n" not in str(info.value)
    assert addon.exit_code == 2 and registered
    confdir = ("--set", f"confdir={tmp_path / 'conf'}")
    result = run(
        [MITMDUMP, "-n", "-s", ROOT / "addons" / "audit.py", "--set", f"statuslint_policy={policy}", *confdir],
        timeout=STALL,
    )
    assert result.returncode != 0
    assert "nests deeper" in result.stdout + result.stderr
    assert "RecursionError" not in result.stdout + result.stderr


def test_policy_nesting_just_under_the_limit_loads(tmp_path: Path) -> None:
    # Top mapping, rules list, rule, when = 4 levels; each {not: ...} adds one more.
    nots = MAX_DEPTH - 5
    text = (
        "rules:\n- id: deep\n  severity: info\n  summary: deep\n  when:\n    "
        + "{not: " * nots
        + "{method: GET}"
        + "}" * nots
        + "\n"
    )
    policy = load_policy(write(tmp_path, text))
    fired = Auditor(policy).audit_response(http_flow(method="POST"), 0, "t")
    assert [f.rule for f in fired] == (["deep"] if nots % 2 else [])


# 5. Message templates and numbers ------------------------------------------------------

RULE = """\
rules:
  - id: r
    severity: info
    summary: s
    message: {message}
    when: {{status: {status}}}
"""


@pytest.mark.parametrize(
    ("message", "status", "problem"),
    [
        ('"{path:>2000000000}"', "200", "format spec ':>2000000000'"),
        ('"{path:{status}}"', "200", "format spec"),
        ('"{status:,}"', "200", "format spec"),
        ('"{path!x}"', "200", "bad conversion '!x'"),
        ('"{path.__class__}"', "200", "unknown placeholder"),
        ("ok", "99999999999999999999999", "status codes are 0-999"),
        ("ok", "1000", "status codes are 0-999"),
        ("ok", "-1", "status codes are 0-999"),
        ("ok", '">1000"', "status codes are 0-999"),
        ("ok", '"200-99999"', "status codes are 0-999"),
        ("ok", "9" * 5000, "invalid value"),
    ],
)
def test_unbounded_templates_and_numbers_are_refused(tmp_path: Path, message: str, status: str, problem: str) -> None:
    error = refused(write(tmp_path, RULE.format(message=message, status=status)))
    assert problem in error.message, error.message
    assert error.line in (5, 6)


def test_an_open_bound_still_matches_statuses_above_999(tmp_path: Path) -> None:
    # A HAR file may claim any status: ">599" is above 599, whatever the number.
    policy = load_policy(write(tmp_path, RULE.format(message="m", status='">599"')))
    assert [f.rule for f in Auditor(policy).audit_response(http_flow(status=1000), 0, "t")] == ["r"]


def test_small_width_and_codes_0_to_999_are_fine(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, RULE.format(message='"{method:<7}{status!r:>4} {path}"', status="[0, 999]")))
    (finding,) = Auditor(policy).audit_response(http_flow(status=999, path="/x"), 0, "t")
    assert finding.message == "GET     999 /x"


# Other values the YAML loader used to let through as tracebacks ---------------------


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("name: x\ndescription: 2024-13-45\n", 2, "invalid value '2024-13-45'"),
        ("name: x\nrules:\n  - id: r\x07\n", 3, "character #x0007 is not allowed"),
        ('"unknown\\nkey\\u2028\\ud800": 1\n', 1, "unknown key 'unknown\\nkey\\u2028\\ud800'"),
    ],
)
def test_odd_values_are_one_line_policy_errors(tmp_path: Path, text: str, line: int, problem: str) -> None:
    error = refused(write(tmp_path, text))
    assert error.line == line and problem in error.message, error.message
    str(error).encode("utf-8")  # printable: no lone surrogates


def test_limits_are_checked_and_inherited(tmp_path: Path) -> None:
    write(tmp_path, "extends: default\nlimits: {max_header_value: 100, max_json_depth: 8}\n", "base.yaml")
    child_policy = write(tmp_path, "extends: base.yaml\nlimits: {max_body: 1000}\n", "child.yaml")
    assert load_policy(child_policy).limits == ValueLimits(max_header_value=100, max_body=1000, max_json_depth=8)
    assert load_policy().limits == DEFAULT_LIMITS
    for bad in ("{max_body: 0}", "{max_body: true}", "{max_json_depth: 100000}", "{max_headers: 3}", "8"):
        refused(write(tmp_path, f"extends: default\nlimits: {bad}\n", "bad.yaml"))
