"""One audit: the policy's engine, the stateful checks, and everything counted along
the way.

Shared by the live addon and the offline ``statuslint audit``, so both report the same
findings for the same traffic. Counts are aggregates; no flow is kept, and what is
remembered across flows is bounded by ``Limits``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from mitmproxy import dns, flow, http, tcp, udp

from . import evidence
from . import exchange as exchanges
from .endpoints import EndpointTable, Templater, endpoint_name
from .engine import Engine
from .escape import escape
from .exchange import capture
from .findings import Finding, FlowRef, Severity
from .flowview import FlowView
from .kept import KeptFindings
from .noise import Baseline, Gate, Key, finding_key
from .policy import Policy, Rule
from .redact import Redactor, redact_path, redact_text
from .stateful import Hit, Observation, advertised, creation, errorformat, lifecycle, surface, validators
from .stateful.advertised import AllowListsFailing, CorsMethods
from .stateful.creation import PutCreation
from .stateful.errorformat import ErrorFormats
from .stateful.lifecycle import ResourceLifecycle
from .stateful.surface import AllowedMethods, MethodSupport, inconsistent_status
from .stateful.validators import Validators
from .urls import clip, printable

if TYPE_CHECKING:
    from .auditstate import AuditState

logger = logging.getLogger(__name__)

NOT_AUDITED_KINDS = ("no_response", "status_0", "out_of_scope", "tcp", "udp", "dns")
# Hosts whose methods are remembered (not-implemented-but-implemented).
_HOST_LIMIT = 1000


@dataclass(frozen=True)
class Limits:
    """How much an audit remembers. A proxy runs for days: every structure that grows
    with the traffic is bounded by one of these (0 for max_findings: keep them all)."""

    # URLs each per-URL tracker remembers (lifecycle, validators, PUT creation; least recently used forgotten)
    max_urls: int = 20_000
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


def flow_kind(f: flow.Flow) -> str | None:
    """What ``count_flow`` counts a flow as: http, tcp, udp, dns (None: none of them)."""
    if isinstance(f, http.HTTPFlow):
        return "http"
    if isinstance(f, tcp.TCPFlow):
        return "tcp"
    if isinstance(f, udp.UDPFlow):
        return "udp"
    if isinstance(f, dns.DNSFlow):
        return "dns"
    return None


@dataclass
class InputInfo:
    source: str
    flows: int = 0
    error: str | None = None


class Auditor:
    def __init__(self, policy: Policy, limits: Limits | None = None, baseline: Baseline | None = None) -> None:
        self.policy = policy
        self.limits = limits or Limits()
        # Suppressed (policy) and known (baseline) findings are held back here, counted.
        self.gate = Gate(policy.suppressions, baseline)
        self.suppressed_findings: list[tuple[Finding, int]] = []
        self.counts: Counter[str] = Counter()
        self.out_of_scope: Counter[str] = Counter()  # why: "scope" or a kind of non-API traffic
        self.by_rule: Counter[str] = Counter()
        self.by_severity: Counter[str] = Counter()
        self.by_severity_certain: Counter[str] = Counter()  # what --fail-on gates on by default
        self.evaluated: Counter[str] = Counter()  # per-flow rule id -> flows it was evaluated on
        self.undecidable: Counter[str] = Counter()
        self.check_evaluated: Counter[str] = Counter()  # stateful check -> flows it was evaluated on
        self.engine = Engine(policy, self.evaluated, self.undecidable)
        self.redactor = Redactor(policy.redact)
        self.templater = Templater(policy.endpoints)
        self.endpoints = EndpointTable(self.templater, self.limits.max_endpoints)
        self.lifecycle = ResourceLifecycle(self.limits.max_urls, set(), self.check_evaluated)
        self.method_support = MethodSupport(_HOST_LIMIT, self.check_evaluated)
        self.allowed_methods = AllowedMethods(self.limits.max_endpoints, self.check_evaluated)
        self.put_creation = PutCreation(self.limits.max_urls, self.check_evaluated)
        self.validators = Validators(self.limits.max_urls, set(), self.check_evaluated)
        self.allow_lists_failing = AllowListsFailing(self.limits.max_endpoints, self.check_evaluated)
        self.cors_methods = CorsMethods(self.limits.max_endpoints, self.check_evaluated)
        self.error_formats = ErrorFormats(_HOST_LIMIT, self.check_evaluated)
        self.failed_checks: dict[str, str] = {}
        self.kept = KeptFindings(self.limits.max_findings)
        self.exchange_chars = 0  # held by the findings' exchanges (bounded by exchanges.BUDGET)
        self.exchanges_omitted = 0
        self.inputs: list[InputInfo] = []
        self._input_by_source: dict[str, InputInfo] = {}
        self._use_checks(policy)

    def _use_checks(self, policy: Policy) -> None:
        self.check_rules: dict[str, list[Rule]] = {}
        for rule in policy.enabled_rules:
            if rule.check is not None:
                self.check_rules.setdefault(rule.check, []).append(rule)
        self.lifecycle.enabled = set(self.check_rules) & set(lifecycle.CHECK_NAMES)
        self.validators.enabled = set(self.check_rules) & set(validators.CHECK_NAMES)
        # The trackers the policy's checks need, by attribute (a per-test reset replaces them).
        wanted = (
            ("lifecycle", bool(self.lifecycle.enabled)),
            ("method_support", surface.NOT_IMPLEMENTED in self.check_rules),
            ("allowed_methods", surface.ALLOW_CONTRADICTS in self.check_rules),
            ("put_creation", creation.PUT_CREATED in self.check_rules),
            ("validators", bool(self.validators.enabled)),
            ("allow_lists_failing", advertised.ALLOW_LISTS_FAILING in self.check_rules),
            ("cors_methods", advertised.CORS_CONTRADICTS in self.check_rules),
            ("error_formats", errorformat.INCONSISTENT_ERROR_FORMAT in self.check_rules),
        )
        self._trackers = tuple(name for name, on in wanted if on)

    def use_policy(self, policy: Policy) -> None:
        """Swap the policy of a running audit (a live proxy reloading it); counts and
        state stay."""
        self.policy = policy
        failed = self.engine.failed_rules
        self.engine = Engine(policy, self.evaluated, self.undecidable)
        self.engine.failed_rules = failed
        self.redactor = Redactor(policy.redact)
        self.templater.explicit = policy.endpoints
        self._use_checks(policy)
        if policy.suppressions != self.gate.suppressions:
            # Counts belong to the suppressions that made them: a new list starts afresh.
            self.gate.suppressions = policy.suppressions
            self.gate.suppressed.clear()
            self.suppressed_findings.clear()

    def set_limits(self, limits: Limits) -> None:
        """New limits for a running audit; state above them is forgotten as traffic comes."""
        self.limits = limits
        self.lifecycle.urls.limit = limits.max_urls
        self.endpoints.limit = limits.max_endpoints
        self.allowed_methods.endpoints.limit = limits.max_endpoints
        self.kept.set_limit(limits.max_findings)
        self.put_creation.urls.limit = limits.max_urls
        self.validators.urls.limit = limits.max_urls
        self.allow_lists_failing.endpoints.limit = limits.max_endpoints
        self.cors_methods.endpoints.limit = limits.max_endpoints

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
        self.count_kind(flow_kind(f))

    def count_kind(self, kind: str | None) -> None:
        """``count_flow`` for a flow known by its kind (``flow_kind``): how a process that
        audits another's traffic (offload.py) hears of it."""
        self.counts["flows"] += 1
        if kind is not None:
            self.counts[kind] += 1

    def count_websocket_messages(self, n: int = 1) -> None:
        self.counts["websocket_messages"] += n

    def feed(
        self,
        f: flow.Flow,
        index: int,
        source: str,
        har: bool = False,
        *,
        test: str | None = None,
        ignore: Collection[str] = (),
    ) -> list[Finding]:
        """A whole recorded flow, as ``statuslint audit`` reads it."""
        self.count_flow(f)
        if not isinstance(f, http.HTTPFlow):
            return []
        found = self.audit_response(f, index, source, har, test=test, ignore=ignore) if f.response is not None else []
        if f.websocket is not None:
            self.count_websocket_messages(len(f.websocket.messages))
        return found

    # Auditing ------------------------------------------------------------------------

    def audit_response(
        self,
        f: http.HTTPFlow,
        index: int,
        source: str,
        har: bool = False,
        *,
        test: str | None = None,
        ignore: Collection[str] = (),
    ) -> list[Finding]:
        """``test``: the pytest node id that made the request, carried by its findings;
        ``ignore``: rule ids silenced for this flow (a test's marker), counted as silenced."""
        assert f.response is not None
        self.counts["responses"] += 1
        if f.response.status_code == 0 and har:
            # Browser HARs record aborted requests as status 0: no answer to audit. On the
            # wire (a live upstream, a .flows file) a 0 was answered: a status out of range.
            self.counts["status_0"] += 1
            return []
        view = FlowView(f, har=har, limits=self.policy.limits)
        why = self.policy.scope.rejects(view)
        if why is not None:
            self.counts["out_of_scope"] += 1
            self.out_of_scope[why] += 1
            return []
        self.counts["audited"] += 1
        template = self.templater.template(view.authority, view.path)
        endpoint = printable(endpoint_name(view.method, view.authority, template))
        # What state across flows keeps of a flow: never a secret, never unbounded.
        seen = (source, index, view.method, view.status, clip(printable(self.redactor.url(view.url))))
        stats = self.endpoints.get(endpoint)
        stats.add(view.status, seen)
        if 200 <= view.status <= 299 and "location" in view.response_headers:
            stats.location_seen = True
        found: list[Finding] = []
        ref: FlowRef | None = None
        for rule, message in self.engine.violations(view):
            if ref is None:
                ref = FlowRef.from_seen(seen)
            seen_by_rule = rule.looks_at
            found.append(
                Finding(
                    rule.id,
                    rule.severity,
                    message,
                    rule.reference,
                    ref,
                    endpoint,
                    confidence=evidence.confidence(view, seen_by_rule),
                    headers=evidence.headers(view, seen_by_rule, self.redactor) or None,
                )
            )
        if self.check_rules:
            url_key = (source, view.authority, view.state_path)
            obs = Observation(view, seen, template, endpoint, printable(redact_path(view.path)), url_key)
            for hit in self._stateful(obs):
                found.extend(self._findings_for(hit))
        if found and (test is not None or ignore):
            kept = [replace(x, test=test) for x in found if x.rule not in ignore]
            self.counts["silenced"] += len(found) - len(kept)
            found = kept
        if found and self.gate.active:
            found = self._admit(found)
        if found:
            found = self._with_exchange(found, view, seen)
            self._record(found)
        return found

    def _with_exchange(self, found: list[Finding], view: FlowView, seen: tuple) -> list[Finding]:
        """The findings about this flow with its exchange: captured once, only for a flow
        with findings, and only while the findings list has room for them."""
        if self.limits.max_findings and len(self.kept) >= self.limits.max_findings:
            return found
        mine = [x.flow is not None and (x.flow.source, x.flow.index) == seen[:2] for x in found]
        if not any(mine):
            return found
        if self.exchange_chars >= exchanges.BUDGET:
            self.exchanges_omitted += sum(mine)
            return found
        try:
            exchange = exchanges.pack(capture(view, self.redactor))
        except Exception as e:
            # The finding matters more than its snapshot.
            self.failed_checks.setdefault("exchange", f"{type(e).__name__}: {e}")
            return found
        self.exchange_chars += exchange.size
        return [replace(x, exchange=exchange) if m else x for x, m in zip(found, mine, strict=True)]

    def _admit(self, found: list[Finding]) -> list[Finding]:
        """The findings to report; suppressed and known ones are counted and held back."""
        kept = []
        for finding in found:
            endpoint = self.endpoint_of(finding)
            i = self.gate.suppression_for(finding, endpoint)
            if i is not None:
                self.gate.suppressed[i] += 1
                if not self.limits.max_findings or len(self.suppressed_findings) < self.limits.max_findings:
                    self.suppressed_findings.append((finding, i))
            elif self.gate.admit(finding, endpoint):
                kept.append(finding)
        return kept

    def _stateful(self, obs: Observation) -> list[Hit]:
        hits: list[Hit] = []
        for attribute in self._trackers:
            tracker = getattr(self, attribute)
            try:
                hits.extend(tracker.observe(obs))
            except Exception as e:
                # A broken check must not break the audit or the proxy: say it once.
                name = type(tracker).__name__
                if name not in self.failed_checks:
                    self.failed_checks[name] = redact_text(f"{type(e).__name__}: {e}")
                    logger.warning(
                        "statuslint: internal error in stateful check %s on %s %s: %s (reported once)",
                        name,
                        escape(obs.view.method),
                        escape(obs.path),
                        escape(self.failed_checks[name]),
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
            if not self.gate.active:
                self.gate.note(finding_key(finding.rule, self.endpoint_of(finding)))
            self.by_rule[finding.rule] += 1
            self.by_severity[finding.severity.label] += 1
            if finding.confidence == evidence.CERTAIN:
                self.by_severity_certain[finding.severity.label] += 1
            stats = self.endpoints.stats.get(self.templater.canonical_endpoint(finding.endpoint))
            if stats is not None:
                stats.findings += 1
            self.kept.add(finding)

    @property
    def findings(self) -> list[Finding]:
        """The findings held for the report (API-level ones aside), in arrival order."""
        return self.kept.findings()

    def reset_cross_flow_state(self) -> None:
        """Forget what the cross-flow checks remember of earlier flows: what comes next is
        a new timeline (the pytest plugin's per-test scope). Counts, endpoints and findings
        stay, so API-level findings still see all the traffic."""
        forgotten = self.lifecycle.urls.evicted
        self.lifecycle = ResourceLifecycle(self.limits.max_urls, self.lifecycle.enabled, self.check_evaluated)
        self.lifecycle.urls.evicted = forgotten
        self.method_support = MethodSupport(_HOST_LIMIT, self.check_evaluated)
        self.allowed_methods = AllowedMethods(self.limits.max_endpoints, self.check_evaluated)
        self.put_creation = PutCreation(self.limits.max_urls, self.check_evaluated)
        self.validators = Validators(self.limits.max_urls, self.validators.enabled, self.check_evaluated)
        self.allow_lists_failing = AllowListsFailing(self.limits.max_endpoints, self.check_evaluated)
        self.cors_methods = CorsMethods(self.limits.max_endpoints, self.check_evaluated)

    # Sharded audits --------------------------------------------------------------------

    def export_state(self) -> AuditState:
        """Everything this audit has counted and remembers, detached from it (picklable):
        what another process sends to be merged."""
        from .auditstate import export

        return export(self)

    def merge(self, other: Auditor | AuditState) -> None:
        """Add another audit of other inputs to this one (pytest-xdist workers, shards of a
        recording): counts, endpoints, findings, coverage and inputs add up, and API-level
        findings are then computed on the merged traffic."""
        from .auditstate import AuditState, merge_into

        merge_into(self, other if isinstance(other, AuditState) else other.export_state())

    def api_findings(self) -> list[Finding]:
        """API-level findings to report (inconsistent-status, inconsistent-error-format),
        from the traffic so far. They are computed, not accumulated: the majority can change
        as traffic comes in."""
        return self._api_split()[0]

    def _api_split(self) -> tuple[list[Finding], list[tuple[Finding, int]], list[Finding]]:
        """API-level findings as (reported, suppressed with the suppression's index, known)."""
        found = self._api_all()
        if not self.gate.active:
            return found, [], []
        kept: list[Finding] = []
        suppressed: list[tuple[Finding, int]] = []
        known: list[Finding] = []
        for finding in found:
            endpoint = self.endpoint_of(finding)
            i = self.gate.suppression_for(finding, endpoint)
            if i is not None:
                suppressed.append((finding, i))
            elif self.gate.is_known(finding, endpoint):
                known.append(finding)
            else:
                kept.append(finding)
        return kept, suppressed, known

    def _api_all(self) -> list[Finding]:
        out: list[Finding] = []
        if surface.INCONSISTENT in self.check_rules:
            try:
                for hit in inconsistent_status(self.endpoints, self.check_evaluated):
                    out.extend(self._findings_for(hit))
            except Exception as e:
                self.failed_checks.setdefault("inconsistent_status", redact_text(f"{type(e).__name__}: {e}"))
        if errorformat.INCONSISTENT_ERROR_FORMAT in self.check_rules:
            try:
                for hit in self.error_formats.hits():
                    out.extend(self._findings_for(hit))
            except Exception as e:
                self.failed_checks.setdefault("inconsistent_error_format", redact_text(f"{type(e).__name__}: {e}"))
        return out

    # Results -------------------------------------------------------------------------

    def rule_counts(self, api: list[Finding] | None = None) -> Counter[str]:
        """Findings per rule id, API-level ones included."""
        api = self.api_findings() if api is None else api
        return self.by_rule + Counter(f.rule for f in api)

    def worst_severity(self, inconclusive: bool = False) -> Severity | None:
        """The most severe finding so far; inconclusive ones only when asked."""
        counts = self.by_severity if inconclusive else self.by_severity_certain
        present = [Severity.parse(s) for s, n in counts.items() if n]
        present += [f.severity for f in self.api_findings() if inconclusive or f.confidence == evidence.CERTAIN]
        return max(present) if present else None

    def fails(self, threshold: Severity | None, inconclusive: bool = False) -> bool:
        """Whether a finding reaches ``threshold`` (certain ones only, unless ``inconclusive``)."""
        worst = self.worst_severity(inconclusive)
        return threshold is not None and worst is not None and worst >= threshold

    def ordered_findings(self) -> list[Finding]:
        """The findings the report keeps (at most max_findings, the most severe first), in
        input order: inputs as given, flows by index (live flows finish out of arrival
        order); API-level findings last."""
        kept, api, _ = self.kept.select(self.api_findings())
        order = {info.source: i for i, info in enumerate(self.inputs)}
        flow_level = sorted(
            (f for f in kept if f.flow is not None),
            key=lambda x: (order.get(x.flow.source, len(order)), x.flow.index),  # type: ignore[union-attr]
        )
        return flow_level + [f for f in kept if f.flow is None] + api

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

    def all_suppressed(self) -> list[tuple[Finding, int]]:
        """Suppressed findings kept for the report (flow-level first), with the index of
        the suppression that held each back."""
        return self.suppressed_findings + self._api_split()[1]

    def suppression_rows(self) -> list[dict[str, Any]]:
        """Per suppression of the policy: how many findings it held back (0: stale)."""
        counts = Counter(self.gate.suppressed)
        counts.update(i for _, i in self._api_split()[1])
        enabled = {r.id for r in self.policy.enabled_rules}
        rows = []
        for i, s in enumerate(self.gate.suppressions):
            row = s.to_json(counts[i])
            # A suppression of a rule that did not run says nothing about the traffic.
            row["stale"] = not counts[i] and s.rule in enabled
            rows.append(row)
        return rows

    def baseline_summary(self, reported: int) -> dict[str, int] | None:
        """new / known / fixed against the baseline, or None without one."""
        baseline = self.gate.baseline
        if baseline is None:
            return None
        _, _, api_known = self._api_split()
        seen = set(self.gate.seen_known)
        seen.update(finding_key(f.rule, self.endpoint_of(f)) for f in api_known)
        return {
            "new": reported,
            "known": self.gate.known + len(api_known),
            "fixed": sum(1 for key in baseline.counts if key not in seen),
        }

    def baseline_counts(self) -> Counter[Key]:
        """Every unsuppressed finding so far by key (reported and known), with the
        endpoint templates learned since: what --write-baseline records."""
        counts: Counter[Key] = Counter()
        for (rule, method, host, template), n in self.gate.keys.items():
            endpoint = self.templater.canonical_endpoint(f"{method} {host} {template}")
            counts[finding_key(rule, endpoint)] += n
        kept, _, known = self._api_split()
        counts.update(finding_key(f.rule, self.endpoint_of(f)) for f in kept + known)
        return counts

    def endpoint_rows(self) -> list[dict[str, Any]]:
        """Every tracked endpoint, busiest first."""
        rows = [stats.to_json(e) for e, stats in self.endpoints.items()]
        rows.sort(key=lambda r: (-r["requests"], r["endpoint"]))
        return rows

    def summary(self, top: int = 10) -> dict[str, Any]:
        api = self.api_findings()
        omitted = self.kept.select(api)[2]
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
            "inconclusive": sum(self.by_severity.values()) - sum(self.by_severity_certain.values()),
            "not_audited": self.not_audited(),
            "out_of_scope": dict(sorted(self.out_of_scope.items(), key=lambda kv: (-kv[1], kv[0]))),
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
                "findings_omitted": sum(omitted.values()),
                "findings_omitted_by_severity": {s: omitted.get(s, 0) for s in ("error", "warning", "info")},
                "exchanges_omitted": self.exchanges_omitted,
            },
            "internal_errors": internal,
            "suppressed": self.suppression_rows(),
            "baseline": self.baseline_summary(sum(by_severity.values())),
        }
