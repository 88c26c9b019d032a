"""The mitmproxy addon: audits every response as it passes, live or replayed.

Options are declared as plain strings and validated in ``configure``: mitmproxy drops an
addon whose typed option fails to parse and ignores misspelt ``--set`` names, both
silently, so statuslint does its own checking and fails loudly.
"""

from __future__ import annotations

import atexit
import difflib
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import IO

from mitmproxy import ctx, dns, exceptions, flow, http, tcp, udp
from mitmproxy.addonmanager import Loader

from . import reports
from .auditor import Auditor
from .findings import Finding, Severity, parse_fail_on
from .policy import BUILTIN_NAME, load_policy
from .readers import sniff_har
from .terminal import console_for, print_summary
from .yamlsource import PolicyError

logger = logging.getLogger(__name__)

OPTIONS = ("statuslint_policy", "statuslint_report", "statuslint_log", "statuslint_fail_on")
INDEX_KEY = "statuslint.index"
LIVE_SOURCE = "live"

# mitmproxy's termlog colours by level: findings are warnings (yellow) unless merely
# informational. Never ERROR: mitmdump treats an error logged while it replays a file
# (-nr) as a start-up failure and aborts.
_LOG_LEVEL = {Severity.ERROR: logging.WARNING, Severity.WARNING: logging.WARNING, Severity.INFO: logging.INFO}
_MARKER = {Severity.ERROR: ":no_entry:", Severity.WARNING: ":warning:", Severity.INFO: ":information_source:"}


