"""The mitmproxy addon: audits every response as it passes, live or replayed.

Options are declared as plain strings and validated in ``configure``: mitmproxy drops an
addon whose typed option fails to parse and ignores misspelt ``--set`` names, both
silently, so statuslint does its own checking and fails loudly.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import difflib
import ipaddress
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mitmproxy.types
from mitmproxy import command, ctx, dns, exceptions, flow, http, tcp, udp
from mitmproxy.addonmanager import Loader
from mitmproxy.proxy import mode_specs
from rich.text import Text

from . import logfilter, reports
from .auditor import LIMIT_NOUNS, Auditor, Limits, flow_kind
from .escape import escape, escape_json
from .findings import Finding, Severity, parse_fail_on
from .findingslog import FLUSH_SECONDS, FindingsLog
from .noise import Baseline, BaselineError, narrowed, parse_rule_ids, render_baseline
from .policy import BUILTIN_NAME, Policy, load_policy
from .readers import sniff_har
from .redact import redact_url
from .stopping import GracefulStop
from .terminal import console_for, print_summary, summary_text
from .urls import printable
from .yamlsource import PolicyError

if TYPE_CHECKING:  # parallel is imported only when a worker starts
    from .parallel import Setup

logger = logging.getLogger(__name__)

LIMIT_OPTIONS = {
    "statuslint_max_urls": "max_urls",
    "statuslint_max_endpoints": "max_endpoints",
    "statuslint_max_findings": "max_findings",
}
NOISE_OPTIONS = (
    "statuslint_select",
    "statuslint_ignore",
    "statuslint_api_only",
    "statuslint_fail_on_inconclusive",
    "statuslint_baseline",
    "statuslint_write_baseline",
)
OPTIONS = (
    "statuslint_policy",
    "statuslint_report",
    "statuslint_log",
    "statuslint_fail_on",
    *NOISE_OPTIONS,
    *LIMIT_OPTIONS,
    "statuslint_offload",
)
OFFLOAD_VALUES = ("auto", "true", "false")
INDEX_KEY = "statuslint.index"
# A flow's findings, for mitmproxy's ~meta filter and the statuslint.findings command.
METADATA_KEY = "statuslint"
# Set by statuslint replay on the flows it sends: where they came from.
SOURCE_KEY = "statuslint.source"
REPLAY_INDEX_KEY = "statuslint.replay"
LIVE_SOURCE = "live"

# mitmproxy's termlog colours by level: findings are warnings (yellow) unless merely
# informational. Never ERROR: mitmdump treats an error logged while it replays a file
# (-nr) as a start-up failure and aborts.
_LOG_LEVEL = {Severity.ERROR: logging.WARNING, Severity.WARNING: logging.WARNING, Severity.INFO: logging.INFO}
_FINDING_EXTRA = {logfilter.FINDING: True}
_MARKER = {Severity.ERROR: ":no_entry:", Severity.WARNING: ":warning:", Severity.INFO: ":information_source:"}


class StatusLint:
    def __init__(self) -> None:
        self.auditor: Auditor | None = None
        self.policy_label = BUILTIN_NAME
        self.fail_on: Severity | None = None
        self.fail_on_inconclusive = False
        self.report_paths: list[str] = []
        self.log_file: FindingsLog | None = None
        self.replay_is_har = False
        self.next_index: dict[str, int] = {}
        self.exit_code = 0
        self.print_summary = True
        self.running_ = False
        self.forced_loopback = False
        self.limits = Limits()
        self.summary_signal = False
        self.stop = GracefulStop()
        # Other addons (statuslint replay) add to the report as it is built.
        self.report_hooks: list[Callable[[dict[str, Any]], None]] = []
        self.baseline: Baseline | None = None
        self.write_baseline_path = ""
        self.default_policy: Policy | None = None
        # How the policy was made, for the audit worker to make it again: parallel.PolicySource's
        # fields (that module is imported only when a worker starts).
        self.policy_source: tuple[str, tuple[str, ...], tuple[str, ...], bool] = (BUILTIN_NAME, (), (), False)
        self.offload_mode = "auto"
        self.offload: Any = None  # offload.Offload while a worker audits the traffic
        self.findings_seen = 0  # findings logged so far (what a progress line shows)

    # Options ---------------------------------------------------------------------------

    def load(self, loader: Loader) -> None:
        # The proxy's output is statuslint's: mitmproxy's own lines quote traffic too.
        logfilter.install()
        loader.add_option(
            "statuslint_policy", str, "", "statuslint policy file (YAML); empty or 'default' for the built-in policy."
        )
        loader.add_option(
            "statuslint_report",
            str,
            "",
            "Write the statuslint audit report to this file at the end, or to each of a comma-separated list of "
            f"files; each one's format follows its suffix ({', '.join(reports.SUFFIXES)}).",
        )
        loader.add_option(
            "statuslint_log",
            str,
            "",
            f"Append one JSON line per statuslint finding to this file as it is found (on disk within "
            f"{FLUSH_SECONDS:g}s).",
        )
        loader.add_option(
            "statuslint_fail_on",
            str,
            "",
            "Exit non-zero at the end when a statuslint finding reaches this severity (error, warning, info); "
            "empty: never.",
        )
        loader.add_option(
            "statuslint_select", str, "", "Run only these statuslint rules (comma-separated ids); empty: all."
        )
        loader.add_option("statuslint_ignore", str, "", "Do not run these statuslint rules (comma-separated ids).")
        loader.add_option(
            "statuslint_api_only",
            str,
            "",
            "'true': statuslint audits API traffic only (no images, scripts, styles, fonts, pages, beacons).",
        )
        loader.add_option(
            "statuslint_fail_on_inconclusive",
            str,
            "",
            "'true': statuslint_fail_on also counts findings the source cannot prove (default: certain ones only).",
        )
        loader.add_option(
            "statuslint_baseline",
            str,
            "",
            "statuslint baseline file: log and report only findings not in it; fail_on gates on those.",
        )
        loader.add_option(
            "statuslint_write_baseline", str, "", "Write the statuslint findings as a baseline file at the end."
        )
        loader.add_option(
            "statuslint_offload",
            str,
            "auto",
            "Audit in a worker process, off the proxy's event loop: true, false, or auto (on inside mitmdump, "
            "mitmproxy, mitmweb or statuslint proxy with two cores or more). Read at start-up. A proxy killed "
            "outright loses the findings of the flows the worker had not answered yet (normally its last "
            "event-loop turn).",
        )
        defaults = Limits()
        for option, field in LIMIT_OPTIONS.items():
            what = LIMIT_NOUNS[field]
            loader.add_option(
                option,
                str,
                str(getattr(defaults, field)),
                f"statuslint keeps state for at most this many {what}; the least recently used are forgotten"
                + (
                    " (0: keep all findings for the report; every finding is always counted and logged)."
                    if field == "max_findings"
                    else "."
                ),
            )
        # Ready before the first configure: mitmproxy only sends options that were set
        # to an addon added programmatically. Kept: configure would parse it again.
        self.default_policy = load_policy()
        self.auditor = Auditor(self.default_policy)

    def configure(self, updated: set[str]) -> None:
        if not self.running_:
            # Before anything listens, where mitmproxy already knows them (scripts).
            for message in self._unknown_options():
                raise self._refuse(message)
        if updated & LIMIT_OPTIONS.keys():
            values = {}
            for option, field in LIMIT_OPTIONS.items():
                try:
                    values[field] = Limits.parse(
                        option, getattr(ctx.options, option), allow_zero=field == "max_findings"
                    )
                except ValueError as e:
                    raise self._refuse(str(e)) from None
            self.limits = Limits(**values)
            if self.auditor is not None:
                self.auditor.set_limits(self.limits)
            if self.offload is not None:
                self.offload.limits(self.limits)
        if "statuslint_baseline" in updated:
            path = ctx.options.statuslint_baseline.strip()
            try:
                self.baseline = Baseline.load(path) if path else None
            except BaselineError as e:
                raise self._refuse(f"statuslint_baseline: {e}") from None
            if self.auditor is not None:
                self.auditor.gate.baseline = self.baseline
            if self.offload is not None:
                self.offload.baseline(self.baseline)
        if "statuslint_write_baseline" in updated:
            path = ctx.options.statuslint_write_baseline.strip()
            if path:
                self._check_writable_dir(path, "statuslint_write_baseline")
            self.write_baseline_path = path
            if self.auditor is not None:
                self.auditor.gate.record_keys = self.record_keys
            if self.offload is not None:
                self.offload.record_keys(self.record_keys)
        if updated & {"statuslint_policy", "statuslint_select", "statuslint_ignore", "statuslint_api_only"}:
            value = ctx.options.statuslint_policy.strip()
            try:
                if value in ("", BUILTIN_NAME) and self.default_policy is not None:
                    policy = self.default_policy  # select_rules and api_only copy, never change it
                else:
                    policy = load_policy(value or None)
            except PolicyError as e:
                raise self._refuse(f"statuslint_policy: {e}") from None
            flag = ctx.options.statuslint_api_only.strip().lower()
            try:
                policy = narrowed(
                    policy,
                    parse_rule_ids([ctx.options.statuslint_select]),
                    parse_rule_ids([ctx.options.statuslint_ignore]),
                    flag == "true",
                    option="statuslint_select",
                )
            except ValueError as e:
                raise self._refuse(str(e)) from None
            if flag not in ("", "true", "false"):
                raise self._refuse(f"statuslint_api_only: expected true or false, not {flag!r}")
            self.policy_label = value or BUILTIN_NAME
            self.policy_source = (
                value or BUILTIN_NAME,
                tuple(parse_rule_ids([ctx.options.statuslint_select])),
                tuple(parse_rule_ids([ctx.options.statuslint_ignore])),
                flag == "true",
            )
            if self.auditor is None or not self.running_:
                self.auditor = Auditor(policy, self.limits, self.baseline)
                self.auditor.gate.record_keys = self.record_keys
            else:
                self.auditor.use_policy(policy)
                if self.offload is not None:
                    from .parallel import PolicySource

                    self.offload.policy(PolicySource(*self.policy_source))
                logger.info("statuslint: policy %s loaded (%d rules)", self.policy_label, len(policy.enabled_rules))
        if "statuslint_fail_on_inconclusive" in updated:
            flag = ctx.options.statuslint_fail_on_inconclusive.strip().lower()
            if flag not in ("", "true", "false"):
                raise self._refuse(f"statuslint_fail_on_inconclusive: expected true or false, not {flag!r}")
            self.fail_on_inconclusive = flag == "true"
        if "statuslint_fail_on" in updated:
            try:
                self.fail_on = parse_fail_on(ctx.options.statuslint_fail_on)
            except ValueError as e:
                raise self._refuse(f"statuslint_fail_on: {e}") from None
        if "statuslint_report" in updated:
            paths = [p.strip() for p in ctx.options.statuslint_report.split(",") if p.strip()]
            for i, path in enumerate(paths):
                if path in paths[:i]:
                    raise self._refuse(f"statuslint_report: {path} is listed twice")
                try:
                    reports.format_for_path(path)
                except ValueError as e:
                    raise self._refuse(f"statuslint_report: {e}") from None
                self._check_writable_dir(path, "statuslint_report")
            self.report_paths = paths
        if "statuslint_offload" in updated:
            mode = ctx.options.statuslint_offload.strip().lower()
            if mode not in OFFLOAD_VALUES:
                raise self._refuse(f"statuslint_offload: expected auto, true or false, not {mode!r}")
            self.offload_mode = mode
        if "statuslint_log" in updated:
            self._open_log(ctx.options.statuslint_log.strip())
        if "listen_host" in updated and not self.running_ and ctx.options.listen_host == "":
            # mitmproxy listens on every interface by default; an auditing proxy for dev
            # traffic should not, unless the user asks for it.
            self.forced_loopback = True
            ctx.options.update(listen_host="127.0.0.1")
        if "rfile" in updated:
            rfile = getattr(ctx.options, "rfile", None)
            self.replay_is_har = bool(rfile) and rfile != "-" and sniff_har(rfile)

    def _open_log(self, path: str) -> None:
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None
        if path:
            self._check_writable_dir(path, "statuslint_log")
            try:
                self.log_file = FindingsLog(path)
            except OSError as e:
                raise self._refuse(f"statuslint_log: cannot open {path}: {e.strerror}") from None

    def _refuse(self, message: str) -> exceptions.OptionsError:
        """A bad option. At start-up: one line and exit 2 at once, before anything listens
        (left to mitmproxy, a script's bad option prints a traceback, the proxy starts
        listening, then exits 1). A bad change to a running proxy is only refused."""
        if not self.running_:
            self.exit_code = 2
            self._register_exit()
            if _in_mitmproxy_tool():
                _exit_at_startup(message)
        return exceptions.OptionsError(message)

    def _check_writable_dir(self, path: str, option: str) -> None:
        parent = Path(path).parent
        if not parent.is_dir():
            raise self._refuse(f"{option}: directory {parent} does not exist")

    def running(self) -> None:
        self.running_ = True
        if self.forced_loopback:
            self._rebind_to_loopback()
        self._warn_if_exposed()
        self._listen_for_summary_signal()
        # mitmproxy's console asks before quitting on Ctrl-C: leave SIGINT to it.
        self.stop.install(ctx.master.shutdown, sigint=not hasattr(ctx.master, "prompt_for_exit"))
        for message in self._unknown_options():
            logger.error(f"statuslint: {message}")
            self.exit_code = 2
            self._register_exit()
            ctx.master.shutdown()
        if not self.exit_code and self._offload_wanted():
            self._start_offload()

    @property
    def record_keys(self) -> bool:
        """Whether the audit records baseline keys: only to write a baseline at the end."""
        return bool(self.write_baseline_path)

    def _setup(self, policy: Policy | None) -> Setup:
        """This run's policy (None: its source, for a worker to load again), limits and baseline."""
        from .parallel import PolicySource, Setup

        return Setup(policy, PolicySource(*self.policy_source), self.limits, self.baseline, self.record_keys)

    def _offload_wanted(self) -> bool:
        if self.offload_mode != "auto":
            return self.offload_mode == "true"
        # The worker pays off beside a proxy that has a core of its own; in tests and
        # embeddings the audit stays in the caller's process, where it can see it.
        if not _in_mitmproxy_tool() or os.name != "posix":  # the worker inherits its pipes (POSIX)
            return False
        from .parallel import available_cores

        return available_cores() >= 2

    def _start_offload(self) -> None:
        from .offload import Offload

        try:
            self.offload = Offload(self._setup(None), self._offloaded_findings, self._offload_gone)
        except (OSError, ValueError) as e:  # ValueError: no pass_fds (Windows, statuslint_offload=true)
            why = getattr(e, "strerror", None) or e
            logger.warning(f"statuslint: cannot start the audit worker ({why}): auditing in this process")

    def _offloaded_findings(self, f: http.HTTPFlow | None, found: list[Finding], endpoints: list[str]) -> None:
        """A response's findings from the audit worker: logged and marked as inline."""
        for finding, endpoint in zip(found, endpoints, strict=True):
            self._log_finding(finding, endpoint)
        if f is not None and self._mark(f, found):
            # Marked after mitmproxy's view had the flow: let mitmweb and the console show it.
            view = ctx.master.addons.get("view")
            if view is not None:
                view.update([f])

    def _offload_gone(self, line: str, unanswered: list[tuple[http.HTTPFlow, int, str, bool]]) -> None:
        # A warning, never an error: mitmdump -nr aborts on an error logged while it reads.
        logger.warning(line)
        self.offload = None
        assert self.auditor is not None
        for f, index, source, har in unanswered:
            self._count_arrival(f, source)
            self._audit_inline(f, index, source, har)

    def _auditor_now(self) -> Auditor:
        """The audit so far: with a worker, a copy of its state (a round trip)."""
        assert self.auditor is not None
        if self.offload is None:
            return self.auditor
        from .offload import WorkerGone

        try:
            state = self.offload.state()
        except WorkerGone:
            return self.auditor  # audited here from now on
        auditor = self._setup(self.auditor.policy).auditor()
        auditor.merge(state)
        return auditor

    def findings_so_far(self) -> int:
        """Findings found so far (a progress line), without a round trip to a worker."""
        if self.offload is None and self.auditor is not None:
            return sum(self.auditor.by_severity.values())
        return self.findings_seen

    def _unknown_options(self) -> list[str]:
        # Misspelt --set names are deferred by mitmproxy and then silently ignored.
        found = []
        for name in list(getattr(ctx.options, "deferred", {})):
            close = difflib.get_close_matches(name, OPTIONS, n=1, cutoff=0.75)
            if name.startswith("statuslint") or close:
                hint = f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(OPTIONS)})"
                found.append(f"unknown option {name}{hint}")
        return found

    def _rebind_to_loopback(self) -> None:
        # mitmproxy 12 loads -s scripts after its servers are bound, so the listen_host
        # set in configure came too late: bind again, now on loopback.
        proxyserver = ctx.master.addons.get("proxyserver")
        if proxyserver is None or not ctx.options.server:
            return
        exposed = [a for a in proxyserver.listen_addrs() if a[0] not in ("127.0.0.1", "::1")]
        if exposed:
            logger.warning(
                "statuslint: the proxy was bound to all interfaces before statuslint could ask for 127.0.0.1; "
                "rebinding it to 127.0.0.1 (pass --listen-host to choose an address)"
            )
            ctx.options.update(server=False)
            ctx.options.update(server=True)

    def _warn_if_exposed(self) -> None:
        if not ctx.options.server or getattr(ctx.options, "proxyauth", None):
            return
        exposed = exposed_listeners(list(ctx.options.mode), ctx.options.listen_host, ctx.options.listen_port)
        if exposed:
            logger.warning(
                f"statuslint: the proxy listens on {', '.join(exposed)}: anyone who can reach this machine over the "
                "network can use it. Listen on 127.0.0.1 (statuslint proxy --host, mitmdump --listen-host) or "
                "require credentials with mitmproxy's proxyauth option (--set proxyauth=USER:PASS)"
            )

    def _listen_for_summary_signal(self) -> None:
        # mitmdump has no command prompt: `kill -USR1 <pid>` asks it for the summary.
        if not hasattr(signal, "SIGUSR1"):
            return
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, self.summary_command)
        except (RuntimeError, ValueError, NotImplementedError):
            return  # no loop of ours (tests), or not the main thread
        self.summary_signal = True

    # Commands ----------------------------------------------------------------------------

    @command.command("statuslint.summary")
    def summary_command(self) -> None:
        """Show the statuslint audit summary of the traffic so far (in the event log)."""
        if self.auditor is None:
            return
        logger.info("statuslint: audit summary so far\n%s", summary_text(self._auditor_now()))

    @command.command("statuslint.findings")
    def findings_command(self, flows: Sequence[flow.Flow]) -> Sequence[str]:
        """The statuslint findings of these flows (@marked, @focus, @all, or a filter such
        as "~meta served-after-delete"), one line each."""
        out = []
        for f in flows:
            meta = f.metadata.get(METADATA_KEY)
            if not isinstance(f, http.HTTPFlow) or not isinstance(meta, dict):
                continue
            where = f"{f.request.method} {printable(redact_url(f.request.pretty_url))}"
            status = f.response.status_code if f.response else "-"
            for x in meta.get("findings", ()):
                out.append(f"{where} {status}: {x.get('severity')} {x.get('rule')}: {x.get('message')}")
        return out

    @command.command("statuslint.report")
    def report_command(self, path: mitmproxy.types.Path) -> None:
        """Write the statuslint report of the traffic so far to this file (format from
        its suffix, e.g. .json)."""
        if self.auditor is None:
            raise exceptions.CommandError("statuslint is not auditing")
        try:
            fmt = reports.format_for_path(path)
        except ValueError as e:
            raise exceptions.CommandError(str(e)) from None
        try:
            reports.write_atomic(path, reports.render(self._model(self._auditor_now()), fmt))
        except OSError as e:
            raise exceptions.CommandError(f"cannot write {path}: {e.strerror or e}") from None
        logger.info(f"statuslint: report written to {path}")

    def _model(self, auditor: Auditor | None = None) -> dict[str, Any]:
        auditor = auditor or self.auditor
        assert auditor is not None
        model = reports.build_model(auditor, self.policy_label)
        for hook in self.report_hooks:
            hook(model)
        return model

    # Flow events -------------------------------------------------------------------------

    def requestheaders(self, f: http.HTTPFlow) -> None:
        if f.live and not self.stop.admit(f):
            return
        self._arrive(f)

    def tcp_start(self, f: tcp.TCPFlow) -> None:
        self._arrive(f)

    def udp_start(self, f: udp.UDPFlow) -> None:
        self._arrive(f)

    def dns_request(self, f: dns.DNSFlow) -> None:
        self._arrive(f)

    def websocket_message(self, f: http.HTTPFlow) -> None:
        if self.offload is not None:
            self.offload.websocket_message()
        elif self.auditor:
            self.auditor.count_websocket_messages()

    def error(self, f: http.HTTPFlow) -> None:
        self.stop.finished(f)

    def response(self, f: http.HTTPFlow) -> None:
        if f.live and not self.stop.deliver(f):
            return
        if self.auditor is None or f.response is None:
            return
        if INDEX_KEY not in f.metadata:
            # A flow injected by another addon never passed requestheaders here.
            self._arrive(f)
        source = self._source(f)
        har = self.replay_is_har and not f.live
        if self.offload is not None:
            self.offload.response(f, f.metadata[INDEX_KEY], source, har)
        else:
            self._audit_inline(f, f.metadata[INDEX_KEY], source, har)

    def _audit_inline(self, f: http.HTTPFlow, index: int, source: str, har: bool) -> None:
        assert self.auditor is not None
        try:
            found = self.auditor.audit_response(f, index, source, har=har)
        except Exception:
            logger.exception("statuslint: internal error while auditing %s", escape(redact_url(f.request.url)))
            return
        if found:
            self._report_findings(f, found)

    def _arrive(self, f: flow.Flow) -> None:
        if self.auditor is None:
            return
        source = self._source(f)
        index = self.next_index.get(source, 0)
        self.next_index[source] = index + 1
        # A replayed request keeps its position in the recording.
        f.metadata[INDEX_KEY] = f.metadata.get(REPLAY_INDEX_KEY, index)
        if self.offload is not None:
            self.offload.arrive(source, flow_kind(f))
        else:
            self._count_arrival(f, source)

    def _count_arrival(self, f: flow.Flow, source: str) -> None:
        assert self.auditor is not None
        self.auditor.input(source).flows += 1
        self.auditor.count_flow(f)

    def _source(self, f: flow.Flow) -> str:
        if SOURCE_KEY in f.metadata:
            return f.metadata[SOURCE_KEY]
        if f.live:
            return LIVE_SOURCE
        return getattr(ctx.options, "rfile", None) or "replay"

    def _report_findings(self, f: http.HTTPFlow, found: list[Finding]) -> None:
        for finding in found:
            self._log_finding(finding)
        self._mark(f, found)

    def _mark(self, f: http.HTTPFlow, found: list[Finding]) -> bool:
        """Mark the flow with its own findings; whether it had any."""
        index = f.metadata.get(INDEX_KEY)
        mine = [x for x in found if x.flow is not None and x.flow.index == index]
        # A stateful finding may be about an earlier flow (a HEAD that failed before its
        # GET worked): that flow has gone by, so only this one is marked.
        if mine:
            meta = f.metadata.setdefault(METADATA_KEY, {"findings": []})
            meta["findings"].extend({"rule": x.rule, "severity": x.severity.label, "message": x.message} for x in mine)
            lines = [f"statuslint {x.severity.label} {x.rule}: {escape(x.message)}" for x in mine]
            f.marked = _MARKER[max(x.severity for x in mine)]
            f.comment = "\n".join(filter(None, [f.comment, *lines]))
        return bool(mine)

    def _log_finding(self, finding: Finding, endpoint: str | None = None) -> None:
        """``endpoint``: as the auditor that found it named it then (default: this one's)."""
        self.findings_seen += 1
        ref = finding.flow
        where = f"{ref.method} {ref.url} {ref.status}" if ref else finding.endpoint
        logger.log(
            _LOG_LEVEL[finding.severity],
            f"statuslint {finding.severity.label} {finding.rule}: {escape(where)}: {escape(finding.message)}",
            extra=_FINDING_EXTRA,
        )
        if self.log_file is not None:
            if endpoint is None and self.auditor is not None:
                endpoint = self.auditor.endpoint_of(finding)
            record = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **finding.to_json(endpoint)}
            # Batched: on disk within FLUSH_SECONDS, and at once from done() (findingslog.py).
            self.log_file.write(escape_json(printable(json.dumps(record, ensure_ascii=False))) + "\n")

    # End ---------------------------------------------------------------------------------

    def done(self) -> None:
        self.stop.close()
        if line := self.stop.report():
            logger.info(line)
        if self.summary_signal:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGUSR1)
        if self.offload is not None:
            self._collect_offloaded()
        if self.auditor is not None:
            # API-level findings rest on all the traffic: they are known now.
            for finding in self.auditor.api_findings():
                self._log_finding(finding)
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None
        if self.auditor is None:
            return
        written = self._write_reports() if self.report_paths else []
        if self.write_baseline_path:
            try:
                reports.write_atomic(self.write_baseline_path, render_baseline(self.auditor.baseline_counts()))
            except OSError as e:
                logger.warning(f"statuslint: cannot write baseline {self.write_baseline_path}: {e.strerror or e}")
                self.exit_code = max(self.exit_code, 2)
        fails = self.auditor.fails(self.fail_on, self.fail_on_inconclusive)
        if self.print_summary:
            # After SIGHUP the terminal may be gone: the report is written, the exit
            # status must still come.
            with contextlib.suppress(OSError):
                console = console_for(sys.stdout)
                full = next((path for path in written if reports.format_for_path(path) == "json"), None)
                print_summary(self.auditor, console, full_report=full)
                for path in written:
                    console.print(Text(f"{reports.format_for_path(path)} report written to {path}"), soft_wrap=True)
                if fails and self.fail_on is not None:
                    count = sum(
                        n
                        for sev, n in self.auditor.summary()["by_severity"].items()
                        if Severity.parse(sev) >= self.fail_on
                    )
                    console.print(Text(f"exit 1: {count} findings at or above statuslint_fail_on {self.fail_on.label}"))
        if fails:
            self.exit_code = max(self.exit_code, 1)
        if self.exit_code:
            self._register_exit()

    def _collect_offloaded(self) -> None:
        """The worker's answers and its final state, into this process's auditor."""
        from .offload import WorkerGone

        assert self.auditor is not None
        offload = self.offload
        try:
            state = offload.finish()
        except WorkerGone:
            return  # said, and its unanswered flows audited here
        except Exception as e:
            offload.stop()
            self.offload = None
            logger.warning(f"statuslint: the audit worker's state could not be read ({type(e).__name__}: {e})")
            self.exit_code = max(self.exit_code, 2)
            return
        self.offload = None
        self.auditor.merge(state)

    def _write_reports(self) -> list[str]:
        """Every report of statuslint_report, from one model; the paths written."""
        assert self.auditor is not None
        written: list[str] = []
        try:
            model = self._model()
        except Exception:
            logger.exception("statuslint: internal error building the report")
            self.exit_code = max(self.exit_code, 2)
            return written
        for path in self.report_paths:
            try:
                reports.write_atomic(path, reports.render(model, reports.format_for_path(path)))
                written.append(path)
            except OSError as e:
                logger.warning(f"statuslint: cannot write report {path}: {e.strerror or e}")
                self.exit_code = max(self.exit_code, 2)
            except Exception:
                # The summary and the exit status must still come, whatever broke here.
                logger.exception(f"statuslint: internal error writing report {path}")
                self.exit_code = max(self.exit_code, 2)
        return written

    def _register_exit(self) -> None:
        # sys.exit() inside done() would skip the done() of every addon after this one,
        # among them save (-w) and savehar (hardump), losing the user's flows. Set the
        # exit status once the interpreter is otherwise finished instead.
        if not getattr(self, "_exit_registered", False):
            self._exit_registered = True
            atexit.register(_exit_with, self)


