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
from pathlib import Path
from typing import IO

from mitmproxy import command, ctx, dns, exceptions, flow, http, tcp, udp
from mitmproxy.addonmanager import Loader
from mitmproxy.proxy import mode_specs

from . import reports
from .auditor import LIMIT_NOUNS, Auditor, Limits
from .findings import Finding, Severity, parse_fail_on
from .policy import BUILTIN_NAME, load_policy
from .readers import sniff_har
from .stopping import GracefulStop
from .terminal import console_for, print_summary, summary_text
from .urls import printable
from .yamlsource import PolicyError

logger = logging.getLogger(__name__)

LIMIT_OPTIONS = {
    "statuslint_max_urls": "max_urls",
    "statuslint_max_endpoints": "max_endpoints",
    "statuslint_max_findings": "max_findings",
}
OPTIONS = ("statuslint_policy", "statuslint_report", "statuslint_log", "statuslint_fail_on", *LIMIT_OPTIONS)
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
        self.limits = Limits()
        self.summary_signal = False
        self.stop = GracefulStop()

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
        # to an addon added programmatically.
        self.auditor = Auditor(load_policy())

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
        if "statuslint_policy" in updated:
            value = ctx.options.statuslint_policy.strip()
            try:
                policy = load_policy(value or None)
            except PolicyError as e:
                raise self._refuse(f"statuslint_policy: {e}") from None
            self.policy_label = value or BUILTIN_NAME
            if self.auditor is None or not self.running_:
                self.auditor = Auditor(policy, self.limits)
            else:
                self.auditor.use_policy(policy)
                logger.info("statuslint: policy %s loaded (%d rules)", self.policy_label, len(policy.enabled_rules))
        if "statuslint_fail_on" in updated:
            try:
                self.fail_on = parse_fail_on(ctx.options.statuslint_fail_on)
            except ValueError as e:
                raise self._refuse(f"statuslint_fail_on: {e}") from None
        if "statuslint_report" in updated:
            path = ctx.options.statuslint_report.strip()
            if path:
                try:
                    reports.format_for_path(path)
                except ValueError as e:
                    raise self._refuse(f"statuslint_report: {e}") from None
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
                raise self._refuse(f"statuslint_log: cannot open {path}: {e.strerror}") from None

    def _refuse(self, message: str) -> exceptions.OptionsError:
        """A bad option. At start-up: one line and exit 2 at once, before anything listens
        (left to mitmproxy, a script's bad option prints a traceback, the proxy starts
        listening, then exits 1). A bad change to a running proxy is only refused."""
        if not self.running_:
            self.exit_code = 2
            self._register_exit()
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
        logger.info("statuslint: audit summary so far\n%s", summary_text(self.auditor))

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
        if self.auditor:
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
        index = f.metadata.get(INDEX_KEY)
        mine = [x for x in found if x.flow is not None and x.flow.index == index]
        for finding in found:
            self._log_finding(finding)
        # A stateful finding may be about an earlier flow (a HEAD that failed before its
        # GET worked): that flow has gone by, so only this one is marked.
        if mine:
            lines = [f"statuslint {x.severity.label} {x.rule}: {x.message}" for x in mine]
            f.marked = _MARKER[max(x.severity for x in mine)]
            f.comment = "\n".join(filter(None, [f.comment, *lines]))

    def _log_finding(self, finding: Finding) -> None:
        ref = finding.flow
        where = f"{ref.method} {ref.url} {ref.status}" if ref else finding.endpoint
        logger.log(
            _LOG_LEVEL[finding.severity],
            f"statuslint {finding.severity.label} {finding.rule}: {where}: {finding.message}",
        )
        if self.log_file is not None:
            endpoint = self.auditor.endpoint_of(finding) if self.auditor else None
            record = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **finding.to_json(endpoint)}
            self.log_file.write(printable(json.dumps(record, ensure_ascii=False)) + "\n")

    # End ---------------------------------------------------------------------------------

    def done(self) -> None:
        self.stop.close()
        if line := self.stop.report():
            logger.info(line)
        if self.summary_signal:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGUSR1)
        if self.auditor is not None:
            # API-level findings rest on all the traffic: they are known now.
            for finding in self.auditor.api_findings():
                self._log_finding(finding)
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None
        if self.auditor is None:
            return
        if self.report_path:
            try:
                text = reports.render(
                    reports.build_model(self.auditor, self.policy_label), reports.format_for_path(self.report_path)
                )
                reports.write_atomic(self.report_path, text)
            except OSError as e:
                logger.warning(f"statuslint: cannot write report {self.report_path}: {e.strerror or e}")
                self.exit_code = max(self.exit_code, 2)
            except Exception:
                # The summary and the exit status must still come, whatever broke here.
                logger.exception(f"statuslint: internal error writing report {self.report_path}")
                self.exit_code = max(self.exit_code, 2)
        if self.print_summary:
            # After SIGHUP the terminal may be gone: the report is written, the exit
            # status must still come.
            with contextlib.suppress(OSError):
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
