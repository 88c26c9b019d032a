"""The ``statuslint`` command: ``proxy``, ``audit`` and ``rules``.

Exit codes: 0 no finding at or above --fail-on, 1 there are, 2 usage or input error.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.text import Text

from . import __version__, reports
from .auditfile import audit_file
from .auditor import Auditor, Limits
from .catalog import catalog_markdown
from .escape import escape
from .findings import SEVERITY_NAMES, Finding, parse_fail_on
from .interrupt import EXIT_INTERRUPTED, StopOnInterrupt
from .noise import Baseline, BaselineError, narrowed, parse_rule_ids, render_baseline
from .parallel import PolicySource, Setup, audit_inputs, default_jobs
from .policy import BUILTIN_NAME, Policy, load_policy
from .reports.model import fail_count
from .terminal import (
    console_for,
    evidence_suffix,
    print_catalog,
    print_drift,
    print_finding_groups,
    print_rule,
    print_summary,
    severity_text,
)
from .yamlsource import PolicyError

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class UsageError(Exception):
    pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (UsageError, PolicyError) as e:
        print(f"statuslint: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="statuslint", description="Audit HTTP status codes and headers in live or recorded API traffic."
    )
    parser.add_argument("--version", action="version", version=f"statuslint {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    policy_help = "policy file (YAML); default: the built-in policy"
    fail_help = f"exit 1 when a finding reaches this severity ({', '.join(SEVERITY_NAMES)}, or none)"

    audit = sub.add_parser("audit", help="audit recorded traffic (.flows, HAR) offline")
    audit.add_argument("inputs", nargs="+", metavar="FILE", help="mitmproxy flow files and/or HAR files")
    audit.add_argument("--policy", "-p", default=BUILTIN_NAME, help=policy_help)
    audit.add_argument("--format", "-f", choices=["text", *reports.FORMATS], help="report format (default: text)")
    audit.add_argument(
        "--output",
        "-o",
        action="append",
        metavar="FILE",
        help="write a report here; repeatable, one report per file, the format from each suffix "
        f"({', '.join(f'{s} {n}' for s, n in reports.SUFFIXES.items())}); --format applies to a single --output",
    )
    audit.add_argument("--fail-on", default="error", help=fail_help + "; default: error")
    audit.add_argument("--quiet", "-q", action="store_true", help="summary only: do not list the findings")
    audit.add_argument(
        "--show-all",
        action="store_true",
        help="list every finding as it is found, instead of each (rule, endpoint) once with a count",
    )
    audit.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    audit.add_argument(
        "--allow-empty", action="store_true", help="an input without any flow is not an error (default: it is)"
    )
    audit.add_argument(
        "--jobs",
        "-j",
        metavar="N",
        help="audit up to N inputs at once, in parallel processes; the report is the same for any N "
        "(default: the number of cores, at most one per input)",
    )
    _noise_arguments(audit)
    _limit_arguments(audit)
    audit.set_defaults(run=_cmd_audit)

    replay = sub.add_parser(
        "replay",
        help="re-send recorded requests to a running server; audit the answers and report the drift",
        description="Re-send the requests of a recording, in order, through mitmproxy's client replay, audit the "
        "fresh answers and report what drifted from the recording.",
    )
    replay.add_argument("input", metavar="FILE", help="the recording (.flows or HAR)")
    replay.add_argument("--to", required=True, metavar="URL", help="the server to send the requests to")
    replay.add_argument("--policy", "-p", default=BUILTIN_NAME, help=policy_help)
    replay.add_argument(
        "--report", action="append", help="write the audit report, with the drift, here (repeatable; format by suffix)"
    )
    replay.add_argument("--log", help="append one JSON line per finding to this file")
    replay.add_argument("--fail-on", default="error", help=fail_help + "; default: error")
    replay.add_argument("--fail-on-drift", action="store_true", help="exit 1 when any answer drifted")
    replay.add_argument("--confdir", help="mitmproxy's configuration/CA directory (default: ~/.mitmproxy)")
    replay.add_argument(
        "--verbose", "-v", action="store_true", help="also print mitmproxy's connect and disconnect lines"
    )
    _noise_arguments(replay)
    _limit_arguments(replay)
    replay.set_defaults(run=_cmd_replay)

    diff = sub.add_parser(
        "diff",
        help="compare two recordings of the same API: status codes per endpoint, findings new and fixed",
        description="Audit BEFORE and AFTER separately and report the drift between them.",
    )
    diff.add_argument("before", metavar="BEFORE", help="the earlier recording (.flows or HAR)")
    diff.add_argument("after", metavar="AFTER", help="the later recording (.flows or HAR)")
    diff.add_argument("--policy", "-p", default=BUILTIN_NAME, help=policy_help)
    diff.add_argument("--format", "-f", choices=["text", "json"], help="output format (default: text)")
    diff.add_argument("--output", "-o", help="write the drift report here (.json)")
    diff.add_argument("--fail-on-drift", action="store_true", help="exit 1 when anything changed")
    hosts = diff.add_mutually_exclusive_group()
    hosts.add_argument(
        "--ignore-host",
        action="store_true",
        default=None,
        help="match endpoints by method and path only (default: so when each side talks to one host)",
    )
    hosts.add_argument(
        "--match-host", dest="ignore_host", action="store_false", help="match endpoints by method, host and path"
    )
    _limit_arguments(diff)
    diff.set_defaults(run=_cmd_diff)

    rules = sub.add_parser("rules", help="list the rules of the policy, or document one")
    rules.add_argument("rule_id", nargs="?", metavar="ID", help="show this rule's documentation")
    rules.add_argument("--policy", "-p", default=BUILTIN_NAME, help=policy_help)
    rules.add_argument("--markdown", action="store_true", help="the whole catalog as Markdown (docs/rules.md)")
    rules.set_defaults(run=_cmd_rules)

    proxy = sub.add_parser(
        "proxy",
        help="run the live auditing proxy (mitmdump with the statuslint addon)",
        description="Run the auditing proxy. Arguments after '--' go to mitmdump unchanged.",
    )
    proxy.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    proxy.add_argument("--port", type=int, default=8080, help="port to listen on (default: 8080)")
    proxy.add_argument("--reverse", metavar="URL", help="reverse-proxy mode in front of this server")
    proxy.add_argument("--policy", "-p", default=BUILTIN_NAME, help=policy_help)
    proxy.add_argument(
        "--report",
        action="append",
        metavar="FILE",
        help="write the audit report here when the proxy stops; repeatable, the format from each suffix "
        f"({', '.join(reports.SUFFIXES)})",
    )
    proxy.add_argument("--log", help="append one JSON line per finding to this file")
    proxy.add_argument("--fail-on", default="none", help=fail_help + "; default: none")
    proxy.add_argument("--confdir", help="mitmproxy's configuration/CA directory (default: ~/.mitmproxy)")
    proxy.add_argument("--show-flows", action="store_true", help="also print every flow, as mitmdump does")
    proxy.add_argument(
        "--verbose", "-v", action="store_true", help="also print mitmproxy's connect and disconnect lines"
    )
    proxy.add_argument("--save", metavar="FILE", help="record the traffic to this mitmproxy flow file as well")
    proxy.add_argument("--save-har", metavar="FILE", help="record the traffic to this HAR file as well")
    _noise_arguments(proxy)
    _limit_arguments(proxy)
    proxy.add_argument("mitmdump_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    proxy.set_defaults(run=_cmd_proxy)
    return parser


def _noise_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("noise control")
    group.add_argument(
        "--select", action="append", metavar="ID[,ID]", help="run only these rules (repeatable, comma-separated)"
    )
    group.add_argument("--ignore", action="append", metavar="ID[,ID]", help="do not run these rules (repeatable)")
    group.add_argument(
        "--api-only",
        action="store_true",
        help="audit API traffic only: leave out images, scripts, styles, fonts, pages and beacons",
    )
    group.add_argument(
        "--fail-on-inconclusive",
        action="store_true",
        help="let --fail-on count findings the source cannot prove (e.g. resting on a HAR body) too",
    )
    group.add_argument(
        "--baseline", metavar="FILE", help="report only findings not in this baseline; --fail-on gates on those"
    )
    group.add_argument(
        "--write-baseline", metavar="FILE", help="record the findings of this run as a baseline (JSON, sorted)"
    )


def _noise(args: argparse.Namespace, policy: Policy) -> tuple[Policy, Baseline | None]:
    """The policy with --select/--ignore applied, and the --baseline, checked."""
    try:
        policy = narrowed(policy, parse_rule_ids(args.select), parse_rule_ids(args.ignore), args.api_only)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.write_baseline and not Path(args.write_baseline).parent.is_dir():
        raise UsageError(f"--write-baseline: directory {Path(args.write_baseline).parent} does not exist")
    try:
        return policy, Baseline.load(args.baseline) if args.baseline else None
    except BaselineError as e:
        raise UsageError(f"--baseline: {e}") from None


def _limit_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = Limits()
    group = parser.add_argument_group("state limits (bounded memory on long runs)")
    group.add_argument(
        "--max-urls",
        default=str(defaults.max_urls),
        metavar="N",
        help=f"URLs whose lifecycle is tracked across flows (default: {defaults.max_urls})",
    )
    group.add_argument(
        "--max-endpoints",
        default=str(defaults.max_endpoints),
        metavar="N",
        help=f"endpoints counted one by one; the rest are summed up (default: {defaults.max_endpoints})",
    )
    group.add_argument(
        "--max-findings",
        default=str(defaults.max_findings),
        metavar="N",
        help=f"findings kept for the report, 0 for all; every finding is counted (default: {defaults.max_findings})",
    )


def _limits(args: argparse.Namespace) -> Limits:
    try:
        return Limits(
            max_urls=Limits.parse("--max-urls", args.max_urls),
            max_endpoints=Limits.parse("--max-endpoints", args.max_endpoints),
            max_findings=Limits.parse("--max-findings", args.max_findings, allow_zero=True),
        )
    except ValueError as e:
        raise UsageError(str(e)) from None


# audit ---------------------------------------------------------------------------------


def _cmd_audit(args: argparse.Namespace) -> int:
    try:
        fail_on = parse_fail_on(args.fail_on)
    except ValueError as e:
        raise UsageError(f"--fail-on: {e}") from None
    targets = _report_targets(args.format, args.output or [])
    limits = _limits(args)
    jobs = _jobs(args.jobs, len(args.inputs))
    policy, baseline = _noise(args, load_policy(args.policy))

    report_to_stdout = any(path is None for _, path in targets)
    # Keep stdout clean for a machine report printed there.
    console = console_for(sys.stderr if report_to_stdout else sys.stdout)
    auditor = Auditor(policy, limits, baseline)
    auditor.gate.record_keys = bool(args.write_baseline)
    show_findings = not args.quiet and not report_to_stdout
    stream_findings = show_findings and args.show_all

    def show(found: list[Finding]) -> None:
        for finding in found:
            console.print(_finding_line(finding), soft_wrap=True)

    source = PolicySource(
        args.policy, tuple(parse_rule_ids(args.select)), tuple(parse_rule_ids(args.ignore)), args.api_only
    )
    setup = Setup(
        policy,
        source,
        limits,
        baseline,
        record_keys=bool(args.write_baseline),
        allow_empty=args.allow_empty,
    )
    with StopOnInterrupt() as interrupt:
        failed_input = not audit_inputs(
            auditor,
            args.inputs,
            setup,
            jobs=jobs,
            interrupt=interrupt,
            on_found=show if stream_findings else None,
            # One bar per worker would fight over the terminal.
            progress=not args.no_progress and (jobs == 1 or len(args.inputs) == 1),
        )
    if interrupt.requested:
        read = ", ".join(f"{i.source}: {i.flows} flows" for i in auditor.inputs)
        unread = len(args.inputs) - len(auditor.inputs)
        print(
            f"statuslint: interrupted: the report is partial, of what was read ({read}"
            + (f"; {unread} more input(s) not read" if unread else "")
            + ")",
            file=sys.stderr,
        )
    if stream_findings:
        # API-level findings rest on all the traffic: they are known now.
        for finding in auditor.api_findings():
            console.print(_finding_line(finding), soft_wrap=True)

    # One model for every report and the summary: they all say the same.
    report = reports.build_model(auditor, args.policy, partial=interrupt.requested)
    if show_findings and not args.show_all:
        print_finding_groups(report, console)
    written: list[tuple[str, str]] = []
    write_failed = False
    for fmt, path in targets:
        try:
            text = reports.render(report, fmt)
        except Exception as e:
            # One broken format must not cost the others, nor the summary and exit status.
            print(f"statuslint: internal error rendering the {fmt} report: {type(e).__name__}: {e}", file=sys.stderr)
            write_failed = True
            continue
        if path is None:
            sys.stdout.write(text)
            continue
        try:
            reports.write_atomic(path, text)
        except OSError as e:
            print(f"statuslint: cannot write {path}: {e.strerror or e}", file=sys.stderr)
            write_failed = True
            continue
        written.append((fmt, path))
    if not report_to_stdout:
        full = next((path for fmt, path in written if fmt == "json"), None)
        print_summary(auditor, console, summary=report["summary"], full_report=full)
        for fmt, path in written:
            console.print(Text(f"{fmt} report written to {path}"), soft_wrap=True)
    if args.write_baseline:
        try:
            reports.write_atomic(args.write_baseline, render_baseline(auditor.baseline_counts()))
        except OSError as e:
            print(f"statuslint: cannot write {args.write_baseline}: {e.strerror or e}", file=sys.stderr)
            write_failed = True
    if interrupt.requested:
        return EXIT_INTERRUPTED
    if failed_input or write_failed:
        if not report_to_stdout:
            console.print(Text(f"exit {EXIT_ERROR}: {_error_reason(auditor, write_failed)}"))
        return EXIT_ERROR
    if auditor.fails(fail_on, args.fail_on_inconclusive):
        if not report_to_stdout:
            assert fail_on is not None
            count = fail_count(report, fail_on.label)
            console.print(
                Text(f"exit {EXIT_FINDINGS}: {count} findings at or above --fail-on {fail_on.label}", style="bold")
            )
        return EXIT_FINDINGS
    return EXIT_OK


def _jobs(text: str | None, inputs: int) -> int:
    if text is None:
        return default_jobs(inputs)
    try:
        return Limits.parse("--jobs", text)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _report_targets(fmt: str | None, outputs: list[str]) -> list[tuple[str, str | None]]:
    """(format, path) of each report to write; path None is stdout. One --output (or
    none) takes --format; several take their formats from their suffixes."""
    if not outputs:
        return [] if fmt in (None, "text") else [(fmt, None)]
    if len(set(outputs)) != len(outputs):
        twice = next(p for p in outputs if outputs.count(p) > 1)
        raise UsageError(f"--output: {twice} is given twice")
    if len(outputs) > 1 and fmt is not None:
        raise UsageError("--format applies to a single --output; with several, each file's suffix names its format")
    targets: list[tuple[str, str | None]] = []
    for path in outputs:
        chosen = fmt
        if chosen is None:
            try:
                chosen = reports.format_for_path(path)
            except ValueError as e:
                raise UsageError(f"--output: {e}; or give --format") from None
        if chosen == "text":
            raise UsageError("--output needs a machine format: --format json")
        if not Path(path).parent.is_dir():
            raise UsageError(f"--output: directory {Path(path).parent} does not exist")
        targets.append((chosen, path))
    return targets


def _error_reason(auditor: Auditor, write_failed: bool) -> str:
    reasons = [f"{info.source} could not be read" for info in auditor.inputs if info.error]
    if write_failed:
        reasons.append("a report could not be rendered or written")
    return "; ".join(reasons) or "an error occurred"


def _finding_line(finding: Finding) -> Text:
    ref = finding.flow
    if ref is None:
        return Text.assemble(
            ("API", "bold"),
            " ",
            severity_text(finding.severity),
            " ",
            (escape(finding.rule), "magenta"),
            f" {escape(finding.endpoint)}: {escape(finding.message)}",
        )
    return Text.assemble(
        (f"{escape(ref.source)}#{ref.index}", "bold"),
        " ",
        severity_text(finding.severity),
        " ",
        (escape(finding.rule), "magenta"),
        f" {escape(ref.method)} {escape(ref.url)} {ref.status}: {escape(finding.message)}{evidence_suffix(finding)}",
    )


# replay --------------------------------------------------------------------------------


def _cmd_replay(args: argparse.Namespace) -> int:
    _noise(args, load_policy(args.policy))
    _check_outputs(args)
    limits = _limits(args)
    if not args.to.startswith(("http://", "https://")):
        raise UsageError(f"--to: expected an http:// or https:// URL, not {args.to!r}")
    if not Path(args.input).is_file():
        raise UsageError(f"{args.input}: no such file")
    settings = _statuslint_settings(args, limits)
    settings.update(
        statuslint_replay=args.input,
        statuslint_replay_to=args.to,
        statuslint_fail_on_drift="true" if args.fail_on_drift else "",
    )
    mitm_args = ["--no-server", "--flow-detail", "0", *_set_options(settings)]
    from .replay import Replayer

    return _run_mitmdump(mitm_args, Replayer, verbose=args.verbose)


# diff ----------------------------------------------------------------------------------


def _cmd_diff(args: argparse.Namespace) -> int:
    from .drift import Side, compare

    fmt = args.format or ("json" if args.output else "text")
    if fmt == "text" and args.output:
        raise UsageError("--output needs --format json")
    if args.output and not Path(args.output).parent.is_dir():
        raise UsageError(f"--output: directory {Path(args.output).parent} does not exist")
    limits = _limits(args)
    policy = load_policy(args.policy)
    console = console_for(sys.stderr if fmt != "text" and not args.output else sys.stdout)
    sides = []
    failed_input = False
    for label, path in (("before", args.before), ("after", args.after)):
        auditor = Auditor(policy, limits)
        failed_input |= not audit_file(auditor, path, progress=True)
        sides.append(Side(auditor, label))
    model = compare(sides[0], sides[1], args.ignore_host)
    if fmt == "text" or args.output:
        print_drift(model, console)
    if fmt == "json":
        text = reports.render(model, "json")
        if args.output:
            try:
                reports.write_atomic(args.output, text)
            except OSError as e:
                print(f"statuslint: cannot write {args.output}: {e.strerror or e}", file=sys.stderr)
                return EXIT_ERROR
        else:
            sys.stdout.write(text)
    if failed_input:
        return EXIT_ERROR
    return EXIT_FINDINGS if args.fail_on_drift and model["summary"]["drift"] else EXIT_OK


# rules ---------------------------------------------------------------------------------


def _cmd_rules(args: argparse.Namespace) -> int:
    policy: Policy = load_policy(args.policy)
    if args.markdown:
        sys.stdout.write(catalog_markdown(policy))
        return EXIT_OK
    console = console_for(sys.stdout)
    if args.rule_id is None:
        print_catalog(policy, console)
        return EXIT_OK
    rule = policy.rule(args.rule_id)
    if rule is None:
        close = difflib.get_close_matches(args.rule_id, [r.id for r in policy.rules], n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else " (see 'statuslint rules' for the list)"
        raise UsageError(f"no rule '{args.rule_id}' in policy {args.policy}{hint}")
    print_rule(rule, console)
    return EXIT_OK


# proxy ---------------------------------------------------------------------------------


def _cmd_proxy(args: argparse.Namespace) -> int:
    _noise(args, load_policy(args.policy))  # refuse a broken policy or baseline before anything listens
    _check_outputs(args)
    limits = _limits(args)
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port: {args.port} is not a port number")
    _check_can_listen(args.host, args.port)
    if args.reverse and not args.reverse.startswith(("http://", "https://")):
        raise UsageError(f"--reverse: expected an http:// or https:// URL, not {args.reverse!r}")

    mitm_args = ["--listen-host", args.host, "--listen-port", str(args.port)]
    if args.reverse:
        mitm_args += ["--mode", f"reverse:{args.reverse}"]
    if not args.show_flows:
        mitm_args += ["--flow-detail", "0"]
    for option, value in (("--save", args.save), ("--save-har", args.save_har)):
        if value and not Path(value).parent.is_dir():
            raise UsageError(f"{option}: directory {Path(value).parent} does not exist")
    settings = _statuslint_settings(args, limits)
    if args.save:
        settings["save_stream_file"] = args.save
    if args.save_har:
        settings["hardump"] = args.save_har
    mitm_args += _set_options(settings)
    return _run_mitmdump(mitm_args + _passthrough(args), verbose=args.verbose)


def _statuslint_settings(args: argparse.Namespace, limits: Limits) -> dict[str, str]:
    """The statuslint (and confdir) options of a mitmdump run, from the command line."""
    settings = {
        "statuslint_policy": args.policy,
        "statuslint_report": ",".join(args.report or []),
        "statuslint_log": args.log or "",
        "statuslint_fail_on": args.fail_on,
        "statuslint_max_urls": str(limits.max_urls),
        "statuslint_max_endpoints": str(limits.max_endpoints),
        "statuslint_max_findings": str(limits.max_findings),
        "statuslint_select": ",".join(parse_rule_ids(args.select)),
        "statuslint_ignore": ",".join(parse_rule_ids(args.ignore)),
        "statuslint_baseline": args.baseline or "",
        "statuslint_write_baseline": args.write_baseline or "",
        "statuslint_api_only": "true" if args.api_only else "",
        "statuslint_fail_on_inconclusive": "true" if args.fail_on_inconclusive else "",
    }
    if args.confdir:
        settings["confdir"] = args.confdir
    return settings


def _set_options(settings: dict[str, str]) -> list[str]:
    """``--set`` arguments; empty values are the defaults already, and only clutter the
    start-up line."""
    out: list[str] = []
    for key, value in settings.items():
        if value != "":
            out += ["--set", f"{key}={value}"]
    return out


def _check_can_listen(host: str, port: int) -> None:
    """Refuse a busy or forbidden address in statuslint's own terms (mitmproxy would exit 1
    suggesting its own ``--mode regular@PORT``). mitmproxy binds like asyncio does, with
    SO_REUSEADDR, so a socket in TIME_WAIT is no obstacle here either."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise UsageError(f"--host: cannot listen on {host!r}: {e.strerror}") from None
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    raise UsageError(f"--port {port}: {host}:{port} is already in use; choose another --port") from None
                raise UsageError(f"--port {port}: cannot listen on {host}:{port}: {e.strerror or e}") from None


