"""Re-sending recorded requests to a running server, through mitmproxy's own client
replay, and reporting the drift: requests whose status or key headers differ from the
recording, and findings new and gone.

The fresh answers are audited by the statuslint addon like any other traffic; this addon
only queues the recorded requests (pointed at ``--to``), carries ids the server assigns
afresh into later requests, and compares each answer with the recorded one.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from mitmproxy import command, ctx, exceptions, http

from .addon import REPLAY_INDEX_KEY, SOURCE_KEY
from .auditor import Auditor
from .drift import Side, compare
from .readers import InputError, read_indexed, sniff_har
from .redact import redact_url
from .urls import printable

logger = logging.getLogger(__name__)

KEY_HEADERS = ("location", "allow", "content-type", "content-range", "www-authenticate", "retry-after")
REPLAY_KEY = REPLAY_INDEX_KEY  # flow metadata: the flow's position in the recording


@dataclass
class Snapshot:
    status: int | None
    headers: dict[str, str]
    error: str | None = None

    @classmethod
    def of(cls, response: http.Response | None) -> Snapshot:
        if response is None:
            return cls(None, {})
        headers = {name: response.headers.get(name) for name in KEY_HEADERS if name in response.headers}
        return cls(response.status_code, headers)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "headers": dict(self.headers)}
        if "location" in out["headers"]:
            out["headers"]["location"] = printable(redact_url(out["headers"]["location"]))
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class Pending:
    index: int
    method: str
    before: Snapshot


@dataclass
class IdMap:
    """Ids the server assigned afresh: a recorded Location ``/items/5`` answered now as
    ``/items/9`` maps the segment ``5`` to ``9`` in every later request."""

    ids: dict[str, str] = field(default_factory=dict)

    def learn(self, recorded: str | None, fresh: str | None) -> None:
        if not recorded or not fresh:
            return
        old, new = _segments(recorded), _segments(fresh)
        if len(old) != len(new):
            return
        for a, b in zip(old, new, strict=True):
            if a != b and a:
                self.ids[a] = b

    def path(self, path: str) -> str:
        if not self.ids:
            return path
        base, sep, query = path.partition("?")
        mapped = "/".join(self.ids.get(s, s) for s in base.split("/"))
        return mapped + sep + query

    def location(self, value: str) -> str:
        """A recorded Location as the server would say it now: ids mapped, no authority."""
        return self.path(_path_of(value))


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    path = parts.path or "/"
    return path + (f"?{parts.query}" if parts.query else "")


def _segments(url: str) -> list[str]:
    return _path_of(url).split("?", 1)[0].split("/")


class Replayer:
    """The ``statuslint replay`` addon: options ``statuslint_replay`` (a recording) and
    ``statuslint_replay_to`` (the server to send it to)."""

    def __init__(self) -> None:
        self.pending: dict[int, Pending] = {}
        self.drift: list[dict[str, Any]] = []
        self.ids = IdMap()
        self.before: Auditor | None = None
        self.expected = 0
        self.finished = 0
        self.fail_on_drift = False
        self.progress: Any = None
        self.task: Any = None

    def load(self, loader: Any) -> None:
        loader.add_option("statuslint_replay", str, "", "Re-send the requests of this recording (.flows or HAR).")
        loader.add_option(
            "statuslint_replay_to", str, "", "Send the replayed requests to this server (http://host:port)."
        )
        loader.add_option("statuslint_fail_on_drift", str, "", "Exit 1 when the replay drifted ('true' to enable).")

    def configure(self, updated: set[str]) -> None:
        if "statuslint_replay_to" in updated:
            to = ctx.options.statuslint_replay_to.strip()
            if to:
                parts = urlsplit(to)
                if parts.scheme not in ("http", "https") or not parts.hostname:
                    raise exceptions.OptionsError(
                        f"statuslint_replay_to: expected an http:// or https:// URL, not {to!r}"
                    )
        if "statuslint_fail_on_drift" in updated:
            self.fail_on_drift = ctx.options.statuslint_fail_on_drift.strip().lower() in ("1", "true", "yes")

    def running(self) -> None:
        path = ctx.options.statuslint_replay.strip()
        if not path:
            return
        statuslint = ctx.master.addons.get("statuslint")
        if statuslint is None or statuslint.auditor is None:
            logger.error("statuslint: replay needs the statuslint addon")
            ctx.master.shutdown()
            return
        statuslint.report_hooks.append(self.add_to_report)
        self.before = Auditor(statuslint.auditor.policy, statuslint.auditor.limits)
        flows = self._read(path)
        if flows is None:
            statuslint.exit_code = max(statuslint.exit_code, 2)
            ctx.master.shutdown()
            return
        self.expected = len(flows)
        if not flows:
            # Nothing replayed must not pass for "no drift" in CI.
            logger.warning(f"statuslint: {path}: no HTTP requests to replay")
            statuslint.exit_code = max(statuslint.exit_code, 2)
            statuslint._register_exit()
            ctx.master.shutdown()
            return
        self._start_progress()
        ctx.master.commands.call("replay.client", flows)

    def _read(self, path: str) -> list[http.HTTPFlow] | None:
        assert self.before is not None
        har = sniff_har(path)
        info = self.before.input(path)
        to = urlsplit(ctx.options.statuslint_replay_to.strip()) if ctx.options.statuslint_replay_to.strip() else None
        flows: list[http.HTTPFlow] = []
        try:
            with open(path, "rb") as fo:
                for index, f in read_indexed(fo, har):
                    info.flows += 1
                    self.before.feed(f, index, path, har=har)
                    if not isinstance(f, http.HTTPFlow) or f.websocket is not None:
                        continue
                    self.pending[index] = Pending(index, f.request.method, Snapshot.of(f.response))
                    if to is not None:
                        _point_at(f.request, to.scheme, to.hostname or "", to.port)
                    f.metadata[REPLAY_KEY] = index
                    f.metadata[SOURCE_KEY] = f"replay of {path}"
                    f.response = None
                    flows.append(f)
        except OSError as e:
            logger.error(f"statuslint: {path}: cannot open: {e.strerror or e}")
            return None
        except InputError as e:
            info.error = str(e)
            logger.error(f"statuslint: {path}: {e}")
            return None
        return flows

    def _start_progress(self) -> None:
        if not sys.stderr.isatty():
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from .terminal import console_for

        self.progress = Progress(
            TextColumn("replay"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} flows/s, {task.fields[findings]} findings"),
            TimeElapsedColumn(),
            console=console_for(sys.stderr),
            transient=True,
        )
        self.progress.start()
        self.task = self.progress.add_task("replay", total=self.expected, rate="-", findings=0)

    # Flow events -------------------------------------------------------------------------

    def request(self, f: http.HTTPFlow) -> None:
        if REPLAY_KEY in f.metadata and f.is_replay == "request":
            f.request.path = self.ids.path(f.request.path)

    def response(self, f: http.HTTPFlow) -> None:
        if REPLAY_KEY in f.metadata and f.is_replay == "request":
            self._finish(f, Snapshot.of(f.response))

    def error(self, f: http.HTTPFlow) -> None:
        if REPLAY_KEY in f.metadata and f.is_replay == "request":
            message = f.error.msg if f.error else "no response"
            self._finish(f, Snapshot(None, {}, error=message))

    def _finish(self, f: http.HTTPFlow, after: Snapshot) -> None:
        pending = self.pending.pop(f.metadata[REPLAY_KEY], None)
        if pending is None:
            return
        before = pending.before
        self.ids.learn(before.headers.get("location"), after.headers.get("location"))
        changed = self._changes(before, after)
        if changed:
            self.drift.append(
                {
                    "index": pending.index,
                    "method": pending.method,
                    "url": printable(redact_url(f.request.pretty_url)),
                    "before": before.to_json(),
                    "after": after.to_json(),
                    "changed": changed,
                }
            )
        self.finished += 1
        if self.progress is not None:
            self._update_progress()
        if self.finished >= self.expected:
            ctx.master.shutdown()

    def _changes(self, before: Snapshot, after: Snapshot) -> list[str]:
        changed = ["status"] if before.status != after.status else []
        for name in KEY_HEADERS:
            old, new = before.headers.get(name), after.headers.get(name)
            if name == "location" and old is not None and new is not None:
                old, new = self.ids.location(old), _path_of(new)
            if old != new:
                changed.append(name)
        return changed

    def _update_progress(self) -> None:
        statuslint = ctx.master.addons.get("statuslint")
        findings = statuslint.findings_so_far() if statuslint else 0
        elapsed = self.progress.tasks[0].elapsed or 0
        rate = f"{self.finished / elapsed:.0f}" if elapsed else "-"
        self.progress.update(self.task, completed=self.finished, rate=rate, findings=findings)

    # End ---------------------------------------------------------------------------------

    def add_to_report(self, model: dict[str, Any]) -> None:
        """Called by the statuslint addon while it builds the report."""
        model["drift"] = sorted(self.drift, key=lambda d: d["index"])
        model["summary"]["drift"] = len(self.drift)
        statuslint = ctx.master.addons.get("statuslint")
        if self.before is not None and statuslint is not None and statuslint.auditor is not None:
            changes = compare(Side(self.before, "recording"), Side(statuslint.auditor, "replay"))
            model["findings_drift"] = {"new": changes["findings"]["new"], "gone": changes["findings"]["fixed"]}

    @command.command("statuslint.replay.drift")
    def drift_count(self) -> int:
        """Requests of the statuslint replay so far whose answer drifted from the recording."""
        return len(self.drift)

    def done(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        if not ctx.options.statuslint_replay.strip():
            return
        unanswered = len(self.pending)
        from .terminal import console_for, print_replay_drift

        print_replay_drift(
            sorted(self.drift, key=lambda d: d["index"]), self.finished, unanswered, console_for(sys.stdout)
        )
        statuslint = ctx.master.addons.get("statuslint")
        if statuslint is not None and self.fail_on_drift and self.drift:
            statuslint.exit_code = max(statuslint.exit_code, 1)
            statuslint._register_exit()


def _point_at(request: http.Request, scheme: str, host: str, port: int | None) -> None:
    request.scheme = scheme
    request.host = host
    request.port = port or (443 if scheme == "https" else 80)
    default = (scheme == "http" and request.port == 80) or (scheme == "https" and request.port == 443)
    request.headers["Host"] = host if default else f"{host}:{request.port}"