class StatusLint:
    def __init__(self) -> None:
        self.auditor: Auditor | None = None
        self.policy_label = BUILTIN_NAME
        self.fail_on: Severity | None = None
        self.report_path = ""
        self.log_file: IO[str] | None = None
        self.replay_is_har = False
        self.next_index: dict[str, int] = {}
        self.exit_code = 0
        self.print_summary = True
        self.running_ = False
        self.forced_loopback = False

    # Options ---------------------------------------------------------------------------

    def load(self, loader: Loader) -> None:
        loader.add_option(
            "statuslint_policy", str, "", "statuslint policy file (YAML); empty or 'default' for the built-in policy."
        )
        loader.add_option(
            "statuslint_report",
            str,
            "",
            "Write the statuslint audit report to this file at the end; the format follows the suffix (.json).",
        )
        loader.add_option(
            "statuslint_log", str, "", "Append one JSON line per statuslint finding to this file, as it is found."
        )
        loader.add_option(
            "statuslint_fail_on",
            str,
            "",
            "Exit non-zero at the end when a statuslint finding reaches this severity (error, warning, info); "
            "empty: never.",
        )
        # Ready before the first configure: mitmproxy only sends options that were set
        # to an addon added programmatically.
        self.auditor = Auditor(load_policy())

    def configure(self, updated: set[str]) -> None:
        if "statuslint_policy" in updated:
            value = ctx.options.statuslint_policy.strip()
            try:
                policy = load_policy(value or None)
            except PolicyError as e:
                self._fail_startup()
                raise exceptions.OptionsError(f"statuslint_policy: {e}") from None
            self.policy_label = value or BUILTIN_NAME
            if self.auditor is None or not self.running_:
                self.auditor = Auditor(policy)
            else:
                self.auditor.use_policy(policy)
                logger.info("statuslint: policy %s loaded (%d rules)", self.policy_label, len(policy.enabled_rules))
        if "statuslint_fail_on" in updated:
            try:
                self.fail_on = parse_fail_on(ctx.options.statuslint_fail_on)
            except ValueError as e:
                self._fail_startup()
                raise exceptions.OptionsError(f"statuslint_fail_on: {e}") from None
        if "statuslint_report" in updated:
            path = ctx.options.statuslint_report.strip()
            if path:
                try:
                    reports.format_for_path(path)
                except ValueError as e:
                    self._fail_startup()
                    raise exceptions.OptionsError(f"statuslint_report: {e}") from None
                self._check_writable_dir(path, "statuslint_report")
            self.report_path = path
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
                self.log_file = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives until done
            except OSError as e:
                self._fail_startup()
                raise exceptions.OptionsError(f"statuslint_log: cannot open {path}: {e.strerror}") from None

    def _fail_startup(self) -> None:
        """A bad option at start-up exits 2 (mitmproxy itself would say 1); a bad change
        to a running proxy is only refused."""
        if not self.running_:
            self.exit_code = 2
            self._register_exit()

    def _check_writable_dir(self, path: str, option: str) -> None:
        parent = Path(path).parent
        if not parent.is_dir():
            self._fail_startup()
            raise exceptions.OptionsError(f"{option}: directory {parent} does not exist")

    def running(self) -> None:
        self.running_ = True
        if self.forced_loopback:
            self._rebind_to_loopback()
        # Misspelt --set names are deferred by mitmproxy and then silently ignored.
        for name in list(ctx.options.deferred):
            close = difflib.get_close_matches(name, OPTIONS, n=1, cutoff=0.75)
            if name.startswith("statuslint") or close:
                hint = f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(OPTIONS)})"
                logger.error(f"statuslint: unknown option {name}{hint}")
                self.exit_code = 2
                self._register_exit()
                ctx.master.shutdown()

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

    # Flow events -------------------------------------------------------------------------

    def requestheaders(self, f: http.HTTPFlow) -> None:
        self._arrive(f)

    def tcp_start(self, f: tcp.TCPFlow) -> None:
        self._arrive(f)

    def udp_start(self, f: udp.UDPFlow) -> None:
        self._arrive(f)

    def dns_request(self, f: dns.DNSFlow) -> None:
        self._arrive(f)

    def websocket_message(self, f: http.HTTPFlow) -> None:
        if self.auditor:
            self.auditor.count_websocket_messages()

    def response(self, f: http.HTTPFlow) -> None:
        if self.auditor is None or f.response is None:
            return
        if INDEX_KEY not in f.metadata:
            # A flow injected by another addon never passed requestheaders here.
            self._arrive(f)
        source = self._source(f)
        try:
            found = self.auditor.audit_response(f, f.metadata[INDEX_KEY], source, har=self.replay_is_har and not f.live)
        except Exception:
            logger.exception("statuslint: internal error while auditing %s", f.request.pretty_url)
            return
        if found:
            self._report_findings(f, found)

    def _arrive(self, f: flow.Flow) -> None:
        if self.auditor is None:
            return
        source = self._source(f)
        index = self.next_index.get(source, 0)
        self.next_index[source] = index + 1
        f.metadata[INDEX_KEY] = index
        self.auditor.input(source).flows += 1
        self.auditor.count_flow(f)

    def _source(self, f: flow.Flow) -> str:
        if f.live:
            return LIVE_SOURCE
        return getattr(ctx.options, "rfile", None) or "replay"

    def _report_findings(self, f: http.HTTPFlow, found: list[Finding]) -> None:
        lines = []
        for finding in found:
            ref = finding.flow
            logger.log(
                _LOG_LEVEL[finding.severity],
                f"statuslint {finding.severity.label} {finding.rule}: {ref.method} {ref.url} {ref.status}: "
                f"{finding.message}",
            )
            lines.append(f"statuslint {finding.severity.label} {finding.rule}: {finding.message}")
            if self.log_file is not None:
                record = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **finding.to_json()}
                self.log_file.write(json.dumps(record, ensure_ascii=False) + "\n")
        worst = max(x.severity for x in found)
        f.marked = _MARKER[worst]
        f.comment = "\n".join(filter(None, [f.comment, *lines]))

    # End ---------------------------------------------------------------------------------

    def done(self) -> None:
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None
        if self.auditor is None:
            return
        if self.report_path:
            try:
                text = reports.render(self.auditor, reports.format_for_path(self.report_path), self.policy_label)
                reports.write_atomic(self.report_path, text)
            except OSError as e:
                logger.warning(f"statuslint: cannot write report {self.report_path}: {e.strerror or e}")
                self.exit_code = max(self.exit_code, 2)
        if self.print_summary:
            print_summary(self.auditor, console_for(sys.stdout))
        if self.auditor.fails(self.fail_on):
            self.exit_code = max(self.exit_code, 1)
        if self.exit_code:
            self._register_exit()

    def _register_exit(self) -> None:
        # sys.exit() inside done() would skip the done() of every addon after this one,
        # among them save (-w) and savehar (hardump), losing the user's flows. Set the
        # exit status once the interpreter is otherwise finished instead.
        if not getattr(self, "_exit_registered", False):
            self._exit_registered = True
            atexit.register(_exit_with, self)


def _exit_with(addon: StatusLint) -> None:
    if addon.exit_code:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(addon.exit_code)
