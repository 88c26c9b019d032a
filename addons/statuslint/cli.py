"""The ``statuslint`` command: ``proxy``, ``audit`` and ``rules``.

Exit codes: 0 no finding at or above --fail-on, 1 there are, 2 usage or input error.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__, reports
from .auditor import Auditor, Limits
from .catalog import catalog_markdown
from .findings import SEVERITY_NAMES, Finding, parse_fail_on
from .interrupt import EXIT_INTERRUPTED, StopOnInterrupt
from .policy import BUILTIN_NAME, Policy, load_policy
from .readers import InputError, read_indexed, sniff_har
from .terminal import console_for, print_catalog, print_rule, print_summary, severity_text
from .yamlsource import PolicyError

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
# Inputs above this size get a progress bar when stderr is a terminal.
_PROGRESS_BYTES = 4 << 20


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
    audit.add_argument("--output", "-o", help="write the report here (the format follows the suffix if not given)")
    audit.add_argument("--fail-on", default="error", help=fail_help + "; default: error")
    audit.add_argument("--quiet", "-q", action="store_true", help="summary only: do not list each finding")
    audit.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    audit.add_argument(
        "--allow-empty", action="store_true", help="an input without any flow is not an error (default: it is)"
    )
    _limit_arguments(audit)
    audit.set_defaults(run=_cmd_audit)

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
    proxy.add_argument("--report", help="write the audit report here when the proxy stops (.json)")
    proxy.add_argument("--log", help="append one JSON line per finding to this file")
    proxy.add_argument("--fail-on", default="none", help=fail_help + "; default: none")
    proxy.add_argument("--confdir", help="mitmproxy's configuration/CA directory (default: ~/.mitmproxy)")
    proxy.add_argument("--show-flows", action="store_true", help="also print every flow, as mitmdump does")
    _limit_arguments(proxy)
    proxy.add_argument("mitmdump_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    proxy.set_defaults(run=_cmd_proxy)
    return parser


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
    fmt = args.format
    if fmt is None and args.output:
        try:
            fmt = reports.format_for_path(args.output)
        except ValueError as e:
            raise UsageError(f"--output: {e}; or give --format") from None
    fmt = fmt or "text"
    if fmt == "text" and args.output:
        raise UsageError("--output needs a machine format: --format json")
    if args.output and not Path(args.output).parent.is_dir():
        raise UsageError(f"--output: directory {Path(args.output).parent} does not exist")
    limits = _limits(args)
    policy = load_policy(args.policy)

    report_to_stdout = fmt != "text" and not args.output
    # Keep stdout clean for a machine report printed there.
    console = console_for(sys.stderr if report_to_stdout else sys.stdout)
    auditor = Auditor(policy, limits)
    failed_input = False
    list_findings = not args.quiet and fmt == "text"
    with StopOnInterrupt() as interrupt:
        for path in args.inputs:
            failed_input |= not _audit_file(
                auditor,
                path,
                console,
                list_findings=list_findings,
                progress=not args.no_progress,
                allow_empty=args.allow_empty,
                interrupt=interrupt,
            )
            if interrupt.requested:
                break
    if interrupt.requested:
        read = ", ".join(f"{i.source}: {i.flows} flows" for i in auditor.inputs)
        unread = len(args.inputs) - len(auditor.inputs)
        print(
            f"statuslint: interrupted: the report is partial, of what was read ({read}"
            + (f"; {unread} more input(s) not read" if unread else "")
            + ")",
            file=sys.stderr,
        )
    if list_findings:
        # API-level findings rest on all the traffic: they are known now.
        for finding in auditor.api_findings():
            console.print(_finding_line(finding), soft_wrap=True)

    if fmt == "text" or args.output:
        print_summary(auditor, console)
    if fmt != "text":
        text = reports.render(reports.build_model(auditor, args.policy, partial=interrupt.requested), fmt)
        if args.output:
            try:
                reports.write_atomic(args.output, text)
            except OSError as e:
                print(f"statuslint: cannot write {args.output}: {e.strerror or e}", file=sys.stderr)
                return EXIT_ERROR
        else:
            sys.stdout.write(text)
    if interrupt.requested:
        return EXIT_INTERRUPTED
    if failed_input:
        return EXIT_ERROR
    return EXIT_FINDINGS if auditor.fails(fail_on) else EXIT_OK


def _audit_file(
    auditor: Auditor,
    path: str,
    console,
    *,
    list_findings: bool,
    progress: bool,
    allow_empty: bool = False,
    interrupt: StopOnInterrupt | None = None,
) -> bool:
    """Audit one recording; False (with a one-line error) when it could not be read whole,
    or had no flow at all (unless ``allow_empty``). Stops early when ``interrupt`` asks."""
    info = auditor.input(path)
    try:
        fo = open(path, "rb")  # noqa: SIM115 - closed below, after streaming
    except OSError as e:
        info.error = e.strerror or str(e)
        print(f"statuslint: {path}: cannot open: {info.error}", file=sys.stderr)
        return False
    har = sniff_har(path)
    bar = None
    try:
        size = os.fstat(fo.fileno()).st_size
        if progress and size > _PROGRESS_BYTES and sys.stderr.isatty():
            from rich.progress import Progress

            bar = Progress(console=console_for(sys.stderr), transient=True)
            bar.start()
            task = bar.add_task(Path(path).name, total=size)
        for index, f in read_indexed(fo, har):
            info.flows += 1
            found = auditor.feed(f, index, path, har=har)
            if list_findings:
                for finding in found:
                    console.print(_finding_line(finding), soft_wrap=True)
            if bar is not None and index % 256 == 0:
                bar.update(task, completed=fo.tell())
            if interrupt is not None and interrupt.requested:
                return True
    except InputError as e:
        info.error = str(e)
        print(f"statuslint: {path}: {e}", file=sys.stderr)
        return False
    finally:
        if bar is not None:
            bar.stop()
        fo.close()
    if not info.flows and not allow_empty:
        # An export that failed or a capture that caught nothing: green CI on nothing
        # would hide it.
        info.error = "no flows"
        print(f"statuslint: {path}: no flows (pass --allow-empty if that is expected)", file=sys.stderr)
        return False
    return True


def _finding_line(finding: Finding):
    from rich.text import Text

    ref = finding.flow
    if ref is None:
        return Text.assemble(
            ("API", "bold"),
            " ",
            severity_text(finding.severity),
            " ",
            (finding.rule, "magenta"),
            f" {finding.endpoint}: {finding.message}",
        )
    return Text.assemble(
        (f"{ref.source}#{ref.index}", "bold"),
        " ",
        severity_text(finding.severity),
        " ",
        (finding.rule, "magenta"),
        f" {ref.method} {ref.url} {ref.status}: {finding.message}",
    )


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
    load_policy(args.policy)  # refuse a broken policy before anything listens
    try:
        parse_fail_on(args.fail_on)
    except ValueError as e:
        raise UsageError(f"--fail-on: {e}") from None
    for option, value in (("--report", args.report), ("--log", args.log)):
        if value and not Path(value).parent.is_dir():
            raise UsageError(f"{option}: directory {Path(value).parent} does not exist")
    if args.report:
        try:
            reports.format_for_path(args.report)
        except ValueError as e:
            raise UsageError(f"--report: {e}") from None
    limits = _limits(args)
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port: {args.port} is not a port number")
    _check_can_listen(args.host, args.port)
    if args.reverse and not args.reverse.startswith(("http://", "https://")):
        raise UsageError(f"--reverse: expected an http:// or https:// URL, not {args.reverse!r}")

    extra = list(args.mitmdump_args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    mitm_args = ["--listen-host", args.host, "--listen-port", str(args.port)]
    if args.reverse:
        mitm_args += ["--mode", f"reverse:{args.reverse}"]
    if not args.show_flows:
        mitm_args += ["--flow-detail", "0"]
    settings = {
        "statuslint_policy": args.policy,
        "statuslint_report": args.report or "",
        "statuslint_log": args.log or "",
        "statuslint_fail_on": args.fail_on,
        "statuslint_max_urls": str(limits.max_urls),
        "statuslint_max_endpoints": str(limits.max_endpoints),
        "statuslint_max_findings": str(limits.max_findings),
    }
    if args.confdir:
        settings["confdir"] = args.confdir
    for key, value in settings.items():
        mitm_args += ["--set", f"{key}={value}"]
    return _run_mitmdump(mitm_args + extra)


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


def _run_mitmdump(mitm_args: list[str]) -> int:
    from mitmproxy.tools import cmdline
    from mitmproxy.tools.dump import DumpMaster
    from mitmproxy.tools.main import run

    from .addon import StatusLint

    class StatusLintMaster(DumpMaster):
        def __init__(self, options, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(options, **kwargs)
            self.addons.add(StatusLint())

    print(f"statuslint: starting proxy ({' '.join(mitm_args)})", file=sys.stderr)
    run(StatusLintMaster, cmdline.mitmdump, mitm_args)
    # A non-zero status (findings at --fail-on, or an error) is set by the addon at exit.
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