def exposed_listeners(modes: list[str], listen_host: str, listen_port: int | None) -> list[str]:
    """The addresses (``host:port``) the proxy modes listen on beyond this machine."""
    out = []
    for text in modes or ["regular"]:
        try:
            mode = mode_specs.ProxyMode.parse(text)
        except ValueError:
            continue  # mitmproxy refuses it itself
        if mode.default_port is None:
            continue  # a mode that captures local traffic and listens on no address
        port = mode.listen_port(listen_port)
        host = mode.listen_host(listen_host)
        if not is_loopback(host):
            out.append(f"{host or '*'}:{port}")
    return out


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` keeps the proxy to this machine; "" is every interface."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        # A host name: loopback only if every address it names is.
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError:
            return False
        return bool(infos) and all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback for i in infos)


def _in_mitmproxy_tool() -> bool:
    """Whether this process is mitmdump, mitmproxy, mitmweb or ``statuslint proxy`` (their
    masters come from mitmproxy.tools), which a bad option may end. Inside another program
    (a test harness, an embedding) it stays an OptionsError."""
    return any(cls.__module__.startswith("mitmproxy.tools") for cls in type(ctx.master).__mro__)


def _exit_at_startup(message: str) -> None:
    """Nothing has been audited yet: say what is wrong in one line and stop now."""
    sys.stdout.flush()
    print(f"statuslint: {message}", file=sys.stderr, flush=True)
    os._exit(2)


def _exit_with(addon: StatusLint) -> None:
    if addon.exit_code:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(addon.exit_code)
