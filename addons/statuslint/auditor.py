"""One audit: the policy's engine, the stateful checks, and everything counted along
the way.

Shared by the live addon and the offline ``statuslint audit``, so both report the same
findings for the same traffic. Counts are aggregates; no flow is kept, and what is
remembered across flows is bounded by ``Limits``.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from mitmproxy import dns, flow, http, tcp, udp

from .endpoints import EndpointTable, Templater, endpoint_name
from .engine import Engine
from .findings import Finding, FlowRef, Severity
from .flowview import FlowView
from .policy import Policy, Rule
from .redact import redact_path, redact_url
from .stateful import Hit, Observation, lifecycle, surface
from .stateful.lifecycle import ResourceLifecycle
from .stateful.surface import AllowedMethods, MethodSupport, inconsistent_status
from .urls import clip, printable

logger = logging.getLogger(__name__)

NOT_AUDITED_KINDS = ("no_response", "status_0", "out_of_scope", "tcp", "udp", "dns")
# Hosts whose methods are remembered (not-implemented-but-implemented).
_HOST_LIMIT = 1000


@dataclass(frozen=True)
class Limits:
    """How much an audit remembers. A proxy runs for days: every structure that grows
    with the traffic is bounded by one of these (0 for max_findings: keep them all)."""

    max_urls: int = 20_000  # URLs whose lifecycle is tracked (least recently used forgotten)
    max_endpoints: int = 2_000  # endpoints with their own counts (the rest are summed up)
    max_findings: int = 10_000  # findings kept for the report (all are counted and logged)

    @staticmethod
    def parse(name: str, text: str, *, allow_zero: bool = False) -> int:
        """A limit from an option or flag; ValueError saying what is wrong."""
        try:
            value = int(str(text).strip().replace("_", ""))
        except ValueError:
            raise ValueError(f"{name}: expected a whole number, not {text!r}") from None
        if value < 0 or (value == 0 and not allow_zero):
            raise ValueError(f"{name}: must be {'0 or more' if allow_zero else 'at least 1'}, not {value}")
        return value


# What each limit counts, in words for option help.
LIMIT_NOUNS = {"max_urls": "URLs", "max_endpoints": "endpoints", "max_findings": "findings"}


@dataclass
class InputInfo:
    source: str
    flows: int = 0
    error: str | None = None


class Auditor:
    def __init__(self, policy: Policy, limits: Limits | None = None) -> None:
        self.policy = policy
        self.limits = limits or Limits()
        self.counts: Counter[str] = Counter()
        self.by_rule: Counter[str] = Counter()
        self.by_severity: Counter[str] = Counter()
        self.evaluated: Counter[str] = Counter()  # per-flow rule id -> flows it was evaluated on
        self.undecidable: Counter[str] = Counter()
        self.check_evaluated: Counter[str] = Counter()  # stateful check -> flows it was evaluated on
        self.engine = Engine(policy, self.evaluated, self.undecidable)
        self.templater = Templater(policy.endpoints)
        self.endpoints = EndpointTable(self.templater, self.limits.max_endpoints)
        self.lifecycle = ResourceLifecycle(self.limits.max_urls, set(), self.check_evaluated)
        self.method_support = MethodSupport(_HOST_LIMIT, self.check_evaluated)
        self.allowed_methods = AllowedMethods(self.limits.max_endpoints, self.check_evaluated)
        self.failed_checks: dict[str, str] = {}
        self.findings: list[Finding] = []
        self.findings_omitted = 0
        self.inputs: list[InputInfo] = []
        self._input_by_source: dict[str, InputInfo] = {}
        self._use_checks(policy)

    def _use_checks(self, policy: Policy) -> None:
        self.check_rules: dict[str, list[Rule]] = {}
        for rule in policy.enabled_rules:
            if rule.check is not None:
                self.check_rules.setdefault(rule.check, []).append(rule)
        self.lifecycle.enabled = set(self.check_rules) & set(lifecycle.CHECK_NAMES)

    def use_policy(self, policy: Policy) -> None:
        """Swap the policy of a running audit (a live proxy reloading it); counts and
        state stay."""
        self.policy = policy
        failed = self.engine.failed_rules
        self.engine = Engine(policy, self.evaluated, self.undecidable)
        self.engine.failed_rules = failed
        self.templater.explicit = policy.endpoints
        self._use_checks(policy)

    def set_limits(self, limits: Limits) -> None:
        """New limits for a running audit; state above them is forgotten as traffic comes."""
        self.limits = limits
        self.lifecycle.urls.limit = limits.max_urls
        self.endpoints.limit = limits.max_endpoints
        self.allowed_methods.endpoints.limit = limits.max_endpoints

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
        view = FlowView(f, har=har, limits=self.policy.limits)
        if not self.policy.scope.admits(view):
            self.counts["out_of_scope"] += 1
            return []
        self.counts["audited"] += 1
        template = self.templater.template(view.authority, view.path)
        endpoint = printable(endpoint_name(view.method, view.authority, template))
        # What state across flows keeps of a flow: never a secret, never unbounded.
        seen = (source, index, view.method, view.status, clip(printable(redact_url(view.url))))
        stats = self.endpoints.get(endpoint)
        stats.add(view.status, seen)
        if 200 <= view.status <= 299 and "location" in f.response.headers:
            stats.location_seen = True
        found: list[Finding] = []
        ref: FlowRef | None = None
        for rule, message in self.engine.violations(view):
            if ref is None:
                ref = FlowRef.from_seen(seen)
            found.append(Finding(rule.id, rule.severity, message, rule.reference, ref, endpoint))
        if self.check_rules:
            obs = Observation(view, seen, template, endpoint, printable(redact_path(view.path)))
            for hit in self._stateful(obs):
                found.extend(self._findings_for(hit))
        if found:
            self._record(found)
        return found

    def _stateful(self, obs: Observation) -> list[Hit]:
        hits: list[Hit] = []
        trackers = (
            (self.lifecycle, bool(self.lifecycle.enabled)),
            (self.method_support, surface.NOT_IMPLEMENTED in self.check_rules),
            (self.allowed_methods, surface.ALLOW_CONTRADICTS in self.check_rules),
        )
        for tracker, on in trackers:
            if not on:
                continue
            try:
                hits.extend(tracker.observe(obs))
            except Exception as e:
                # A broken check must not break the audit or the proxy: say it once.
                name = type(tracker).__name__
                if name not in self.failed_checks:
                    self.failed_checks[name] = f"{type(e).__name__}: {e}"
                    logger.warning(
                        "statuslint: internal error in stateful check %s on %s %s: %s (reported once)",
                        name,
                        obs.view.method,
                        obs.view.path,
                        self.failed_checks[name],
                    )
        return hits

    def _findings_for(self, hit: Hit) -> list[Finding]:
        out = []
        for rule in self.check_rules.get(hit.check, ()):
            if hit.path and rule.exclude_paths and rule.excludes(hit.path):
                continue
            flow_ref = FlowRef.from_seen(hit.flow) if hit.flow is not None else None
            evidence = tuple(FlowRef.from_seen(e) for e in hit.evidence)
            out.append(
                Finding(
                    rule.id, rule.severity, hit.message, rule.reference, flow_ref, hit.endpoint, evidence, hit.details
                )
            )
        return out

    def _record(self, found: list[Finding]) -> None:
        for finding in found:
            self.by_rule[finding.rule] += 1
            self.by_severity[finding.severity.label] += 1
            stats = self.endpoints.stats.get(self.templater.canonical_endpoint(finding.endpoint))
            if stats is not None:
                stats.findings += 1
            if self.limits.max_findings and len(self.findings) >= self.limits.max_findings:
                self.findings_omitted += 1
            else:
                self.findings.append(finding)

    def api_findings(self) -> list[Finding]:
        """API-level findings (inconsistent-status), from the traffic so far. They are
        computed, not accumulated: the majority can change as traffic comes in."""
        if surface.INCONSISTENT not in self.check_rules:
            return []
        out: list[Finding] = []
        try:
            for hit in inconsistent_status(self.endpoints, self.check_evaluated):
                out.extend(self._findings_for(hit))
        except Exception as e:
            self.failed_checks.setdefault("inconsistent_status", f"{type(e).__name__}: {e}")
        return out

    # Results -------------------------------------------------------------------------

    def rule_counts(self, api: list[Finding] | None = None) -> Counter[str]:
        """Findings per rule id, API-level ones included."""
        api = self.api_findings() if api is None else api
        return self.by_rule + Counter(f.rule for f in api)

    def worst_severity(self) -> Severity | None:
        present = [Severity.parse(s) for s, n in self.by_severity.items() if n]
        present += [f.severity for f in self.api_findings()]
        return max(present) if present else None

    def fails(self, threshold: Severity | None) -> bool:
        worst = self.worst_severity()
        return threshold is not None and worst is not None and worst >= threshold

    def ordered_findings(self) -> list[Finding]:
        """Findings in input order: inputs as given, flows by index (live flows finish out
        of arrival order); API-level findings last."""
        order = {info.source: i for i, info in enumerate(self.inputs)}
        flow_level = sorted(
            (f for f in self.findings if f.flow is not None),
            key=lambda x: (order.get(x.flow.source, len(order)), x.flow.index),  # type: ignore[union-attr]
        )
        return flow_level + [f for f in self.findings if f.flow is None] + self.api_findings()

    def endpoint_of(self, finding: Finding) -> str:
        """The finding's endpoint with the templates learned since it was found."""
        return self.templater.canonical_endpoint(finding.endpoint)

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

    def coverage(self, by_rule: Counter[str]) -> dict[str, Any]:
        """Per enabled rule: flows evaluated on, violations, flows it could not decide; and
        the rules that never met a flow they apply to, with what they need."""
        rules = []
        never = []
        for rule in self.policy.rules:
            if not rule.enabled:
                continue
            evaluated = self.check_evaluated[rule.check] if rule.check else self.evaluated[rule.id]
            rules.append(
                {
                    "rule": rule.id,
                    "severity": rule.severity.label,
                    "evaluated": evaluated,
                    "violated": by_rule[rule.id],
                    "undecidable": self.undecidable[rule.id],
                }
            )
            if not evaluated and not by_rule[rule.id]:
                never.append({"rule": rule.id, "needs": rule.needs()})
        return {
            "rules": rules,
            "never_applicable": never,
            "disabled": [r.id for r in self.policy.rules if not r.enabled],
        }

    def endpoint_rows(self) -> list[dict[str, Any]]:
        """Every tracked endpoint, busiest first."""
        rows = [stats.to_json(e) for e, stats in self.endpoints.items()]
        rows.sort(key=lambda r: (-r["requests"], r["endpoint"]))
        return rows

    def summary(self, top: int = 10) -> dict[str, Any]:
        api = self.api_findings()
        by_rule = self.rule_counts(api)
        by_severity = self.by_severity + Counter(f.severity.label for f in api)
        offenders = sorted(((e, s.findings) for e, s in self.endpoints.items() if s.findings), key=lambda x: -x[1])
        evicted = self.endpoints.evicted
        internal = dict(self.engine.failed_rules)
        internal.update(self.failed_checks)
        return {
            "flows": self.counts["flows"],
            "audited": self.counts["audited"],
            "by_rule": dict(sorted(by_rule.items(), key=lambda kv: (-kv[1], kv[0]))),
            "by_severity": {s: by_severity.get(s, 0) for s in ("error", "warning", "info")},
            "not_audited": self.not_audited(),
            "websocket_messages": self.counts["websocket_messages"],
            "top_endpoints": [{"endpoint": e, "findings": n} for e, n in offenders[:top]],
            "endpoints": self.endpoint_rows(),
            "coverage": self.coverage(by_rule),
            "limits": {
                "max_urls": self.limits.max_urls,
                "max_endpoints": self.limits.max_endpoints,
                "max_findings": self.limits.max_findings,
                "urls_forgotten": self.lifecycle.urls.evicted,
                "endpoints_folded": self.endpoints.evicted_endpoints,
                "folded_requests": evicted.requests,
                "folded_findings": evicted.findings,
                "findings_omitted": self.findings_omitted,
            },
            "internal_errors": internal,
        }