def _check_outputs(args: argparse.Namespace) -> None:
    """--fail-on, --report and --log of a mitmdump run, checked before anything starts."""
    try:
        parse_fail_on(args.fail_on)
    except ValueError as e:
        raise UsageError(f"--fail-on: {e}") from None
    report_paths = args.report or []
    for option, value in [*(("--report", r) for r in report_paths), ("--log", args.log)]:
        if value and not Path(value).parent.is_dir():
            raise UsageError(f"{option}: directory {Path(value).parent} does not exist")
    for path in report_paths:
        if "," in path:
            raise UsageError(f"--report: {path}: a report path cannot contain ','")
        try:
            reports.format_for_path(path)
        except ValueError as e:
            raise UsageError(f"--report: {e}") from None


def _passthrough(args: argparse.Namespace) -> list[str]:
    extra = list(args.mitmdump_args)
    return extra[1:] if extra[:1] == ["--"] else extra


def _run_mitmdump(mitm_args: list[str], *extra_addons: type, verbose: bool = False) -> int:
    from mitmproxy.tools import cmdline
    from mitmproxy.tools.dump import DumpMaster
    from mitmproxy.tools.main import run

    from .addon import StatusLint

    class StatusLintMaster(DumpMaster):
        def __init__(self, options, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(options, **kwargs)
            self.addons.add(StatusLint(), *(cls() for cls in extra_addons))

    if not verbose:
        from .chatter import hide_connection_chatter

        hide_connection_chatter()
    print(f"statuslint: starting proxy ({' '.join(mitm_args)})", file=sys.stderr)
    run(StatusLintMaster, cmdline.mitmdump, mitm_args)
    # A non-zero status (findings at --fail-on, or an error) is set by the addon at exit.
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
