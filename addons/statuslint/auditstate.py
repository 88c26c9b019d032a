"""An audit's state, detached from its ``Auditor``: exported by one audit, merged into
another.

pytest-xdist workers each audit their share of a test session and the controller merges
them into one report; a recording split into shards works the same way. Merging is an
operation on the state, never on finished reports: counts and coverage add up, endpoint
tables merge (API-level findings such as ``inconsistent-status`` are then computed on the
merged traffic), findings and inputs are appended, and what the cross-flow checks remember
is united, so traffic audited after a merge still meets it.

Cross-flow state is kept per input (source) by every check but the API-level ones, so the
states of different inputs never meet: ``statuslint audit`` audits each input on its own,
in this process or a worker (``--jobs``), and merges the states in input order, which
makes the report the same however many processes made it.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from . import exchange as exchanges
from .endpoints import EndpointStats
from .findings import Finding
from .stateful.surface import _METHOD_LIMIT, _PENDING_PER_METHOD, _REPORTED_PER_HOST

if TYPE_CHECKING:
    from .auditor import Auditor, InputInfo

# The auditor's counters, by attribute name.
COUNTERS = (
    "counts",
    "by_rule",
    "by_severity",
    "by_severity_certain",
    "out_of_scope",
    "evaluated",
    "undecidable",
    "check_evaluated",
)


@dataclass
class AuditState:
    counters: dict[str, Counter[str]]
    endpoints: list[tuple[str, EndpointStats]]
    evicted: EndpointStats
    evicted_endpoints: int
    literal_values: dict[tuple[str, str], set[str]]
    collapsed: list[tuple[str, str]]
    findings: list[Finding]
    findings_omitted: Counter[str]  # by severity label
    inputs: list[InputInfo]
    # Noise control: what suppressions and the baseline held back.
    suppressed: Counter[int] = field(default_factory=Counter)
    suppressed_findings: list[tuple[Finding, int]] = field(default_factory=list)
    known: int = 0
    seen_known: set[tuple[str, str, str, str]] = field(default_factory=set)
    keys: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    exchanges_omitted: int = 0
    # The trackers of the later cross-flow checks, by name: (key, state) pairs.
    trackers: dict[str, list[tuple[Any, Any]]] = field(default_factory=dict)
    error_formats: list[tuple[Any, Any]] = field(default_factory=list)
    urls: list[tuple[Any, Any]] = field(default_factory=list)
    urls_forgotten: int = 0
    hosts: list[tuple[Any, Any]] = field(default_factory=list)
    allowed: list[tuple[Any, Any]] = field(default_factory=list)
    failed_rules: dict[str, str] = field(default_factory=dict)
    failed_checks: dict[str, str] = field(default_factory=dict)


def export(auditor: Auditor, *, detach: bool = True, finished: bool = False) -> AuditState:
    """The auditor's state. ``detach=False`` shares its objects instead of copying them:
    only for an auditor that is thrown away once its state is merged or sent.
    ``finished``: no flow of the audit's inputs will ever come again (``statuslint audit``
    has read the file), so the per-input state of the cross-flow checks, which no other
    input's flow can meet, is left out (most of a large input's state); only how many
    URLs it forgot comes along. The API-level error formats stay."""
    values, collapsed = auditor.templater.learned()
    per_input = not finished
    state = AuditState(
        counters={name: getattr(auditor, name) for name in COUNTERS},
        endpoints=list(auditor.endpoints.items()),
        evicted=auditor.endpoints.evicted,
        evicted_endpoints=auditor.endpoints.evicted_endpoints,
        literal_values=values,
        collapsed=collapsed,
        findings=list(auditor.findings),
        findings_omitted=Counter(auditor.kept.omitted),
        inputs=list(auditor.inputs),
        suppressed=Counter(auditor.gate.suppressed),
        suppressed_findings=list(auditor.suppressed_findings),
        known=auditor.gate.known,
        seen_known=set(auditor.gate.seen_known),
        keys=Counter(auditor.gate.keys),
        exchanges_omitted=auditor.exchanges_omitted,
        trackers=_tracker_items(auditor) if per_input else {},
        error_formats=auditor.error_formats.hosts.items(),
        urls=auditor.lifecycle.urls.items() if per_input else [],
        urls_forgotten=auditor.lifecycle.urls.evicted,
        hosts=auditor.method_support.hosts.items() if per_input else [],
        allowed=auditor.allowed_methods.endpoints.items() if per_input else [],
        failed_rules=dict(auditor.engine.failed_rules),
        failed_checks=dict(auditor.failed_checks),
    )
    # Detached: the exporting audit may go on, and the merged one must not share its state.
    return copy.deepcopy(state) if detach else state


# Cross-flow trackers whose state is one LRU of independent entries: (attribute, LRU attribute).
_TRACKERS = (
    ("put_creation", "urls"),
    ("validators", "urls"),
    ("allow_lists_failing", "endpoints"),
    ("cors_methods", "endpoints"),
)


def _tracker_items(auditor: Auditor) -> dict[str, list[tuple[Any, Any]]]:
    return {name: getattr(getattr(auditor, name), lru).items() for name, lru in _TRACKERS}


def merge_into(auditor: Auditor, state: AuditState) -> None:
    for name in COUNTERS:
        getattr(auditor, name).update(state.counters.get(name, Counter()))
    # Parameters learned from either side's traffic apply to both sides' endpoints.
    auditor.templater.merge_learned(state.literal_values, state.collapsed)
    auditor.endpoints.merge(state.endpoints, state.evicted, state.evicted_endpoints)

    # The cap keeps the most severe of both sides, as one audit of both would have: each
    # side kept its own most severe, and added in arrival order they compete as they would
    # have in one audit.
    for finding in _within_exchange_budget(auditor, state.findings):
        auditor.kept.add(finding)
    auditor.kept.omitted.update(state.findings_omitted)
    # Both sides ran the same policy: suppression indices mean the same entries.
    gate = auditor.gate
    gate.suppressed.update(state.suppressed)
    limit = auditor.limits.max_findings
    room = max(0, limit - len(auditor.suppressed_findings)) if limit else len(state.suppressed_findings)
    auditor.suppressed_findings.extend(state.suppressed_findings[:room])
    gate.known += state.known
    gate.seen_known |= state.seen_known
    gate.keys.update(state.keys)
    auditor.exchanges_omitted += state.exchanges_omitted
    for info in state.inputs:
        mine = auditor.input(info.source)
        mine.flows += info.flows
        mine.error = mine.error or info.error

    _merge_cross_flow(auditor, state)
    for name, error in state.failed_rules.items():
        auditor.engine.failed_rules.setdefault(name, error)
    for name, error in state.failed_checks.items():
        auditor.failed_checks.setdefault(name, error)


def _within_exchange_budget(auditor: Auditor, findings: list[Finding]) -> list[Finding]:
    """The findings with their exchanges while the merged audit's exchanges stay within
    the memory budget one audit has; past it, without (counted as omitted)."""
    out = []
    counted: set[int] = set()  # the findings of one flow share one exchange
    for finding in findings:
        exchange = finding.exchange
        if exchange is not None and id(exchange) not in counted:
            if auditor.exchange_chars >= exchanges.BUDGET:
                auditor.exchanges_omitted += 1
                finding = replace(finding, exchange=None)
            else:
                counted.add(id(exchange))
                auditor.exchange_chars += exchange.size
        out.append(finding)
    return out


def _adopt(lru: Any, key: Any, theirs: Any) -> Any:
    """This side's entry for ``key``; where it has none, the other side's is taken over
    and None returned (nothing left to merge)."""
    mine = lru.get(key)
    if mine is None:
        lru.setdefault(key, lambda: theirs)
    return mine


def _merge_succeeded(mine: Any, theirs: Any) -> None:
    for method, seen in theirs.succeeded.items():
        if method not in mine.succeeded and len(mine.succeeded) < _METHOD_LIMIT:
            mine.succeeded[method] = seen


def _merge_cross_flow(auditor: Auditor, state: AuditState) -> None:
    # URL lifecycles are per input (source): the two sides' keys do not meet.
    for key, st in state.urls:
        _adopt(auditor.lifecycle.urls, key, st)
    auditor.lifecycle.urls.evicted += state.urls_forgotten

    for key, theirs in state.hosts:
        mine = _adopt(auditor.method_support.hosts, key, theirs)
        if mine is None:
            continue
        _merge_succeeded(mine, theirs)
        for method, waiting in theirs.pending.items():
            if method in mine.succeeded:
                continue  # contradicted already: reported on the side that saw both
            queue = mine.pending.setdefault(method, [])
            queue.extend(waiting[: max(0, _PENDING_PER_METHOD - len(queue))])
        for endpoint in theirs.reported:
            if endpoint not in mine.reported:
                if len(mine.reported) >= _REPORTED_PER_HOST:
                    del mine.reported[next(iter(mine.reported))]
                mine.reported[endpoint] = None

    # Entries the other side has and this one lacks are taken over; where both have one,
    # this side's stands (what each side decided it reported itself).
    for name, lru in _TRACKERS:
        mine_lru = getattr(getattr(auditor, name), lru)
        for key, theirs in state.trackers.get(name, ()):
            _adopt(mine_lru, key, theirs)

    # Error formats are API-level: their counts add up, as in one audit of all traffic.
    for key, theirs in state.error_formats:
        mine = _adopt(auditor.error_formats.hosts, key, theirs)
        if mine is None:
            continue
        for kind in ("errors", "successes"):
            groups = getattr(mine, kind)
            for family, group in getattr(theirs, kind).items():
                if family not in groups:
                    groups[family] = group
                else:
                    groups[family].merge(group)

    for key, theirs in state.allowed:
        mine = _adopt(auditor.allowed_methods.endpoints, key, theirs)
        if mine is None:
            continue
        _merge_succeeded(mine, theirs)
        mine.allow = mine.allow or theirs.allow
        mine.reported |= theirs.reported
