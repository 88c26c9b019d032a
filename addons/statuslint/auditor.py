"""One audit: the policy's engine plus everything counted along the way.

Shared by the live addon and the offline ``statuslint audit``, so both report the same
findings for the same traffic. Counts are aggregates; no flow is kept.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from mitmproxy import dns, flow, http, tcp, udp

from .engine import Engine
from .findings import Finding, FlowRef, Severity
from .flowview import FlowView
from .policy import Policy
from .redact import redact_url

# Top-offender tracking keeps at most this many endpoints; on overflow the rarer half is
# dropped, which keeps the heavy hitters a long-running proxy cares about.
_ENDPOINT_LIMIT = 2000

NOT_AUDITED_KINDS = ("no_response", "status_0", "out_of_scope", "tcp", "udp", "dns")


@dataclass
class InputInfo:
    source: str
    flows: int = 0
    error: str | None = None


class Auditor:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.engine = Engine(policy)
        self.counts: Counter[str] = Counter()
        self.by_rule: Counter[str] = Counter()
        self.by_severity: Counter[str] = Counter()
        self.endpoints: Counter[str] = Counter()
        self.findings: list[Finding] = []
        self.inputs: list[InputInfo] = []
        self._input_by_source: dict[str, InputInfo] = {}

    def use_policy(self, policy: Policy) -> None:
        """Swap the policy of a running audit (a live proxy reloading it); counts stay."""
        self.policy = policy
        failed = self.engine.failed_rules
        self.engine = Engine(policy)
        self.engine.failed_rules = failed

    def input(self, source: str) -> InputInfo:
        """The input record for a source, created on first use, in order of first use."""
        info = self._input_by_source.get(source)
        if info is None:
            info = self._input_by_source[source] = InputInfo(source)
            self.inputs.append(info)
        return info

    # Counting ------------------------------------------------------------------------

    def count_flow(self, f: flow.Flow) -> None:
        """Count a flow once, at the first event it produces."""
        self.counts["flows"] += 1
        if isinstance(f, http.HTTPFlow):
            self.counts["http"] += 1
        elif isinstance(f, tcp.TCPFlow):
            self.counts["tcp"] += 1
        elif isinstance(f, udp.UDPFlow):
            self.counts["udp"] += 1
        elif isinstance(f, dns.DNSFlow):
            self.counts["dns"] += 1

    def count_websocket_messages(self, n: int = 1) -> None:
        self.counts["websocket_messages"] += n

    def feed(self, f: flow.Flow, index: int, source: str, har: bool = False) -> list[Finding]:
        """A whole recorded flow, as ``statuslint audit`` reads it."""
        self.count_flow(f)
        if not isinstance(f, http.HTTPFlow):
            return []
        found = self.audit_response(f, index, source, har) if f.response is not None else []
        if f.websocket is not None:
            self.count_websocket_messages(len(f.websocket.messages))
        return found

    # Auditing ------------------------------------------------------------------------

    def audit_response(self, f: http.HTTPFlow, index: int, source: str, har: bool = False) -> list[Finding]:
        assert f.response is not None
        self.counts["responses"] += 1
        if f.response.status_code == 0:
            # Browser HARs record aborted requests as status 0: no answer to audit.
            self.counts["status_0"] += 1
            return []
        view = FlowView(f, har=har)
        if not self.policy.scope.admits(view):
            self.counts["out_of_scope"] += 1
            return []
        self.counts["audited"] += 1
        found: list[Finding] = []
        ref: FlowRef | None = None
        for rule, message in self.engine.violations(view):
            if ref is None:
                ref = FlowRef(source, index, view.method, redact_url(f.request.pretty_url), view.status)
            found.append(Finding(rule.id, rule.severity, message, rule.reference, ref))
        if found:
            self._record(found, f"{view.method} {view.host}{view.path}")
        return found

    def _record(self, found: list[Finding], endpoint: str) -> None:
        self.findings.extend(found)
        for finding in found:
            self.by_rule[finding.rule] += 1
            self.by_severity[finding.severity.label] += 1
        self.endpoints[endpoint] += len(found)
        if len(self.endpoints) > _ENDPOINT_LIMIT:
            self.endpoints = Counter(dict(self.endpoints.most_common(_ENDPOINT_LIMIT // 2)))

    # Results -------------------------------------------------------------------------

    def worst_severity(self) -> Severity | None:
        present = [Severity.parse(s) for s, n in self.by_severity.items() if n]
        return max(present) if present else None

    def fails(self, threshold: Severity | None) -> bool:
        worst = self.worst_severity()
        return threshold is not None and worst is not None and worst >= threshold

    def ordered_findings(self) -> list[Finding]:
        """Findings in input order: inputs as given, flows by index (live flows finish out
        of arrival order)."""
        order = {info.source: i for i, info in enumerate(self.inputs)}
        return sorted(self.findings, key=lambda x: (order.get(x.flow.source, len(order)), x.flow.index))

    def not_audited(self) -> dict[str, int]:
        c = self.counts
        return {
            "no_response": c["http"] - c["responses"],
            "status_0": c["status_0"],
            "out_of_scope": c["out_of_scope"],
            "tcp": c["tcp"],
            "udp": c["udp"],
            "dns": c["dns"],
        }

    def summary(self, top: int = 10) -> dict[str, Any]:
        return {
            "flows": self.counts["flows"],
            "audited": self.counts["audited"],
            "by_rule": dict(sorted(self.by_rule.items(), key=lambda kv: (-kv[1], kv[0]))),
            "by_severity": {s: self.by_severity.get(s, 0) for s in ("error", "warning", "info")},
            "not_audited": self.not_audited(),
            "websocket_messages": self.counts["websocket_messages"],
            "top_endpoints": [{"endpoint": e, "findings": n} for e, n in self.endpoints.most_common(top)],
            "internal_errors": dict(self.engine.failed_rules),
        }
